"""What the managers' reports cost on years of simulated history.

Makes a throwaway data directory, then, through the `abri` command as a user would:
`abri seed-demo` (the Paris demo inventory) and `abri simulate --years N --until UNTIL`
(arrivals, holds, stays, exits, no-shows, transfers, out-of-service periods). Then, on
one connection to that embedded PostgreSQL, after VACUUM ANALYZE, it times the queries
the routes run (service/reports/occupancy.py, as the API calls them):

    occupancy now, grouped by each of kind, operator, arrondissement, commune,
    department, region and facility
    a year of daily points to UNTIL, by kind and by facility
    five years of weekly points, and of monthly points, by kind
    flows over the last year by month (with the places in service for turnover),
    waiting now (with the year's times to placement), distance (now, and begun in a year)

Each is run three times to warm up, then timed --repeat times: median and p95 in ms.

BASELINE: `SELECT count(*) FROM stays`, one full scan of the stays table, timed the same
way on the same connection; each median is also given as a ratio to it.

TARGET: every report, and a year of daily points, under 200 ms.

    uv run python bench/reports.py [--years 5] [--repeat 20] [--until 2026-12-01]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from datetime import time as clock  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import asyncpg  # noqa: E402

from contracts.reports import GroupBy, Step  # noqa: E402
from service.db.embedded import embedded_server  # noqa: E402
from service.reports import history  # noqa: E402
from service.reports.occupancy import local_midnights, next_step, occupancy_at  # noqa: E402
from service.reports.routes import AGE_BANDS, DISTANCE_BANDS, THRESHOLDS_JSON  # noqa: E402

TIMEZONE = "Europe/Paris"
TARGET_MS = 200.0
WARM_UP = 3


def abri(data_dir: Path, *args: str) -> str:
    """Run an `abri` command on the throwaway data directory; its output."""
    environment = {**os.environ, "ABRI_DATA_DIR": str(data_dir)}
    environment.pop("DATABASE_URL", None)
    done = subprocess.run(["abri", *args], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


async def timed(work: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    """(median, p95) of `work` in ms after the warm-up runs."""
    for _ in range(WARM_UP):
        await work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]


async def measure(url: str, until: date, years: int, repeat: int) -> bool:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM stays) AS stays, (SELECT count(*) FROM holds) AS holds,"
            " (SELECT count(*) FROM referrals) AS referrals, (SELECT count(*) FROM beds) AS beds,"
            " (SELECT count(*) FROM bed_unavailability) AS out_of_service"
        )
        print("history: " + ", ".join(f"{value:,} {name}" for name, value in counts.items()))
        zone = ZoneInfo(TIMEZONE)
        now = datetime.combine(until, datetime.min.time(), tzinfo=zone).replace(hour=12)
        cases: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (f"now, by {g.value}", lambda g=g: occupancy_at(conn, [now], g, TIMEZONE, None)) for g in GroupBy
        ]
        for step, span, group_by in (
            (Step.DAY, 365, GroupBy.KIND),
            (Step.DAY, 365, GroupBy.FACILITY),
            (Step.WEEK, 365 * years, GroupBy.KIND),
            (Step.MONTH, 365 * years, GroupBy.KIND),
        ):
            moments = local_midnights(until - timedelta(days=span), until, step, zone, 10_000)
            label = f"{len(moments)} {step.value}s, by {group_by.value}"
            cases.append((label, lambda m=moments, g=group_by: occupancy_at(conn, m, g, TIMEZONE, None)))
        months = local_midnights(until - timedelta(days=365), until, Step.MONTH, zone, 10_000)
        boundaries = [*months, datetime.combine(next_step(months[-1].date(), Step.MONTH), clock(), tzinfo=zone)]
        year_ago = now - timedelta(days=365)

        async def flows() -> None:  # the route's three queries
            await history.flow_counts(conn, boundaries, None)
            await history.flow_lengths(conn, boundaries, None)
            await occupancy_at(conn, months, GroupBy.KIND, TIMEZONE, None)

        async def waiting() -> None:
            await history.waiting_by_age(conn, now, [float(d) for d in AGE_BANDS])
            await history.time_to_placement(conn, year_ago, now)

        cases += [
            (f"flows, {len(months)} months", flows),
            ("waiting now, placed in a year", waiting),
            (
                "distance now, begun in a year",
                lambda: history.distances(conn, year_ago, now, None, list(DISTANCE_BANDS), THRESHOLDS_JSON),
            ),
        ]
        baseline, _ = await timed(lambda: conn.fetchval("SELECT count(*) FROM stays"), repeat)
        print(f"baseline, one full scan of stays: {baseline:.2f} ms (median)\n")
        print(f"{'report':<32} {'median ms':>10} {'p95 ms':>8} {'× scan':>8}  target < {TARGET_MS:.0f} ms")
        passed = True
        for label, work in cases:
            median, p95 = await timed(work, repeat)
            passed &= median < TARGET_MS
            verdict = "PASS" if median < TARGET_MS else "MISS"
            print(f"{label:<32} {median:>10.1f} {p95:>8.1f} {median / baseline:>8.1f}  {verdict}")
        return passed
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--until", type=date.fromisoformat, default=date(2026, 12, 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abri-bench-reports-") as folder:
        data_dir = Path(folder)
        started = time.perf_counter()
        abri(data_dir, "seed-demo")
        print(abri(data_dir, "simulate", "--years", str(args.years), "--until", args.until.isoformat()))
        print(f"demo and {args.years} years of history made in {time.perf_counter() - started:.1f} s")
        with embedded_server(data_dir) as url:
            passed = asyncio.run(measure(url, args.until, args.years, args.repeat))
    print("\nall reports under target" if passed else "\nsome reports miss the target")


if __name__ == "__main__":
    main()
