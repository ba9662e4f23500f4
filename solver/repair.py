"""At scale, make the relaxed flow plan respect couples and keep-apart pairs, with flow.

Each round pins every couple to one facility (where the flow put one of them, if the
other fits there, else their best common facility), forbids a keep-apart pair's shared
facility to the one with the lower priority, and solves the flow again. A couple that
still cannot be placed together is left out. Pins and exclusions only remove arcs, so
every round's plan is feasible for the rules; the last step drops whatever still breaks
a link and lets the flow give the freed beds to everyone else.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from solver.flow import assign_by_flow
from solver.instance import Instance
from solver.problem import Person
from solver.sides import couples, keep_apart

ROUNDS = 4


def repair(instance: Instance, relaxed: dict[int, int]) -> dict[int, int]:
    everyone = range(len(instance.problem.people))
    pairs, apart = couples(instance, everyone), keep_apart(instance, everyone)
    people = list(instance.problem.people)
    tried: dict[tuple[int, int], set[int]] = {pair: set() for pair in pairs}
    left_out: set[int] = set()
    assignment, current = relaxed, instance
    for _ in range(ROUNDS):
        changed = False
        for pair in pairs:
            changed |= _pin_couple(current, people, pair, assignment, tried[pair], left_out)
        for i, j in apart:
            changed |= _separate(current, people, i, j, assignment)
        if not changed:
            break
        current = Instance(msgspec.structs.replace(instance.problem, people=people))
        placeable = [i for i in everyone if i not in left_out]
        assignment = assign_by_flow(current, placeable, current.capacity).assignment
    return _settle(current, assignment, pairs, apart)


def _facility(instance: Instance, assignment: dict[int, int], i: int) -> int | None:
    c = assignment.get(i)
    return None if c is None else int(instance.class_facility[c])


def _pin_couple(
    instance: Instance,
    people: list[Person],
    pair: tuple[int, int],
    assignment: dict[int, int],
    tried: set[int],
    left_out: set[int],
) -> bool:
    """Pin both partners to one facility; True if anything changed."""
    i, j = pair
    fi, fj = _facility(instance, assignment, i), _facility(instance, assignment, j)
    if fi is not None and fi == fj:
        return _pin(instance, people, pair, fi, tried)
    if (fi is None and fj is None) or i in left_out:
        return False
    target = next((f for f in _choices(instance, pair, fi, fj) if f not in tried), None)
    if target is None:
        left_out.update(pair)
        return True
    return _pin(instance, people, pair, target, tried)


def _pin(instance: Instance, people: list[Person], pair: Sequence[int], f: int, tried: set[int]) -> bool:
    facility_id = instance.problem.facilities[f].id
    if all(people[k].partner_facility_id == facility_id for k in pair):
        return False
    tried.add(f)
    for k in pair:
        people[k] = msgspec.structs.replace(people[k], partner_facility_id=facility_id)
    return True


def _choices(instance: Instance, pair: tuple[int, int], fi: int | None, fj: int | None) -> list[int]:
    """Facilities to try: where the flow put either partner, then their best common ones."""
    (mine, my_values), (theirs, their_values) = (
        instance.ranked_facilities(g, instance.group_mask(g) & (instance.capacity > 0))
        for g in (instance.group_of[k] for k in pair)
    )
    common, a, b = np.intersect1d(mine, theirs, assume_unique=True, return_indices=True)
    best = common[np.argsort(-(my_values[a] + their_values[b]), kind="stable")[: ROUNDS + 2]].tolist()
    first = [f for f in (fi, fj) if f is not None and f in set(common.tolist())]
    return first + [f for f in best if f not in first]


def _separate(instance: Instance, people: list[Person], i: int, j: int, assignment: dict[int, int]) -> bool:
    """Forbid a shared facility to the one of the pair with the lower priority."""
    f = _facility(instance, assignment, i)
    if f is None or f != _facility(instance, assignment, j):
        return False
    k = j if people[j].priority <= people[i].priority else i
    facility_id = instance.problem.facilities[f].id
    people[k] = msgspec.structs.replace(
        people[k], excluded_facility_ids=people[k].excluded_facility_ids | {facility_id}
    )
    return True


def _settle(
    instance: Instance, assignment: dict[int, int], pairs: list[tuple[int, int]], apart: list[tuple[int, int]]
) -> dict[int, int]:
    """Drop whoever still breaks a link, then re-place everyone else in the freed beds."""
    breaking: set[int] = set()
    for i, j in pairs:
        if _facility(instance, assignment, i) != _facility(instance, assignment, j):
            breaking.update((i, j))
    for i, j in apart:
        f = _facility(instance, assignment, i)
        if f is not None and f == _facility(instance, assignment, j):
            breaking.add(j if instance.problem.people[j].priority <= instance.problem.people[i].priority else i)
    if not breaking:
        return assignment
    linked = {k for pair in pairs + apart for k in pair}
    fixed = {k: c for k, c in assignment.items() if k in linked and k not in breaking}
    used = np.bincount(np.fromiter(fixed.values(), dtype=np.int64), minlength=len(instance.capacity))
    free = [k for k in range(len(instance.problem.people)) if k not in linked]
    return {**assign_by_flow(instance, free, instance.capacity - used).assignment, **fixed}
