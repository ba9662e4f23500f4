"""The asyncpg connection pool, opened and closed with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency

from service.settings import Settings


def pool_lifespan(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError("DATABASE_URL is not set; start through `abri serve` for the embedded server")
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
        )
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return lifespan


# Route parameter `conn: Conn` receives a pooled connection for the request.
Conn = NamedDependency[asyncpg.Connection]


async def provide_connection(state: State) -> AsyncIterator[asyncpg.Connection]:
    """Dependency `conn`: a pooled connection for the length of the request."""
    async with state.pool.acquire() as conn:
        yield conn
