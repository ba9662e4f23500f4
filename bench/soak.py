"""A soak: minutes of mixed load on a real `abri serve`, for memory growth, connection leaks, latency drift.

Makes a throwaway data directory with the demo and N years of simulated history
(bench/harness.py), serves it with `abri serve --workers 2` on the embedded PostgreSQL,
and drives it from a separate process, open loop, for --minutes with bench/load.py's mix:
availability at --rate, referral then hold then cancel (10/s), hold then confirm, check-in
and exit (2/s), occupancy now by kind (5/s), a one-person proposal (0.5/s).

Every 10 s this process samples the resident memory of each of the server's processes
(granian's main process, each worker, and each worker's solver fork server, solver and
resource tracker) and the server's connections to PostgreSQL by state. The first minute
is warm-up. Printed, per process: RSS at the end of warm-up and at the end, the growth,
and the least-squares slope over the samples after warm-up; the connections' maximum and
final count by state, whether any was ever seen idle in a transaction, and how many are
still held (not idle) once the load has stopped; availability's
p50 and p99 minute by minute, and the drift: the last minute's p99 over the second's.
Then the invariants of service/db/invariants.py.

TARGETS (issue 7): each process's memory grows less than 10 % (or less than 20 MiB) after
warm-up; the connections never exceed the pools' total (workers × ABRI_DB_POOL_MAX: the
hold sweeper and the webhook loops borrow from the same pool), none is still held once the
load has stopped and no transaction stays open 10 s (a leak; the count at the end against
warm-up's is printed, but a pool that grew in a burst keeps its idle connections for
asyncpg's 300 s, so more at the end is no leak by itself); availability p99 drifts less
than 1.5×; no errors (409 conflicts,
a bed taken between search and hold, are the mix's nature); no invariant broken.

    uv run python bench/soak.py [--minutes 10] [--rate 150] [--years 5] [--data-dir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from bench.harness import (  # noqa: E402
    Figures,
    broken_invariants,
    children,
    command,
    connections,
    demo_key,
    history,
    in_load_process,
    machine,
    oldest_transaction_s,
    print_invariants,
    rss_mib,
    served,
)
from bench.load import drive  # noqa: E402
from service.db.embedded import embedded_server  # noqa: E402
from service.settings import load_settings  # noqa: E402

WORKERS = 2
SAMPLE_EVERY_S = 10.0
WARM_UP_S = 60.0
GROWTH_TARGET = 0.10
GROWTH_TARGET_MIB = 20.0
DRIFT_TARGET = 1.5
CONFLICT = frozenset({"409"})
IDLE_IN_TRANSACTION = "idle in transaction"


@dataclass(frozen=True)
class Sample:
    at: float  # seconds from the start of the load
    rss: dict[int, float]  # MiB by pid
    connections: dict[str, int]  # by state
    oldest_transaction_s: float


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def roles(main: int) -> dict[int, str]:
    """abri serve's processes by pid: granian's main process, its workers, and what each worker started."""
    found = {main: "granian main"}
    workers = [pid for pid in children(main) if parent(pid) == main]
    for n, worker in enumerate(workers, 1):
        found[worker] = f"worker {n}"
        for pid in children(worker):
            if "resource_tracker" in command(pid):
                found[pid] = f"worker {n} resource tracker"
            else:
                found[pid] = f"worker {n} solver fork server" if parent(pid) == worker else f"worker {n} solver"
    return found


async def sample(url: str, processes: dict[int, str], at: float) -> Sample:
    return Sample(at, {pid: rss_mib(pid) for pid in processes}, await connections(url), await oldest_transaction_s(url))


async def soak(
    base: str, key: str, url: str, processes: dict[int, str], args: argparse.Namespace
) -> tuple[Figures, list[Sample], int]:
    """The mix from another process for --minutes, a sample every 10 s meanwhile; then the connections still held."""
    seconds = args.minutes * 60
    load = asyncio.ensure_future(asyncio.to_thread(in_load_process, drive, base, key, args.rate, 0.0, seconds, True))
    started, samples = time.perf_counter(), []
    while not load.done():
        samples.append(await sample(url, processes, time.perf_counter() - started))
        next_at = started + len(samples) * SAMPLE_EVERY_S
        await asyncio.wait({load}, timeout=max(0.0, next_at - time.perf_counter()))
    return await load, samples, await held_at_rest(url)


async def held_at_rest(url: str) -> int:
    """Connections not idle after the load, the fewest of 3 looks 1 s apart (a webhook poll may hold one briefly)."""
    held = []
    for _ in range(3):
        await asyncio.sleep(1)
        held.append(sum(n for state, n in (await connections(url)).items() if state != "idle"))
    return min(held)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB), in MiB per minute."""
    if len(points) < 2:
        return 0.0
    return 60 * statistics.linear_regression([t for t, _ in points], [y for _, y in points]).slope


@dataclass(frozen=True)
class Growth:
    role: str
    pid: int
    warm: float
    end: float
    per_minute: float

    @property
    def mib(self) -> float:
        return self.end - self.warm

    @property
    def share(self) -> float:
        return self.mib / self.warm if self.warm else float("inf")

    @property
    def steady(self) -> bool:
        return self.share < GROWTH_TARGET or self.mib < GROWTH_TARGET_MIB


