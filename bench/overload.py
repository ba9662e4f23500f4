"""Overload: at twice the sustainable rate the service sheds load, then recovers.

Serves the demo and N years of history with `abri serve --workers W` (bench/harness.py)
and drives availability searches open loop from another process:

  ramp      --step seconds at each of --rates, up to the first that misses (p99 over
            the 25 ms target, or anything shed or failed): the SUSTAINABLE rate is the
            one before it, so the overload is past what the server can do, whatever the
            machine's speed (on 2026-12-04 the same 2 cores sustained 300/s in the
            morning and 600/s in the evening)
  overload  twice the sustainable rate for --seconds
  recovery  the sustainable rate again for --seconds

Each request's latency counts from its scheduled time, so queueing shows. Without
shedding, an open loop above capacity makes every answer later than the last; with it
(service/load_shedding.py, ABRI_MAX_IN_FLIGHT per worker), the excess is answered 503
with Retry-After and the rest are served in bounded time.

TARGETS: the ramp finds the limit (a rate misses); in overload, every answer is a 2xx
or a 429/503 problem with Retry-After (no timeouts, no other errors), answers come back
in bounded time (p99 under 2 s, and the last 5 s no slower than the first 5 s × 1.5:
the queue does not grow), and the served rate stays at least 80 % of the sustainable
one; in recovery, from 5 s after the load drops, p99 is back under 25 ms and nothing is
shed.

    uv run python bench/overload.py [--rates 100 150 200 250 300 400 500 600 800 1000 1200 1500]
                                    [--step 10]
                                    [--seconds 30] [--workers 2] [--data-dir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent  # see bench/solver.py: keep the project root first
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402

from bench.harness import (  # noqa: E402
    Figures,
    Http,
    Recorder,
    availability_params,
    demo_key,
    history,
    in_load_process,
    machine,
    open_loop,
    percentile,
    served,
)

P99_TARGET_MS = 25.0
SHED = frozenset({"429", "503"})
NO_RETRY_AFTER = "shed, not a problem with Retry-After"
SETTLE_S = 5.0  # after the load drops, what the service may take to drain
RAMP = [100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1200, 1500]


async def searches(base: str, key: str, rate: float, seconds: float) -> Recorder:
    """Availability searches at `rate`, each answer's Retry-After checked when shed."""
    recorder, rng = Recorder(), random.Random(11)
    async with Http(base, key) as http:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            answer = await recorder.time("availability", scheduled, lambda: http.get("/v1/availability", params=params))
            if answer is not None and str(answer.status) in SHED and not answer.retryable_problem:
                recorder.errors[NO_RETRY_AFTER][str(answer.status)] += 1

        await open_loop(rate, seconds, search)
    return recorder


def summary(figures: Figures, seconds: float, skip_s: float = 0.0) -> tuple[float, float, float, int, int]:
    """(served per s, p50, p99 of every answer, shed, other failures) from `skip_s` on."""
    kept = [(latency, status) for at, _, latency, status in figures.timeline if at >= skip_s]
    latencies = [latency for latency, _ in kept]
    served_n = sum(1 for _, status in kept if status.startswith("2"))
    shed = sum(1 for _, status in kept if status in SHED)
    other = len(kept) - served_n - shed + sum(figures.errors.get(NO_RETRY_AFTER, {}).values())
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    return served_n / (seconds - skip_s), p50, p99, shed, other


def window_p99(figures: Figures, start: float, end: float) -> float:
    return percentile([latency for at, _, latency, _ in figures.timeline if start <= at < end], 0.99)


def ramp(base: str, key: str, rates: list[float], step: float) -> tuple[float | None, float | None]:
    """(the highest rate met before the first missed, that missed rate or None if none did)."""
    sustainable = None
    for rate in rates:
        figures = in_load_process(searches, base, key, rate, step)
        served_rate, p50, p99, shed, other = summary(figures, step)
        print(f"{rate:>10.0f}{served_rate:>10.1f}{p50:>9.1f}{p99:>9.1f}{shed:>7}{other:>8}", flush=True)
        if p99 >= P99_TARGET_MS or shed + other:
            return sustainable, rate
        sustainable = rate
    return sustainable, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=float, nargs="+", default=RAMP)
    parser.add_argument("--step", type=float, default=10.0, help="seconds at each ramp rate")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of overload, then of recovery")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, help="make the history here once; each run serves a copy")
    args = parser.parse_args()

    with history(args.years, args.data_dir) as data_dir, served(data_dir, args.workers) as server:
        key = demo_key(data_dir)
        print(f"abri serve: {args.workers} workers on {machine()}; load from another process")
        print(f"\n{'ramp rate':>10}{'served/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'shed':>7}{'errors':>8}")
        sustainable, limit = ramp(server.base, key, args.rates, args.step)
        if sustainable is None:
            sys.exit(f"no ramp rate kept p99 under {P99_TARGET_MS:.0f} ms; try lower --rates")
        print(f"sustainable: {sustainable:.0f}/s" + (f"; {limit:.0f}/s missed" if limit else "; no rate missed"))

        overload = in_load_process(searches, server.base, key, 2 * sustainable, args.seconds)
        recovery = in_load_process(searches, server.base, key, sustainable, args.seconds)

    served_rate, p50, p99, shed, other = summary(overload, args.seconds)
    first, last = window_p99(overload, 0, 5), window_p99(overload, args.seconds - 5, args.seconds)
    print(f"\noverload at {2 * sustainable:.0f}/s for {args.seconds:.0f} s: served {served_rate:.1f}/s, "
          f"shed {shed} ({100 * shed / len(overload.timeline):.0f} %), other errors {other}; "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (first 5 s {first:.1f}, last 5 s {last:.1f})")  # fmt: skip
    overload.table("overload, by status", args.seconds)
    back_rate, back_p50, back_p99, back_shed, back_other = summary(recovery, args.seconds, skip_s=SETTLE_S)
    print(f"\nrecovery at {sustainable:.0f}/s, from {SETTLE_S:.0f} s on: served {back_rate:.1f}/s, "
          f"p50 {back_p50:.1f} ms, p99 {back_p99:.1f} ms, shed {back_shed}, other errors {back_other}")  # fmt: skip
    verdicts = {
        f"the ramp found the limit ({f'{limit:.0f}/s' if limit else 'no rate'} missed)": limit is not None,
        f"overload: only 2xx or 429/503 with Retry-After ({other} other)": other == 0,
        f"overload: p99 {p99:.0f} ms under 2 s": p99 < 2000,
        f"overload: the queue does not grow (last 5 s p99 {last:.0f} ≤ 1.5 × first {first:.0f})": last <= 1.5 * first,
        f"overload: served {served_rate:.0f}/s ≥ 80 % of {sustainable:.0f}/s": served_rate >= 0.8 * sustainable,
        f"recovery: p99 {back_p99:.1f} ms < {P99_TARGET_MS:.0f} ms, nothing shed": back_p99 < P99_TARGET_MS
        and back_shed + back_other == 0,
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
