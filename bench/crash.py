"""API workers killed with SIGKILL, round after round, while proposal lines are accepted and people move.

Makes a throwaway data directory with the demo and N years of simulated history
(bench/harness.py), runs its PostgreSQL from this process and serves it with
`abri serve --workers 2` on DATABASE_URL (as bench/outage.py does). Then --rounds rounds:

  1. --people new referrals (men, ASSORE hotels) and one proposal holding a bed for each;
  2. every proposed line, 8 at a time: accept it (its stay begins), transfer the stay to
     another free bed, and end it (so the beds are free for the next round), with
     searches at --rate alongside;
  3. when a random 25-75 % of the lines are through, the oldest worker gets SIGKILL, and
     granian starts another (a round begins once both workers are 6 s old: see `settled`);
  4. the lines not accepted are declined, freeing their beds.

Each accept and transfer carries an Idempotency-Key; one the kill cut (no answer) is sent
again with the same key, up to 3 times 0.2 s apart, as a partner's client should: a
replay says the cut one had been done, a fresh 2xx that it had not. Every write answered
2xx, first time or again, is kept. After each round the invariants of
service/db/invariants.py are checked; at the end, whether each acknowledged write is in
the database. Printed per round: the requests the kill cut (no answer), the answers by
status, and how long until granian's new worker was ready (its solver processes up, which
its start-up waits for, and /health/ready 200).

TARGETS (issue 7): no invariant broken after any round; every accept, transfer and exit
answered 2xx is in the database; each kill falls in the middle (it cuts requests in
flight, and writes were acknowledged before and after it); the killed worker is
replaced; no answer but 2xx, 409 (a bed taken meanwhile) and the cut connections; every
cut accept and transfer is answered when sent again (2xx, a replay or 409).

    uv run python bench/crash.py [--rounds 10] [--people 20] [--rate 20] [--years 5]
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
import signal  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import psutil  # noqa: E402

from bench.harness import (  # noqa: E402
    Answer,
    Http,
    Recorder,
    acknowledged_present,
    availability_params,
    beds_for_a_man,
    broken_invariants,
    children,
    history,
    machine,
    man_for_a_hotel,
    print_invariants,
)
from bench.outage import admin_key, running, served_on  # noqa: E402
from tests.process import Server  # noqa: E402

CONCURRENCY = 8
REPLACED_WITHIN_S = 20.0
# A worker's fork server, its solver (ABRI_SOLVER_WORKERS=1) and the fork server's resource tracker.
SOLVER_PROCESSES = 3
CRASH_LOOP_S = 6.0  # granian's window is 5.5 s
ALLOWED = frozenset({"409"})
IDEMPOTENT = frozenset({"accept", "transfer"})  # the writes here whose routes take an Idempotency-Key
RETRIES, RETRY_PAUSE_S = 3, 0.2
ANSWERED_AGAIN = frozenset({"200", "201", "replayed", "409"})
FREE_MEN_BEDS = beds_for_a_man(500)
# What each acknowledged write must have left, as SQL counting the ids ($1) that did.
STORED = {
    "accepted line with its stay": """
        SELECT count(*) FROM proposal_lines l JOIN stays s ON s.id = l.stay_id WHERE l.id = ANY($1::uuid[])""",
    "stay ended by its transfer": """
        SELECT count(*) FROM stays WHERE id = ANY($1::uuid[]) AND ended_as = 'transfer'""",
    "stay begun by a transfer": """
        SELECT count(*) FROM stays WHERE id = ANY($1::uuid[]) AND transferred_from IS NOT NULL""",
    "stay ended by its exit": """
        SELECT count(*) FROM stays WHERE id = ANY($1::uuid[]) AND ended_as = 'exit'""",
}


@dataclass
class Round:
    """What one round's kill cut, and how long the service took to be whole again."""

    lines: int
    done_at_kill: int
    cut: int  # requests that got no answer
    answers: Counter
    replaced_s: float | None


