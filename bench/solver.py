"""The placement solver against the first-fit greedy baseline, at three scales, in one run.

Scales (bench/instances.py): Paris (the demo dataset: 800 referrals, 825 beds, all free),
Île-de-France (10,000 people, 50,000 places in 2,000 facilities) and France (100,000 people,
200,000 places in 10,000 facilities). In the synthetic scales capacity is short: only a
fraction of places is free (the solver sees only those), about 0.65 free place per person.

Each scale's problem is generated once in this process and sent as msgpack to two fresh
processes (spawned, not forked), one running the optimiser (`solver.solve`) and one the
greedy baseline (`solver.greedy.greedy`). A child decodes the problem, resets its peak
RSS (/proc/self/clear_refs), reads its RSS, times the solve call alone with perf_counter,
then reads ru_maxrss: "solve MB" is that peak minus the RSS just before, "process MB" the
peak itself. Both plans are checked here: bed-class capacities, one line per person,
couples together, keep-apart pairs apart, and every line's hard rules.

BASELINE: the greedy plan of the same problem in the same run. Its gap is measured against
the optimiser's bound, (bound − greedy objective) / bound.

TARGETS: optimiser seconds < 0.2 (Paris), < 3 (Île-de-France), < 30 (France); gap ≤ 0.5 %;
optimiser's priority-weighted placement strictly above greedy's at every scale.

    uv run python bench/solver.py [--scales paris,idf,france] [--time-limit S] [--seed N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this very file would then
# shadow the `solver` package: put the project root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import argparse  # noqa: E402
import gc  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import msgspec  # noqa: E402

from bench.instances import SCALES, Instance, build, sizes  # noqa: E402
from solver.problem import PlacementPlan, PlacementProblem  # noqa: E402
from solver.rules import bed_type, broken_by_facility, broken_by_type, far_enough, needs_of  # noqa: E402
from solver.scoring import nearest_sites  # noqa: E402

SEED = 20231129
TARGET_SECONDS = {"paris": 0.2, "idf": 3.0, "france": 30.0}
TARGET_GAP = 0.005
CHILD_TIMEOUT_S = 900
METHODS = ("optimiser", "greedy")


# --- The child: one solve in a fresh process --------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _child(method: str, payload: bytes, connection) -> None:
    """Decode, solve, send back (plan msgpack, seconds, RSS before in KB, peak RSS in KB, peak reset)."""
    try:
        if method == "optimiser":
            from solver import solve as run
        else:
            from solver.greedy import greedy as run
        problem = msgspec.msgpack.decode(payload, type=PlacementProblem)
        del payload
        gc.collect()
        try:  # forget the decoding's high-water mark, so that the peak is the solve's
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
            reset = True
        except OSError:
            reset = False
        before = _rss_kb()
        started = time.perf_counter()
        plan = run(problem)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
        connection.send((msgspec.msgpack.encode(plan), seconds, before, peak, reset))
    except BaseException as error:  # report, don't hang the parent
        connection.send(f"{type(error).__name__}: {error}")
    finally:
        connection.close()


@dataclass(frozen=True)
class Run:
    plan: PlacementPlan
    seconds: float
    solve_mb: float
    process_mb: float
    peak_reset: bool


def run_in_child(method: str, payload: bytes) -> Run | str:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(method, payload, sender), name=f"bench-{method}")
    process.start()
    sender.close()
    try:
        if not receiver.poll(CHILD_TIMEOUT_S):
            process.terminate()
            return f"no answer in {CHILD_TIMEOUT_S} s"
        message = receiver.recv()
    except EOFError:
        message = "the process died without an answer"
    finally:
        process.join()
        receiver.close()
    if isinstance(message, str):
        return f"{message} (exit code {process.exitcode})"
    plan_bytes, seconds, before, peak, reset = message
    plan = msgspec.msgpack.decode(plan_bytes, type=PlacementPlan)
    return Run(plan, seconds, max(0, peak - before) / 1024, peak / 1024, reset)


# --- Checks and figures -----------------------------------------------------------------------


def violations(problem: PlacementProblem, plan: PlacementPlan) -> Counter[str]:
    """What the plan breaks: capacity, people placed twice, couples, keep-apart pairs, hard rules."""
    found: Counter[str] = Counter()
    beds = {bed.id: bed for bed in problem.bed_classes}
    facilities = {facility.id: facility for facility in problem.facilities}
    people = {person.id: person for person in problem.people}
    distance = dict(zip(facilities, (n.km for n in nearest_sites(problem.facilities, problem.sites)), strict=True))
    used = Counter(line.bed_class_id for line in plan.lines)
    found["capacity"] = sum(count > beds[bed_id].capacity for bed_id, count in used.items() if bed_id in beds)
    found["unknown bed class"] = sum(bed_id not in beds for bed_id in used)
    placed_at: dict[str, str] = {}
    for line in plan.lines:
        person, bed = people.get(line.person_id), beds.get(line.bed_class_id)
        if person is None or bed is None or bed.facility_id != line.facility_id:
            found["unknown person or wrong facility"] += 1
            continue
        found["placed twice"] += line.person_id in placed_at
        placed_at[line.person_id] = line.facility_id
        facility = facilities[line.facility_id]
        rule = broken_by_type(needs_of(person), bed_type(bed, facility)) or broken_by_facility(person, facility.id)
        if rule is None and not far_enough(facility, distance[facility.id], problem.parameters):
            rule = "min_distance"
        if rule is not None:
            found[f"rule {rule}"] += 1
    for person in problem.people:
        here = placed_at.get(person.id)
        if person.partner_id is not None and here != placed_at.get(person.partner_id):
            found["couple apart"] += 1
        found["keep-apart together"] += sum(
            here is not None and here == placed_at.get(other) for other in person.keep_apart_ids
        )
    placed_priority = sum(people[person_id].priority for person_id in placed_at)
    found["statistics.priority_placed ≠ lines"] = placed_priority != plan.statistics.priority_placed
    return +found  # drop the zeros


@dataclass(frozen=True)
class Figures:
    placed: int
    priority: int
    mean_km: float | None
    min_km: float | None
    gap: float
    broken: Counter[str]


def figures(problem: PlacementProblem, run: Run, bound: int | None) -> Figures:
    stats = run.plan.statistics
    km = [line.distance_km for line in run.plan.lines if line.distance_km is not None]
    gap = stats.gap if bound is None else (bound - stats.objective) / bound if bound else 0.0
    return Figures(
        placed=len(run.plan.lines),
        priority=stats.priority_placed,
        mean_km=statistics.fmean(km) if km else None,
        min_km=min(km) if km else None,
        gap=gap,
        broken=violations(problem, run.plan),
    )


# --- Printing ---------------------------------------------------------------------------------


def _km(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_sizes(instance: Instance, generated_s: float, payload_bytes: int) -> None:
    s = sizes(instance)
    print(f"\n=== {instance.name} ===")
    print(
        f"{s.people:,} people ({s.couples:,} couples, {s.keep_apart_pairs:,} keep-apart pairs, "
        f"{s.care_anchors} distinct care anchors) · {s.facilities:,} facilities ({s.facilities_with_free:,} with a "
        f"free place) · {s.places:,} places, {s.free_places:,} free = {s.free_places / s.people:.0%} of people · "
        f"{s.bed_classes:,} bed classes · {s.sites} active sites"
    )
    print(f"generated in {generated_s:.2f} s, {payload_bytes / 1e6:.1f} MB of msgpack")


def print_table(problem: PlacementProblem, runs: dict[str, Run | str], found: dict[str, Figures]) -> None:
    people = len(problem.people)
    rows: list[tuple[str, ...]] = [("", *METHODS)]

    def row(label: str, value) -> None:
        rows.append((label, *(value(method) if method in found else "—" for method in METHODS)))

    row("seconds (solve call)", lambda m: f"{runs[m].seconds:.3f}")
    row("seconds (statistics)", lambda m: f"{runs[m].plan.statistics.seconds:.3f}")
    row("peak memory, solve (MB)", lambda m: f"{runs[m].solve_mb:.0f}" + ("" if runs[m].peak_reset else " *"))
    row("peak memory, process (MB)", lambda m: f"{runs[m].process_mb:.0f}")
    row("people placed", lambda m: f"{found[m].placed:,} ({found[m].placed / people:.1%})")
    row("priority-weighted total", lambda m: f"{found[m].priority:,}")
    row("objective", lambda m: f"{runs[m].plan.statistics.objective:,}")
    row("mean km to nearest site", lambda m: _km(found[m].mean_km))
    row("min km to nearest site", lambda m: _km(found[m].min_km))
    row("gap to optimiser's bound", lambda m: f"{found[m].gap:.3%}")
    row("plan checks", lambda m: ", ".join(f"{k}: {v}" for k, v in found[m].broken.items()) or "all pass")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}")
    for method, result in runs.items():
        if isinstance(result, str):
            print(f"  {method} failed: {result}")
    if "optimiser" in found:
        s = runs["optimiser"].plan.statistics
        print(
            f"  optimiser: {s.method} · nodes {s.nodes:,} · arcs {s.arcs:,} · people classes {s.people_classes:,} · "
            f"bed classes {s.bed_classes:,} · side people {s.side_people:,} · CP-SAT {s.cp_sat_status or '—'} · "
            f"bound {s.bound:,}"
        )
    if not all(run.peak_reset for run in runs.values() if isinstance(run, Run)):
        print("  * peak RSS could not be reset: the solve figure may include the problem's decoding")


def targets(scale: str, found: dict[str, Figures], runs: dict[str, Run | str]) -> list[tuple[str, bool | None]]:
    """(description, passed) per target; None when it could not be measured."""
    optimiser, greedy = found.get("optimiser"), found.get("greedy")
    limit = TARGET_SECONDS[scale]
    speed, gap, better = f"optimiser < {limit:g} s", f"gap ≤ {TARGET_GAP:.1%}", "optimiser priority-weighted > greedy"
    if optimiser is None:
        return [(speed, None), (gap, None), (better, None), ("plans pass the checks", None)]
    seconds = runs["optimiser"].seconds
    result = [
        (f"{speed} ({seconds:.3f} s)", seconds < limit),
        (f"{gap} ({optimiser.gap:.3%})", optimiser.gap <= TARGET_GAP),
    ]
    if greedy is None:
        result.append((better, None))
    else:
        ratio = f", ratio {optimiser.priority / greedy.priority:.4f}" if greedy.priority else ""
        comparison = f"({optimiser.priority:,} vs {greedy.priority:,}{ratio})"
        result.append((f"{better} {comparison}", optimiser.priority > greedy.priority))
    result.append(("plans pass the checks", all(not figures.broken for figures in found.values())))
    return result


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "MISS", None: "n/a "}[passed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="paris,idf,france", help="comma-separated: paris, idf, france")
    parser.add_argument("--time-limit", type=float, help="Parameters.time_limit_s for the side-constraint model")
    parser.add_argument("--seed", type=int, default=SEED, help="for the synthetic scales")
    args = parser.parse_args()
    scales = [scale.strip() for scale in args.scales.split(",") if scale.strip()]
    if unknown := [scale for scale in scales if scale not in SCALES]:
        parser.error(f"unknown scale(s) {', '.join(unknown)}; choose among {', '.join(SCALES)}")

    try:
        from solver import solve  # noqa: F401
        from solver.greedy import greedy

        available = True
    except ImportError as error:
        available = False
        print(f"solver not available yet ({error}): instance sizes only")

    summary: list[tuple[str, str, bool | None]] = []
    for scale in scales:
        started = time.perf_counter()
        instance = build(scale, args.seed)
        generated_s = time.perf_counter() - started
        problem = instance.problem
        if args.time_limit is not None:
            parameters = msgspec.structs.replace(problem.parameters, time_limit_s=args.time_limit)
            problem = msgspec.structs.replace(problem, parameters=parameters)
        payload = msgspec.msgpack.encode(problem)
        print_sizes(instance, generated_s, len(payload))
        if not available:
            continue
        runs = {method: run_in_child(method, payload) for method in METHODS}
        found: dict[str, Figures] = {}
        if isinstance(optimiser := runs["optimiser"], Run):
            found["optimiser"] = figures(problem, optimiser, None)
        if isinstance(greedy := runs["greedy"], Run):
            bound = optimiser.plan.statistics.bound if isinstance(optimiser, Run) else greedy.plan.statistics.bound
            found["greedy"] = figures(problem, greedy, bound)
        print_table(problem, runs, found)
        if "optimiser" in found and "greedy" in found and found["greedy"].priority:
            ratio = found["optimiser"].priority / found["greedy"].priority
            print(f"  optimiser / greedy, priority-weighted total: {ratio:.4f}")
        for description, passed in targets(scale, found, runs):
            print(f"  {_verdict(passed)}  {description}")
            summary.append((instance.name, description, passed))

    if summary:
        print("\n=== targets ===")
        for name, description, passed in summary:
            print(f"  {_verdict(passed)}  {name}: {description}")
        misses = sum(passed is not True for _, _, passed in summary)
        print(f"  {len(summary) - misses} of {len(summary)} pass")


if __name__ == "__main__":
    main()
