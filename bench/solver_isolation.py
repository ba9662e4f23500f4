"""Solver isolation: a France-scale proposal solving in the pool, and availability searches meanwhile.

Makes a data directory that `abri serve` uses as its embedded PostgreSQL: bench/availability.py's
deterministic inventory (~5,000 facilities of France, 200,000 beds, ~70 % in a current stay,
history, holds, out-of-service periods; about 50,000 beds free) plus --people waiting
referrals drawn as bench/instances.py draws its people (couples, keep-apart pairs, dogs,
care anchors, priorities). Serves it with `abri serve --workers W` and drives it from another
process on loopback, open loop, two phases of --seconds each:

  alone      GET /v1/availability (20 beds, random kind and gender) at --rate
  proposal   the same, and --start seconds in, one POST /v1/proposals for every waiting
             referral (the problem: --people people, ~50,000 free beds, ~5,000 facilities)

The proposal window is from the proposal's send to its answer: the availability searches
scheduled in it are what the proposal can slow down. The phase's timeline is also given
second by second.

TARGETS (2 cores): availability p99 under 25 ms during the proposal window; no errors in
either phase; the proposal answers 201.

    uv run python bench/solver_isolation.py [--rate 100] [--seconds 40] [--start 3]
                                            [--people 20000] [--workers 2] [--data-dir DIR]
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
import secrets  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from itertools import accumulate  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402

from bench import availability  # noqa: E402
from bench.harness import (  # noqa: E402
    Answer,
    Figures,
    Http,
    Recorder,
    availability_params,
    copy_data_dir,
    demo_key,
    in_load_process,
    machine,
    open_loop,
    percentile,
    served,
)
from bench.instances import KIND_CHOICES, MAX_DAYS_WAITING, MEDICAL_NEEDS, VULNERABILITY  # noqa: E402
from service.db.embedded import embedded_server  # noqa: E402
from service.db.migrate import migrate  # noqa: E402
from service.referrals.queries import reference_hmac  # noqa: E402
from solver.problem import Kind  # noqa: E402

SEED = 20261204
BEDS = 200_000
P99_TARGET_MS = 25.0
TIME_LIMIT_S = 30.0  # the most a proposal may ask for: the flow itself is not time-limited

REFERRAL_COLUMNS = (
    "id", "organisation_id", "reference_hmac", "source", "gender", "accessible", "dogs", "couple_partner_id",
    "medical_level", "acceptable_kinds", "consents_out_of_region", "excluded_facility_ids", "keep_apart_ids",
    "care_anchor_lat", "care_anchor_lon", "vulnerability", "court_ordered", "first_met_on", "created_at",
)  # fmt: skip
SOURCES = ("outreach_team", "hospital", "court_ordered_treatment", "self_referral", "other")


# --- The data directory -----------------------------------------------------------------------


def waiting_referrals(rng: random.Random, data: availability.Dataset, count: int, now: datetime, key: str) -> list:
    """`count` waiting referrals drawn as bench/instances.py draws people: 11 % women, 1 % other,
    5 % in couples (a woman and a man, referred together: same dog, kinds, consent, anchor and
    wait), 0.5 % in keep-apart pairs, 20 % with a dog, 5 % needing access, 15 % consenting out of
    region, 30 % with a care anchor (a facility's town), 1 % excluding one or two hotels, 5 %
    court-ordered."""
    order = rng.sample(range(count), count)
    women, others = set(order[: round(0.11 * count)]), set(order[round(0.11 * count) : round(0.12 * count)])
    men = [i for i in order if i not in women and i not in others]
    pairs, apart_pairs = round(0.025 * count), round(0.0025 * count)
    partner = dict(zip(sorted(women)[:pairs], men[:pairs], strict=True))
    apart = dict(zip(men[pairs : pairs + apart_pairs], men[pairs + apart_pairs : pairs + 2 * apart_pairs], strict=True))
    partner |= {b: a for a, b in partner.items()}
    apart |= {b: a for a, b in apart.items()}
    ids = [availability.uuid7(rng, now - timedelta(days=MAX_DAYS_WAITING)) for _ in range(count)]
    household = [shared_needs(rng, data) for _ in range(count)]
    for i, other in partner.items():
        if other < i:
            household[i] = household[other]
    hotels = [row[0] for row in data.facilities if row[2] == "assore_hotel"]
    medical_cum, vulnerability_cum = list(accumulate(MEDICAL_NEEDS.values())), list(accumulate(VULNERABILITY.values()))
    rows = []
    for i, shared in enumerate(household):
        created_at = now - shared["waited"]
        rows.append((
            ids[i], rng.choice(data.organisations)[0], reference_hmac(key, f"ISOLATION-{SEED}-{i}"),
            rng.choice(SOURCES), "woman" if i in women else "other" if i in others else "man",
            rng.random() < 0.05, shared["dogs"], ids[partner[i]] if i in partner else None,
            rng.choices(list(MEDICAL_NEEDS), cum_weights=medical_cum)[0], shared["acceptable_kinds"],
            shared["consents_out_of_region"], rng.sample(hotels, rng.randint(1, 2)) if rng.random() < 0.01 else [],
            [ids[apart[i]]] if i in apart else [], *shared["anchor"],
            rng.choices(list(VULNERABILITY), cum_weights=vulnerability_cum)[0], rng.random() < 0.05,
            created_at.date(), created_at,
        ))  # fmt: skip
    return rows


def shared_needs(rng: random.Random, data: availability.Dataset) -> dict[str, Any]:
    """What a couple's partners share: dog, acceptable kinds, consent, care anchor, wait."""
    kind_sets, kind_weights = zip(*KIND_CHOICES, strict=True)
    consents = rng.random() < 0.15
    kinds = rng.choices(kind_sets, kind_weights)[0] | ({Kind.OUT_OF_REGION} if consents else set())
    town = rng.choice(data.facilities)
    return {
        "dogs": rng.random() < 0.20,
        "acceptable_kinds": sorted(kind.value for kind in kinds),
        "consents_out_of_region": consents,
        "anchor": (round(town[10], 2), round(town[11], 2)) if rng.random() < 0.30 else (None, None),
        "waited": timedelta(days=rng.uniform(0, MAX_DAYS_WAITING)),
    }


async def fill(url: str, people: int, reference_key: str) -> None:
    """Migrate, load the inventory and the waiting referrals, and leave fresh statistics."""
    now = datetime.now(UTC).replace(microsecond=0)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        started = time.perf_counter()
        data = availability.generate(BEDS, now)
        referrals = waiting_referrals(random.Random(SEED), data, people, now, reference_key)
        generated = time.perf_counter()
        await availability.load(conn, data)
        # The generator's past holds are all still 'active': the sweeper would expire some
        # 180,000 of them at once, and audit each, while we measure.
        await conn.execute("UPDATE holds SET status = 'expired' WHERE upper(period) <= now()")
        await conn.copy_records_to_table("referrals", records=referrals, columns=REFERRAL_COLUMNS)
        await conn.execute("VACUUM ANALYZE holds, referrals")
        print(f"generated in {generated - started:.1f} s, loaded in {time.perf_counter() - generated:.1f} s")
        print(await availability.sizes(conn) + f", waiting referrals {people:,}")
    finally:
        await conn.close()


@contextmanager
def france(people: int, data_dir: Path | None) -> Iterator[Path]:
    """A throwaway data directory with the France-scale inventory and `people` waiting.

    With `data_dir`, the directory is made there once (if it is not there yet) and each run
    serves a copy of it, so every run starts from the same data (as old as the directory).
    """
    with tempfile.TemporaryDirectory(prefix="abri-isolation-") as tmp:
        served_dir = Path(tmp) / "data"
        if data_dir is None:
            make(served_dir, people)
        else:
            if (data_dir / "pgdata").exists():
                print(f"copying {data_dir} (its waiting referrals, not --people, are proposed)")
            else:
                make(data_dir, people)
            copy_data_dir(data_dir, served_dir)
        yield served_dir


def make(where: Path, people: int) -> None:
    where.mkdir(parents=True, exist_ok=True)
    reference_key = secrets.token_urlsafe(48)  # where `abri serve` finds its embedded key
    (where / "reference-key").write_text(reference_key)
    with embedded_server(where) as url:
        asyncio.run(fill(url, people, reference_key))


# --- The load ---------------------------------------------------------------------------------


async def drive(base: str, key: str, rate: float, seconds: float, propose_at: float | None) -> Recorder:
    """Availability at `rate` for `seconds`; with `propose_at`, one proposal for every waiting
    referral sent that many seconds in, its answer summed up on stdout."""
    recorder, rng = Recorder(), random.Random(7)
    async with Http(base, key) as http:

        async def search(scheduled: float) -> None:
            params = availability_params(rng)
            await recorder.time("availability", scheduled, lambda: http.get("/v1/availability", params=params))

        async def propose() -> None:
            await asyncio.sleep(propose_at)
            body = {"referral_ids": None, "parameters": {"time_limit_s": TIME_LIMIT_S}}
            answer = await recorder.time("proposal", time.perf_counter(), lambda: post_slow(http, body))
            print(proposal_summary(answer), flush=True)

        await asyncio.gather(open_loop(rate, seconds, search), *([propose()] if propose_at is not None else []))
    return recorder


async def post_slow(http: Http, body: dict) -> Answer:
    """POST /v1/proposals with a timeout beyond the solver's (Http's own is 30 s)."""
    timeout = aiohttp.ClientTimeout(total=TIME_LIMIT_S + 120)
    async with http.session.post("/v1/proposals", json=body, timeout=timeout) as response:
        return Answer(response.status, await response.read())


def proposal_summary(answer: Answer | None) -> str:
    if answer is None:
        return "proposal: no answer"
    if not answer.is_success:
        return f"proposal: {answer.status} {answer.body[:300].decode(errors='replace')}"
    proposal = answer.json()
    counts, stats = proposal["counts"], proposal["statistics"]
    return (
        f"proposal: {answer.status}, {counts['people']:,} people, {counts['proposed']:,} lines held, "
        f"{counts['dropped']:,} dropped, {counts['unplaced']:,} unplaced; solver {stats['seconds']:.1f} s "
        f"({stats['method']}, {stats['bed_classes']:,} bed classes, {stats['arcs']:,} arcs); "
        f"response {len(answer.body) / 2**20:.1f} MiB"
    )


# --- Figures ----------------------------------------------------------------------------------


def proposal_window(figures: Figures) -> tuple[float, float] | None:
    """(start, end) of the proposal, in seconds from the phase's start."""
    for at, route, latency, _ in figures.timeline:
        if route == "proposal":
            return at, at + latency / 1000
    return None


def during(figures: Figures, window: tuple[float, float]) -> list[float]:
    """Latencies of the availability searches scheduled inside `window`."""
    start, end = window
    return [latency for at, route, latency, _ in figures.timeline if route == "availability" and start <= at <= end]


def print_timeline(figures: Figures, window: tuple[float, float] | None) -> None:
    print(f"\n{'second':>6}{'searches':>10}{'p50 ms':>9}{'p99 ms':>9}{'not 2xx':>9}")
    for start, count, p50, p99, failed in figures.by_window("availability", 1.0):
        marker = "  proposal" if window and window[0] - 1 < start <= window[1] else ""
        print(f"{start:>6.0f}{count:>10}{p50:>9.1f}{p99:>9.1f}{failed:>9}{marker}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100.0, help="availability searches per second")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each phase")
    parser.add_argument("--start", type=float, default=3.0, help="when the proposal is sent, seconds in")
    parser.add_argument("--people", type=int, default=5_000, help="waiting referrals, all in the proposal")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--data-dir", type=Path, help="make the data directory here once; each run serves a copy")
    args = parser.parse_args()

    with france(args.people, args.data_dir) as data_dir, served(data_dir, args.workers) as server:
        key = demo_key(data_dir)
        print(f"abri serve: {args.workers} workers on {machine()}; load from another process")
        alone = in_load_process(drive, server.base, key, args.rate, args.seconds, None)
        alone.table(f"availability alone, {args.rate:.0f}/s for {args.seconds:.0f} s", args.seconds)
        mixed = in_load_process(drive, server.base, key, args.rate, args.seconds, args.start)
        mixed.table(f"availability with a proposal sent at {args.start:.0f} s", args.seconds)

    window = proposal_window(mixed)
    print_timeline(mixed, window)
    proposal_status = mixed.timeline and next((s for _, r, _, s in mixed.timeline if r == "proposal"), "none")
    alone_p99 = percentile(alone.latencies["availability"], 0.99)
    inside = during(mixed, window) if window else []
    p99 = percentile(inside, 0.99) if inside else float("inf")
    if window:
        print(f"\nproposal: {proposal_status} after {window[1] - window[0]:.1f} s (sent at {window[0]:.1f} s)")
        print(f"availability during it: {len(inside)} searches, p50 {statistics.median(inside):.1f} ms, "
              f"p99 {p99:.1f} ms (alone: p99 {alone_p99:.1f} ms)")  # fmt: skip
    errors = alone.failures() + mixed.failures()
    verdicts = {
        f"availability p99 during the proposal {p99:.1f} ms < {P99_TARGET_MS:.0f} ms": p99 < P99_TARGET_MS,
        f"no errors ({errors})": errors == 0,
        f"the proposal succeeds ({proposal_status})": proposal_status == "201",
    }
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


if __name__ == "__main__":
    main()
