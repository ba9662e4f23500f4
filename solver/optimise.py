"""solve(): a PlacementProblem in, the best PlacementPlan out.

1. Min-cost flow over everyone, couples and keep-apart links relaxed: exact, and its
   value bounds every plan (relaxing constraints can only raise the optimum).
2. Without couples or keep-apart pairs that plan is optimal: done.
3. Otherwise CP-SAT, seeded with the flow plan made consistent, enforces them:
   over the whole problem when it is small (exact when CP-SAT proves optimality),
   else over the people they affect, in their best candidate facilities, with the
   capacity the others leave; then the flow re-places everyone else around them.
The gap is measured against the flow bound, or against CP-SAT's proof.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from solver.explain import Explainer
from solver.flow import assign_by_flow
from solver.instance import Instance
from solver.problem import Line, Method, PlacementPlan, PlacementProblem, Scores, Statistics, UnplacedReason
from solver.repair import repair
from solver.scoring import cost_points, distance_points, quality_span
from solver.sides import SideModel, assign_with_sides, consistent_hint, couples, keep_apart


def solve(problem: PlacementProblem) -> PlacementPlan:
    started = time.perf_counter()
    instance = Instance(problem)
    everyone = range(len(problem.people))
    relaxed = assign_by_flow(instance, everyone, instance.capacity)
    couple_pairs, apart_pairs = couples(instance, everyone), keep_apart(instance, everyone)
    side = sorted({i for pair in couple_pairs + apart_pairs for i in pair})
    if side:
        sides = _with_sides(instance, side, relaxed.assignment, started)
        assignment, method, status = sides.assignment, Method.FLOW_AND_CP_SAT, sides.status
    else:
        assignment, method, status = relaxed.assignment, Method.FLOW, None
    objective = _objective(instance, assignment)
    proven = not side or sides.proven_optimal
    bound = objective if proven else relaxed.objective
    lines = [_line(instance, i, c) for i, c in sorted(assignment.items())]
    explain = Explainer(instance, assignment)
    reasons = {i: UnplacedReason.KEEP_APART for pair in apart_pairs for i in pair}
    reasons.update({i: UnplacedReason.COUPLE for pair in couple_pairs for i in pair})
    unplaced = [explain(i, reasons.get(i)) for i in everyone if i not in assignment]
    statistics = Statistics(
        method=method,
        objective=objective,
        bound=bound,
        gap=(bound - objective) / bound if bound > 0 else 0.0,
        placement_weight=instance.weight,
        people=len(problem.people),
        placed=len(assignment),
        priority_placed=sum(problem.people[i].priority for i in assignment),
        people_classes=relaxed.people_classes,
        bed_classes=len(problem.bed_classes),
        nodes=relaxed.nodes,
        arcs=relaxed.arcs,
        side_people=len(side),
        cp_sat_status=status,
        seconds=round(time.perf_counter() - started, 4),
    )
    return PlacementPlan(lines=lines, unplaced=unplaced, statistics=statistics)


@dataclass(frozen=True, slots=True)
class _Sides:
    assignment: dict[int, int]
    status: str
    proven_optimal: bool
    """CP-SAT proved optimality over the whole problem."""


def _with_sides(instance: Instance, side: list[int], relaxed: dict[int, int], started: float) -> _Sides:
    parameters = instance.parameters
    budget = max(parameters.time_limit_s - (time.perf_counter() - started), 0.05)
    everyone = list(range(len(instance.problem.people)))
    masks = {g: instance.group_mask(g) for g in set(instance.group_of)}
    if sum(int(masks[g].sum()) for g in instance.group_of) <= parameters.exact_below:
        candidates = {i: np.flatnonzero(masks[instance.group_of[i]]) for i in everyone}
        model = SideModel(everyone, candidates, instance.capacity, instance.weight)
        result = assign_with_sides(instance, model, consistent_hint(instance, everyone, relaxed), budget)
        return _Sides(result.assignment, result.status, result.optimal)
    repaired = repair(instance, relaxed)
    polished, status = _polish(instance, side, masks, repaired, budget - (time.perf_counter() - started))
    better = polished if _objective(instance, polished) > _objective(instance, repaired) else repaired
    return _Sides(better, status, False)


def _polish(
    instance: Instance, side: list[int], masks: dict[int, np.ndarray], plan: dict[int, int], seconds: float
) -> tuple[dict[int, int], str]:
    """CP-SAT over the linked people, seeded with the plan: it may take beds from others at
    the cost of their value; the flow then re-places the others around its choice."""
    in_side = set(side)
    others = {i: c for i, c in plan.items() if i not in in_side}
    weight = quality_span(instance.parameters) + 1  # per person: the flow re-places the others exactly
    displaced: dict[int, list[int]] = defaultdict(list)
    for i, c in others.items():
        displaced[c].append(instance.value(i, c, weight))
    left = instance.capacity - _usage(instance, others)
    model = SideModel(
        side, _candidates(instance, side, masks, left, plan), left, weight, {c: sorted(v) for c, v in displaced.items()}
    )
    hint = {i: c for i, c in plan.items() if i in in_side}
    result = assign_with_sides(instance, model, hint, max(seconds, 0.05))
    free = [i for i in range(len(instance.problem.people)) if i not in in_side]
    rest = assign_by_flow(instance, free, instance.capacity - _usage(instance, result.assignment))
    return {**rest.assignment, **result.assignment}, result.status


def _objective(instance: Instance, assignment: dict[int, int]) -> int:
    return sum(instance.value(i, c) for i, c in assignment.items())


def _usage(instance: Instance, assignment: dict[int, int]) -> np.ndarray:
    return np.bincount(
        np.fromiter(assignment.values(), dtype=np.int64, count=len(assignment)), minlength=len(instance.capacity)
    )


def _candidates(
    instance: Instance, side: list[int], masks: dict[int, np.ndarray], left: np.ndarray, hint: dict[int, int]
) -> dict[int, np.ndarray]:
    """Each side person's classes in their best few facilities (couples: facilities that fit
    both): the best overall, the best with beds left by the others, and the flow's choice."""
    keep = instance.parameters.candidate_facilities
    partner = {i: j for pair in couples(instance, side) for i, j in (pair, pair[::-1])}
    chosen: dict[int, set[int]] = {i: set() for i in side}
    for room in (np.ones_like(left, dtype=bool), left > 0):
        ranked = {g: instance.ranked_facilities(g, masks[g] & room) for g in {instance.group_of[i] for i in side}}
        for i in side:
            facilities, scores = ranked[instance.group_of[i]]
            if i in partner:
                theirs, their_scores = ranked[instance.group_of[partner[i]]]
                facilities, mine, yours = np.intersect1d(facilities, theirs, assume_unique=True, return_indices=True)
                scores = scores[mine] + their_scores[yours]
            chosen[i].update(facilities[np.argsort(-scores, kind="stable")[:keep]].tolist())
    for i, c in hint.items():
        if i in chosen:
            chosen[i].add(int(instance.class_facility[c]))
    return {
        i: np.flatnonzero(masks[instance.group_of[i]] & np.isin(instance.class_facility, list(facilities)))
        for i, facilities in chosen.items()
    }


def _line(instance: Instance, person: int, c: int) -> Line:
    p, bed, facility = instance.problem.people[person], instance.bed(c), instance.facility(c)
    nearest = instance.nearest[int(instance.class_facility[c])]
    return Line(
        person_id=p.id,
        facility_id=facility.id,
        bed_class_id=bed.id,
        kind=facility.kind,
        distance_km=None if nearest.km is None else round(nearest.km, 3),
        nearest_site=nearest.site,
        scores=Scores(
            priority=p.priority,
            distance=distance_points(nearest.km, instance.parameters),
            care=int(instance.care_row(p.care_anchor)[instance.class_facility[c]]),
            cost=cost_points(bed, instance.parameters),
        ),
    )
