"""The `abri` command against a DATABASE_URL server (serving on the embedded one is in tests/e2e)."""

import asyncio
import hashlib
import os
import subprocess
import sys

import asyncpg
import pytest

from service.auth import authenticate
from service.db.embedded import embedded_server
from service.openapi import schema_json
from service.referrals.queries import reference_hmac
from tests.conftest import fresh_database
from tests.process import TEST_REFERENCE_KEY, Server


def abri(database_url: str, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """Run `abri` on `database_url`, with `env` added to (or, for None values, removed from) the environment."""
    merged = os.environ | {"DATABASE_URL": database_url} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        env={k: v for k, v in merged.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_create_key_prints_a_working_key_once(database_url, conn):
    result = abri(database_url, "create-key", "--role", "manager", "--org", "Ville de Paris")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    caller = await authenticate(conn, key)
    assert caller is not None and caller.role == "manager"
    assert (
        await conn.fetchval("SELECT name FROM organisations WHERE id = $1", caller.organisation_id) == "Ville de Paris"
    )
    stored = await conn.fetchval("SELECT secret_sha256 FROM api_keys WHERE id = $1", caller.key_id)
    assert stored == hashlib.sha256(key.split("_", 2)[2].encode()).digest(), "only a hash of the secret is stored"


def test_create_key_refuses_an_unknown_role(database_url):
    result = abri(database_url, "create-key", "--role", "superuser", "--org", "x")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_migrate_is_idempotent(database_url):
    result = abri(database_url, "migrate")
    assert result.returncode == 0 and "up to date" in result.stdout


def test_seed_demo_on_a_database_url_needs_the_reference_key(database_url):
    result = abri(database_url, "seed-demo", env={"ABRI_REFERENCE_KEY": None})
    assert result.returncode != 0 and "ABRI_REFERENCE_KEY" in result.stderr


async def test_seed_demo_loads_an_empty_database_once(database_url, conn):
    assert await conn.fetchval("SELECT count(*) FROM facilities") == 0, "the key check above loaded nothing"
    first = abri(database_url, "seed-demo", env={"ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY})
    assert first.returncode == 0, first.stderr
    beds = await conn.fetchval("SELECT count(*) FROM beds")
    assert beds > 700
    referrals = await conn.fetchval("SELECT count(*) FROM referrals")
    assert referrals >= 750 and f"'referrals': {referrals}" in first.stdout
    hashed = reference_hmac(TEST_REFERENCE_KEY, "DEMO-0001")
    assert await conn.fetchval("SELECT EXISTS (SELECT FROM referrals WHERE reference_hmac = $1)", hashed)
    second = abri(database_url, "seed-demo", env={"ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY})
    assert second.returncode != 0 and "empty" in second.stderr
    assert await conn.fetchval("SELECT count(*) FROM beds") == beds
    assert await conn.fetchval("SELECT count(*) FROM referrals") == referrals


async def test_purge_erases_referrals_ended_before_the_cut_off(database_url, conn):
    organisation_id = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Maraude CLI') RETURNING id")
    old, recent = [
        await conn.fetchval(
            """
            INSERT INTO referrals (organisation_id, reference_hmac, source, status, gender, accessible, dogs,
                                   medical_level, acceptable_kinds, consents_out_of_region, excluded_facility_ids,
                                   keep_apart_ids, vulnerability, court_ordered, ended_at)
            VALUES ($1, $2, 'outreach_team', 'exited', 'man', false, true, 1, '{assore_hotel}', false, '{}', '{}',
                    3, false, now() - make_interval(days => $3))
            RETURNING id
            """,
            organisation_id,
            reference_hmac(TEST_REFERENCE_KEY, reference),
            days,
        )
        for reference, days in (("CLI-OLD", 31), ("CLI-RECENT", 29))
    ]
    waiting = await conn.fetchval("SELECT count(*) FROM referrals WHERE status = 'waiting'")

    result = abri(database_url, "purge", "--older-than", "30", env={"ABRI_REFERENCE_KEY": None})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Purged 1 referral ended more than 30 days ago."
    purged = dict(await conn.fetch("SELECT id, purged_at IS NOT NULL FROM referrals WHERE id = ANY($1)", [old, recent]))
    assert purged == {old: True, recent: False}
    assert await conn.fetchval("SELECT reference_hmac FROM referrals WHERE id = $1", old) is None
    assert await conn.fetchval("SELECT count(*) FROM referrals WHERE status = 'waiting'") == waiting
    again = abri(database_url, "purge", "--older-than", "30")
    assert again.returncode == 0 and again.stdout.strip() == "Purged 0 referrals ended more than 30 days ago."


def test_embedded_seed_demo_hashes_with_the_key_it_keeps_beside_the_data(tmp_path):
    embedded = {"DATABASE_URL": None, "ABRI_REFERENCE_KEY": None, "ABRI_DATA_DIR": str(tmp_path)}

    result = abri("", "seed-demo", env=embedded)

    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "reference-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32 and key not in result.stdout

    async def demo_hash_present(url: str) -> bool:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(
                "SELECT EXISTS (SELECT FROM referrals WHERE reference_hmac = $1)", reference_hmac(key, "DEMO-0001")
            )
        finally:
            await conn.close()

    with embedded_server(tmp_path) as url:
        assert asyncio.run(demo_hash_present(url)), "the demo was hashed with the key the server will use"
    assert key_file.read_text().strip() == key


@pytest.mark.parametrize("days", [[], ["0"], ["-3"], ["1.5"], ["thirty"], ["36501"]])
def test_purge_needs_whole_days_from_one(database_url, days):
    result = abri(database_url, "purge", *(["--older-than", *days] if days else []))
    assert result.returncode == 2 and "--older-than" in result.stderr


def test_openapi_writes_the_document(tmp_path):
    out = tmp_path / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "service", "openapi", "--output", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text() == schema_json()


@pytest.fixture
def empty_url(pg_server):
    return fresh_database(pg_server, "t_cli_empty")


async def test_serve_never_loads_the_demo_into_a_database_url_unless_asked(empty_url):
    server = Server({"DATABASE_URL": empty_url})
    try:
        server.wait_ready()
    finally:
        _, out, _ = server.stop()
    conn = await asyncpg.connect(empty_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM facilities") == 0
    finally:
        await conn.close()
    assert "demo" not in out.lower() and "Admin API key" not in out
