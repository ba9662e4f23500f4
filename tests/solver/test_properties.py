"""Properties of solve() and greedy() on random problems, checked against tests/solver/reference.py."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from solver import solve
from solver.greedy import greedy
from solver.problem import Gender, GenderPolicy, PlacementPlan, PlacementProblem
from tests.solver.build import bed, facility, person, problem
from tests.solver.reference import (
    brute_force,
    explanation_errors,
    has_side_constraints,
    maximality_errors,
    plain_cp_sat,
    score_errors,
    violations,
)
from tests.solver.strategies import small_plain_problems, small_problems, tiny_problems

FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def solve_as_at_scale(problem: PlacementProblem) -> PlacementPlan:
    """solve() on the path it takes for large problems: households placed around the flow."""
    parameters = msgspec.structs.replace(problem.parameters, exact_below=0)
    return solve(msgspec.structs.replace(problem, parameters=parameters))


SOLVERS: dict[str, Callable[[PlacementProblem], PlacementPlan]] = {
    "solve": solve,
    "solve_as_at_scale": solve_as_at_scale,
    "greedy": greedy,
}
OPTIMISERS = {name: SOLVERS[name] for name in ("solve", "solve_as_at_scale")}


@pytest.mark.parametrize("name", SOLVERS)
@MANY
@given(problem=small_problems)
def test_plans_keep_every_rule_and_score_exactly(name: str, problem: PlacementProblem) -> None:
    """Hard rules, capacities, one line per person, couples together, keep-apart apart;
    line scores as the reference computes them, summing to the objective; bound ≥ objective;
    nobody free of side constraints left out beside a fitting free bed; unplaced bed counts."""
    plan = SOLVERS[name](problem)
    assert violations(problem, plan) == []
    assert score_errors(problem, plan) == []
    assert plan.statistics.bound >= plan.statistics.objective
    assert plan.statistics.people == len(problem.people)
    assert maximality_errors(problem, plan) == []
    assert explanation_errors(problem, plan, by_rule=name in OPTIMISERS) == []


@MANY
@given(problem=small_plain_problems)
def test_without_side_constraints_flow_equals_plain_cp_sat(problem: PlacementProblem) -> None:
    plan = solve(problem)
    assert plan.statistics.objective == plain_cp_sat(problem)
    assert plan.statistics.gap == 0
    assert plan.statistics.bound == plan.statistics.objective


@pytest.mark.parametrize("name", OPTIMISERS)
@FEW
@given(problem=small_problems)
def test_with_side_constraints_bound_and_objective_bracket_the_optimum(name: str, problem: PlacementProblem) -> None:
    plan = OPTIMISERS[name](problem)
    optimum = plain_cp_sat(problem)
    assert plan.statistics.objective <= optimum <= plan.statistics.bound
    if plan.statistics.gap == 0:
        assert plan.statistics.objective == optimum


@MANY
@given(problem=tiny_problems)
def test_tiny_problems_are_solved_to_the_brute_force_optimum(problem: PlacementProblem) -> None:
    assert solve(problem).statistics.objective == brute_force(problem)


@MANY
@given(problem=small_problems)
def test_solve_places_at_least_greedys_priority(problem: PlacementProblem) -> None:
    """Only for the exact path: at scale the households are placed by a heuristic around
    the flow, which hypothesis has found losing a point of priority to greedy on rare tiny
    cases (bench/solver.py compares the two at scale)."""
    best, first_fit = solve(problem).statistics, greedy(problem).statistics
    assert best.priority_placed >= first_fit.priority_placed
    assert best.objective >= first_fit.objective


@MANY
@given(problem=small_plain_problems)
def test_without_side_constraints_solve_places_at_least_as_many_as_greedy(problem: PlacementProblem) -> None:
    # With positive weights the best placement is a basis of a transversal matroid: maximum cardinality.
    assert solve(problem).statistics.placed >= greedy(problem).statistics.placed


def _without_time(plan: PlacementPlan) -> bytes:
    return msgspec.json.encode(
        msgspec.structs.replace(plan, statistics=msgspec.structs.replace(plan.statistics, seconds=0.0))
    )


@pytest.mark.parametrize("name", SOLVERS)
@FEW
@given(problem=small_problems)
def test_deterministic(name: str, problem: PlacementProblem) -> None:
    solver = SOLVERS[name]
    assert _without_time(solver(problem)) == _without_time(solver(problem))


@FEW
@given(problem=small_plain_problems)
def test_plain_problems_have_no_side_people(problem: PlacementProblem) -> None:
    assert not has_side_constraints(problem)
    assert solve(problem).statistics.side_people == 0


def test_with_keep_apart_solve_may_place_fewer_people_than_greedy() -> None:
    """Why the cardinality property holds only without side constraints: P (100) may take
    either bed class, X (99) only the first, and X must be kept apart from Y and Z (1 each).
    Greedy gives P the first class, X finds nothing, Y and Z fill the second: 3 people, 102
    points. The optimum puts P in the second class and X in the first: 2 people, 199 points."""
    woman = Gender.WOMAN
    p = problem(
        [
            person("P", 100, woman),
            person("X", 99, keep_apart_ids=frozenset({"Y", "Z"})),
            person("Y", 1, woman),
            person("Z", 1, woman),
        ],
        [facility("f0")],
        [bed("c0", "f0"), bed("c1", "f0", capacity=2, gender_policy=GenderPolicy.WOMEN)],
    )
    best, first_fit = solve(p).statistics, greedy(p).statistics
    assert (best.placed, best.priority_placed) == (2, 199)
    assert (first_fit.placed, first_fit.priority_placed) == (3, 102)
