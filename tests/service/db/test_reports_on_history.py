"""Flows, waiting and distance on a simulated year, against counts made here in Python.

The demo inventory gets a year of `abri simulate` history. The raw rows (stays with their
facility, referrals, holds, sites) are read once, and each report's figures are counted
again from them in Python, with solver.geo for distances: two ways to the same numbers
that share no SQL.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.reports import GroupBy, Step
from service.availability.queries import bed_free_probed, bed_in_service, bed_untaken
from service.demo.load import load_demo
from service.demo.simulate import simulate
from service.reports import history
from service.reports.occupancy import local_midnights, next_step, occupancy_at
from service.reports.routes import AGE_BANDS, DISTANCE_BANDS
from solver.geo import km_between
from tests.process import TEST_REFERENCE_KEY

TIMEZONE = "Europe/Paris"
PARIS = ZoneInfo(TIMEZONE)
UNTIL = date(2026, 11, 1)
AT = datetime(2026, 8, 14, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
async def rows(conn: asyncpg.Connection) -> dict[str, list]:
    await load_demo(conn, TEST_REFERENCE_KEY)
    await simulate(conn, TEST_REFERENCE_KEY, years=1, seed=5, until=UNTIL, timezone=TIMEZONE)
    return {
        "stays": await conn.fetch(
            "SELECT s.*, lower(s.period) AS begins, upper(s.period) AS ends, f.kind, f.lat, f.lon"
            " FROM stays s JOIN beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id"
        ),
        "referrals": await conn.fetch("SELECT id, created_at, ended_at, source, gender FROM referrals"),
        "holds": await conn.fetch("SELECT referral_id, lower(period) AS begins, upper(period) AS ends FROM holds"),
        "sites": await conn.fetch("SELECT lat, lon, active_from, active_until FROM consumption_sites"),
    }


def _months() -> list[datetime]:
    starts = local_midnights(date(2026, 1, 1), date(2026, 6, 30), Step.MONTH, PARIS, 100)
    return [*starts, datetime.combine(next_step(starts[-1].date(), Step.MONTH), time(), PARIS)]


async def test_flow_counts_equal_a_count_of_the_stays(conn: asyncpg.Connection, rows) -> None:
    boundaries = _months()
    reported = Counter()
    for row in await history.flow_counts(conn, boundaries, None):
        reported[row["k"], row["kind"], row["event"], row["reason"]] += row["n"]
    counted = Counter()
    for k, (start, end) in enumerate(itertools.pairwise(boundaries), start=1):
        for stay in rows["stays"]:
            if start <= stay["begins"] < end and stay["transferred_from"] is None:
                counted[k, stay["kind"], "entry", None] += 1
            if stay["ends"] is not None and start <= stay["ends"] < end:
                counted[k, stay["kind"], stay["ended_as"], stay["exit_reason"]] += 1
    assert reported == counted
    assert {event for _, _, event, _ in counted} == {"entry", "exit", "transfer", "no_show"}


async def test_lengths_of_stay_equal_those_of_the_stays(conn: asyncpg.Connection, rows) -> None:
    boundaries = _months()
    for row in await history.flow_lengths(conn, boundaries, None):
        start, end = boundaries[row["k"] - 1], boundaries[row["k"]]
        days = [
            (stay["ends"] - stay["begins"]).total_seconds() / 86400
            for stay in rows["stays"]
            if stay["ended_as"] in ("exit", "transfer")
            and start <= stay["ends"] < end
            and row["kind"] in (None, stay["kind"])
        ]
        assert row["n"] == len(days)
        assert row["median"] == pytest.approx(statistics.median(days))


async def test_waiting_equals_a_count_of_the_referrals(conn: asyncpg.Connection, rows) -> None:
    begun = {s["referral_id"] for s in rows["stays"] if s["begins"] <= AT}
    held = {h["referral_id"] for h in rows["holds"] if h["begins"] <= AT and (h["ends"] is None or h["ends"] > AT)}
    ages = Counter()
    for r in rows["referrals"]:
        waits = r["created_at"] <= AT and (r["ended_at"] is None or r["ended_at"] > AT)
        if waits and r["id"] not in begun and r["id"] not in held:
            days = (AT - r["created_at"]).total_seconds() / 86400
            ages[sum(days >= edge for edge in AGE_BANDS)] += 1
    assert await history.waiting_by_age(conn, AT, [float(d) for d in AGE_BANDS]) == dict(ages)
    assert sum(ages.values()) > 0


async def test_time_to_placement_equals_that_of_the_first_stays(conn: asyncpg.Connection, rows) -> None:
    window = (AT - timedelta(days=120), AT)
    first = {}
    for stay in rows["stays"]:
        first[stay["referral_id"]] = min(first.get(stay["referral_id"], stay["begins"]), stay["begins"])
    referral = {r["id"]: r for r in rows["referrals"]}
    days = [
        (begins - referral[r]["created_at"]).total_seconds() / 86400
        for r, begins in first.items()
        if window[0] <= begins < window[1]
    ]
    overall = next(
        row for row in await history.time_to_placement(conn, *window) if row["source"] == "all" == row["gender"]
    )
    assert overall["n"] == len(days) > 0
    assert overall["median"] == pytest.approx(statistics.median(days))


async def test_distances_equal_those_measured_here(conn: asyncpg.Connection, rows) -> None:
    started_from = AT - timedelta(days=90)

    def nearest(stay, moment: datetime) -> float | None:
        active = [
            s
            for s in rows["sites"]
            if s["active_from"] <= moment and (s["active_until"] is None or moment < s["active_until"])
        ]
        return min((km_between(stay["lat"], stay["lon"], s["lat"], s["lon"]) for s in active), default=None)

    def band(km: float | None) -> int | None:
        return None if km is None else sum(km >= edge for edge in DISTANCE_BANDS)

    counted = Counter()
    for stay in rows["stays"]:
        if stay["begins"] <= AT and (stay["ends"] is None or stay["ends"] > AT):
            counted["current", stay["kind"], band(nearest(stay, AT))] += 1
        if started_from <= stay["begins"] < AT:
            counted["begun", stay["kind"], band(nearest(stay, stay["begins"]))] += 1
    thresholds = '{"assore_hotel": 1.0, "specialised_unit": 1.0}'
    reported = await history.distances(conn, started_from, AT, None, list(DISTANCE_BANDS), thresholds)
    assert Counter({(r["which"], r["kind"], r["band"]): r["n"] for r in reported}) == counted


def _moments_at_the_edges(rows: dict[str, list]) -> list[datetime]:
    """Starts and ends of stays and holds, a microsecond either side: where a probe would slip."""
    edges = sorted({r[end] for table in ("stays", "holds") for r in rows[table] for end in ("begins", "ends")} - {None})
    sample = edges[:: max(1, len(edges) // 60)]
    return [at + timedelta(microseconds=d) for at in sample for d in (-1, 0, 1)]


async def test_the_latest_period_probe_finds_exactly_the_beds_a_full_search_finds(conn, rows) -> None:
    """The availability search's per-bed probe (migration 0011) against the plain definition."""

    def free(conditions: str) -> str:
        return f"SELECT coalesce(array_agg(b.id ORDER BY b.id), '{{}}') FROM beds b WHERE {conditions}"

    probed = free(bed_free_probed("$1::timestamptz"))
    plain = free(f"{bed_untaken('$1::timestamptz')} AND {bed_in_service('$1::timestamptz')}")
    moments = _moments_at_the_edges(rows)
    assert len(moments) > 100
    for at in moments:
        assert await conn.fetchval(probed, at) == await conn.fetchval(plain, at), at


