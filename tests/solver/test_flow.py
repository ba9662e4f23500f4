"""solver/flow.py on networks large enough to use several blocks per route: exclusions
routed around blocks must leave the flow exact."""

from __future__ import annotations

import random

import pytest

from solver import solve
from solver.problem import Point
from tests.solver.build import bed, facility, person, problem
from tests.solver.reference import plain_cp_sat


def _excluded_from_some_of_many(seed: int):
    """60 one-type hotels (4 blocks of 16), 50 people each excluded from 1 to 5 of them."""
    rng = random.Random(seed)
    hotels = [
        facility(f"h{n}", location=Point(lat=48.70 + rng.random() * 0.3, lon=2.10 + rng.random() * 0.5))
        for n in range(60)
    ]
    beds = [bed(f"b{n}", f"h{n}", rng.randint(1, 2), nightly_cost_cents=rng.randrange(0, 9000, 100)) for n in range(60)]
    people = [
        person(
            f"p{k}",
            rng.randint(10, 80),
            excluded_facility_ids=frozenset(f"h{n}" for n in rng.sample(range(60), rng.randint(1, 5))),
            care_anchor=Point(lat=48.85, lon=2.35) if k % 3 == 0 else None,
        )
        for k in range(50)
    ]
    return problem(people, hotels, beds)


@pytest.mark.parametrize("seed", range(4))
def test_exclusions_around_blocks_keep_the_flow_exact(seed: int) -> None:
    instance = _excluded_from_some_of_many(seed)
    plan = solve(instance)
    assert plan.statistics.gap == 0
    assert plan.statistics.objective == plain_cp_sat(instance)
    excluded = {p.id: p.excluded_facility_ids for p in instance.people}
    assert all(line.facility_id not in excluded[line.person_id] for line in plan.lines)
