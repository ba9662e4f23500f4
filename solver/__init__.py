"""The placement core: pure computation, no I/O.

    from solver import solve
    plan = solve(PlacementProblem(people=[...], facilities=[...], bed_classes=[...], sites=[...]))

See solver/problem.py for the types and docs/solver.md for the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solver.optimise import solve

__all__ = ["solve"]


def __getattr__(name: str):
    """Load solve() (numpy, OR-Tools: seconds) only when used, not when the API imports the rules."""
    if name == "solve":
        from solver.optimise import solve

        return solve
    raise AttributeError(name)
