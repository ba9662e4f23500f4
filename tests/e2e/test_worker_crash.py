"""An API worker killed with SIGKILL while it accepts proposal lines and transfers people.

`abri serve --demo` runs on this module's database. A proposal holds beds for the demo's
waiting people; then 8 threads accept its lines and transfer the new stays while the
worker process is killed. Granian starts a new worker; afterwards every invariant holds
(service/db/invariants.py: no stay, hold or audit event half there), and every accept the
client saw answered 2xx left its stay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from service.db.invariants import violations
from tests.process import Server, serving

PEOPLE = 60
BACK_WITHIN_SECONDS = 20


@pytest.fixture(scope="module")
def server(database_url):
    with serving({"DATABASE_URL": database_url, "ABRI_LOG_LEVEL": "warning"}, "--demo") as process:
        yield process


async def _setup(url: str) -> tuple[str, list[str]]:
    conn = await asyncpg.connect(url)
    try:
        organisation = await conn.fetchval("SELECT id FROM organisations LIMIT 1")
        waiting = await conn.fetch(
            "SELECT id FROM referrals WHERE status = 'waiting' AND couple_partner_id IS NULL ORDER BY id LIMIT $1",
            PEOPLE,
        )
        return await create_key(conn, Role.ADMIN, organisation), [str(r["id"]) for r in waiting]
    finally:
        await conn.close()


async def _check(url: str, accepted: list[str]) -> tuple[dict, int]:
    conn = await asyncpg.connect(url)
    try:
        stays = await conn.fetchval(
            "SELECT count(*) FROM proposal_lines l JOIN stays s ON s.id = l.stay_id WHERE l.id = ANY($1::uuid[])",
            accepted,
        )
        return await violations(conn), stays
    finally:
        await conn.close()


def test_a_worker_killed_mid_placement_leaves_nothing_half_done(server, database_url):
    key, people = asyncio.run(_setup(database_url))
    api = httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=30)
    proposal = api.post("/v1/proposals", json={"referral_ids": people, "hold_minutes": 60})
    assert proposal.status_code == 201, proposal.text
    lines = [line for line in proposal.json()["lines"] if line["status"] == "proposed"]
    assert len(lines) >= 20, "too few lines to kill a worker in the middle of them"
    free_beds = [b["id"] for b in api.get("/v1/availability", params={"limit": 200}).json()["items"]]

    def accept_then_transfer(n: int) -> tuple[str, int | None]:
        line = lines[n]
        try:
            answer = api.post(f"/v1/proposals/{proposal.json()['id']}/lines/{line['id']}/accept")
            if answer.is_success and n < len(free_beds):
                api.post(f"/v1/stays/{answer.json()['stay_id']}/transfer", json={"bed_id": free_beds[-1 - n]})
            return line["id"], answer.status_code
        except httpx.TransportError:
            return line["id"], None

    [worker] = server.worker_pids()
    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(accept_then_transfer, n) for n in range(len(lines))]
        deadline = time.monotonic() + 10
        while sum(f.done() for f in running) < len(lines) // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(worker, signal.SIGKILL)
        outcomes = [f.result() for f in running]
    accepted = [line for line, status in outcomes if status is not None and 200 <= status < 300]
    cut = [line for line, status in outcomes if status is None]
    assert accepted and cut, f"the kill should fall in the middle: {len(accepted)} accepted, {len(cut)} cut"

    back = time.monotonic()
    while True:
        try:
            if api.get("/health/ready").status_code == 200 and server.worker_pids() != [worker]:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() - back < BACK_WITHIN_SECONDS, "no new worker"
        time.sleep(0.2)
    found, stays = asyncio.run(_check(database_url, accepted))
    assert found == {}, found
    assert stays == len(accepted), "an accept answered 2xx lost its stay"
    api.close()


def test_a_worker_dying_again_just_after_its_respawn_ends_abri_serve_with_status_1(database_url):
    """granian gives up on a worker that dies within 5.5 s of being respawned, and stops
    every worker with it: `abri serve` then ends with status 1, for its supervisor
    (compose's `restart: unless-stopped`) to start it again, rather than serving on."""
    server = Server({"DATABASE_URL": database_url, "ABRI_LOG_LEVEL": "warning"})
    try:
        server.wait_ready()
        [first] = server.worker_pids()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + BACK_WITHIN_SECONDS
        # The dead worker stays listed until it is reaped, maybe beside its successor.
        while len(workers := server.worker_pids()) != 1 or workers == [first]:
            assert time.monotonic() < deadline, "no new worker"
            time.sleep(0.05)
        os.kill(workers[0], signal.SIGKILL)
        assert server.process.wait(timeout=30) == 1
        assert "Worker crash loop detected" in "".join(server.output())
    finally:
        if server.process.poll() is None:
            server.stop()
