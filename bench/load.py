"""Throughput and latency of a real `abri serve` under load, against the database's own floor.

Makes a throwaway data directory with the demo and N years of simulated history (as
bench/reports.py does), serves it with `abri serve --workers W` (as many workers as
cores by default) on the embedded PostgreSQL, and drives it from a separate process on
loopback, open loop: each request is sent at its scheduled time whatever the answers,
and its latency counts from that time, so a server that falls behind shows it.

Phases, each --seconds long:
  availability   GET /v1/availability (20 beds, random kind and gender) at --rate
  mixed          the same at --rate, with referral creation, hold then cancel,
                 occupancy now by kind and a one-person proposal alongside

FLOOR: the availability search's own SQL (service/availability/queries.free_beds),
issued with asyncpg from one process at the same rate on a pool as large as the
server's; the API's p50 and p99 are given as multiples of it.

TARGETS (2 cores): availability p99 under 25 ms at 300 requests a second; the API at
most 2× the floor; no errors.

    uv run python bench/load.py [--rate 300] [--seconds 20] [--workers 2] [--years 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench.reports import abri  # noqa: E402
from contracts.availability import PersonGender  # noqa: E402
from contracts.common import FacilityKind  # noqa: E402
from service.availability.queries import AvailabilityFilter, free_beds  # noqa: E402
from service.db.embedded import embedded_server  # noqa: E402
from tests.process import Server  # noqa: E402

TIMEZONE = "Europe/Paris"
P99_TARGET_MS = 25.0
OVERHEAD_TARGET = 2.0
POOL = 10  # the server's pool per worker (ABRI_DB_POOL_MAX default)
KINDS = [FacilityKind.ASSORE_HOTEL, FacilityKind.SPECIALISED_UNIT, None]
GENDERS = [PersonGender.MAN, PersonGender.WOMAN, None]


def availability_params(rng: random.Random) -> dict[str, str]:
    kind, gender = rng.choice(KINDS), rng.choice(GENDERS)
    return {"limit": "20"} | ({"kind": kind.value} if kind else {}) | ({"gender": gender.value} if gender else {})


class Recorder:
    """Latencies (ms from the scheduled send) and the non-2xx answers by status, per route."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    async def time(self, route: str, scheduled: float, send: Callable[[], Awaitable[httpx.Response]]) -> object:
        try:
            answer = await send()
            status = str(answer.status_code)
        except httpx.HTTPError as exc:
            answer, status = None, type(exc).__name__
        self.latencies[route].append((time.perf_counter() - scheduled) * 1000)
        if answer is None or not answer.is_success:
            self.errors[route][status] += 1
        return answer


async def open_loop(rate: float, seconds: float, fire: Callable[[float], Awaitable[object]]) -> None:
    """Call `fire(scheduled)` `rate` times a second for `seconds`, each at its time, none waited for."""
    start, tasks = time.perf_counter(), []
    for n in range(int(rate * seconds)):
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(fire(scheduled)))
    await asyncio.gather(*tasks)


async def drive(base: str, key: str, rate: float, seconds: float, mixed: bool) -> Recorder:
    recorder, rng = Recorder(), random.Random(7)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as http:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            await recorder.time("availability", scheduled, lambda: http.get("/v1/availability", params=params))

        async def refer_hold_cancel(scheduled: float) -> None:
            body = {
                "reference": f"LOAD-{rng.getrandbits(64):x}",
                "source": "outreach_team",
                "needs": {"gender": "man"},
                "acceptable_kinds": ["assore_hotel"],
                "vulnerability": 2,
            }
            made = await recorder.time("referral create", scheduled, lambda: http.post("/v1/referrals", json=body))
            free = await http.get("/v1/availability", params={"limit": "50", "gender": "man", "kind": "assore_hotel"})
            if not (made and made.is_success and free.is_success and free.json()["items"]):
                return
            hold = {"referral_id": made.json()["id"], "bed_id": rng.choice(free.json()["items"])["id"], "minutes": 5}
            held = await recorder.time("hold", time.perf_counter(), lambda: http.post("/v1/holds", json=hold))
            if held and held.is_success:
                url, why = f"/v1/holds/{held.json()['id']}/cancel", {"reason": "declined_by_person"}
                await recorder.time("hold cancel", time.perf_counter(), lambda: http.post(url, json=why))

        async def report(scheduled: float) -> None:
            await recorder.time("occupancy", scheduled, lambda: http.get("/v1/occupancy"))

        async def propose(scheduled: float) -> None:
            waiting = await http.get("/v1/referrals", params={"status": "waiting", "limit": "1"})
            if waiting.is_success and waiting.json()["items"]:
                body = {"referral_ids": [waiting.json()["items"][0]["id"]], "hold_minutes": 5}
                await recorder.time("proposal", scheduled, lambda: http.post("/v1/proposals", json=body))

        loops = [open_loop(rate, seconds, search)]
        if mixed:
            loops += [
                open_loop(10, seconds, refer_hold_cancel),
                open_loop(5, seconds, report),
                open_loop(0.5, seconds, propose),
            ]
        await asyncio.gather(*loops)
    return recorder


