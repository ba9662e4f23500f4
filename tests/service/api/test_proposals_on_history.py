"""A proposal after `abri simulate`: few free beds, many people waiting, in time.

This once answered 503: the whole-problem CP-SAT model (29,000 person × class pairs)
outlived the route's time limit. (How long it takes is bench/solver.py's business, not a
test's: this checks that a plan comes, and a good one.)
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.common import Role
from service.demo.load import load_demo
from service.demo.simulate import simulate
from tests.process import TEST_REFERENCE_KEY


async def test_a_proposal_on_a_simulated_history_answers_with_a_plan(client, keys, conn) -> None:
    await load_demo(conn, TEST_REFERENCE_KEY)
    await simulate(conn, TEST_REFERENCE_KEY, years=1, seed=3, until=datetime.now(UTC).date(), timezone="Europe/Paris")
    free = await conn.fetchval(
        "SELECT count(*) FROM beds b"
        " WHERE NOT EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND upper_inf(s.period))"
    )
    answer = await client.post("/v1/proposals", json={}, headers=keys.header(Role.PLACEMENT_OFFICER))
    assert answer.status_code == 201, answer.text
    statistics = answer.json()["statistics"]
    assert 0 < statistics["placed"] <= free
    assert statistics["gap"] <= 0.005 and len(answer.json()["lines"]) == statistics["placed"]