async def test_occupancy_at_one_moment_equals_the_series_count(conn, rows) -> None:
    """`GET /v1/occupancy`'s one-moment query against the series query's first point, at the
    edges of stays, holds, out-of-service periods, commissionings and facility days."""

    async def both(at: datetime, group_by: GroupBy, operator: UUID | None) -> None:
        [alone] = await occupancy_at(conn, [at], group_by, TIMEZONE, operator)
        first, _ = await occupancy_at(conn, [at, at + timedelta(days=1)], group_by, TIMEZONE, operator)
        assert alone == first, (at, group_by, operator)

    days = await conn.fetch(
        "SELECT b.in_service_from AS begins, f.opened_on::timestamp AT TIME ZONE $1 AS ends FROM beds b"
        " JOIN facilities f ON f.id = b.facility_id UNION ALL"
        " SELECT lower(period), upper(period) FROM bed_unavailability UNION ALL"
        " SELECT NULL, closed_on::timestamp AT TIME ZONE $1 FROM facilities WHERE closed_on IS NOT NULL",
        TIMEZONE,
    )
    moments = _moments_at_the_edges(rows) + _moments_at_the_edges({"stays": [], "holds": days})
    operator = await conn.fetchval("SELECT organisation_id FROM facilities GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    for at in moments:
        await both(at, GroupBy.KIND, None)
    for at, group_by in zip(moments[::7], itertools.cycle(GroupBy)):
        await both(at, group_by, None)
        await both(at, group_by, operator)


async def test_occupancy_at_one_moment_counts_overlaps_once(conn, rows) -> None:
    """Periods that overlap (nothing forbids an out-of-service period over a stay or a
    hold) count once, as the first of occupied, held, out of service."""
    occupied = await conn.fetchrow(
        "SELECT bed_id, referral_id FROM stays WHERE period @> $1::timestamptz AND lower(period) < $2",
        AT, AT - timedelta(days=1),
    )  # fmt: skip
    free = await conn.fetchval(
        f"SELECT b.id FROM beds b WHERE {bed_untaken('$1::timestamptz')} AND {bed_in_service('$1::timestamptz')}"
        " AND NOT EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period && tstzrange($2, $3))",
        AT, AT - timedelta(hours=1), AT + timedelta(hours=1),
    )  # fmt: skip
    transaction = conn.transaction()
    await transaction.start()
    try:
        window = (AT - timedelta(hours=1), AT + timedelta(hours=1))
        for bed in (occupied["bed_id"], free):
            await conn.execute(
                "INSERT INTO holds (bed_id, referral_id, period) VALUES ($1, $2, tstzrange($3, $4))",
                bed, occupied["referral_id"], *window,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO bed_unavailability (bed_id, starts_at, ends_at, reason) VALUES ($1, $2, $3, 'damage')",
                bed, *window,
            )  # fmt: skip
        [alone] = await occupancy_at(conn, [AT], GroupBy.FACILITY, TIMEZONE, None)
        first, _ = await occupancy_at(conn, [AT, AT + timedelta(days=1)], GroupBy.FACILITY, TIMEZONE, None)
        assert alone == first
    finally:
        await transaction.rollback()


@pytest.mark.parametrize("table", ["stays", "holds"])
async def test_a_period_that_is_not_half_open_is_refused(conn, rows, table) -> None:
    bed, referral = await conn.fetchrow(f"SELECT bed_id, referral_id FROM {table} LIMIT 1")
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await conn.execute(
            f"INSERT INTO {table} (bed_id, referral_id, period)"
            " VALUES ($1, $2, tstzrange('2300-01-01', '2300-01-02', '(]'))",
            bed, referral,
        )  # fmt: skip
    assert refused.value.constraint_name == f"{table}_period_half_open"
