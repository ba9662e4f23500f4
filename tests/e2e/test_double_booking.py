"""Holds and placements racing for one bed on a real server: exactly one wins, every time.

No constraint spans the holds and stays tables, so this is what the bed's row lock (and
the check made after it) must guarantee. The in-process client does not produce enough
real concurrency to catch a stale check; a server process with its own pool does.
"""

import asyncio

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from service.referrals.queries import reference_hmac
from tests.conftest import fresh_database
from tests.process import TEST_REFERENCE_KEY, Server

ROUNDS = 15
CONTENDERS = 40  # half holds, half placements, interleaved


async def prepare(url: str) -> tuple[str, str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        org = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Race operator') RETURNING id")
        facility = await conn.fetchval(
            """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                       lat, lon, opened_on)
               VALUES ($1, 'assore_hotel', 'Hôtel Disputé', '3 rue de la Course', 'Paris', '75',
                       'Île-de-France', 48.85, 2.30, '2020-01-01') RETURNING id""",
            org,
        )
        bed = await conn.fetchval(
            "INSERT INTO beds (facility_id, label, gender_policy) VALUES ($1, 'R1', 'any') RETURNING id", facility
        )
        referrals = await conn.fetch(
            """INSERT INTO referrals (organisation_id, reference_hmac, source, gender, accessible, dogs,
                                      medical_level, acceptable_kinds, consents_out_of_region,
                                      excluded_facility_ids, keep_apart_ids, vulnerability, court_ordered)
               SELECT $1, h, 'outreach_team', 'man', false, false, 0, '{assore_hotel}', false, '{}', '{}', 3, false
               FROM unnest($2::bytea[]) AS h
               RETURNING id""",
            org,
            [reference_hmac(TEST_REFERENCE_KEY, f"RACE-{n:05}") for n in range(ROUNDS * CONTENDERS)],
        )
        key = await create_key(conn, Role.PLACEMENT_OFFICER, org)
        return key, str(bed), [str(r["id"]) for r in referrals]
    finally:
        await conn.close()


async def overlapping_bookings(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            """WITH taken AS (SELECT id, bed_id, period FROM holds UNION ALL SELECT id, bed_id, period FROM stays)
               SELECT count(*) FROM taken a JOIN taken b
                 ON a.bed_id = b.bed_id AND a.id < b.id AND a.period && b.period"""
        )
    finally:
        await conn.close()


async def race(base: str, key: str, bed: str, referrals: list[str]) -> list[int]:
    limits = httpx.Limits(max_connections=CONTENDERS)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:
        wins = []
        for round_ in range(ROUNDS):
            people = referrals[round_ * CONTENDERS : (round_ + 1) * CONTENDERS]
            routes = ["/v1/holds", "/v1/stays"] * (CONTENDERS // 2)
            answers = await asyncio.gather(
                *(client.post(r, json={"referral_id": p, "bed_id": bed}) for r, p in zip(routes, people, strict=True))
            )
            assert all(a.status_code in (201, 409) for a in answers), [a.text for a in answers if a.status_code >= 500]
            won = [(r, a.json()["id"]) for r, a in zip(routes, answers, strict=True) if a.status_code == 201]
            wins.append(len(won))
            for route, id_ in won:  # free the bed for the next round
                action = ("cancel", {"reason": "other"}) if route == "/v1/holds" else ("exit", {"reason": "other"})
                assert (await client.post(f"{route}/{id_}/{action[0]}", json=action[1])).status_code == 200
        return wins


@pytest.fixture(scope="module")
def contested(pg_server):
    url = fresh_database(pg_server, "t_e2e_double_booking")
    key, bed, referrals = asyncio.run(prepare(url))
    server = Server({"DATABASE_URL": url, "ABRI_LOG_LEVEL": "warning", "ABRI_DB_POOL_MAX": "20"})
    server.wait_ready()
    yield server, url, key, bed, referrals
    server.stop()


def test_exactly_one_wins_each_round_and_nothing_overlaps(contested):
    server, url, key, bed, referrals = contested
    wins = asyncio.run(race(server.base, key, bed, referrals))
    assert wins == [1] * ROUNDS
    assert asyncio.run(overlapping_bookings(url)) == 0
