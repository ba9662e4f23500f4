"""The solver's process pool: plans are computed in worker processes, never on the event loop.

The pool is made in the app's lifespan with `ABRI_SOLVER_WORKERS` processes, started by
a fork server (the server has threads, so plain fork is unsafe): a fresh process that
imports the solver once, from which each worker forks. The workers are started before
the app serves, so a proposal never waits for one. Each worker runs at the lowest CPU
priority, in a session of its own, and dies with the fork server (`worker.start_worker`).

What a problem is built from (the snapshot, as JSON) goes to a worker as msgpack bytes,
and the plan comes back the same way with what saving it needs (service/proposals/worker.py).
A request waits at most the solver's own time limit plus a margin (queueing behind another
proposal included), then answers 503 with Retry-After, and the pool's workers are killed
and replaced, so what was still solving does not hold up the next proposal; a pool broken
by a dead worker is replaced too.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager

import msgspec
import structlog
from litestar import Litestar

from service.problems import ProblemError
from service.proposals import worker
from service.proposals.problem import Ask, Booking
from service.settings import Settings
from solver.problem import PlacementPlan

log = structlog.get_logger("abri.solver")
# Beyond the solver's own time limit: the exact flow, the explanations, a short queue.
MARGIN_S = 5.0
_solved_decoder = msgspec.msgpack.Decoder(tuple[PlacementPlan, Booking])


class SolverPool:
    """A process pool that can be replaced when a worker dies."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor = self._new()

    @staticmethod
    def _context() -> multiprocessing.context.ForkServerContext:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([worker.__name__])
        return context

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=self._context(), initializer=worker.start_worker
        )

    def start(self) -> None:
        """Start every worker now, and wait until they run (blocking: call it in a thread).

        Starting a worker blocks the caller until the fork server answers, which takes
        seconds while the fork server is still importing the solver: better at start-up
        than inside `submit` on the event loop.
        """
        for started in [self.executor.submit(int) for _ in range(self.workers)]:
            started.result()

    def replace(self, broken: ProcessPoolExecutor) -> bool:
        """Swap a broken executor for a new one (once, however many requests saw it break)."""
        if self.executor is not broken:
            return False
        self.executor = self._new()
        broken.shutdown(wait=False, cancel_futures=True)
        return True

    def abandon(self, busy: ProcessPoolExecutor) -> bool:
        """Kill `busy`'s workers and swap in a new executor: a solve past its request's
        deadline would otherwise run on for nobody, and the next proposal queue behind it.
        (`_processes` is the executor's own map of its workers; it has no public one.)"""
        if self.executor is not busy:
            return False
        for process in list(busy._processes.values()):
            process.kill()
        return self.replace(busy)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def solver_pool(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = SolverPool(settings.solver_workers)
        await asyncio.to_thread(pool.start)
        app.state.solver_pool = pool
        try:
            yield
        finally:
            pool.close()

    return lifespan


async def run_solver(pool: SolverPool, ask: Ask) -> tuple[PlacementPlan, Booking]:
    """Build and solve in a worker; 503 with Retry-After when it takes too long or the pool broke."""
    limit = ask.parameters.time_limit_s + MARGIN_S
    retry = {"Retry-After": str(math.ceil(limit))}
    loop, executor = asyncio.get_running_loop(), pool.executor
    try:
        packed = await asyncio.wait_for(
            loop.run_in_executor(executor, worker.solve_packed, msgspec.msgpack.encode(ask)), limit
        )
    except TimeoutError:
        log.warning("solver_timeout", seconds=limit, listed=ask.listed and len(ask.listed))
        if pool.abandon(executor):
            await asyncio.to_thread(pool.start)
        detail = (
            f"No plan within {limit:g} s: either other proposals held the solver (try again later) or this "
            "one is too large for its time limit (raise parameters.time_limit_s, at most 30, or list fewer "
            "referrals in referral_ids)."
        )
        raise ProblemError(503, "Solver busy", detail=detail, headers=retry) from None
    except BrokenProcessPool:
        log.error("solver_pool_broken")
        if pool.replace(executor):
            await asyncio.to_thread(pool.start)
        raise ProblemError(
            503, "Solver restarting", detail="A solver process died; try again.", headers=retry
        ) from None
    return _solved_decoder.decode(packed)
