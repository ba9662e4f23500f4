"""The hold sweeper: a background task that brings expired holds' bookkeeping up to date.

Correctness never waits on it: an expired hold stops blocking its bed at its expiry by
itself, and a new hold for the same referral expires that referral's old holds first.
The sweeper marks the rest, puts their referrals back to waiting and records it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar

from service.placements.queries import expire_holds

log = structlog.get_logger("abri.sweeper")
INTERVAL_SECONDS = 60


async def sweep_forever(app: Litestar, interval: float) -> None:
    while True:
        try:
            async with app.state.pool.acquire() as conn:
                if expired := await expire_holds(conn):
                    log.info("holds_expired", count=expired)
        except Exception as exc:  # keep sweeping: the next round retries
            log.warning("sweep_failed", error_type=type(exc).__name__)
        await asyncio.sleep(interval)


@asynccontextmanager
async def hold_sweeper(app: Litestar) -> AsyncIterator[None]:
    """Lifespan: run the sweeper while the app serves (after the pool is open)."""
    task = asyncio.create_task(sweep_forever(app, INTERVAL_SECONDS))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