def load_process(base: str, key: str, rate: float, seconds: float, mixed: bool, results) -> None:
    """Entry point of the load process (spawned): its figures go back through `results`."""
    recorder = asyncio.run(drive(base, key, rate, seconds, mixed))
    results.put((dict(recorder.latencies), {route: dict(counts) for route, counts in recorder.errors.items()}))


def run_load(base: str, key: str, rate: float, seconds: float, mixed: bool) -> tuple[dict, dict]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=load_process, args=(base, key, rate, seconds, mixed, results))
    process.start()
    latencies, errors = results.get()
    process.join()
    return latencies, errors


async def floor(url: str, rate: float, seconds: float) -> list[float]:
    """The availability SQL straight from asyncpg, open loop at `rate`: latencies in ms."""
    rng, latencies = random.Random(7), []
    async with asyncpg.create_pool(url, min_size=POOL, max_size=POOL) as pool:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            criteria = AvailabilityFilter(
                kind=FacilityKind(params["kind"]) if "kind" in params else None,
                gender=PersonGender(params["gender"]) if "gender" in params else None,
            )
            async with pool.acquire() as conn:
                await free_beds(conn, datetime.now(UTC), TIMEZONE, criteria, None, 21)
            latencies.append((time.perf_counter() - scheduled) * 1000)

        await open_loop(rate, seconds, search)
    return latencies


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report_table(title: str, latencies: dict[str, list[float]], errors: dict[str, dict], seconds: float) -> None:
    print(f"\n{title}")
    print(f"{'route':<18}{'requests':>10}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}  not 2xx")
    for route, samples in latencies.items():
        p50, p99, rate = statistics.median(samples), percentile(samples, 0.99), len(samples) / seconds
        refused = ", ".join(f"{n} × {status}" for status, n in sorted(errors.get(route, {}).items())) or "0"
        print(f"{route:<18}{len(samples):>10}{rate:>8.1f}{p50:>9.1f}{p99:>9.1f}  {refused}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0, help="availability searches per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="abri-load-") as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        abri(data_dir, "seed-demo")
        abri(data_dir, "simulate", "--years", str(args.years), "--until", str(date.today()))
        print(f"demo and {args.years} years of history made in {time.perf_counter() - started:.1f} s")
        server = Server(
            {"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None, "ABRI_LOG_LEVEL": "warning",
             "ABRI_RATE_LIMIT": "1000000", "ABRI_RATE_BURST": "1000000"},
            "--workers", str(args.workers),
        )  # fmt: skip
        try:
            server.wait_ready()
            key = (data_dir / "demo-key").read_text().strip()
            print(f"abri serve: {args.workers} workers, {os.cpu_count()} cores; load from another process")
            availability = run_load(server.base, key, args.rate, args.seconds, mixed=False)
            report_table(f"availability alone, {args.rate:.0f}/s for {args.seconds:.0f} s", *availability, args.seconds)
            mixed = run_load(server.base, key, args.rate, args.seconds, mixed=True)
            report_table(f"mixed, availability at {args.rate:.0f}/s", *mixed, args.seconds)
            with embedded_server(data_dir) as url:  # the server's own PostgreSQL, already running
                direct = asyncio.run(floor(url, args.rate, args.seconds))
        finally:
            server.stop()

    api = availability[0]["availability"]
    p99 = percentile(api, 0.99)
    ratios = (statistics.median(api) / statistics.median(direct), p99 / percentile(direct, 0.99))
    floor_p50, floor_p99 = statistics.median(direct), percentile(direct, 0.99)
    print(f"\nfloor, the same SQL from asyncpg at {args.rate:.0f}/s: p50 {floor_p50:.1f} ms, p99 {floor_p99:.1f} ms")
    print(f"the API is {ratios[0]:.2f}× the floor at p50, {ratios[1]:.2f}× at p99")
    # Conflicts (409: the bed went to someone else between search and hold) are the mix's nature, not errors.
    errors = sum(n for counts in (availability[1], mixed[1]) for by_status in counts.values()
                 for status, n in by_status.items() if status != "409")  # fmt: skip
    verdicts = {
        f"availability p99 {p99:.1f} ms < {P99_TARGET_MS:.0f} ms": p99 < P99_TARGET_MS,
        f"API p99 at most {OVERHEAD_TARGET:.0f}× the floor ({ratios[1]:.2f}×)": ratios[1] <= OVERHEAD_TARGET,
        f"no errors but conflicts ({errors})": errors == 0,
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
