"""A real client loses the connection mid-request and retries with the same Idempotency-Key.

`abri serve` runs as a real process; the request goes over a raw socket that is reset
before the response is read. Whether the drop comes after the commit or while the
request is still in flight, the retry gets the first response and one resource exists.
"""

import asyncio
import json
import socket
import struct
import time
import uuid
from contextlib import closing

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from tests.conftest import execute_on, fresh_database
from tests.process import Server

DATABASE = "t_idem_e2e"
WAIT_SECONDS = 15


@pytest.fixture(scope="module")
def database_url(pg_server):
    url = fresh_database(pg_server, DATABASE)
    yield url
    asyncio.run(execute_on(pg_server.get_uri(), f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def admin_key(database_url):
    async def setup() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            organisation_id = await conn.fetchval(
                "INSERT INTO organisations (name) VALUES ('E2E operator') RETURNING id"
            )
            return await create_key(conn, Role.ADMIN, organisation_id)
        finally:
            await conn.close()

    return asyncio.run(setup())


@pytest.fixture(scope="module")
def server(database_url, admin_key):
    process = Server({"DATABASE_URL": database_url, "ABRI_REFERENCE_KEY": "e2e-reference-key-" + "x" * 32})
    try:
        process.wait_ready()
        yield process
    finally:
        code, _, err = process.stop()
        assert code == 0, err


def query(url: str, sql: str, *args):
    async def run():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def organisations_named(url: str, name: str) -> list:
    return query(url, "SELECT id FROM organisations WHERE name = $1", name)


def send_and_drop_later(server: Server, headers: dict[str, str], body: bytes) -> socket.socket:
    """Send a whole POST over a raw socket; the caller resets it without reading the answer."""
    lines = [
        "POST /v1/organisations HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
        "",
        "",
    ]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    # Close with a TCP reset: the connection is lost, not politely ended.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall("\r\n".join(lines).encode() + body)
    return sock


def retry(server: Server, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(
        f"{server.base}/v1/organisations",
        content=body,
        headers=headers | {"Content-Type": "application/json"},
        timeout=WAIT_SECONDS,
    )


def check_retry(server, database_url, headers, body, name) -> None:
    again = retry(server, headers, body)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    (row,) = organisations_named(database_url, name)
    assert again.json()["id"] == str(row["id"]) and again.json()["name"] == name
    assert again.headers["location"] == f"/v1/organisations/{row['id']}"
    assert again.headers["etag"] == '"1"'


def test_the_connection_drops_after_the_commit_and_the_retry_replays(server, database_url, admin_key):
    name = "Dropped after commit"
    headers = {"X-API-Key": admin_key, "Idempotency-Key": str(uuid.uuid4())}
    body = json.dumps({"name": name}).encode()
    with closing(send_and_drop_later(server, headers, body)):
        wait_until(lambda: organisations_named(database_url, name), "the organisation is committed")
    check_retry(server, database_url, headers, body, name)


def test_the_connection_drops_in_flight_and_the_retry_waits_then_replays(server, database_url, admin_key):
    """The server is held before its commit (a lock on the key table), the client drops,
    the lock goes: the server still commits, and a retry gets the one response."""
    name = "Dropped in flight"
    headers = {"X-API-Key": admin_key, "Idempotency-Key": str(uuid.uuid4())}
    body = json.dumps({"name": name}).encode()

    async def hold_then_drop() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE idempotency_keys IN SHARE ROW EXCLUSIVE MODE")
                sock = send_and_drop_later(server, headers, body)
                deadline = time.monotonic() + WAIT_SECONDS
                while not await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                    DATABASE,
                ):
                    assert time.monotonic() < deadline, "the server never reached the key table"
                    await asyncio.sleep(0.05)
                sock.close()  # the server has read the request and is waiting on us
                await asyncio.sleep(0.2)
        finally:
            await conn.close()

    asyncio.run(hold_then_drop())
    wait_until(lambda: organisations_named(database_url, name), "the organisation is committed")
    check_retry(server, database_url, headers, body, name)
