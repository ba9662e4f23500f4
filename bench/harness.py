"""What the load and fault benchmarks share: a served history, an open-loop driver, figures.

- `history(years)`: a throwaway data directory with the demo and N simulated years, made
  through the `abri` command as a user would (or a copy of one made earlier, with --data-dir).
- `served(data_dir, workers)`: `abri serve --workers N` on it, as a real process.
- `open_loop(rate, seconds, fire)`: each request sent at its scheduled time whatever the
  answers, its latency counted from that time, so a server that falls behind shows it.
- `Recorder`: latencies and non-2xx answers per route, and `table()` to print them.
- `in_load_process(...)`: the driver runs in its own spawned process, so its CPU is not the
  server's; it reports its own CPU time, because on 2 cores the driver competes too.
- `rss_mib`, `children`, `connections`: the processes' memory and the database's
  connections, for the soak.
- `tree_cpu_s`, `postmaster_pid`: CPU time of a process tree, so a run can say what one
  request costs the server and what it costs PostgreSQL.
- `oldest_transaction_s`: how long the oldest open transaction has been, a leak's sign.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
import psutil
import uvloop

from bench.reports import abri
from contracts.availability import PersonGender
from contracts.common import FacilityKind
from service.db.invariants import INVARIANTS, violations
from service.problems import PROBLEM_JSON
from tests.process import Server

KINDS = [FacilityKind.ASSORE_HOTEL, FacilityKind.SPECIALISED_UNIT, None]
GENDERS = [PersonGender.MAN, PersonGender.WOMAN, None]
# One key drives far beyond a partner's rate limit, on purpose; the limiter stays in the
# path (its cost is part of the API's), with its limits out of the way.
UNLIMITED = {"ABRI_RATE_LIMIT": "1000000", "ABRI_RATE_BURST": "1000000"}


def machine() -> str:
    """ "2 cores, 23 GiB": the size every figure is quoted with."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB"


@contextmanager
def history(years: int, data_dir: Path | None = None) -> Iterator[Path]:
    """A data directory holding the demo and `years` of simulated history.

    With `data_dir`, the history is made there once and each run serves a copy of it, so
    runs start from the same data rather than from what the previous run's writes left.
    """
    with tempfile.TemporaryDirectory(prefix="abri-bench-") as tmp:
        where = data_dir or Path(tmp)
        if (where / "pgdata").exists():
            print(f"copying {where}")
        else:
            where.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            abri(where, "seed-demo")
            abri(where, "simulate", "--years", str(years), "--until", str(date.today()))
            print(f"demo and {years} years of history made in {time.perf_counter() - started:.1f} s")
        yield where if data_dir is None else copy_data_dir(data_dir, Path(tmp) / "data")


