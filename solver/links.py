"""At scale, place the linked people (couples, keep-apart pairs) around the flow's plan.

The relaxed flow places everyone as if nobody were linked. Its plan for the unlinked
people prices every bed: a bed nobody unlinked took is free, a taken one costs the value
of the person who loses it (the cheapest occupant of the class first).

Each *household* (people linked as partners, transitively; anyone else linked is a
household of one) gets its options: its best few facilities at those prices, with every
way to give each member a bed there. A first fit by priority picks one option per
household; where the options are few enough, CP-SAT, hinted with it, chooses again over
all of them at once (households compete for couple rooms and cheap beds), with
keep-apart pairs never in one facility.
Finally the flow places everyone unlinked again, exactly, in the beds left.
"""

from __future__ import annotations

import copy
import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from solver.instance import Instance
from solver.sides import couples, cp_solver, keep_apart

UNAVAILABLE = np.iinfo(np.int64).max // 4  # a price no value reaches: no bed to take

CHOICE_MAX_OPTIONS = 5_000
"""Above this many options CP-SAT is not run: within its budget it did not improve on
the first fit (Île-de-France: 14,500 options, none better in 0.2 s of deterministic
time; France: no solution at all), and building its model costs seconds."""
SKIPPED = "SKIPPED"
"""The CP-SAT status reported when the first fit stands alone."""
RANKED_FIRST = 64
"""Facilities ranked by a partial sort before the rest are sorted: a search rarely
visits more than its `keep` best."""

Rows = list[tuple[np.ndarray, np.ndarray]]
"""Each member of a household: the bed classes it may use (mask), its value in each."""
Bounds = tuple[np.ndarray, np.ndarray]
"""Facilities, and a bound on a household's gain in each."""


@dataclass(frozen=True, slots=True)
class Option:
    household: int
    facility: int
    beds: dict[int, int]
    """Member → bed class."""
    value: int
    """The members' values there, before any bed's price."""


class _Prices:
    """What the next beds of each class cost the unlinked people, as beds are taken."""

    def __init__(self, instance: Instance, unlinked: Mapping[int, int]) -> None:
        self.free = instance.capacity.copy()
        held: dict[int, list[int]] = defaultdict(list)
        for i, c in unlinked.items():
            self.free[c] -= 1
            held[c].append(instance.value(i, c))
        self.held = {c: sorted(values) for c, values in held.items()}
        """Per class, the values of the unlinked people holding a bed there, lowest first."""
        self.taken: Counter[int] = Counter()
        self.next = self.first()
        """The price of one more bed of every class, kept up to date as beds are taken."""
        self.two = self.of_two()
        """The price of two more beds of every class (partners sharing a class), likewise."""

    def of_two(self) -> np.ndarray:
        return np.array([self.of(c, 2) for c in range(len(self.free))], dtype=np.int64)

    def first(self) -> np.ndarray:
        """The price of one bed of every class before any is taken."""
        first = np.where(self.free > 0, 0, UNAVAILABLE)
        for c, values in self.held.items():
            if self.free[c] <= 0:
                first[c] = values[0]
        return first

    def of(self, c: int, beds: int) -> int:
        """What taking `beds` more beds of class c costs now."""
        spare = max(int(self.free[c]) - self.taken[c], 0)
        bumped = max(self.taken[c] - int(self.free[c]), 0)
        held = self.held.get(c, [])[bumped:]
        bumps = beds - min(beds, spare)
        return UNAVAILABLE if bumps > len(held) else sum(held[:bumps])

    def untaken(self) -> _Prices:
        """The prices before any bed was taken."""
        fresh = copy.copy(self)
        fresh.taken = Counter()
        fresh.next = self.first()
        fresh.two = fresh.of_two()
        return fresh

    def take(self, option: Option) -> None:
        self.taken.update(option.beds.values())
        for c in option.beds.values():
            self.next[c] = self.of(c, 1)
            self.two[c] = self.of(c, 2)

    def cost(self, option: Option) -> int:
        return self.of_beds(tuple(option.beds.values()))

    def of_beds(self, beds: tuple[int, ...]) -> int:
        """What taking these beds (a class per member) costs now."""
        if len(set(beds)) == len(beds):
            return sum(int(self.next[c]) for c in beds)
        return sum(self.of(c, n) for c, n in Counter(beds).items())


