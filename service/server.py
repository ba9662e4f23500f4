"""Runs the ASGI app with granian (faster than uvicorn here: see bench/asgi_servers.py)."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces

# A worker still busy this long after SIGTERM (e.g. a pool waiting on a stuck query) is killed.
WORKER_KILL_TIMEOUT_S = 5
# A worker that dies (a crash, the OOM killer) is replaced after this long; its requests in
# flight fail, but each change was one transaction, so nothing is left half done.
WORKER_RESPAWN_S = 1.0


def run(host: str, port: int, workers: int = 1) -> None:
    """Serve until SIGINT or SIGTERM, then return once every worker has shut down.

    Granian handles both signals in this process: it stops the worker processes (each
    runs the app's lifespan shutdown, which closes the pool) and `serve()` returns, so
    the caller can stop the embedded PostgreSQL afterwards.
    """
    Granian(
        "service.app:create_app",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port,
        workers=workers,
        log_access=False,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_S,
        respawn_failed_workers=True,
        respawn_interval=WORKER_RESPAWN_S,
    ).serve()