@dataclass
class Run:
    """What the rounds recorded: every answer, the writes acknowledged, each round's findings."""

    recorder: Recorder = field(default_factory=Recorder)
    acknowledged: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rounds: list[Round] = field(default_factory=list)
    broken: list[dict[str, list[str]]] = field(default_factory=list)
    retried: Counter = field(default_factory=Counter)  # what the cut writes got when sent again


async def new_referrals(http: Http, count: int, rng: random.Random) -> list[str]:
    made = [
        await http.post("/v1/referrals", json=man_for_a_hotel(f"CRASH-{rng.getrandbits(64):x}")) for _ in range(count)
    ]
    if not all(answer.is_success for answer in made):
        raise RuntimeError(f"referrals not made: {[a.status for a in made if not a.is_success]}")
    return [answer.json()["id"] for answer in made]


@dataclass
class CrashRound:
    """One proposal's lines moved on, 8 at a time, with a worker killed part of the way."""

    server: Server
    http: Http
    run: Run
    rng: random.Random
    proposal_id: str
    lines: list[str]
    beds: list[str]  # free beds to transfer into, one a line while they last
    kill_after: int
    done: int = 0
    accepted: set[str] = field(default_factory=set)
    kill_now: asyncio.Event = field(default_factory=asyncio.Event)
    lanes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY))

    @classmethod
    async def proposed(cls, server: Server, http: Http, run: Run, people: int, rng: random.Random) -> CrashRound:
        """New referrals, their proposal, and the free beds left for transfers."""
        proposal = await http.post("/v1/proposals", json={"referral_ids": await new_referrals(http, people, rng)})
        if not proposal.is_success:
            raise RuntimeError(f"proposal: {proposal.status} {proposal.body[:300]!r}")
        lines = [line["id"] for line in proposal.json()["lines"] if line["status"] == "proposed"]
        if len(lines) < 4:
            raise RuntimeError(f"{len(lines)} lines proposed: too few to kill a worker in the middle of them")
        free = await http.get("/v1/availability", params=FREE_MEN_BEDS)
        beds = [bed["id"] for bed in free.json()["items"]]
        rng.shuffle(beds)
        kill_after = round(len(lines) * rng.uniform(0.25, 0.75))
        return cls(server, http, run, rng, proposal.json()["id"], lines, beds, kill_after)

    async def play(self, rate: float) -> Round:
        before, stop = len(self.run.recorder.timeline), asyncio.Event()
        searching, killing = asyncio.create_task(self.search_until(stop, rate)), asyncio.create_task(self.kill())
        beds = self.beds + [None] * len(self.lines)
        await asyncio.gather(*(self.move_on(line, bed) for line, bed in zip(self.lines, beds, strict=False)))
        done_at_kill, replaced_s = await killing
        stop.set()
        await searching
        await self.decline_the_rest()
        answers = Counter(status for _, _, _, status in self.run.recorder.timeline[before:])
        cut = sum(n for status, n in answers.items() if not status.isdigit())
        return Round(len(self.lines), done_at_kill, cut, answers, replaced_s)

    async def write(self, route: str, path: str, body: dict | None = None) -> Answer | None:
        """POST `body`, with an Idempotency-Key where the route takes one; a request the kill
        cut is sent again with the same key, as a partner's client should, until answered."""
        headers = {"Idempotency-Key": uuid.uuid4().hex} if route in IDEMPOTENT else None
        send = lambda: self.http.post(path, json=body, headers=headers)  # noqa: E731
        answer = await self.run.recorder.time(route, time.perf_counter(), send)
        for _ in range(RETRIES if headers else 0):
            if answer is not None:
                break
            await asyncio.sleep(RETRY_PAUSE_S)
            answer = await self.run.recorder.time(f"{route} sent again", time.perf_counter(), send)
            self.run.retried[outcome(answer)] += 1
        return answer if answer is not None and answer.is_success else None

    async def move_on(self, line: str, bed: str | None) -> None:
        """Accept the line, transfer its stay to `bed` (when there is one), end the stay."""
        acknowledged = self.run.acknowledged
        async with self.lanes:
            if accepted := await self.write("accept", f"/v1/proposals/{self.proposal_id}/lines/{line}/accept"):
                acknowledged["accepted line with its stay"].append(line)
                self.accepted.add(line)
                stay = accepted.json()["stay_id"]
                if bed and (moved := await self.write("transfer", f"/v1/stays/{stay}/transfer", {"bed_id": bed})):
                    acknowledged["stay ended by its transfer"].append(stay)
                    acknowledged["stay begun by a transfer"].append(stay := moved.json()["id"])
                if await self.write("exit", f"/v1/stays/{stay}/exit", {"reason": "independent_housing"}):
                    acknowledged["stay ended by its exit"].append(stay)
            self.done += 1
            if self.done >= self.kill_after:
                self.kill_now.set()

    async def search_until(self, stop: asyncio.Event, rate: float) -> None:
        async def search(params: dict[str, str]) -> None:
            send = lambda: self.http.get("/v1/availability", params)  # noqa: E731
            await self.run.recorder.time("availability", time.perf_counter(), send)

        searches = set()
        while not stop.is_set():
            task = asyncio.create_task(search(availability_params(self.rng)))
            searches.add(task)
            task.add_done_callback(searches.discard)
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*searches)

    async def kill(self) -> tuple[int, float | None]:
        """SIGKILL the oldest worker once `kill_after` lines are through; (lines through, s to a new worker)."""
        await self.kill_now.wait()
        workers, at_kill = self.server.worker_pids(), self.done
        os.kill(min(workers, key=started_at), signal.SIGKILL)
        return at_kill, await replaced(self.server, set(workers))

    async def decline_the_rest(self) -> None:
        """Free the beds still held for lines not accepted (409 for those accepted unbeknown, the answer cut)."""
        for line in set(self.lines) - self.accepted:
            await self.http.post(f"/v1/proposals/{self.proposal_id}/lines/{line}/decline", json={"reason": "other"})