def place_linked(
    instance: Instance, relaxed: Mapping[int, int], linked: Sequence[int], seconds: float, wall_seconds: float
) -> tuple[dict[int, int], str]:
    """Beds for the linked people given the relaxed plan of everyone, and CP-SAT's status."""
    in_link = set(linked)
    prices = _Prices(instance, {i: c for i, c in relaxed.items() if i not in in_link})
    households = _households(instance, linked)
    apart = keep_apart(instance, linked)
    keep = instance.parameters.candidate_facilities
    options, first_fit = _first_fit(instance, prices, households, apart, keep)
    if sum(map(len, options)) > CHOICE_MAX_OPTIONS:
        return {i: c for option in first_fit for i, c in option.beds.items()}, SKIPPED
    _add_options_before(instance, prices, households, apart, keep, options)
    chosen, status = _choose(instance, prices, options, apart, first_fit, seconds, wall_seconds)
    return {i: c for option in chosen for i, c in option.beds.items()}, status


def _households(instance: Instance, linked: Sequence[int]) -> list[list[int]]:
    """Partners, transitively, and everyone else alone; highest total priority first."""
    root = {i: i for i in linked}

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for i, j in couples(instance, linked):
        root[find(j)] = find(i)
    members: dict[int, list[int]] = defaultdict(list)
    for i in sorted(linked):
        members[find(i)].append(i)
    priority = [p.priority for p in instance.problem.people]
    return sorted(members.values(), key=lambda h: (-sum(priority[i] for i in h), h[0]))


def _options(
    instance: Instance,
    prices: _Prices,
    household: list[int],
    k: int,
    apart: list[tuple[int, int]],
    keep: int,
    blocked: frozenset[int],
) -> list[Option]:
    """Every choice of beds in the household's best `keep` facilities at the current
    prices, outside the blocked ones.

    Facilities are visited best bound first (_upper_bounds: the exact gain for one or two
    members), and the visit stops when that bound cannot beat the `keep` best found:
    the facilities found are the best, not a guess."""
    if any(i in household and j in household for i, j in apart):
        return []
    rows = _rows(instance, household)
    best: list[tuple[int, int]] = []  # min-heap of (best gain, facility)
    found: dict[int, list[tuple[tuple[int, ...], int]]] = {}
    for f, optimistic in _best_first(*_upper_bounds(instance, prices, rows)):
        if f in blocked:
            continue
        if optimistic <= (best[0][0] if len(best) == keep else 0):
            break  # no facility left can gain, or beat the `keep` best
        here = _beds_in(instance, rows, f)
        gain = max(value - prices.of_beds(beds) for beds, value in here)
        if gain > 0 and (len(best) < keep or gain > best[0][0]):
            found[f] = here
            if len(best) == keep:
                found.pop(heapq.heappop(best)[1])
            heapq.heappush(best, (gain, f))
    return [
        Option(k, f, dict(zip(household, beds, strict=True)), value)
        for _, f in sorted(best, reverse=True)
        for beds, value in found[f]
    ]


def _rows(instance: Instance, household: list[int]) -> Rows:
    return [(instance.group_mask(instance.group_of[i]), instance.value_row(i)) for i in household]


def _upper_bounds(instance: Instance, prices: _Prices, rows: Rows) -> Bounds:
    """(facilities, upper bound on the household's gain in each), where every member may
    have a bed. Exact for one member or two (the best classes of each, or the
    best class for both at the price of two beds); more members add their best classes."""
    span = _Span.of(instance, prices, rows)
    c, next_ = span.classes, prices.next[span.classes]
    nets = [span.dense(np.where(allowed[c], values[c] - next_, -UNAVAILABLE)) for allowed, values in rows]
    bests = [net.max(axis=0) for net in nets]
    impossible = -UNAVAILABLE // 2  # a sum that counts an impossible bed stays below this
    fits = np.logical_and.reduce([best > impossible for best in bests])
    if len(rows) == 2:
        bound = _best_two(prices, rows, span, nets, bests)
        fits &= bound > impossible
    else:  # added only where all fit, so that many impossible beds cannot overflow
        bound = np.sum([np.where(fits, best, 0) for best in bests], axis=0)
    candidates = np.flatnonzero(fits)
    return span.facilities[candidates], bound[candidates]


