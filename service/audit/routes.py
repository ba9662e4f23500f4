"""`GET /v1/audit`: the audit trail, newest first, for admins."""

from __future__ import annotations

from uuid import UUID

import msgspec
from asyncpg import Record
from litestar import get

from contracts.audit import AuditEvent
from contracts.common import Page, Timestamp
from service.db.pool import Conn
from service.http import CursorParam, LimitParam, aware, query
from service.pagination import decode_cursor, encode_cursor
from service.problems import problem_responses


@get(
    "/audit",
    tags=("audit",),
    responses=problem_responses(400, 401, 403),
    description="Every state change, newest first. Filter by subject, by actor (API key or organisation) and by time.",
)
async def audit_trail(
    conn: Conn,
    subject_id: query(UUID, "The changed resource") = None,
    key_id: query(UUID, "The acting API key") = None,
    organisation_id: query(UUID, "The acting key's organisation") = None,
    since: query(Timestamp, "At or after this time") = None,
    until: query(Timestamp, "Before this time") = None,
    cursor: CursorParam = None,
    limit: LimitParam = 100,
) -> Page[AuditEvent]:
    (before,) = decode_cursor(cursor, tuple[int]) if cursor else (None,)
    rows = await conn.fetch(
        """
        SELECT id, at, key_id, role, organisation_id, action, subject_type, subject_id, changes
        FROM audit_events
        WHERE ($1::uuid IS NULL OR subject_id = $1)
          AND ($2::uuid IS NULL OR key_id = $2)
          AND ($3::uuid IS NULL OR organisation_id = $3)
          AND ($4::timestamptz IS NULL OR at >= $4)
          AND ($5::timestamptz IS NULL OR at < $5)
          AND ($6::bigint IS NULL OR id < $6)
        ORDER BY id DESC
        LIMIT $7
        """,
        subject_id,
        key_id,
        organisation_id,
        aware(since, "since"),
        aware(until, "until"),
        before,
        limit + 1,
    )
    items = [_event(r) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


def _event(row: Record) -> AuditEvent:
    event = dict(row)
    event["changes"] = msgspec.json.decode(event["changes"])
    return msgspec.convert(event, AuditEvent)
