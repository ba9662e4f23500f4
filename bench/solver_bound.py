"""How far is the flow bound from the best plan there is? Île-de-France-like instances small
enough for exact methods, one run.

For each size, the instance is bench/instances.py's Île-de-France generator scaled down
(people, 5 × people places, people / 5 facilities, the same 5 % couples and keep-apart
pairs). Four figures, as priority-weighted points (objective / W):

- the optimiser's plan (`solver.solve`) and its bound: the min-cost flow with couples and
  keep-apart pairs relaxed, the bound every gap in bench/solver.py is measured against;
- the LP relaxation of the full model, couples together and keep-apart pairs apart
  written out per facility (GLOP): the best bound any LP-based or Lagrangian method can
  prove, so the least a cleverer relaxation could gain;
- plain CP-SAT over every person × bed class, hinted with the optimiser's plan, for
  `--seconds` of wall time on every core: its best plan (OPTIMAL when it proves it).

BASELINE: the flow bound of the same instance. Read the last columns: how much of the
optimiser's gap is the bound's looseness (best known plan still below the bound) and how
much the optimiser's own shortfall (best known plan above the optimiser's).
CP-SAT's wall-clock limit makes its figures depend on the machine; the rest are exact.

    uv run python bench/solver_bound.py [--people 400,700,1000] [--seconds 120] [--seed 7]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep `solver` the package
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
from ortools.linear_solver import pywraplp  # noqa: E402
from ortools.sat.python import cp_model  # noqa: E402

from bench.instances import IDF, Scale, synthetic  # noqa: E402
from solver import solve  # noqa: E402
from solver.instance import Instance  # noqa: E402
from solver.problem import PlacementPlan  # noqa: E402
from solver.sides import couples, keep_apart  # noqa: E402

PLACES_PER_PERSON = IDF.places // IDF.people
PEOPLE_PER_FACILITY = IDF.people // IDF.facilities


def candidates(instance: Instance) -> dict[tuple[int, int], int]:
    """(person, class) → value, for every class with a free bed the person may use."""
    found = {}
    for i in range(len(instance.problem.people)):
        usable = np.flatnonzero(instance.group_mask(instance.group_of[i]) & (instance.capacity > 0))
        found.update({(i, int(c)): int(v) for c, v in zip(usable, instance.value_row(i)[usable], strict=True)})
    return found


def constrain(instance: Instance, pairs: dict[tuple[int, int], int], x: dict, add) -> None:
    """The full model's rules over the variables x[person, class], for GLOP or CP-SAT:
    a bed each at most, capacities, couples in one facility or neither placed, keep-apart
    pairs never in one facility."""
    at: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    of_class: dict[int, list] = defaultdict(list)
    for i, c in pairs:
        at[i][int(instance.class_facility[c])].append(x[i, c])
        of_class[c].append(x[i, c])
    people = range(len(instance.problem.people))
    for i in people:
        add(sum(v for by_facility in at[i].values() for v in by_facility) <= 1)
    for c, variables in of_class.items():
        add(sum(variables) <= int(instance.capacity[c]))
    for i, j in couples(instance, people):
        for f in at[i].keys() | at[j].keys():
            add(sum(at[i].get(f, [])) == sum(at[j].get(f, [])))
    for i, j in keep_apart(instance, people):
        for f in at[i].keys() & at[j].keys():
            add(sum(at[i][f] + at[j][f]) <= 1)


def lp_bound(instance: Instance, pairs: dict[tuple[int, int], int]) -> float:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    x = {key: solver.NumVar(0, 1, "") for key in pairs}
    constrain(instance, pairs, x, solver.Add)
    solver.Maximize(sum(value / instance.weight * x[key] for key, value in pairs.items()))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        raise RuntimeError("the LP relaxation was not solved to optimality")
    return solver.Objective().Value()


def cp_sat_best(
    instance: Instance, pairs: dict[tuple[int, int], int], hint: dict[int, int], seconds: float
) -> tuple[float, str]:
    model = cp_model.CpModel()
    x = {key: model.new_bool_var("") for key in pairs}
    constrain(instance, pairs, x, model.add)
    model.maximize(sum(value * x[key] for key, value in pairs.items()))
    for (i, c), variable in x.items():
        model.add_hint(variable, hint.get(i) == c)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = os.cpu_count() or 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return float("nan"), solver.status_name(status)
    return solver.objective_value / instance.weight, solver.status_name(status)


def hint_of(instance: Instance, plan: PlacementPlan) -> dict[int, int]:
    person = {p.id: i for i, p in enumerate(instance.problem.people)}
    bed_class = {b.id: c for c, b in enumerate(instance.problem.bed_classes)}
    return {person[line.person_id]: bed_class[line.bed_class_id] for line in plan.lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", default="400,700,1000", help="comma-separated sizes")
    parser.add_argument("--seconds", type=float, default=120.0, help="CP-SAT's wall-clock limit per size")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    header = ("people", "optimiser", "flow bound", "LP bound", "CP-SAT best", "status")
    header += ("opt gap", "LP gap", "best gap", "shortfall")
    print(" ".join(f"{h:>12}" for h in header))
    for people in (int(n) for n in args.people.split(",")):
        places, facilities = people * PLACES_PER_PERSON, people // PEOPLE_PER_FACILITY
        scale = Scale(f"Île-de-France-like {people}", people, places, facilities, france=False)
        problem = synthetic(scale, args.seed).problem
        plan = solve(problem)
        instance = Instance(problem)
        ours, bound = plan.statistics.objective / instance.weight, plan.statistics.bound / instance.weight
        pairs = candidates(instance)
        started = time.perf_counter()
        lp = lp_bound(instance, pairs)
        lp_s = time.perf_counter() - started
        best, status = cp_sat_best(instance, pairs, hint_of(instance, plan), args.seconds)
        best = max(best, ours)
        row = (
            f"{people:>12}",
            f"{ours:>12.1f}",
            f"{bound:>12.1f}",
            f"{lp:>12.1f}",
            f"{best:>12.1f}",
            f"{status:>12}",
            f"{(bound - ours) / bound:>12.3%}",
            f"{(lp - ours) / lp:>12.3%}",
            f"{(bound - best) / bound:>12.3%}",
            f"{(best - ours) / best:>12.3%}",
        )
        print(" ".join(row), f"  (LP {lp_s:.1f} s, {len(pairs):,} person × class pairs)", flush=True)
    print(
        "\nopt gap: the optimiser's gap to the flow bound (what bench/solver.py reports); LP gap: to the LP"
        " bound instead; best gap: the best plan known's gap to the flow bound, the part of the gap that is"
        " the bound's; shortfall: the optimiser below the best plan known."
    )


if __name__ == "__main__":
    main()
