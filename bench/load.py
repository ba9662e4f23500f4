"""Throughput and latency of a real `abri serve` under load, against the database's own floor.

Makes a throwaway data directory with the demo and N years of simulated history
(bench/harness.py), serves it with `abri serve --workers W` (as many workers as cores by
default) on the embedded PostgreSQL, and drives it from a separate process on loopback,
open loop. Phases, each --warmup and then --seconds long (what is answered in the warm-up
is shown apart, its failures counted as errors; a cold start is the first seconds'
business: every pooled connection plans each search five times before PostgreSQL keeps a
plan, and the driver opens its connections):

  availability   GET /v1/availability (20 beds, random kind and gender) at --rate
  mixed          the same at --rate, with referral creation then hold then cancel (10/s),
                 and then hold, confirm, check-in and exit (2/s), occupancy now by kind (5/s)
                 and a one-person proposal (0.5/s) alongside

CPU: each phase also says what one request cost in CPU time, the server's processes'
and PostgreSQL's (from /proc), and the driver's, and how many of the cores that is at
this rate: on 2 cores, what the server does not use is left to the database and the driver.

FLOOR: the availability search's own SQL (service/availability/queries.free_beds), issued
with asyncpg from one process at the same rate on a pool as large as the server's; the
API's p50 and p99 are given as multiples of it.

TARGETS (2 cores): availability p99 under 25 ms at 300 requests a second; the API at
most 2× the floor; no errors (409 conflicts, a bed taken between search and hold, are
the mix's nature and are counted apart).

    uv run python bench/load.py [--rate 300] [--seconds 20] [--warmup 5] [--workers 2] [--years 5]
                                [--data-dir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import asyncpg  # noqa: E402
import uvloop  # noqa: E402

from bench.harness import (  # noqa: E402
    Figures,
    Http,
    Recorder,
    availability_params,
    beds_for_a_man,
    demo_key,
    history,
    in_load_process,
    machine,
    man_for_a_hotel,
    open_loop,
    percentile,
    postmaster_pid,
    served,
    tree_cpu_s,
)
from contracts.availability import PersonGender  # noqa: E402
from contracts.common import FacilityKind  # noqa: E402
from service.availability.queries import AvailabilityFilter, free_beds  # noqa: E402
from service.db.embedded import embedded_server  # noqa: E402
from tests.process import Server  # noqa: E402

TIMEZONE = "Europe/Paris"
P99_TARGET_MS = 25.0
OVERHEAD_TARGET = 2.0
POOL = 10  # the server's pool per worker (ABRI_DB_POOL_MAX default)
CONFLICT = frozenset({"409"})


async def drive(base: str, key: str, rate: float, warmup: float, seconds: float, mixed: bool) -> Recorder:
    """The load, `warmup` then `seconds` long: availability at `rate`, and with `mixed` the
    writes and reports alongside."""
    recorder, rng = Recorder(warmup), random.Random(7)
    seconds += warmup
    async with Http(base, key) as http:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            await recorder.time("availability", scheduled, lambda: http.get("/v1/availability", params=params))

        async def hold_for_new_referral(scheduled: float) -> dict | None:
            body = man_for_a_hotel(f"LOAD-{uuid.uuid4().hex}")  # unique across runs on a kept --data-dir
            made = await recorder.time("referral create", scheduled, lambda: http.post("/v1/referrals", json=body))
            free = await http.get("/v1/availability", params=beds_for_a_man(50))
            if not (made and made.is_success and free.is_success and free.json()["items"]):
                return None
            hold = {"referral_id": made.json()["id"], "bed_id": rng.choice(free.json()["items"])["id"], "minutes": 5}
            held = await recorder.time("hold", time.perf_counter(), lambda: http.post("/v1/holds", json=hold))
            return held.json() if held and held.is_success else None

        async def refer_hold_cancel(scheduled: float) -> None:
            if held := await hold_for_new_referral(scheduled):
                url, why = f"/v1/holds/{held['id']}/cancel", {"reason": "declined_by_person"}
                await recorder.time("hold cancel", time.perf_counter(), lambda: http.post(url, json=why))

        async def check_in_and_exit(scheduled: float) -> None:
            if not (held := await hold_for_new_referral(scheduled)):
                return
            confirm = f"/v1/holds/{held['id']}/confirm"
            stay = await recorder.time("hold confirm", time.perf_counter(), lambda: http.post(confirm))
            if not (stay and stay.is_success):
                return
            url = f"/v1/stays/{stay.json()['id']}"
            checked_in = await recorder.time("stay check-in", time.perf_counter(), lambda: http.post(f"{url}/check-in"))
            if checked_in and checked_in.is_success:
                why = {"reason": "independent_housing"}
                await recorder.time("stay exit", time.perf_counter(), lambda: http.post(f"{url}/exit", json=why))

        async def report(scheduled: float) -> None:
            params = {"group_by": "kind"}
            await recorder.time("occupancy", scheduled, lambda: http.get("/v1/occupancy", params=params))

        async def propose(scheduled: float) -> None:
            waiting = await http.get("/v1/referrals", params={"status": "waiting", "limit": "1"})
            if waiting.is_success and waiting.json()["items"]:
                body = {"referral_ids": [waiting.json()["items"][0]["id"]], "hold_minutes": 5}
                await recorder.time("proposal", scheduled, lambda: http.post("/v1/proposals", json=body))

        loops = [open_loop(rate, seconds, search)]
        if mixed:
            loops += [
                open_loop(10, seconds, refer_hold_cancel),
                open_loop(2, seconds, check_in_and_exit),
                open_loop(5, seconds, report),
                open_loop(0.5, seconds, propose),
            ]
        await asyncio.gather(*loops)
    return recorder


async def floor(url: str, rate: float, warmup: float, seconds: float) -> list[float]:
    """The availability SQL straight from asyncpg, open loop at `rate`: latencies in ms after the warm-up."""
    rng, latencies, started = random.Random(7), [], time.perf_counter()
    async with asyncpg.create_pool(url, min_size=POOL, max_size=POOL) as pool:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            criteria = AvailabilityFilter(
                kind=FacilityKind(params["kind"]) if "kind" in params else None,
                gender=PersonGender(params["gender"]) if "gender" in params else None,
            )
            async with pool.acquire() as conn:
                await free_beds(conn, datetime.now(UTC), TIMEZONE, criteria, None, 21)
            if scheduled - started >= warmup:
                latencies.append((time.perf_counter() - scheduled) * 1000)

        await open_loop(rate, warmup + seconds, search)
    return latencies


def measured(title: str, server: Server, database: int, key: str, args: argparse.Namespace, mixed: bool) -> Figures:
    """One phase of the load, its table, and what its requests (warm-up included) cost in CPU."""
    before = tree_cpu_s(server.process.pid), tree_cpu_s(database)
    figures = in_load_process(drive, server.base, key, args.rate, args.warmup, args.seconds, mixed)
    used = tree_cpu_s(server.process.pid) - before[0], tree_cpu_s(database) - before[1]
    figures.table(title, args.seconds)
    requests = sum(len(samples) for samples in figures.latencies.values())
    print_cpu({"server": used[0], "PostgreSQL": used[1], "driver": figures.cpu_s}, requests, args.warmup + args.seconds)
    return figures


def print_cpu(shares: dict[str, float], requests: int, seconds: float) -> None:
    """CPU seconds by process, as milliseconds a request and cores in all."""
    each = ", ".join(f"{who} {1000 * cpu / requests:.2f} ms" for who, cpu in shares.items())
    print(f"CPU a request: {each}; {sum(shares.values()) / seconds:.2f} cores in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0, help="availability searches per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each phase's figures")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="make the history here once; each run serves a copy")
    args = parser.parse_args()

    with history(args.years, args.data_dir) as data_dir:
        with served(data_dir, args.workers) as server:
            key, database = demo_key(data_dir), postmaster_pid(data_dir)
            print(f"abri serve: {args.workers} workers on {machine()}; load from another process")
            title = f"availability alone, {args.rate:.0f}/s for {args.seconds:.0f} s after {args.warmup:.0f} s"
            alone = measured(title, server, database, key, args, False)
            title = f"mixed, availability at {args.rate:.0f}/s"
            mixed = measured(title, server, database, key, args, True)
        with embedded_server(data_dir) as url:
            database = postmaster_pid(data_dir)
            before = tree_cpu_s(database), tree_cpu_s(os.getpid())
            direct = uvloop.run(floor(url, args.rate, args.warmup, args.seconds))
            floor_cpu = {"PostgreSQL": tree_cpu_s(database) - before[0], "asyncpg": tree_cpu_s(os.getpid()) - before[1]}

    api = alone.latencies["availability"]
    p99, floor_p50, floor_p99 = percentile(api, 0.99), statistics.median(direct), percentile(direct, 0.99)
    ratios = (statistics.median(api) / floor_p50, p99 / floor_p99)
    print(f"\nfloor, the same SQL from asyncpg at {args.rate:.0f}/s: p50 {floor_p50:.1f} ms, p99 {floor_p99:.1f} ms")
    print_cpu(floor_cpu, round(args.rate * (args.warmup + args.seconds)), args.warmup + args.seconds)
    print(f"the API is {ratios[0]:.2f}× the floor at p50, {ratios[1]:.2f}× at p99")
    errors = alone.failures() + mixed.failures(allowed=CONFLICT)
    verdicts = {
        f"availability p99 {p99:.1f} ms < {P99_TARGET_MS:.0f} ms": p99 < P99_TARGET_MS,
        f"API p99 at most {OVERHEAD_TARGET:.0f}× the floor ({ratios[1]:.2f}×)": ratios[1] <= OVERHEAD_TARGET,
        f"no errors but conflicts ({errors})": errors == 0,
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
