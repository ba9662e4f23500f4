"""The invariant queries (service/db/invariants.py): silent after real flows, loud on each kind of half-done change."""

from __future__ import annotations

import asyncpg
import pytest

from contracts.common import Role
from service.db.invariants import INVARIANTS, violations
from tests.inventory import insert_bed, insert_facility

OFFICER = Role.PLACEMENT_OFFICER
REFERRAL = {"source": "hospital", "needs": {"gender": "man"}, "acceptable_kinds": ["assore_hotel"], "vulnerability": 2}


@pytest.fixture(scope="module")
async def beds(conn: asyncpg.Connection, keys) -> list[str]:
    facility = await insert_facility(conn, keys.organisation_id, "Hôtel des Invariants")
    return [str(await insert_bed(conn, facility, f"I{n}")) for n in range(6)]


async def call(client, keys, method: str, url: str, role: Role = OFFICER, expect: int = 200, **body) -> dict:
    r = await client.request(method, url, json=body or None, headers=keys.header(role))
    assert r.status_code == expect, r.text
    return r.json()


async def referral(client, keys, n: int) -> str:
    body = REFERRAL | {"reference": f"INV-{n}"}
    return (await call(client, keys, "POST", "/v1/referrals", Role.REFERRER, 201, **body))["id"]


@pytest.fixture(scope="module")
async def flows(client, keys, beds) -> None:
    """Every path a referral can take through holds and stays, with refusals on the way."""
    placed, exited, transferred, cancelled, withdrawn, no_show = [await referral(client, keys, n) for n in range(6)]
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=placed, bed_id=beds[0])
    await call(client, keys, "POST", "/v1/holds", expect=409, referral_id=exited, bed_id=beds[0])
    await call(client, keys, "POST", f"/v1/holds/{hold['id']}/confirm", expect=201)
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=exited, bed_id=beds[1])
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/check-in")
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/exit", reason="independent_housing")
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=transferred, bed_id=beds[2])
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/transfer", expect=409, bed_id=beds[0])
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/transfer", expect=201, bed_id=beds[3])
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=cancelled, bed_id=beds[4])
    await call(client, keys, "POST", f"/v1/holds/{hold['id']}/cancel", reason="declined_by_person")
    await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=withdrawn, bed_id=beds[4])
    await call(client, keys, "POST", f"/v1/referrals/{withdrawn}/withdraw", Role.REFERRER, reason="lost_contact")
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=no_show, bed_id=beds[5])
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/no-show")


async def test_after_every_path_through_the_api_no_rule_is_broken(flows, conn):
    assert await violations(conn) == {}


# A corruption per rule, each as a fault could leave it: run in a transaction rolled back.
CORRUPTIONS = {
    "a placed referral has exactly one open stay": "UPDATE referrals SET status = 'placed' WHERE status = 'waiting'",
    "an open stay's referral is placed": (
        "UPDATE referrals SET status = 'waiting' WHERE id IN (SELECT referral_id FROM stays WHERE ended_as IS NULL)"
    ),
    "a held referral has an active hold": "UPDATE referrals SET status = 'held' WHERE status = 'waiting'",
    "an active hold's referral is held": "UPDATE holds SET status = 'active' WHERE status = 'cancelled'",
    "a confirmed hold became a stay, and a stay from a hold had it confirmed": (
        "UPDATE holds SET status = 'confirmed' WHERE status = 'cancelled'"
    ),
    "an ended stay's period has ended": "UPDATE stays SET ended_as = NULL WHERE ended_as = 'no_show'",
    "every stay and hold has its audit event": (
        "INSERT INTO stays (bed_id, referral_id, period) "
        "SELECT b.id, r.id, tstzrange(now(), NULL) FROM beds b, referrals r WHERE r.status = 'placed' "
        "AND NOT EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.ended_as IS NULL) LIMIT 1"
    ),
    "every audit event of a stay or hold is about one that exists": (
        "INSERT INTO audit_events (action, subject_type, subject_id) VALUES ('started', 'stay', uuidv7())"
    ),
    "every stay and hold started has its event for partners": "DELETE FROM events WHERE type = 'stay.started'",
}


def test_every_rule_has_a_corruption_here():
    assert CORRUPTIONS.keys() == INVARIANTS.keys()


@pytest.mark.parametrize("rule", list(CORRUPTIONS))
async def test_each_rule_catches_its_corruption(flows, conn, rule):
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(CORRUPTIONS[rule])
        assert rule in await violations(conn)
    finally:
        await transaction.rollback()
