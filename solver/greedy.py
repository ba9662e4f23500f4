"""The greedy baseline: first fit by priority, what a placement officer does by hand.

Used by tests and benchmarks to measure what the optimiser gains; never by the service.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from solver.geo import km_between
from solver.problem import (
    BedClass,
    Facility,
    Line,
    Method,
    Person,
    PlacementPlan,
    PlacementProblem,
    Scores,
    Statistics,
    Unplaced,
    UnplacedReason,
)
from solver.rules import BedType, Needs, bed_type, broken_by_facility, broken_by_type, far_enough, needs_of
from solver.scoring import care_points, cost_points, distance_points, nearest_sites, placement_weight


@dataclass
class _Eligible:
    """The bed classes that pass the type rules and the distance rule for one Needs signature."""

    mask: bytearray  # 1 at class index i when class i passes
    classes: list[int]  # those class indices, in input order
    pointer: int = 0  # classes before it are exhausted
    capacity_by_facility: dict[int, int] | None = None  # filled on demand
    capacity: int = 0  # their total, filled with capacity_by_facility


@dataclass
class _State:
    """What the greedy pass has decided so far."""

    remaining: list[int]
    facility_of_person: dict[str, int] = field(default_factory=dict)
    class_of_person: dict[str, int] = field(default_factory=dict)


class _Greedy:
    def __init__(self, problem: PlacementProblem) -> None:
        self.problem = problem
        self.params = problem.parameters
        self.people = problem.people
        self.by_id = {p.id: p for p in problem.people}
        self.position = {p.id: i for i, p in enumerate(problem.people)}
        self.facilities: list[Facility] = problem.facilities
        self.facility_index = {f.id: i for i, f in enumerate(self.facilities)}
        self.nearest = nearest_sites(self.facilities, problem.sites)
        far = [far_enough(f, n.km, self.params) for f, n in zip(self.facilities, self.nearest, strict=True)]

        classes = problem.bed_classes
        self.facility_of_class = [self.facility_index.get(b.facility_id, -1) for b in classes]
        self.classes_of_facility: dict[int, list[int]] = {}
        type_index: dict[BedType, int] = {}
        types = np.empty(len(classes), dtype=np.int64)
        usable = np.zeros(len(classes), dtype=bool)
        for i, (bed, f) in enumerate(zip(classes, self.facility_of_class, strict=True)):
            if f < 0:  # a bed class of an unknown facility is unusable
                types[i] = 0
                continue
            self.classes_of_facility.setdefault(f, []).append(i)
            types[i] = type_index.setdefault(bed_type(bed, self.facilities[f]), len(type_index))
            usable[i] = far[f]
        self.types = list(type_index)
        self.facility_array = np.array(self.facility_of_class, dtype=np.int64)
        self.capacity_array = np.array([b.capacity for b in classes], dtype=np.int64)
        self.type_of_class = types
        self.usable = usable
        self.eligible: dict[Needs, _Eligible] = {}
        self.state = _State(remaining=[b.capacity for b in classes])
        self.free_beds = sum(b.capacity for b in classes)

        # Side constraints, only between people of this problem. Partner links form groups
        # (a couple, or a chain in odd data) placed in one facility or not at all.
        self.group: dict[str, list[str]] = {}
        for p in self.people:
            if p.partner_id in self.by_id and p.partner_id != p.id:
                merged = self.group.get(p.id, [p.id]) + [
                    q for q in self.group.get(p.partner_id, [p.partner_id]) if q not in self.group.get(p.id, [p.id])
                ]
                for q in merged:
                    self.group[q] = merged
        self.apart: dict[str, set[str]] = {}
        for p in self.people:
            for q in p.keep_apart_ids:
                if q in self.by_id and q != p.id:
                    self.apart.setdefault(p.id, set()).add(q)
                    self.apart.setdefault(q, set()).add(p.id)

    # Eligibility -------------------------------------------------------------------------

    def eligible_for(self, needs: Needs) -> _Eligible:
        found = self.eligible.get(needs)
        if found is None:
            ok_type = np.array([broken_by_type(needs, t) is None for t in self.types] or [False], dtype=bool)
            mask = ok_type[self.type_of_class] & self.usable
            found = _Eligible(bytearray(mask.astype(np.uint8).tobytes()), np.flatnonzero(mask).tolist())
            self.eligible[needs] = found
        return found

    def allowed(self, person: Person, facility: int, blocked: set[int]) -> bool:
        return facility not in blocked and broken_by_facility(person, self.facilities[facility].id) is None

    def blocked_for(self, person: Person) -> set[int]:
        """Facilities where someone this person must be kept apart from is already placed."""
        placed = self.state.facility_of_person
        return {placed[q] for q in self.apart.get(person.id, ()) if q in placed}

    def candidates(self, person: Person, blocked: set[int], hits: list[bool] | None = None) -> Iterator[int]:
        """Class indices the person may take now, in input order; sets hits[0] when keep-apart refused one."""
        entry = self.eligible_for(needs_of(person))
        remaining = self.state.remaining
        if person.partner_facility_id is not None:
            f = self.facility_index.get(person.partner_facility_id)
            pool = [c for c in self.classes_of_facility.get(f, []) if entry.mask[c]] if f is not None else []
        else:
            pool, i = entry.classes, entry.pointer
            while i < len(pool) and remaining[pool[i]] == 0:
                i += 1
            entry.pointer = i
            pool = pool[i:] if i else pool
        for c in pool:
            if remaining[c] == 0:
                continue
            f = self.facility_of_class[c]
            if broken_by_facility(person, self.facilities[f].id) is not None:
                continue
            if f in blocked:
                if hits is not None:
                    hits[0] = True
                continue
            yield c

    def capacity_by_facility(self, needs: Needs) -> dict[int, int]:
        """Beds (at full capacity) passing the type and distance rules for these needs, per facility."""
        entry = self.eligible_for(needs)
        if entry.capacity_by_facility is None:
            beds = np.bincount(
                self.facility_array[entry.classes], self.capacity_array[entry.classes], len(self.facilities)
            )
            entry.capacity_by_facility = {int(f): int(beds[f]) for f in np.flatnonzero(beds)}
            entry.capacity = int(beds.sum())
        return entry.capacity_by_facility

    def eligible_beds(self, person: Person) -> int:
        """Beds of the input (at full capacity) that pass every hard rule for the person."""
        needs = needs_of(person)
        by_facility = self.capacity_by_facility(needs)
        if person.partner_facility_id is not None:
            f = self.facility_index.get(person.partner_facility_id)
            if f is None or person.partner_facility_id in person.excluded_facility_ids:
                return 0
            return by_facility.get(f, 0)
        excluded = {self.facility_index[i] for i in person.excluded_facility_ids if i in self.facility_index}
        return self.eligible[needs].capacity - sum(by_facility.get(f, 0) for f in excluded)

    # Placing -----------------------------------------------------------------------------

    def take(self, person: Person, c: int) -> None:
        f = self.facility_of_class[c]
        self.state.remaining[c] -= 1
        self.state.facility_of_person[person.id] = f
        self.state.class_of_person[person.id] = c

    def fit_group(self, members: list[Person], f: int, blocked: list[set[int]]) -> list[int] | None:
        """A bed of facility f for each member: first fit in member order, else in reverse order."""
        if not all(self.allowed(p, f, b) for p, b in zip(members, blocked, strict=True)):
            return None
        here = self.classes_of_facility[f]
        masks = [self.eligible_for(needs_of(p)).mask for p in members]
        for order in (range(len(members)), range(len(members) - 1, -1, -1)):
            left = {c: self.state.remaining[c] for c in here}
            beds: dict[int, int] = {}
            for k in order:
                c = next((c for c in here if left[c] and masks[k][c]), None)
                if c is None:
                    break
                left[c] -= 1
                beds[k] = c
            else:
                return [beds[k] for k in range(len(members))]
        return None

    def place_group(self, members: list[Person]) -> bool:
        """Place all members in the first facility (scanning their fitting classes in input order)
        with a bed for each, or none of them."""
        ids = {p.id for p in members}
        if any(self.apart.get(p.id, set()) & ids for p in members):
            return False
        blocked = [self.blocked_for(p) for p in members]
        # Facilities where each could ever fit, ignoring capacity: a quick filter before fit_group.
        static = [self.capacity_by_facility(needs_of(p)) for p in members]
        tried: set[int] = set()
        for c in heapq.merge(*(self.candidates(p, b) for p, b in zip(members, blocked, strict=True))):
            f = self.facility_of_class[c]
            if f in tried:
                continue
            tried.add(f)
            if not all(f in s for s in static):
                continue
            beds = self.fit_group(members, f, blocked)
            if beds is not None:
                for p, bed in zip(members, beds, strict=True):
                    self.take(p, bed)
                return True
        return False

    def run(self) -> tuple[dict[str, int], dict[str, UnplacedReason]]:
        """Decide everyone: the class each placed person takes, the reason each other one is left out."""
        chosen: dict[str, int] = {}
        reasons: dict[str, UnplacedReason] = {}
        order = sorted(range(len(self.people)), key=lambda i: -self.people[i].priority)
        for i in order:
            person = self.people[i]
            if person.id in chosen or person.id in reasons:
                continue
            group = self.group.get(person.id)
            if group is not None:  # reached first of the group: the others follow in input order
                others = sorted((q for q in group if q != person.id), key=self.position.__getitem__)
                members = [person] + [self.by_id[q] for q in others]
                if self.place_group(members):
                    for p in members:
                        chosen[p.id] = self.state.class_of_person[p.id]
                else:
                    for p in members:
                        reasons[p.id] = UnplacedReason.COUPLE
                continue
            blocked = self.blocked_for(person)
            hits = [False]
            c = next(self.candidates(person, blocked, hits), None)
            if c is None:
                reasons[person.id] = UnplacedReason.KEEP_APART if hits[0] else UnplacedReason.OUTRANKED
            else:
                self.take(person, c)
                chosen[person.id] = c
        return chosen, reasons


_EXPLANATIONS = {
    UnplacedReason.NO_ELIGIBLE_BED: "No free bed passes every hard rule for this person.",
    UnplacedReason.OUTRANKED: "Beds fit, but first fit gave them to people of higher priority.",
    UnplacedReason.COUPLE: "No facility had a fitting bed for each partner when the couple was reached.",
    UnplacedReason.KEEP_APART: "The fitting beds left are where someone to keep apart from was placed.",
}


def _line(g: _Greedy, person: Person, c: int) -> Line:
    bed: BedClass = g.problem.bed_classes[c]
    f = g.facility_of_class[c]
    facility = g.facilities[f]
    nearest = g.nearest[f]
    care = 0
    if person.care_anchor is not None:
        anchor_km = km_between(
            person.care_anchor.lat, person.care_anchor.lon, facility.location.lat, facility.location.lon
        )
        care = int(care_points(anchor_km, g.params))
    return Line(
        person_id=person.id,
        facility_id=facility.id,
        bed_class_id=bed.id,
        kind=facility.kind,
        distance_km=None if nearest.km is None else round(nearest.km, 3),  # metres, as the optimiser gives
        nearest_site=nearest.site,
        scores=Scores(
            priority=person.priority,
            distance=distance_points(nearest.km, g.params),
            care=care,
            cost=cost_points(bed, g.params),
        ),
    )


def greedy(problem: PlacementProblem) -> PlacementPlan:
    """First fit by priority: each person, highest priority first (ties in input order), takes
    the first bed class in input order that passes every hard rule and keep-apart and still
    has a bed; a couple, when its first member is reached, takes the first facility with a
    fitting bed for each, or neither is placed. A partner_id naming someone outside the
    problem is ignored (a single); partner links chaining three people or more make one group.

    Lines and scores are those the optimiser would give the same placements. Greedy proves
    nothing: it reports no real bound, so `bound` is set to its own objective and `gap` to 0.
    """
    start = time.perf_counter()
    g = _Greedy(problem)
    chosen, reasons = g.run()
    weight = placement_weight(len(problem.people), problem.parameters)

    lines: list[Line] = []
    unplaced: list[Unplaced] = []
    for person in problem.people:
        c = chosen.get(person.id)
        if c is not None:
            lines.append(_line(g, person, c))
            continue
        eligible = g.eligible_beds(person)
        reason = reasons[person.id] if eligible else UnplacedReason.NO_ELIGIBLE_BED
        unplaced.append(
            Unplaced(
                person_id=person.id,
                reason=reason,
                explanation=_EXPLANATIONS[reason],
                free_beds=g.free_beds,
                beds_removed=[],
                eligible_beds=eligible,
            )
        )

    objective = sum(
        line.scores.priority * weight + line.scores.distance + line.scores.care - line.scores.cost for line in lines
    )
    side = set(g.group) | set(g.apart)
    statistics = Statistics(
        method=Method.GREEDY,
        objective=objective,
        bound=objective,
        gap=0.0,
        placement_weight=weight,
        people=len(problem.people),
        placed=len(lines),
        priority_placed=sum(line.scores.priority for line in lines),
        people_classes=len(problem.people),
        bed_classes=len(problem.bed_classes),
        nodes=0,
        arcs=0,
        side_people=len(side),
        cp_sat_status=None,
        seconds=time.perf_counter() - start,
    )
    return PlacementPlan(lines=lines, unplaced=unplaced, statistics=statistics)
