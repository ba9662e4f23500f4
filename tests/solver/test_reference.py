"""The reference checks itself: exhaustive search and the plain CP-SAT model agree."""

from __future__ import annotations

from hypothesis import given, settings

from solver.problem import PlacementProblem
from tests.solver.reference import brute_force, plain_cp_sat
from tests.solver.strategies import tiny_problems


@settings(max_examples=150, deadline=None)
@given(tiny_problems)
def test_brute_force_and_plain_cp_sat_agree(problem: PlacementProblem) -> None:
    assert brute_force(problem) == plain_cp_sat(problem)
