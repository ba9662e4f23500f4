"""SQL of the event feed, the webhook subscriptions and their delivery state."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec
from asyncpg import Record

from contracts.events import DeadLetter, Event, EventType, Subject, Webhook
from service.auth import Caller

EVENT_COLUMNS = "e.id, e.position, e.type, e.at, e.subject_type, e.subject_id, e.data"


def event_of(row: Record) -> Event:
    return Event(
        id=row["id"],
        position=row["position"],
        type=EventType(row["type"]),
        timestamp=row["at"],
        subject=Subject(type=row["subject_type"], id=row["subject_id"]),
        data=msgspec.json.decode(row["data"]),
    )


async def events_after(
    conn: asyncpg.Connection, role: str, organisation_id: UUID, position: int, types: list[str] | None, limit: int
) -> list[Event]:
    """Events after `position` that a `role` of `organisation_id` may see (of `types` only), oldest first.

    The feed asks as its caller, the webhook worker as the key that made the subscription.
    """
    rows = await conn.fetch(
        f"""
        SELECT {EVENT_COLUMNS} FROM events e
        WHERE e.position > $1 AND event_visible($2, $3, e.type, e.organisation_ids)
          AND ($4::text[] IS NULL OR e.type = ANY($4))
        ORDER BY e.position
        LIMIT $5
        """,
        position,
        role,
        organisation_id,
        types,
        limit,
    )
    return [event_of(r) for r in rows]


# Events a subscription `s` has yet to deliver, as `e`.
PENDING = """e.position > s.delivered_position AND e.type = ANY(s.event_types)
    AND event_visible(s.role, s.organisation_id, e.type, e.organisation_ids)"""
_WEBHOOK = f"""
    SELECT s.id, s.organisation_id, s.role, s.url, s.event_types, s.delivered_position, s.attempts,
           s.next_attempt_at, s.last_status, s.last_delivered_at, s.created_at,
           (SELECT count(*) FROM events e WHERE {PENDING}) AS pending,
           (SELECT count(*) FROM webhook_dead_letters d WHERE d.subscription_id = s.id) AS dead_letters
    FROM webhook_subscriptions s
"""


def webhook_of(row: Record, as_type: type[Webhook] = Webhook, **extra: object) -> Webhook:
    """The subscription as the API shows it; `as_type` WebhookCreated with `secret=` on creation."""
    return msgspec.convert(dict(row) | extra, as_type)


async def create_webhook(
    conn: asyncpg.Connection, caller: Caller, url: str, types: list[EventType], secret: str
) -> UUID:
    """A new subscription starts after the latest event: it hears of what happens from now on."""
    return await conn.fetchval(
        """
        INSERT INTO webhook_subscriptions (organisation_id, role, url, event_types, secret, delivered_position)
        VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(position), 0) FROM events))
        RETURNING id
        """,
        caller.organisation_id,
        caller.role.value,
        url,
        [t.value for t in types],
        secret,
    )


async def get_webhook(conn: asyncpg.Connection, webhook_id: UUID, organisation_id: UUID | None) -> Record | None:
    """The subscription, if it is `organisation_id`'s (None: anyone's)."""
    return await conn.fetchrow(
        _WEBHOOK + " WHERE s.id = $1 AND ($2::uuid IS NULL OR s.organisation_id = $2)", webhook_id, organisation_id
    )


async def list_webhooks(
    conn: asyncpg.Connection, organisation_id: UUID | None, after: UUID | None, limit: int
) -> list[Record]:
    return await conn.fetch(
        _WEBHOOK
        + """ WHERE ($1::uuid IS NULL OR s.organisation_id = $1) AND ($2::uuid IS NULL OR s.id > $2)
              ORDER BY s.id LIMIT $3""",
        organisation_id,
        after,
        limit,
    )


async def delete_webhook(conn: asyncpg.Connection, webhook_id: UUID) -> None:
    await conn.execute("DELETE FROM webhook_subscriptions WHERE id = $1", webhook_id)


async def rewind(conn: asyncpg.Connection, webhook_id: UUID, position: int) -> None:
    """Deliver again from after `position`, now; the dead letters after it are delivered again too."""
    await conn.execute(
        """
        UPDATE webhook_subscriptions
        SET delivered_position = $2, attempts = 0, next_attempt_at = now(), leased_until = NULL
        WHERE id = $1
        """,
        webhook_id,
        position,
    )
    await conn.execute(
        """
        DELETE FROM webhook_dead_letters d USING events e
        WHERE d.subscription_id = $1 AND e.id = d.event_id AND e.position > $2
        """,
        webhook_id,
        position,
    )


async def dead_letters(conn: asyncpg.Connection, webhook_id: UUID, limit: int) -> list[DeadLetter]:
    rows = await conn.fetch(
        f"""
        SELECT {EVENT_COLUMNS}, d.attempts, d.last_status, d.dead_at
        FROM webhook_dead_letters d JOIN events e ON e.id = d.event_id
        WHERE d.subscription_id = $1
        ORDER BY e.position
        LIMIT $2
        """,
        webhook_id,
        limit,
    )
    return [
        DeadLetter(event=event_of(r), attempts=r["attempts"], last_status=r["last_status"], dead_at=r["dead_at"])
        for r in rows
    ]
