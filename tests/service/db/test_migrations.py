"""Migrations: applied once, in order, safely when several migrators race."""

import asyncio
import hashlib

import asyncpg
import pytest

from contracts.common import Role
from service.auth import authenticate
from service.db.migrate import available_migrations, current_version, latest_version, migrate
from tests.conftest import execute_on


@pytest.fixture
async def empty_database(pg_server):
    url = pg_server.get_uri(database="t_migrations_empty")
    await execute_on(
        pg_server.get_uri(), 'DROP DATABASE IF EXISTS "t_migrations_empty"', 'CREATE DATABASE "t_migrations_empty"'
    )
    yield url
    await execute_on(pg_server.get_uri(), 'DROP DATABASE IF EXISTS "t_migrations_empty" WITH (FORCE)')


async def test_two_migrators_at_once_apply_the_schema_once(empty_database):
    first, second = await asyncpg.connect(empty_database), await asyncpg.connect(empty_database)
    try:
        applied = await asyncio.gather(migrate(first), migrate(second))
        versions = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
        facility_tables = await first.fetchval("SELECT count(*) FROM pg_tables WHERE tablename = 'facilities'")
    finally:
        await first.close()
        await second.close()
    everything = list(range(1, latest_version() + 1))
    assert sorted(applied, key=len) == [[], everything], "one migrator applies all, the other nothing"
    assert [r["version"] for r in versions] == everything
    assert facility_tables == 1


async def test_migrating_again_applies_nothing(conn):
    assert await current_version(conn) == latest_version()
    assert await migrate(conn) == []


async def test_a_failing_migration_leaves_nothing_behind(empty_database, tmp_path, monkeypatch):
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT 1 / 0;")
    monkeypatch.setattr("service.db.migrate.MIGRATIONS_DIR", tmp_path)
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate(conn)
        assert await current_version(conn) == 1
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
    finally:
        await conn.close()


def test_migration_files_are_numbered_without_gaps():
    versions = [m.version for m in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))


async def test_keys_made_before_0008_stay_valid(empty_database, tmp_path, monkeypatch):
    for migration in available_migrations()[:7]:
        (tmp_path / f"{migration.version:04d}_{migration.name}.sql").write_text(migration.sql)
    conn = await asyncpg.connect(empty_database)
    try:
        monkeypatch.setattr("service.db.migrate.MIGRATIONS_DIR", tmp_path)
        await migrate(conn)
        organisation_id = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Before keys') RETURNING id")
        key_id = await conn.fetchval(
            "INSERT INTO api_keys (secret_sha256, role, organisation_id) VALUES ($1, 'manager', $2) RETURNING id",
            hashlib.sha256(b"old-secret").digest(),
            organisation_id,
        )
        monkeypatch.undo()
        await migrate(conn)
        caller = await authenticate(conn, f"abri_{key_id.hex}_old-secret")
    finally:
        await conn.close()
    assert caller.role is Role.MANAGER and caller.organisation_id == organisation_id
