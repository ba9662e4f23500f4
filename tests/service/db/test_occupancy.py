"""Occupancy from history (service/reports/occupancy.py) against a direct count per bed.

The demo inventory gets a random two-year history written straight into the tables:
stays and holds that never overlap on a bed, out-of-service periods that may overlap
them, a facility closed and one opened late, beds commissioned late. At many moments
(random instants and local midnights) the report must equal a plain count that
classifies each bed at that instant with EXISTS probes.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.reports import GroupBy
from service.demo.load import load_demo
from service.reports.occupancy import _GROUPS, occupancy_at
from tests.process import TEST_REFERENCE_KEY

TIMEZONE = "Europe/Paris"
START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)

DIRECT = """
SELECT {key} AS key, count(*) AS in_service,
       count(*) FILTER (WHERE occupied) AS occupied,
       count(*) FILTER (WHERE held AND NOT occupied) AS held,
       count(*) FILTER (WHERE closed AND NOT held AND NOT occupied) AS out_of_service
FROM (
    SELECT f.*, b.id AS bed_id,
           EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.period @> $1::timestamptz) AS occupied,
           EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period @> $1::timestamptz) AS held,
           EXISTS (SELECT FROM bed_unavailability u WHERE u.bed_id = b.id AND u.period @> $1::timestamptz) AS closed
    FROM beds b JOIN facilities f ON f.id = b.facility_id
    WHERE b.in_service_from <= $1
      AND f.opened_on <= ($1::timestamptz AT TIME ZONE $2)::date
      AND (f.closed_on IS NULL OR f.closed_on > ($1::timestamptz AT TIME ZONE $2)::date)
) f {joins}
GROUP BY 1
"""


def _instant(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))


def _periods(rng: random.Random, count: int) -> list[tuple[datetime, datetime | None]]:
    """Non-overlapping periods in [START, END), the last possibly open-ended."""
    cuts = sorted(_instant(rng) for _ in range(2 * count))
    periods: list[tuple[datetime, datetime | None]] = list(zip(cuts[::2], cuts[1::2], strict=True))
    if periods and rng.random() < 0.5:
        periods[-1] = (periods[-1][0], None)
    return periods


@pytest.fixture(scope="module")
async def history(conn: asyncpg.Connection) -> None:
    await load_demo(conn, TEST_REFERENCE_KEY)
    rng = random.Random(7)
    beds = [row["id"] for row in await conn.fetch("SELECT id FROM beds ORDER BY facility_id, label")]
    referral = await conn.fetchval("SELECT id FROM referrals LIMIT 1")
    stays, holds, closures = [], [], []
    for bed in beds:
        for start, end in _periods(rng, rng.randrange(0, 6)):
            (stays if rng.random() < 0.75 else holds).append((referral, bed, start, end))
        for start, end in _periods(rng, rng.randrange(0, 2)):
            closures.append((bed, start, end or start + timedelta(days=9)))
    await conn.executemany("INSERT INTO stays (referral_id, bed_id, period) VALUES ($1, $2, tstzrange($3, $4))", stays)
    await conn.executemany("INSERT INTO holds (referral_id, bed_id, period) VALUES ($1, $2, tstzrange($3, $4))", holds)
    await conn.executemany(
        "INSERT INTO bed_unavailability (bed_id, starts_at, ends_at, reason) VALUES ($1, $2, $3, 'maintenance')",
        closures,
    )
    facilities = [row["id"] for row in await conn.fetch("SELECT id FROM facilities ORDER BY name")]
    closing = "UPDATE facilities SET opened_on = $2, closed_on = $3 WHERE id = $1"
    await conn.execute(closing, facilities[0], date(2020, 1, 1), date(2025, 3, 10))
    await conn.execute(closing, facilities[1], date(2024, 9, 15), None)
    await conn.execute(
        "UPDATE beds SET in_service_from = '2025-06-01T12:00:00Z' WHERE id = ANY($1::uuid[])", rng.sample(beds, 40)
    )


async def _direct(conn: asyncpg.Connection, at: datetime, group_by: GroupBy) -> dict[str | None, tuple[int, ...]]:
    key, _, joins = _GROUPS[group_by]
    rows = await conn.fetch(DIRECT.format(key=key, joins=joins), at, TIMEZONE)
    return {row["key"]: (row["in_service"], row["occupied"], row["held"], row["out_of_service"]) for row in rows}


def _moments(rng: random.Random) -> list[datetime]:
    instants = [_instant(rng) for _ in range(30)]
    paris = ZoneInfo(TIMEZONE)
    midnights = [datetime.combine(date(2025, 3, d), datetime.min.time(), tzinfo=paris) for d in range(8, 13)]
    return sorted(instants + midnights + [START - timedelta(days=1), END + timedelta(days=400)])


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("group_by", [GroupBy.KIND, GroupBy.FACILITY, GroupBy.OPERATOR, GroupBy.ARRONDISSEMENT])
async def test_every_moment_matches_a_direct_count(conn: asyncpg.Connection, group_by: GroupBy) -> None:
    moments = _moments(random.Random(group_by.value))
    reported = await occupancy_at(conn, moments, group_by, TIMEZONE, None)
    for at, groups in zip(moments, reported, strict=True):
        found = {g.key: (g.in_service, g.occupied, g.held, g.out_of_service) for g in groups}
        assert found == await _direct(conn, at, group_by), at


@pytest.mark.usefixtures("history")
async def test_the_history_is_rich_enough_to_test(conn: asyncpg.Connection) -> None:
    """Guards the test above, on the direct count alone: its moments see beds in every
    state, out-of-service periods hidden by stays, and places entering and leaving service."""
    moments = _moments(random.Random(GroupBy.KIND.value))
    totals = [tuple(map(sum, zip(*(await _direct(conn, at, GroupBy.KIND)).values(), strict=True))) for at in moments]
    in_service = [t[0] if t else 0 for t in totals]
    assert all(any(t and t[k] > 0 for t in totals) for k in range(4))
    assert len(set(in_service)) > 3  # places enter and leave service over the moments
    hidden = await conn.fetchval(
        "SELECT count(*) FROM bed_unavailability u JOIN stays s ON s.bed_id = u.bed_id AND s.period && u.period"
    )
    assert hidden > 0


@pytest.mark.usefixtures("history")
async def test_one_moment_alone_equals_the_same_moment_in_a_series(conn: asyncpg.Connection) -> None:
    moments = _moments(random.Random(3))
    series = await occupancy_at(conn, moments, GroupBy.KIND, TIMEZONE, None)
    for at, groups in zip(moments, series, strict=True):
        assert (await occupancy_at(conn, [at], GroupBy.KIND, TIMEZONE, None))[0] == groups


@pytest.mark.usefixtures("history")
async def test_an_operator_sees_its_own_facilities_only(conn: asyncpg.Connection) -> None:
    operator = await conn.fetchval("SELECT organisation_id FROM facilities GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    at = datetime(2025, 6, 30, tzinfo=UTC)
    [groups] = await occupancy_at(conn, [at], GroupBy.FACILITY, TIMEZONE, operator)
    own = {str(row["id"]) for row in await conn.fetch("SELECT id FROM facilities WHERE organisation_id = $1", operator)}
    assert groups and {g.key for g in groups} <= own
