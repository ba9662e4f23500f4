"""Past `ABRI_MAX_IN_FLIGHT` requests at once, a real server answers 503 at once, then recovers.

Two requests are held in flight by clients that send a POST's headers and keep its body
back (the request is admitted, authenticated, and waits for its body). A third request
is shed: a 503 problem with Retry-After, at once. Health checks are not counted. When the
two clients go away, their slots come back and the next request is served.
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


@pytest.fixture(scope="module")
def server(database_url):
    env = {"DATABASE_URL": database_url, "ABRI_LOG_LEVEL": "warning", "ABRI_MAX_IN_FLIGHT": str(LIMIT)}
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


def test_requests_beyond_the_limit_are_shed_with_503_and_the_server_recovers(server, database_url):
    key = asyncio.run(_admin_key(database_url))
    facilities = lambda: httpx.get(f"{server.base}/v1/facilities", headers={"X-API-Key": key}, timeout=10)  # noqa: E731
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
