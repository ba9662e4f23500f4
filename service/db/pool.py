"""The asyncpg connection pool, opened and closed with the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Request
from litestar.di import NamedDependency

from service.auth import REQUEST_CONNECTION
from service.settings import Settings


def pool_lifespan(settings: Settings):
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if settings.database_url is None:
            raise RuntimeError("DATABASE_URL is not set; start through `abri serve` for the embedded server")
        if settings.reference_key is None:
            raise RuntimeError("ABRI_REFERENCE_KEY is not set; it keys the hashes of referral references")
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            reset=keep_session,
        )
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    return lifespan


async def keep_session(_: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query, one round trip per request saved.

    asyncpg still rolls back an open transaction on release; the rest of the default reset
    (RESET ALL, UNLISTEN *, CLOSE ALL, pg_advisory_unlock_all()) undoes session state that
    nothing here creates: no code changes a setting, the only advisory lock is transaction-
    scoped (migration 0007), and nothing listens or holds a cursor across transactions.
    """


# Route parameter `conn: Conn` receives the connection the request holds.
Conn = NamedDependency[asyncpg.Connection]


def provide_connection(request: Request) -> asyncpg.Connection:
    """Dependency `conn`: the pooled connection `ApiKeyMiddleware` acquired for this request."""
    return request.scope["state"][REQUEST_CONNECTION]
