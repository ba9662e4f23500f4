"""Writing audit events. Call inside the transaction of the change being recorded.

Each audited change also goes to the partners' outbox (`service.events.outbox`), in the
same transaction: what is audited is what partners can hear of.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from service.auth import Caller
from service.events.outbox import publish


def _json(changes: dict[str, Any]) -> str:
    return msgspec.json.encode(changes).decode()


async def record(
    conn: asyncpg.Connection,
    actor: Caller | None,
    action: str,
    subject_type: str,
    subject_ids: Iterable[UUID],
    changes: Iterable[dict[str, Any]],
) -> None:
    """Append one event per subject (`changes` pairs with `subject_ids`); `actor` None is the system.

    `changes` must hold no personal data: callers pass ids, codes and inventory facts only.
    """
    ids, texts = list(subject_ids), [_json(c) for c in changes]
    await conn.execute(
        """
        INSERT INTO audit_events (key_id, role, organisation_id, action, subject_type, subject_id, changes)
        SELECT $1, $2, $3, $4, $5, subject_id, changes::jsonb
        FROM unnest($6::uuid[], $7::text[]) AS e(subject_id, changes)
        """,
        actor and actor.key_id,
        actor and actor.role.value,
        actor and actor.organisation_id,
        action,
        subject_type,
        ids,
        texts,
    )
    await publish(conn, action, subject_type, ids, texts)