def outcome(answer: Answer | None) -> str:
    """What a request sent again got: its status, "replayed" (the cut one had been done), or "cut"."""
    if answer is None:
        return "cut"
    return "replayed" if answer.headers.get("idempotent-replayed") == "true" else str(answer.status)


def tcp_migrate_req() -> str:
    """Whether the kernel hands a dead worker's queued connections to the other (1), or resets them (0)."""
    setting = Path("/proc/sys/net/ipv4/tcp_migrate_req")
    return setting.read_text().strip() if setting.exists() else "absent"


def started_at(pid: int) -> float:
    return psutil.Process(pid).create_time()


async def settled(server: Server) -> None:
    """Wait until every worker is older than granian's crash-loop window.

    granian exits altogether, every worker with it, when a worker it respawned dies again
    within 5.5 s (granian/server/common.py, `_serve_loop`): `abri serve` then ends with
    status 1 for its supervisor to restart it (docs/architecture.md). Each round kills the
    oldest worker, once it is past that window, so what is measured is one crash at a time.
    """
    while (youngest := min(time.time() - started_at(pid) for pid in server.worker_pids())) < CRASH_LOOP_S:
        await asyncio.sleep(CRASH_LOOP_S - youngest)


async def replaced(server: Server, before: set[int]) -> float | None:
    """Seconds until a worker that was not among `before` has its solver processes running
    (a worker starts them in its lifespan, before it serves) and the service says ready."""
    killed, deadline = time.perf_counter(), time.perf_counter() + REPLACED_WITHIN_S
    async with Http(server.base, "") as probe:
        while time.perf_counter() < deadline:
            started = [pid for pid in set(server.worker_pids()) - before if len(children(pid)) >= SOLVER_PROCESSES]
            if started and (await probe.get("/health/ready")).status == 200:
                return time.perf_counter() - killed
            await asyncio.sleep(0.05)
    return None


