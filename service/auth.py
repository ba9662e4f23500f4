"""API keys and role-based access.

A key reads `abri_<key id>_<secret>`. Only the SHA-256 of the secret is stored: the
secret is 256 random bits, so a fast hash is enough (no password stretching needed),
and the key id makes the lookup a primary-key read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from uuid import UUID

import asyncpg
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Guard, Receive, Scope, Send

from contracts.common import Role

API_KEY_HEADER = "X-API-Key"
# Where the request's connection waits in the ASGI scope state for the `conn` dependency.
REQUEST_CONNECTION = "abri.connection"
_PREFIX = "abri"


class Caller(msgspec.Struct, frozen=True):
    """Who is calling: the key, its role and its organisation."""

    key_id: UUID
    role: Role
    organisation_id: UUID


async def create_key(conn: asyncpg.Connection, role: Role, organisation_id: UUID) -> str:
    """Store a new key and return it; this is the only time the full key exists."""
    secret = secrets.token_urlsafe(32)
    key_id = await conn.fetchval(
        "INSERT INTO api_keys (secret_sha256, role, organisation_id) VALUES ($1, $2, $3) RETURNING id",
        _digest(secret),
        role.value,
        organisation_id,
    )
    return f"{_PREFIX}_{key_id.hex}_{secret}"


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


async def authenticate(conn: asyncpg.Connection, key: str) -> Caller | None:
    parsed = _parse(key)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = await conn.fetchrow(
        "SELECT secret_sha256, role, organisation_id FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        key_id,
    )
    if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(secret)):
        return None
    return Caller(key_id=key_id, role=Role(row["role"]), organisation_id=row["organisation_id"])


class ApiKeyMiddleware(ASGIMiddleware):
    """Authenticates the key and lends the request one pooled connection for its whole life.

    The same connection that checked the key serves the route (`conn` dependency), so a
    request holds one connection, not two in a row. Sets `request.user` to the `Caller`;
    401 when the key is missing or unknown.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = ASGIConnection(scope).headers.get(API_KEY_HEADER)
        if not key:
            raise NotAuthorizedException(f"Send an API key in the {API_KEY_HEADER} header.")
        async with scope["litestar_app"].state.pool.acquire() as conn:
            caller = await authenticate(conn, key)
            if caller is None:
                raise NotAuthorizedException("Unknown or revoked API key.")
            scope["user"], scope["auth"] = caller, caller.key_id
            scope["state"][REQUEST_CONNECTION] = conn
            await next_app(scope, receive, send)


def provide_caller(request: Request) -> Caller:
    """Dependency `caller`: who is calling, as `ApiKeyMiddleware` found."""
    return request.user


# Route parameter `caller: Actor` receives the authenticated `Caller`.
Actor = NamedDependency[Caller]


def allow(*roles: Role) -> Guard:
    """Guard: only these roles may call the route."""
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if connection.user.role not in allowed:
            raise PermissionDeniedException(f"The {connection.user.role} role may not do this.")

    return guard


def require_organisation(caller: Caller, organisation_id: UUID) -> None:
    """Partners act on their own organisation's resources only; admins on all."""
    if caller.role is Role.ADMIN:
        return
    if caller.role is Role.PARTNER and caller.organisation_id == organisation_id:
        return
    raise PermissionDeniedException("This resource belongs to another organisation.")


ANY_ROLE = tuple(Role)
INVENTORY_WRITERS = (Role.ADMIN, Role.PARTNER)