def growth(samples: list[Sample], processes: dict[int, str]) -> list[Growth]:
    after = [s for s in samples if s.at >= WARM_UP_S] or samples[-1:]
    return [
        Growth(role, pid, after[0].rss[pid], after[-1].rss[pid], slope([(s.at, s.rss[pid]) for s in after]))
        for pid, role in processes.items()
    ]


def memory_table(grown: list[Growth], start: Sample) -> None:
    print(f"\nmemory (RSS, MiB; warm-up ends at {WARM_UP_S:.0f} s)")
    print(f"{'process':<28}{'pid':>8}{'start':>8}{'warm':>8}{'end':>8}{'growth':>9}{'%':>8}{'MiB/min':>9}")
    for g in grown:
        print(
            f"{g.role:<28}{g.pid:>8}{start.rss[g.pid]:>8.1f}{g.warm:>8.1f}{g.end:>8.1f}"
            f"{g.mib:>+9.1f}{100 * g.share:>+7.1f}%{g.per_minute:>+9.2f}"
        )


def count(sample: Sample, state: str) -> int:
    """Connections in `state` at a sample; "total" for all of them."""
    return sum(sample.connections.values()) if state == "total" else sample.connections.get(state, 0)


def connection_table(samples: list[Sample]) -> None:
    states = sorted({state for s in samples for state in s.connections})
    warm = [s for s in samples if s.at <= WARM_UP_S]
    print("\nconnections to PostgreSQL by state (max in warm-up, max, final)")
    for state in [*states, "total"]:
        counts = [count(s, state) for s in samples]
        print(f"  {state:<22}{max(count(s, state) for s in warm):>4}{max(counts):>4}{counts[-1]:>4}")
    seen = sum(1 for s in samples if s.connections.get(IDLE_IN_TRANSACTION))
    oldest = max(s.oldest_transaction_s for s in samples)
    print(f"  '{IDLE_IN_TRANSACTION}' seen in {seen} of {len(samples)} samples; the oldest transaction: {oldest:.3f} s")


def minute_table(figures: Figures, samples: list[Sample]) -> list[tuple[float, int, float, float, int]]:
    """Availability minute by minute, beside the server's total RSS and connections at that minute's end."""
    minutes = figures.by_window("availability", 60)
    print(f"\n{'minute':>6}{'requests':>10}{'p50 ms':>9}{'p99 ms':>9}{'not 2xx':>9}{'RSS MiB':>10}{'conns':>7}")
    for start, requests, p50, p99, failed in minutes:
        last = [s for s in samples if s.at < start + 60][-1]
        print(
            f"{int(start // 60) + 1:>6}{requests:>10}{p50:>9.1f}{p99:>9.1f}{failed:>9}"
            f"{sum(last.rss.values()):>10.0f}{sum(last.connections.values()):>7}"
        )
    return minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=150.0, help="availability searches per second")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="make the history here once; each run serves a copy")
    args = parser.parse_args()

    # embedded_server joins the PostgreSQL that abri serve started, and leaves it to abri serve to stop.
    with (
        history(args.years, args.data_dir) as data_dir,
        served(data_dir, WORKERS) as server,
        embedded_server(data_dir) as url,
    ):
        processes = roles(server.process.pid)
        print(f"abri serve: {WORKERS} workers on {machine()}; {len(processes)} processes; load from another process")
        figures, samples, held = asyncio.run(soak(server.base, demo_key(data_dir), url, processes, args))
        broken = asyncio.run(broken_invariants(url))
    report(args, figures, samples, held, processes, broken)


def report(
    args: argparse.Namespace,
    figures: Figures,
    samples: list[Sample],
    held: int,
    processes: dict[int, str],
    broken: dict[str, list[str]],
) -> None:
    seconds = args.minutes * 60
    figures.table(f"mixed, availability at {args.rate:.0f}/s, for {args.minutes:g} minutes", seconds)
    grown = growth(samples, processes)
    memory_table(grown, samples[0])
    connection_table(samples)
    print(f"  held (not idle) once the load stopped: {held}")
    minutes = minute_table(figures, samples)
    print()
    print_invariants("after the soak", broken)

    pools = WORKERS * load_settings().db_pool_max
    totals = [count(s, "total") for s in samples]
    warm_max = max(total for s, total in zip(samples, totals, strict=True) if s.at <= WARM_UP_S)
    drift = minutes[-1][3] / minutes[min(1, len(minutes) - 1)][3]
    errors = figures.failures(allowed=CONFLICT)
    oldest = max(s.oldest_transaction_s for s in samples)
    worst = max(grown, key=lambda g: g.share)
    verdicts = {
        f"memory steady after warm-up: every process under {100 * GROWTH_TARGET:.0f} % or {GROWTH_TARGET_MIB:.0f} MiB "
        f"(most: {worst.role}, {worst.mib:+.1f} MiB, {100 * worst.share:+.1f} %)": all(g.steady for g in grown),
        f"connections at most the pools' {pools} (max {max(totals)})": max(totals) <= pools,
        f"no connection leak: none held once the load stopped ({held}), no transaction open {SAMPLE_EVERY_S:.0f} s "
        f"(oldest {oldest:.3f} s); final {totals[-1]}, warm-up max {warm_max}": not held and oldest < SAMPLE_EVERY_S,
        f"availability p99 drift under {DRIFT_TARGET}× ({drift:.2f}×)": drift < DRIFT_TARGET,
        f"no errors but conflicts ({errors})": errors == 0,
        f"no invariant broken ({len(broken)})": not broken,
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
