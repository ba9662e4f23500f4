"""Runs the ASGI app with granian (faster than uvicorn here: see bench/asgi_servers.py)."""

from __future__ import annotations

import gc

from granian import Granian
from granian.constants import Interfaces
from litestar import Litestar

# A worker still busy this long after SIGTERM (e.g. a pool waiting on a stuck query) is killed.
WORKER_KILL_TIMEOUT_S = 5


def run(host: str, port: int, workers: int = 1) -> None:
    """Serve until SIGINT or SIGTERM, then return once every worker has shut down.

    Granian handles both signals in this process: it stops the worker processes (each
    runs the app's lifespan shutdown, which closes the pool) and `serve()` returns, so
    the caller can stop the embedded PostgreSQL afterwards.
    """
    Granian(
        "service.server:worker_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port,
        workers=workers,
        log_access=False,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_S,
        # A worker that dies (a crash, the OOM killer) is replaced at once, ready 1–3 s
        # later (bench/crash.py); its requests in flight fail, but each change was one
        # transaction, so nothing is left half done. One that dies again within 5.5 s of
        # being replaced makes granian stop every worker: `abri serve` exits with status 1,
        # for its supervisor to restart it (tests/e2e/test_worker_crash.py).
        respawn_failed_workers=True,
    ).serve()


def worker_app() -> Litestar:
    """The app as each worker serves it: once started, its heap is frozen (`freeze_heap`)."""
    from service.app import create_app  # in the workers only, not granian's main process

    app = create_app()
    app.on_startup.append(freeze_heap)
    return app


def freeze_heap(_: Litestar) -> None:
    """Move everything made at start-up out of the garbage collector's sight.

    The app, Litestar, msgspec, asyncpg and OR-Tools leave ~120,000 long-lived objects; a
    full collection walks them all, 200–300 ms on the 2-core machine, stalling every
    request in flight. Searches allocate too little to trigger one (none in 4,000, measured
    in-process), but a large proposal or report does. Frozen (`gc.freeze`), the start-up
    objects are never walked again. Only served workers do this: a test process that makes
    many apps would keep their cycles for good.
    """
    gc.collect()
    gc.freeze()
