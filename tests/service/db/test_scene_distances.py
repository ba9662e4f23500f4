"""Scene distances (migration 0010): what the database keeps equals what it would compute.

Each facility's distance to the nearest consumption site active at a moment is kept per
scene period. After every kind of change to sites and facilities, the kept distances are
compared, at every period boundary and between them, with a computation from scratch.
"""

import asyncio
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from solver.geo import km_between

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture(scope="module")
async def organisation(conn):
    return await conn.fetchval("INSERT INTO organisations (name) VALUES ('Scene distances') RETURNING id")


async def add_facilities(conn, organisation, rng: random.Random, count: int) -> None:
    await conn.executemany(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           VALUES ($1, 'assore_hotel', $2, '1 rue du Test', 'Paris', '75', 'Île-de-France', $3, $4, '2020-01-01')""",
        [(organisation, f"Hotel {rng.random()}", rng.uniform(48.7, 49.0), rng.uniform(2.2, 2.5)) for _ in range(count)],
    )


async def add_site(conn, name: str, lat: float, lon: float, start: float, end: float | None) -> None:
    await conn.execute(
        "INSERT INTO consumption_sites (name, lat, lon, intensity, active_from, active_until)"
        " VALUES ($1, $2, $3, 3, $4, $5)",
        name, lat, lon, day(start), None if end is None else day(end),
    )  # fmt: skip


async def moments(conn) -> list[datetime]:
    """Every site's bounds, a second either side of each, and moments far before and after."""
    bounds = await conn.fetch(
        "SELECT active_from AS at FROM consumption_sites UNION SELECT active_until FROM consumption_sites"
    )
    exact = [r["at"] for r in bounds if r["at"] is not None]
    near = [at + timedelta(seconds=s) for at in exact for s in (-1, 1)]
    return [*exact, *near, day(-10_000), day(10_000)]


async def kept(conn, at: datetime) -> dict:
    rows = await conn.fetch(
        """SELECT d.facility_id, d.km, d.nearest_site_id, d.kind FROM facility_scene_distances d
           JOIN scene_periods p ON p.id = d.period_id WHERE p.period @> $1::timestamptz""",
        at,
    )
    return {r["facility_id"]: (r["km"], r["nearest_site_id"], r["kind"]) for r in rows}


async def computed(conn, at: datetime) -> dict:
    sites = await conn.fetch("SELECT id, lat, lon FROM consumption_sites WHERE active @> $1::timestamptz", at)
    nearest = {}
    for f in await conn.fetch("SELECT id, lat, lon, kind FROM facilities"):
        by_km = sorted((km_between(f["lat"], f["lon"], s["lat"], s["lon"]), s["id"]) for s in sites)
        nearest[f["id"]] = (*(by_km[0] if by_km else (None, None)), f["kind"])
    return nearest


async def assert_kept_as_computed(conn) -> None:
    for at in await moments(conn):
        have, want = await kept(conn, at), await computed(conn, at)
        assert have.keys() == want.keys(), f"one distance per facility at {at}"
        for facility, (km, site, kind) in want.items():
            assert have[facility][1:] == (site, kind), f"nearest site and kind of {facility} at {at}"
            expected = None if km is None else pytest.approx(km, rel=1e-9)
            assert have[facility][0] == expected, f"km of {facility} at {at}"


async def test_kept_distances_follow_every_change_to_sites_and_facilities(conn, organisation):
    rng = random.Random(10)
    await add_facilities(conn, organisation, rng, 30)
    await assert_kept_as_computed(conn)  # no site yet: no distance, at any moment

    await add_site(conn, "Stalingrad", 48.8843, 2.3699, 0, None)
    await add_site(conn, "La Chapelle", 48.8841, 2.3601, 10, 40)
    await add_site(conn, "Porte de la Villette", 48.8976, 2.3859, 10, 20)  # starts with La Chapelle
    await add_site(conn, "Rosa Parks", 48.8960, 2.3750, -30, 0)  # ends as Stalingrad starts
    await assert_kept_as_computed(conn)

    await add_facilities(conn, organisation, rng, 5)
    await conn.execute("UPDATE facilities SET lat = lat + 0.05 WHERE id IN (SELECT id FROM facilities LIMIT 4)")
    await conn.execute("UPDATE facilities SET kind = 'rest_space' WHERE id IN (SELECT id FROM facilities LIMIT 2)")
    await conn.execute("UPDATE consumption_sites SET active_until = $1 WHERE name = 'Stalingrad'", day(30))
    await conn.execute("UPDATE consumption_sites SET lat = 48.85 WHERE name = 'La Chapelle'")
    await assert_kept_as_computed(conn)

    await conn.execute("DELETE FROM facilities WHERE id IN (SELECT id FROM facilities LIMIT 3)")
    await conn.execute("DELETE FROM consumption_sites WHERE name = 'Porte de la Villette'")
    await assert_kept_as_computed(conn)

    await conn.execute("DELETE FROM consumption_sites")
    await assert_kept_as_computed(conn)
    assert await conn.fetchval("SELECT count(*) FROM scene_periods") == 1, "all of time, no site"


async def test_site_changes_in_concurrent_transactions_both_land(conn, database_url, organisation):
    await add_facilities(conn, organisation, random.Random(11), 5)
    first, second = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:

        async def add_in_transaction(c, name, start):
            async with c.transaction():
                await add_site(c, name, 48.88, 2.37, start, None)
                await asyncio.sleep(0.2)  # hold the transaction open while the other one starts

        await asyncio.gather(
            add_in_transaction(first, "Concurrent A", 100), add_in_transaction(second, "Concurrent B", 200)
        )
    finally:
        await first.close()
        await second.close()
    await assert_kept_as_computed(conn)


async def test_editing_a_site_s_name_or_intensity_keeps_the_distances(conn, organisation):
    await add_facilities(conn, organisation, random.Random(12), 3)
    await add_site(conn, "Renamed later", 48.89, 2.36, 300, None)
    before = await conn.fetchval("SELECT max(id) FROM scene_periods")
    await conn.execute(
        "UPDATE consumption_sites SET name = 'Renamed', intensity = 1, radius_m = 50 WHERE name = 'Renamed later'"
    )
    assert await conn.fetchval("SELECT max(id) FROM scene_periods") == before, "no rebuild"
    await conn.execute("UPDATE consumption_sites SET lon = 2.37 WHERE name = 'Renamed'")
    assert await conn.fetchval("SELECT max(id) FROM scene_periods") > before, "a move rebuilds"
    await assert_kept_as_computed(conn)