@dataclass(frozen=True, slots=True)
class _Span:
    """The classes any member of a household may use and can have a bed of, laid out as
    a (slot, facility) table: the bounds are computed over these alone, with every
    facility's best found by a maximum over a few rows."""

    classes: np.ndarray
    slot: np.ndarray
    """Each class's row: its rank within its facility."""
    column: np.ndarray
    """Each class's column: its facility among those spanned."""
    facilities: np.ndarray
    """The facility of each column."""
    rows: int

    @staticmethod
    def of(instance: Instance, prices: _Prices, rows: Rows) -> _Span:
        _, order = instance.facility_slices
        open_ = np.logical_or.reduce([allowed for allowed, _ in rows]) & (prices.next < UNAVAILABLE)
        positions = np.flatnonzero(open_[order])
        classes, runs = order[positions], instance.facility_segment[positions]
        first = np.r_[True, runs[1:] != runs[:-1]] if len(runs) else np.zeros(0, dtype=bool)
        column = np.cumsum(first) - 1
        slot = np.arange(len(classes)) - np.flatnonzero(first)[column]
        facilities = instance.class_facility[classes[first]]
        return _Span(classes, slot, column, facilities, int(slot.max()) + 1 if len(slot) else 1)

    def dense(self, spanned: np.ndarray) -> np.ndarray:
        """The table of a value per spanned class; cells without a class hold −UNAVAILABLE."""
        table = np.full((self.rows, len(self.facilities)), -UNAVAILABLE, dtype=np.int64)
        table[self.slot, self.column] = spanned
        return table


def _best_first(facilities: np.ndarray, bounds: np.ndarray) -> Iterator[tuple[int, int]]:
    """(facility, bound), highest bound first, ties in facility order: the first
    RANKED_FIRST (and their ties) by a partial sort, the rest sorted only if reached."""
    if len(bounds) <= RANKED_FIRST:
        parts = [np.arange(len(bounds))]
    else:
        threshold = np.partition(bounds, len(bounds) - RANKED_FIRST)[len(bounds) - RANKED_FIRST]
        parts = [np.flatnonzero(bounds >= threshold), np.flatnonzero(bounds < threshold)]
    for part in parts:
        ranked = part[np.argsort(-bounds[part], kind="stable")]
        yield from zip(facilities[ranked].tolist(), bounds[ranked].tolist(), strict=True)


def _best_two(prices: _Prices, rows: Rows, span: _Span, nets: list[np.ndarray], bests: list[np.ndarray]) -> np.ndarray:
    """Per facility, the best gain of two members: each in a different class (a's net in
    a class plus b's best in any other), or both in one class at the price of two beds."""
    net_a, net_b = nets
    ranked_b = np.sort(net_b, axis=0)
    second_b = ranked_b[-2] if span.rows > 1 else np.full_like(bests[1], -UNAVAILABLE)
    best_b_elsewhere = np.where(net_b == bests[1], second_b, bests[1])
    apart = np.maximum((net_a + best_b_elsewhere).max(axis=0), -UNAVAILABLE)
    (allowed_a, values_a), (allowed_b, values_b), c = *rows, span.classes
    two = prices.two[c]
    shared = allowed_a[c] & allowed_b[c] & (two < UNAVAILABLE)
    together = span.dense(np.where(shared, values_a[c] + values_b[c] - two, -UNAVAILABLE))
    return np.maximum(apart, together.max(axis=0))


def _beds_in(instance: Instance, rows: Rows, f: int) -> list[tuple[tuple[int, ...], int]]:
    """Every way to give each member a class of facility f they may use, with its value."""
    classes = instance.classes_of_facility[instance.problem.facilities[f].id]
    per_member = []
    for allowed, values in rows:
        usable = classes[allowed[classes]]
        per_member.append(list(zip(usable.tolist(), values[usable].tolist(), strict=True)))
    return [(tuple(c for c, _ in choice), sum(v for _, v in choice)) for choice in itertools.product(*per_member)]