async def crash_rounds(server: Server, url: str, key: str, args: argparse.Namespace) -> Run:
    run = Run()
    async with Http(server.base, key) as http:
        for n in range(args.rounds):
            await settled(server)
            crash = await CrashRound.proposed(server, http, run, args.people, random.Random(n))
            run.rounds.append(await crash.play(args.rate))
            run.broken.append(await broken_invariants(url))
            print_round(n + 1, run.rounds[-1], run.broken[-1])
    return run


def print_round(n: int, found: Round, broken: dict[str, list[str]]) -> None:
    statuses = ", ".join(f"{count} × {status}" for status, count in sorted(found.answers.items()))
    replaced = "not within 20 s" if found.replaced_s is None else f"{found.replaced_s:.2f} s"
    print(f"round {n:>2}: killed after {found.done_at_kill:>2} of {found.lines} lines; {found.cut} requests cut; "
          f"answers {statuses}; new worker ready after {replaced}; invariants broken: {len(broken)}",
          flush=True)  # fmt: skip


def report(run: Run, present: dict[str, tuple[int, int]]) -> None:
    replaced = [r.replaced_s for r in run.rounds if r.replaced_s is not None]
    if replaced:
        print(f"\nnew worker ready after the kill: median {sorted(replaced)[len(replaced) // 2]:.2f} s, "
              f"at most {max(replaced):.2f} s")  # fmt: skip
    again = ", ".join(f"{n} × {what}" for what, n in sorted(run.retried.items())) or "none"
    print(f"cut accepts and transfers sent again with their Idempotency-Key: {again}")
    print("acknowledged writes in the database: " + ", ".join(f"{w} {n}/{of}" for w, (n, of) in present.items()))
    broken = {rule: ids for found in run.broken for rule, ids in found.items()}
    print_invariants("after every round", broken)
    middle = [r for r in run.rounds if r.cut and 0 < r.done_at_kill < r.lines]
    failures = run.recorder.figures().failures(allowed=ALLOWED) - sum(r.cut for r in run.rounds)
    rounds = len(run.rounds)
    verdicts = {
        f"no invariant broken after any of {rounds} rounds": not broken,
        "every acknowledged write in the database": all(n == of for n, of in present.values()),
        f"each kill in the middle, cutting requests with lines through before and after ({len(middle)}/{rounds})":
            len(middle) == rounds,
        f"each killed worker replaced within {REPLACED_WITHIN_S:.0f} s ({len(replaced)}/{rounds})":
            len(replaced) == rounds,
        f"nothing but 2xx, 409 and cut connections ({failures} other)": failures == 0,
        "every cut accept and transfer answered when sent again (2xx, a replay or 409)":
            set(run.retried) <= ANSWERED_AGAIN,
    }  # fmt: skip
    for verdict, passed in verdicts.items():
        print(("PASS " if passed else "MISS ") + verdict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--people", type=int, default=20, help="referrals proposed, then moved on, each round")
    parser.add_argument("--rate", type=float, default=20.0, help="availability searches per second alongside")
    parser.add_argument("--years", type=int, default=5)
    args = parser.parse_args()

    with history(args.years) as data_dir, running(data_dir) as database, served_on(database, data_dir) as server:
        key = asyncio.run(admin_key(database.url))
        print(f"abri serve: 2 workers on DATABASE_URL, {machine()}; {args.rounds} rounds of {args.people} people; "
              f"net.ipv4.tcp_migrate_req = {tcp_migrate_req()}")  # fmt: skip
        run = asyncio.run(crash_rounds(server, database.url, key, args))
        present = asyncio.run(acknowledged_present(database.url, STORED, run.acknowledged))
    report(run, present)


if __name__ == "__main__":
    main()
