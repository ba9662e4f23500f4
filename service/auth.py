"""API keys and role-based access.

A key reads `abri_<key id>_<secret>`. Only the SHA-256 of the secret is stored: the
secret is 256 random bits, so a fast hash is enough (no password stretching needed),
and the key id makes the lookup a primary-key read. A key may expire and be revoked;
its last-used time is kept to the minute (`LAST_USED_PRECISION`): the lookup says whether
the stored one is older, and only then is it written, so most requests write nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from contracts.common import Role
from service.problems import ProblemError

API_KEY_HEADER = "X-API-Key"
# Where the request's connection waits in the ASGI scope state for the `conn` dependency.
REQUEST_CONNECTION = "abri.connection"
_PREFIX = "abri"
LAST_USED_PRECISION = "1 minute"

_STALE = f"last_used_at IS NULL OR last_used_at < now() - interval '{LAST_USED_PRECISION}'"
_LOOK_UP = f"""
SELECT secret_sha256, role, organisation_id, revoked_at, expires_at, expires_at <= now() AS expired, {_STALE} AS stale
FROM api_keys WHERE id = $1
"""
# Sent only when the stored time is stale and the key good: one more round trip a minute per
# key. Folded into the lookup as a CTE, the (mostly idle) UPDATE made every lookup slower
# (median 84 -> 101 µs on a local server, 2026-12-03); the lookup alone costs what it did.
_TOUCH = f"UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND ({_STALE})"


class Caller(msgspec.Struct, frozen=True):
    """Who is calling: the key, its role and its organisation."""

    key_id: UUID
    role: Role
    organisation_id: UUID


async def create_key(
    conn: asyncpg.Connection,
    role: Role,
    organisation_id: UUID,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
    created_by: UUID | None = None,
) -> str:
    """Store a new key and return it; this is the only time the full key exists."""
    secret = secrets.token_urlsafe(32)
    key_id = await conn.fetchval(
        "INSERT INTO api_keys (secret_sha256, role, organisation_id, label, expires_at, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        _digest(secret),
        role.value,
        organisation_id,
        label,
        expires_at,
        created_by,
    )
    return f"{_PREFIX}_{key_id.hex}_{secret}"


def key_id_of(key: str) -> UUID:
    """The id part of a key made by `create_key`."""
    parsed = _parse(key)
    if parsed is None:
        raise ValueError("not an abri API key")
    return parsed[0]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _parse(key: str) -> tuple[UUID, str] | None:
    prefix, _, rest = key.partition("_")
    key_hex, _, secret = rest.partition("_")
    if prefix != _PREFIX or len(key_hex) != 32 or not secret or len(secret) > 100:
        return None
    try:
        return UUID(hex=key_hex), secret
    except ValueError:
        return None


async def authenticate(conn: asyncpg.Connection, key: str) -> Caller:
    """Who holds `key`; `NotAuthorizedException` (401) when it is unknown, revoked or expired.

    Revocation and expiry are told only to a caller who has the right secret.
    """
    parsed = _parse(key)
    if parsed is None:
        raise NotAuthorizedException("Unknown API key.")
    key_id, secret = parsed
    row = await conn.fetchrow(_LOOK_UP, key_id)
    if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(secret)):
        raise NotAuthorizedException("Unknown API key.")
    if row["revoked_at"] is not None:
        raise NotAuthorizedException(f"This API key was revoked at {row['revoked_at'].isoformat()}.")
    if row["expired"]:
        raise NotAuthorizedException(f"This API key expired at {row['expires_at'].isoformat()}.")
    if row["stale"]:
        await conn.execute(_TOUCH, key_id)
    return Caller(key_id=key_id, role=Role(row["role"]), organisation_id=row["organisation_id"])


class ApiKeyMiddleware(ASGIMiddleware):
    """Authenticates the key and lends the request one pooled connection for its whole life.

    The same connection that checked the key serves the route (`conn` dependency), so a
    request holds one connection, not two in a row. Sets `request.user` to the `Caller`;
    401 when the key is missing, unknown, revoked or expired.

    A route's body is read first, within `ABRI_BODY_TIMEOUT_S` (else 408): a client that
    sends its body slowly must not hold one of the pool's few connections while it does.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = ASGIConnection(scope).headers.get(API_KEY_HEADER)
        if not key:
            raise NotAuthorizedException(f"Send an API key in the {API_KEY_HEADER} header.")
        if "data" in scope["route_handler"].parsed_fn_signature.parameters:
            await _read_body(scope, receive)
        async with scope["litestar_app"].state.pool.acquire() as conn:
            caller = await authenticate(conn, key)
            scope["user"], scope["auth"] = caller, caller.key_id
            scope["state"][REQUEST_CONNECTION] = conn
            await next_app(scope, receive, send)


async def _read_body(scope: Scope, receive: Receive) -> None:
    """Read the whole body through Litestar (its size limit applies; it keeps it for the route)."""
    seconds = scope["litestar_app"].state.settings.body_timeout_s
    try:
        async with asyncio.timeout(seconds):
            await Request(scope, receive).body()
    except TimeoutError:
        raise ProblemError(
            408, "Request Timeout", detail=f"The request body did not arrive within {seconds:g} s."
        ) from None


def provide_caller(request: Request, conn: NamedDependency[asyncpg.Connection]) -> Caller:
    """Dependency `caller`: who is calling, as `ApiKeyMiddleware` found.

    It takes `conn` only to be resolved after it: Litestar resolves dependencies that do not
    depend on each other in an anyio task group, and for these two look-ups that was 17 % of
    a search's CPU in the app (0.44 -> 0.36 ms in process, 2026-12-04; litestar#4563).
    """
    return request.user


# Route parameter `caller: Actor` receives the authenticated `Caller`.
Actor = NamedDependency[Caller]


def require_organisation(caller: Caller, organisation_id: UUID) -> None:
    """Partners act on their own organisation's resources only; admins on all."""
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.PARTNER and caller.organisation_id == organisation_id:
        return
    raise PermissionDeniedException("This resource belongs to another organisation.")
