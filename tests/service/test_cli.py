"""The `abri` command against a DATABASE_URL server (the embedded path is in tests/e2e)."""

import hashlib
import os
import subprocess
import sys

import asyncpg
import pytest

from service.auth import authenticate
from tests.conftest import fresh_database
from tests.process import Server


def abri(database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=120
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


async def test_seed_demo_loads_an_empty_database_once(database_url, conn):
    first = abri(database_url, "seed-demo")
    assert first.returncode == 0, first.stderr
    beds = await conn.fetchval("SELECT count(*) FROM beds")
    assert beds > 700
    second = abri(database_url, "seed-demo")
    assert second.returncode != 0 and "empty" in second.stderr
    assert await conn.fetchval("SELECT count(*) FROM beds") == beds


def test_openapi_writes_the_document(tmp_path):
    out = tmp_path / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "service", "openapi", "--output", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("{")


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
