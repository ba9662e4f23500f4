"""What flow cannot express, with CP-SAT: couples together, keep-apart pairs apart.

One boolean per (person, candidate bed class). A couple's partners use the same facility
or are both left unplaced; keep-apart pairs never share a facility. The model is seeded
with a hint (the flow's plan, made consistent), and runs on a deterministic time budget
so that identical input gives identical output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from solver.instance import Instance


@dataclass(frozen=True, slots=True)
class SideResult:
    assignment: dict[int, int]
    status: str
    optimal: bool


def couples(instance: Instance, people: Sequence[int]) -> list[tuple[int, int]]:
    """Partner pairs with both partners among these people."""
    return _pairs(instance, people, lambda p: [p.partner_id] if p.partner_id else [])


def keep_apart(instance: Instance, people: Sequence[int]) -> list[tuple[int, int]]:
    return _pairs(instance, people, lambda p: sorted(p.keep_apart_ids))


def _pairs(instance: Instance, people: Sequence[int], linked) -> list[tuple[int, int]]:
    index = {instance.problem.people[i].id: i for i in people}
    pairs = set()
    for i in people:
        for other in linked(instance.problem.people[i]):
            j = index.get(other)
            if j is not None and j != i:
                pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


@dataclass(frozen=True, slots=True)
class SideModel:
    """Who CP-SAT places, where it may put them, in how many beds."""

    people: Sequence[int]
    candidates: Mapping[int, np.ndarray]
    """Bed classes each person may be given."""
    capacity: np.ndarray
    """Beds free for these people, per class."""


def assign_with_sides(
    instance: Instance, model: SideModel, hint: Mapping[int, int], seconds: float, wall_seconds: float, bound: int
) -> SideResult:
    """Best placement of the model's people under couple and keep-apart constraints.

    `bound` (the relaxed flow's value) caps the objective: no plan exceeds it, and with
    the cap CP-SAT proves optimality as soon as it reaches it, rather than spending its
    budget failing to prove what the flow already has."""
    cp = cp_model.CpModel()
    chosen: dict[tuple[int, int], cp_model.IntVar] = {}
    of_person: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    of_class: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    at: dict[int, dict[int, list[cp_model.IntVar]]] = defaultdict(lambda: defaultdict(list))  # person → facility
    objective = []
    for i in model.people:
        for c in (int(c) for c in model.candidates.get(i, ())):
            if model.capacity[c] <= 0:
                continue
            var = cp.new_bool_var(f"x{i}_{c}")
            chosen[i, c] = var
            of_person[i].append(var)
            of_class[c].append(var)
            at[i][int(instance.class_facility[c])].append(var)
            objective.append(var * instance.value(i, c))
    for variables in of_person.values():
        cp.add_at_most_one(variables)
    for c, variables in of_class.items():
        cp.add(sum(variables) <= int(model.capacity[c]))
    for i, j in couples(instance, model.people):
        for f in at[i].keys() | at[j].keys():
            cp.add(sum(at[i].get(f, [])) == sum(at[j].get(f, [])))
    for i, j in keep_apart(instance, model.people):
        for f in at[i].keys() & at[j].keys():
            cp.add_at_most_one(at[i][f] + at[j][f])
    cp.add(sum(objective) <= bound)
    cp.maximize(sum(objective))
    for (i, c), var in chosen.items():
        cp.add_hint(var, hint.get(i) == c)
    solver = cp_solver(seconds, wall_seconds)
    status = solver.solve(cp)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SideResult(dict(hint), solver.status_name(status), False)
    assignment = {i: c for (i, c), var in chosen.items() if solver.boolean_value(var)}
    return SideResult(assignment, solver.status_name(status), status == cp_model.OPTIMAL)


def cp_solver(seconds: float, wall_seconds: float) -> cp_model.CpSolver:
    """One worker on a deterministic time budget: identical input, identical output.
    The wall-clock limit (what is left of the problem's time limit) is a safety net: on
    a slow or busy machine it ends the search first, and then output may vary."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.cp_model_probing_level = 0  # probing the capacity rows costs seconds and finds little
    solver.parameters.max_presolve_iterations = 1  # further rounds halved Paris's wall time for no gain
    solver.parameters.max_deterministic_time = seconds
    solver.parameters.max_time_in_seconds = max(wall_seconds, 0.05)
    return solver
