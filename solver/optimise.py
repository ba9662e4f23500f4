"""solve(): a PlacementProblem in, the best PlacementPlan out.

1. Min-cost flow over everyone, couples and keep-apart links relaxed (couple members
   only where their partner fits too): exact, and its value bounds every plan.
2. Without couples or keep-apart pairs that plan is optimal: done.
3. Otherwise the linked households are placed around the flow plan (solver/links.py),
   then the flow re-places everyone else. Worth the flow's bound, that plan is optimal;
   else a small problem goes on to CP-SAT over everyone, seeded with it.
The gap is measured against the flow bound, or against CP-SAT's proof.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from solver.explain import Explainer
from solver.flow import FlowModel, FlowResult
from solver.instance import Instance
from solver.links import place_linked
from solver.problem import Line, Method, PlacementPlan, PlacementProblem, Scores, Statistics, UnplacedReason
from solver.scoring import cost_points, distance_points
from solver.sides import SideModel, assign_with_sides, couples, keep_apart

EXACT_SHARE = 0.8
"""Of the time limit, CP-SAT's deterministic budget over a whole small problem."""
LINKS_SHARE = 0.02
"""Of the time limit, CP-SAT's deterministic budget choosing the households' options."""


def solve(problem: PlacementProblem) -> PlacementPlan:
    started = time.perf_counter()
    instance = Instance(problem)
    everyone = range(len(problem.people))
    flow = FlowModel(instance, everyone, instance.capacity)
    relaxed = flow.solve(everyone, instance.capacity)
    couple_pairs, apart_pairs = couples(instance, everyone), keep_apart(instance, everyone)
    side = sorted({i for pair in couple_pairs + apart_pairs for i in pair})
    if side:
        deadline = started + problem.parameters.time_limit_s
        sides = _with_sides(instance, flow, side, relaxed, deadline)
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


def _with_sides(instance: Instance, flow: FlowModel, side: list[int], relaxed: FlowResult, deadline: float) -> _Sides:
    """Couples and keep-apart pairs enforced: the linked households placed around the flow
    plan (solver/links.py), and the flow again for everyone else. A plan worth the flow's
    bound is optimal as it stands; short of it, a small problem goes on to CP-SAT over
    everyone, hinted with that plan. CP-SAT's budgets are deterministic, a share of the
    time limit, so that identical input gives identical output; what is left of the time
    limit by the clock (`deadline`, a perf_counter time) stops it first on a slow machine."""
    parameters = instance.parameters
    everyone = list(range(len(instance.problem.people)))
    budget, left = parameters.time_limit_s * LINKS_SHARE, deadline - time.perf_counter()
    linked, status = place_linked(instance, relaxed.assignment, side, budget, left)
    in_side = set(side)
    rest = flow.solve([i for i in everyone if i not in in_side], instance.capacity - _usage(instance, linked))
    households = {**rest.assignment, **linked}
    if _objective(instance, households) >= relaxed.objective:
        return _Sides(households, status, True)
    people_of_group = Counter(instance.group_of)
    if sum(n * int(instance.group_mask(g).sum()) for g, n in people_of_group.items()) > parameters.exact_below:
        return _Sides(households, status, False)
    candidates = {i: np.flatnonzero(instance.group_mask(instance.group_of[i])) for i in everyone}
    model = SideModel(everyone, candidates, instance.capacity)
    budget, left = parameters.time_limit_s * EXACT_SHARE, deadline - time.perf_counter()
    result = assign_with_sides(instance, model, households, budget, left, relaxed.objective)
    if _objective(instance, result.assignment) < _objective(instance, households):
        return _Sides(households, result.status, False)
    return _Sides(result.assignment, result.status, result.optimal)


def _objective(instance: Instance, assignment: dict[int, int]) -> int:
    return sum(instance.value(i, c) for i, c in assignment.items())


def _usage(instance: Instance, assignment: dict[int, int]) -> np.ndarray:
    return np.bincount(
        np.fromiter(assignment.values(), dtype=np.int64, count=len(assignment)), minlength=len(instance.capacity)
    )


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
