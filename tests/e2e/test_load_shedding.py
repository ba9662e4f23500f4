"""A real server under clients that hold requests open: shedding, slow bodies, time-outs.

Clients send a POST's headers and keep its body back, so the request is admitted and
waits for its body. Past `ABRI_MAX_IN_FLIGHT` such requests, the next one is shed: a 503
problem with Retry-After, at once; health checks are not counted, and the slots come
back when the clients go. A request waiting for its body holds no database connection
(the server has a pool of one here), and after `ABRI_BODY_TIMEOUT_S` it is answered 408.
"""

from __future__ import annotations

import asyncio
import socket
import time

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from tests.process import serving

LIMIT = 2
BODY_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def server(database_url):
    env = {
        "DATABASE_URL": database_url,
        "ABRI_LOG_LEVEL": "warning",
        "ABRI_MAX_IN_FLIGHT": str(LIMIT),
        "ABRI_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "ABRI_DB_POOL_MIN": "1",
        "ABRI_DB_POOL_MAX": "1",
    }
    with serving(env, "--demo") as process:
        yield process


async def _admin_key(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return await create_key(conn, Role.ADMIN, await conn.fetchval("SELECT id FROM organisations LIMIT 1"))
    finally:
        await conn.close()


def _hold_in_flight(port: int, key: str) -> socket.socket:
    """A POST whose body never comes: in flight until the socket closes."""
    held = socket.create_connection(("127.0.0.1", port))
    held.sendall(
        f"POST /v1/referrals HTTP/1.1\r\nHost: test\r\nX-API-Key: {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
    )
    return held


def _poll(check, status: int, seconds: float = 10) -> httpx.Response:
    """`check()` again until it answers `status`, for up to `seconds`; its last answer."""
    deadline = time.monotonic() + seconds
    while (answer := check()).status_code != status and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


@pytest.fixture(scope="module")
def key(database_url):
    return asyncio.run(_admin_key(database_url))


@pytest.fixture
def facilities(server, key):
    return lambda: httpx.get(f"{server.base}/v1/facilities", headers={"X-API-Key": key}, timeout=10)


def test_requests_beyond_the_limit_are_shed_with_503_and_the_server_recovers(server, key, facilities):
    assert facilities().status_code == 200

    held = [_hold_in_flight(server.port, key) for _ in range(LIMIT)]
    try:
        shed = _poll(facilities, 503)  # once the held requests have reached the app
        assert shed.status_code == 503, shed.text
        assert shed.headers["content-type"].startswith("application/problem+json")
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["title"] == "Service overloaded" and f"limit of {LIMIT}" in shed.json()["detail"]
        started = time.perf_counter()
        assert facilities().status_code == 503
        assert time.perf_counter() - started < 1, "shed at once, not after a wait"
        assert httpx.get(f"{server.base}/health/ready", timeout=10).status_code == 200, "health is not counted"
    finally:
        for client in held:
            client.close()

    assert _poll(facilities, 200).status_code == 200, "the slots come back when the held requests end"


def test_a_slow_body_holds_no_connection_and_times_out_with_408(server, key, facilities):
    held = _hold_in_flight(server.port, key)
    try:
        time.sleep(0.5)  # the held request has reached the app, and waits for its body
        assert facilities().status_code == 200, "the pool's only connection is free"
        held.settimeout(BODY_TIMEOUT_S + 10)
        answer = held.recv(65536).decode()
    finally:
        held.close()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 408"), head
    assert "content-type: application/problem+json" in head.lower()
    assert f"within {BODY_TIMEOUT_S} s" in body
