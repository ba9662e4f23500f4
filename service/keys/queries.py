"""Creating, reading and revoking API keys, audited; shared by the routes and the `abri` command."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from contracts.common import Role
from contracts.keys import ApiKey, ApiKeyCreated
from service.audit.record import record
from service.auth import Caller, create_key, key_id_of
from service.db.tables import Table

KEYS = Table("api_keys", ApiKey, "API key", "api_key")


async def create(
    conn: asyncpg.Connection,
    actor: Caller | None,
    role: Role,
    organisation_id: UUID,
    label: str | None,
    expires_at: datetime | None,
) -> ApiKeyCreated:
    """A new key with its secret (shown this once); `actor` None is the `abri` command."""
    async with conn.transaction():
        key = await create_key(
            conn, role, organisation_id, label=label, expires_at=expires_at, created_by=actor and actor.key_id
        )
        created: ApiKey = await KEYS.get(conn, key_id_of(key))
        facts = {"role": role, "organisation_id": organisation_id, "label": label, "expires_at": expires_at}
        await record(conn, actor, "created", KEYS.subject, [created.id], [facts])
    return ApiKeyCreated(**msgspec.structs.asdict(created), key=key)


async def revoke(conn: asyncpg.Connection, actor: Caller | None, key_id: UUID) -> ApiKey:
    """Revoke the key now, audited; one revoked already is returned unchanged (404 if none)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING {KEYS.columns}",
            key_id,
        )
        if row is not None:
            await record(conn, actor, "revoked", KEYS.subject, [key_id], [{}])
    return KEYS.to_struct(row) if row is not None else await KEYS.get(conn, key_id)
