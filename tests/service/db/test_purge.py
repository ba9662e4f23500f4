"""Retention: `purge` erases the personal values of long-ended referrals and keeps the rows."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from service.referrals.purge import ERASED, purge
from service.referrals.queries import get_referral, reference_hmac
from tests.process import TEST_REFERENCE_KEY

THIRTY_DAYS = timedelta(days=30)
KEPT = ("id", "organisation_id", "status", "source", "created_at", "ended_at")


@pytest.fixture(scope="module")
async def organisation_id(conn: asyncpg.Connection) -> UUID:
    return await conn.fetchval("INSERT INTO organisations (name) VALUES ('Maraude test') RETURNING id")


@pytest.fixture(autouse=True)
async def nothing_left_to_purge(conn: asyncpg.Connection) -> None:
    """Purge is global: start each test with every ended referral already purged, so counts are exact."""
    await purge(conn, timedelta(0))


async def insert(
    conn: asyncpg.Connection,
    organisation_id: UUID,
    status: str,
    ended_days_ago: float | None = None,
    *,
    partner: UUID | None = None,
    keep_apart: tuple[UUID, ...] = (),
) -> UUID:
    """A referral with every need set (and unusual values, so erasing them shows)."""
    return await conn.fetchval(
        """
        INSERT INTO referrals (organisation_id, reference_hmac, source, status, gender, accessible, dogs,
                               couple_partner_id, medical_level, acceptable_kinds, consents_out_of_region,
                               excluded_facility_ids, keep_apart_ids, care_anchor_lat, care_anchor_lon,
                               vulnerability, court_ordered, first_met_on, ended_at)
        VALUES ($1, $2, 'court_ordered_treatment', $3, 'woman', true, true, $4, 2, '{assore_hotel,out_of_region}',
                true, $5, $6, 48.89, 2.36, 4, true, '2024-03-01', now() - make_interval(days => $7))
        RETURNING id
        """,
        organisation_id,
        reference_hmac(TEST_REFERENCE_KEY, f"T-{uuid4()}"),
        status,
        partner,
        [uuid4()],
        list(keep_apart),
        ended_days_ago,
    )


async def rows(conn: asyncpg.Connection, ids: list[UUID]) -> dict[UUID, dict]:
    return {r["id"]: dict(r) for r in await conn.fetch("SELECT * FROM referrals WHERE id = ANY($1)", ids)}


async def by_status(conn: asyncpg.Connection) -> dict[str, int]:
    return dict(await conn.fetch("SELECT status, count(*) FROM referrals GROUP BY status"))


async def audit_rows(conn: asyncpg.Connection) -> list[dict]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM audit_events ORDER BY id")]


async def test_only_referrals_ended_long_ago_are_purged(conn: asyncpg.Connection, organisation_id: UUID) -> None:
    waiting = await insert(conn, organisation_id, "waiting")
    held = await insert(conn, organisation_id, "held")
    placed = await insert(conn, organisation_id, "placed")
    old_exited = await insert(conn, organisation_id, "exited", 40, partner=waiting, keep_apart=(held,))
    old_withdrawn = await insert(conn, organisation_id, "withdrawn", 400)
    recent_exited = await insert(conn, organisation_id, "exited", 10)
    recent_withdrawn = await insert(conn, organisation_id, "withdrawn", 29.9)
    # The active partner and keep-apart point at the referral that will be purged: ids, not personal.
    await conn.execute("UPDATE referrals SET couple_partner_id = $1 WHERE id = $2", old_exited, waiting)
    await conn.execute("UPDATE referrals SET keep_apart_ids = $1 WHERE id = $2", [old_exited], held)
    purged, untouched = [old_exited, old_withdrawn], [waiting, held, placed, recent_exited, recent_withdrawn]
    before = await rows(conn, purged + untouched)
    statuses = await by_status(conn)
    audit_before = await audit_rows(conn)

    assert await purge(conn, THIRTY_DAYS) == 2

    after = await rows(conn, purged + untouched)
    for referral_id in purged:
        row = after[referral_id]
        assert {column: row[column] for column in ERASED} == dict.fromkeys(ERASED), "every personal value erased"
        assert row["reference_hmac"] is None
        assert row["purged_at"] is not None and row["purged_at"] >= row["ended_at"]
        assert row["version"] == before[referral_id]["version"] + 1
        assert row["updated_at"] > before[referral_id]["updated_at"]
        assert {c: row[c] for c in KEPT} == {c: before[referral_id][c] for c in KEPT}, "the row still counts"
    for referral_id in untouched:
        assert after[referral_id] == before[referral_id]
    assert after[waiting]["couple_partner_id"] == old_exited
    assert after[held]["keep_apart_ids"] == [old_exited]
    assert await by_status(conn) == statuses

    audit_after = await audit_rows(conn)
    assert audit_after[: len(audit_before)] == audit_before, "the audit trail is only appended to"
    events = audit_after[len(audit_before) :]
    assert sorted(e["subject_id"] for e in events) == sorted(purged)
    for event in events:
        assert (event["action"], event["subject_type"], event["changes"]) == ("purged", "referral", '{"purged": true}')
        assert (event["key_id"], event["role"], event["organisation_id"]) == (None, None, None), "done by the system"

    referral = await get_referral(conn, old_exited)  # still readable, with nothing personal
    assert referral.needs is None and referral.care_anchor is None and referral.vulnerability is None
    assert referral.acceptable_kinds is None and referral.first_met_on is None and referral.status == "exited"


async def test_purging_again_purges_nothing_more(conn: asyncpg.Connection, organisation_id: UUID) -> None:
    old = await insert(conn, organisation_id, "withdrawn", 90)
    assert await purge(conn, THIRTY_DAYS) == 1
    table = await conn.fetch("SELECT * FROM referrals ORDER BY id")
    audit = await audit_rows(conn)

    assert await purge(conn, THIRTY_DAYS) == 0
    assert await purge(conn, timedelta(0)) == 0

    assert await conn.fetch("SELECT * FROM referrals ORDER BY id") == table
    assert await audit_rows(conn) == audit
    assert (await rows(conn, [old]))[old]["reference_hmac"] is None


async def test_the_cut_off_is_the_one_given(conn: asyncpg.Connection, organisation_id: UUID) -> None:
    ten_days = await insert(conn, organisation_id, "exited", 10)
    two_days = await insert(conn, organisation_id, "exited", 2)

    assert await purge(conn, timedelta(days=7)) == 1
    assert await purge(conn, timedelta(days=7)) == 0

    after = await rows(conn, [ten_days, two_days])
    assert after[ten_days]["purged_at"] is not None and after[two_days]["purged_at"] is None
    assert await purge(conn, timedelta(days=1)) == 1