def copy_data_dir(source: Path, target: Path) -> Path:
    """A copy of a data directory, owned as the original (PostgreSQL runs as its own user)."""
    shutil.copytree(source, target, symlinks=True)
    owner = (source / "pgdata").stat()
    for path in [target, *target.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
    return target


@contextmanager
def served(data_dir: Path, workers: int, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`abri serve --workers N` on the data directory, ready; stopped afterwards."""
    server = Server(
        {"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None, "ABRI_LOG_LEVEL": "warning"} | UNLIMITED | (env or {}),
        "--workers", str(workers),
    )  # fmt: skip
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def demo_key(data_dir: Path) -> str:
    return (data_dir / "demo-key").read_text().strip()


def availability_params(rng: random.Random) -> dict[str, str]:
    """A placement officer's search: 20 beds, a random kind and gender (or none)."""
    kind, gender = rng.choice(KINDS), rng.choice(GENDERS)
    return {"limit": "20"} | ({"kind": kind.value} if kind else {}) | ({"gender": gender.value} if gender else {})


def man_for_a_hotel(reference: str) -> dict[str, Any]:
    """The referral the benches' writes make: a man for an ASSORE hotel, the demo's commonest bed."""
    return {
        "reference": reference,
        "source": "outreach_team",
        "needs": {"gender": "man"},
        "acceptable_kinds": ["assore_hotel"],
        "vulnerability": 2,
    }


def beds_for_a_man(limit: int) -> dict[str, str]:
    """The availability query for free beds such a man fits, `limit` at most."""
    return {"limit": str(limit), "gender": "man", "kind": "assore_hotel"}


WARM_UP = ", warm-up"  # the route name's suffix for answers to requests sent during the warm-up


@dataclass
class Recorder:
    """Latencies (ms from the scheduled send) and the non-2xx answers by status, per route,
    and each answer on a timeline (seconds from the start), so a long run shows its drift.

    Requests sent in the first `warmup_s` are kept apart, under the route's name + WARM_UP:
    their latencies are shown but are not the route's, their failures count as any other.
    """

    warmup_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    timeline: list[tuple[float, str, float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    async def time(self, route: str, scheduled: float, send: Callable[[], Awaitable[Answer]]) -> Answer | None:
        try:
            answer = await send()
            status = str(answer.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer, status = None, type(exc).__name__
        latency = (time.perf_counter() - scheduled) * 1000
        if scheduled - self.started < self.warmup_s:
            route += WARM_UP
        self.latencies[route].append(latency)
        self.timeline.append((scheduled - self.started, route, latency, status))
        if answer is None or not answer.is_success:
            self.errors[route][status] += 1
        return answer

    def figures(self) -> Figures:
        return Figures(dict(self.latencies), {route: dict(counts) for route, counts in self.errors.items()},
                       self.timeline, self.warmup_s)  # fmt: skip


@dataclass
class Figures:
    """What a load process sends back: per-route latencies and errors, and the timeline."""

    latencies: dict[str, list[float]]
    errors: dict[str, dict[str, int]]
    timeline: list[tuple[float, str, float, str]]
    warmup_s: float = 0.0
    cpu_s: float = 0.0

    def table(self, title: str, seconds: float) -> None:
        """Each route's figures over the `seconds` measured (warm-up rows: over the warm-up)."""
        print(f"\n{title}")
        print(f"{'route':<26}{'requests':>10}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}  not 2xx")
        for route, samples in sorted(self.latencies.items(), key=lambda item: item[0].endswith(WARM_UP)):
            refused = ", ".join(f"{n} × {status}" for status, n in sorted(self.errors.get(route, {}).items())) or "0"
            p50, p99 = statistics.median(samples), percentile(samples, 0.99)
            per_s = len(samples) / (self.warmup_s if route.endswith(WARM_UP) else seconds)
            print(f"{route:<26}{len(samples):>10}{per_s:>8.1f}{p50:>9.1f}{p99:>9.1f}  {refused}")
        share = self.cpu_s / (seconds + self.warmup_s)
        print(f"(the load process used {self.cpu_s:.1f} s of CPU, {100 * share:.0f} % of a core)")

    def by_window(self, route: str, window_s: float) -> list[tuple[float, int, float, float, int]]:
        """(window start s, requests, p50, p99, not 2xx) for `route`, window by window."""
        windows: dict[int, list[tuple[float, str]]] = defaultdict(list)
        for at, name, latency, status in self.timeline:
            if name == route:
                windows[int(at // window_s)].append((latency, status))
        rows = []
        for n in sorted(windows):
            samples = [latency for latency, _ in windows[n]]
            failed = sum(1 for _, status in windows[n] if not status.startswith("2"))
            rows.append((n * window_s, len(samples), statistics.median(samples), percentile(samples, 0.99), failed))
        return rows

    def failures(self, allowed: frozenset[str] = frozenset()) -> int:
        """Answers that were neither 2xx nor of an `allowed` status."""
        return sum(n for counts in self.errors.values() for status, n in counts.items() if status not in allowed)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def open_loop(rate: float, seconds: float, fire: Callable[[float], Awaitable[object]]) -> None:
    """Call `fire(scheduled)` `rate` times a second for `seconds`, each at its time, none waited for."""
    start, tasks = time.perf_counter(), set()
    for n in range(int(rate * seconds)):
        scheduled = start + n / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        task = asyncio.create_task(fire(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    @property
    def retryable_problem(self) -> bool:
        """problem+json with a Retry-After of at least a second, as a 429 or 503 must be."""
        retry = self.headers.get("retry-after", "")
        return self.headers.get("content-type", "").startswith(PROBLEM_JSON) and retry.isdigit() and int(retry) >= 1


class Http:
    """A keyed aiohttp session answering `Answer`s, the body read.

    aiohttp, not httpx, drives the load: measured on 2 cores, httpx spends 1.5 ms of CPU
    per request on 8 connections and 6.9 ms on 256 (its pool is scanned per request), so
    at 300/s the driver took more CPU than the server; aiohttp spends 0.24 ms on either.
    """

    def __init__(self, base: str, key: str, connections: int = 512) -> None:
        self.session = aiohttp.ClientSession(
            base_url=base,
            headers={"X-API-Key": key},
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.session.close()

    async def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        async with self.session.get(path, params=params) as response:
            return await _answer(response)

    async def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> Answer:
        async with self.session.post(path, json=json, headers=headers) as response:
            return await _answer(response)


async def _answer(response: aiohttp.ClientResponse) -> Answer:
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(response.status, await response.read(), headers)


def _load_process(drive: Callable[..., Awaitable[Recorder]], args: tuple, results: Any) -> None:
    recorder = uvloop.run(drive(*args))  # the server's event loop too: the driver's CPU is not what is measured
    figures = recorder.figures()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures.cpu_s = usage.ru_utime + usage.ru_stime
    results.put(figures)


def in_load_process(drive: Callable[..., Awaitable[Recorder]], *args: Any) -> Figures:
    """Run the coroutine function `drive(*args)` (a module-level one) in a spawned process."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_load_process, args=(drive, args, results))
    process.start()
    figures = results.get()
    process.join()
    return figures


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (granian's workers, their solver pools, PostgreSQL's backends)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for kid in kids:
            found += [kid, *children(kid)]
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used by `pid` and its descendants, living or exited and reaped."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def postmaster_pid(data_dir: Path) -> int:
    """The embedded PostgreSQL's main process (not a child of `abri serve`: pg_ctl detaches it)."""
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except FileNotFoundError:
        return ""


async def connections(url: str) -> dict[str, int]:
    """The server's connections to its database, by state (active, idle, idle in transaction)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT coalesce(state, 'other') AS state, count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "GROUP BY 1"
        )
    finally:
        await conn.close()
    return {row["state"]: row["n"] for row in rows}


async def oldest_transaction_s(url: str) -> float:
    """How long the oldest transaction open on the server's connections has been, in seconds (0 if none).

    A connection leaked with its transaction open shows here as an age that only grows.
    """
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            "SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8 FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
    finally:
        await conn.close()


def print_invariants(when: str, broken: dict[str, list[str]]) -> None:
    """Each rule of service/db/invariants.py, held or BROKEN (with its examples), `when` checked."""
    print(f"invariants {when}:")
    for rule in INVARIANTS:
        print(f"  BROKEN {rule}: {broken[rule]}" if rule in broken else f"  held   {rule}")


async def broken_invariants(url: str) -> dict[str, list[str]]:
    """service/db/invariants.py's rules that the database breaks, with their examples."""
    conn = await asyncpg.connect(url)
    try:
        return await violations(conn)
    finally:
        await conn.close()


async def acknowledged_present(
    url: str, stored: dict[str, str], acknowledged: dict[str, list[str]]
) -> dict[str, tuple[int, int]]:
    """For each kind of write: (found in the database, acknowledged), `stored[kind]` being
    SQL that counts which of the ids ($1) it left."""
    conn = await asyncpg.connect(url)
    try:
        return {what: (await conn.fetchval(stored[what], ids), len(ids)) for what, ids in acknowledged.items()}
    finally:
        await conn.close()
