"""The `abri` command against a DATABASE_URL server (serving on the embedded one is in tests/e2e)."""

import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime

import asyncpg
import pytest
from litestar.exceptions import NotAuthorizedException

from service.auth import authenticate, key_id_of
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


async def test_keys_are_created_with_a_label_and_expiry_listed_and_revoked(database_url, conn):
    made = abri(
        database_url, "create-key", "--role", "partner", "--org", "Hôtel CLI", "--label", "Night desk",
        "--expires", "2199-06-30",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key_id = key_id_of(made.stdout.strip())
    row = await conn.fetchrow("SELECT label, expires_at, created_by FROM api_keys WHERE id = $1", key_id)
    assert row["label"] == "Night desk" and row["created_by"] is None
    assert row["expires_at"] == datetime(2199, 6, 30, tzinfo=UTC)

    listed = abri(database_url, "list-keys", "--org", "Hôtel CLI")
    assert listed.returncode == 0, listed.stderr
    header, *lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert header[:4] == ["id", "role", "organisation_id", "label"]
    assert [line[:2] + line[3:4] for line in lines] == [[str(key_id), "partner", "Night desk"]]
    assert "2199-06-30T00:00:00+00:00" in lines[0] and made.stdout.strip() not in listed.stdout

    revoked = abri(database_url, "revoke-key", str(key_id))
    assert revoked.returncode == 0 and f"Key {key_id} is revoked since" in revoked.stdout, revoked.stderr
    again = abri(database_url, "revoke-key", str(key_id))
    assert again.stdout == revoked.stdout
    with pytest.raises(NotAuthorizedException, match="revoked"):
        await authenticate(conn, made.stdout.strip())
    events = await conn.fetch("SELECT action, key_id FROM audit_events WHERE subject_id = $1 ORDER BY id", key_id)
    assert [(e["action"], e["key_id"]) for e in events] == [("created", None), ("revoked", None)]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["create-key", "--role", "admin", "--org", "x", "--expires", "2001-01-01"], "--expires"),
        (["create-key", "--role", "admin", "--org", "x", "--expires", "2199-01-01T00:00"], "--expires"),
        (["create-key", "--role", "admin", "--org", "x", "--label", "a\nb"], "--label"),
        (["revoke-key", "not-an-id"], "KEY_ID"),
    ],
)
def test_key_commands_refuse_bad_arguments(database_url, args, error):
    result = abri(database_url, *args)
    assert result.returncode == 2 and error in result.stderr, result.stderr


async def test_key_commands_name_what_does_not_exist(database_url, conn):
    unknown = abri(database_url, "revoke-key", "00000000-0000-0000-0000-00000000002a")
    assert unknown.returncode == 1 and "No API key has id" in unknown.stderr
    nobody = abri(database_url, "list-keys", "--org", "Nobody at all")
    assert nobody.returncode == 1 and "no organisation is named" in nobody.stderr
    assert not await conn.fetchval("SELECT EXISTS (SELECT FROM organisations WHERE name = 'Nobody at all')")


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
