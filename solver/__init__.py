"""The placement core: pure computation, no I/O.

    from solver import solve
    plan = solve(PlacementProblem(people=[...], facilities=[...], bed_classes=[...], sites=[...]))

See solver/problem.py for the types and docs/solver.md for the model.
"""

from solver.solve import solve

__all__ = ["solve"]