def _first_fit(
    instance: Instance, prices: _Prices, households: list[list[int]], apart: list[tuple[int, int]], keep: int
) -> tuple[list[list[Option]], list[Option]]:
    """Highest priority first, each household's options at the prices left (keep-apart
    partners' facilities excluded) and the best of them, taken if it gains. The options
    are searched as the first fit goes, so that they reflect the beds others took; once
    there are more than CP-SAT would be given, only each household's best is sought."""
    avoid: dict[int, set[int]] = defaultdict(set)
    for i, j in apart:
        avoid[i].add(j)
        avoid[j].add(i)
    facility_of: dict[int, int] = {}
    options, chosen, found = [], [], 0
    for k, household in enumerate(households):
        blocked = frozenset(facility_of[j] for i in household for j in avoid[i] if j in facility_of)
        wanted = keep if found <= CHOICE_MAX_OPTIONS else 1  # past it, only the best matters
        options.append(_options(instance, prices, household, k, apart, wanted, blocked))
        found += len(options[-1])
        gain, option = _best(prices, options[-1], blocked)
        if option is not None and gain > 0:
            prices.take(option)
            chosen.append(option)
            facility_of.update(dict.fromkeys(household, option.facility))
    return options, chosen


def _add_options_before(
    instance: Instance,
    prices: _Prices,
    households: list[list[int]],
    apart: list[tuple[int, int]],
    keep: int,
    options: list[list[Option]],
) -> None:
    """Adds each household's options at the prices before any bed was taken: CP-SAT,
    choosing for all at once, may give a household beds the first fit gave another."""
    before = prices.untaken()
    for k, (household, theirs) in enumerate(zip(households, options, strict=True)):
        known = {(o.facility, tuple(o.beds.values())) for o in theirs}
        found = _options(instance, before, household, k, apart, keep, frozenset())
        theirs.extend(o for o in found if (o.facility, tuple(o.beds.values())) not in known)


def _best(prices: _Prices, options: list[Option], blocked: frozenset[int]) -> tuple[int, Option | None]:
    """The option gaining most at the current prices outside the blocked facilities."""
    gains = ((option.value - prices.cost(option), option) for option in options if option.facility not in blocked)
    return max(gains, key=lambda pair: pair[0], default=(0, None))


def _choose(
    instance: Instance,
    prices: _Prices,
    options: list[list[Option]],
    apart: list[tuple[int, int]],
    hint: list[Option],
    seconds: float,
    wall_seconds: float,
) -> tuple[list[Option], str]:
    """One option per household or none, beds within what is free plus what may be taken
    from the unlinked at its price, keep-apart pairs in different facilities."""
    model = cp_model.CpModel()
    chosen = {id(o): model.new_bool_var("") for theirs in options for o in theirs}
    objective = []
    using: dict[int, list] = defaultdict(list)
    at: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))  # person → facility → options
    for theirs in options:
        model.add_at_most_one(chosen[id(o)] for o in theirs)
        for o in theirs:
            objective.append(o.value * chosen[id(o)])
            for i, c in o.beds.items():
                using[c].append(chosen[id(o)])
                at[i][o.facility].append(chosen[id(o)])
    hinted = {id(o) for o in hint}
    hint_use = Counter(c for o in hint for c in o.beds.values())
    for c, variables in using.items():
        spare = max(int(prices.free[c]), 0)
        held = prices.held.get(c, [])[: max(len(variables) - spare, 0)]
        bumped = [model.new_bool_var("") for _ in held]
        objective.extend(-value * b for value, b in zip(held, bumped, strict=True))
        model.add(sum(variables) <= spare + sum(bumped))
        for k, b in enumerate(bumped):  # the cheapest first, as far as the hint needs
            model.add_hint(b, k < hint_use[c] - spare)
    for i, j in apart:
        for f in at[i].keys() & at[j].keys():
            model.add_at_most_one(at[i][f] + at[j][f])
    model.maximize(sum(objective))
    for key, variable in chosen.items():
        model.add_hint(variable, key in hinted)
    solver = cp_solver(seconds, wall_seconds)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE) or solver.objective_value <= _worth(prices, hint):
        return hint, solver.status_name(status)
    return [o for theirs in options for o in theirs if solver.boolean_value(chosen[id(o)])], solver.status_name(status)


def _worth(prices: _Prices, chosen: list[Option]) -> int:
    """The options' values less the beds they take from the unlinked, cheapest first."""
    fresh = prices.untaken()
    worth = 0
    for option in chosen:
        worth += option.value - fresh.cost(option)
        fresh.take(option)
    return worth
