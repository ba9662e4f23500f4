"""The webhook worker: delivers each subscription's events in order, at least once, signed.

Every API process runs `webhook_worker`'s loops; each loop leases one due subscription at
a time (`FOR UPDATE SKIP LOCKED`, then a lease time), so a subscription is delivered by
one loop only and strictly in position order. An event leaves the queue when the receiver
answers 2xx, or after `webhook_max_attempts` failures, when it becomes a dead letter (the
replay route delivers it again). Failures wait an exponential backoff with jitter. A crash
between the receiver's 2xx and the bookkeeping delivers the event again with the same
`webhook-id`: receivers dedupe on it (Standard Webhooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import httpx
import msgspec
import structlog
from asyncpg import Record
from litestar import Litestar
from standardwebhooks.webhooks import Webhook as Signer

from contracts.events import Event
from service.events.queries import PENDING, events_after
from service.settings import Settings

log = structlog.get_logger("abri.webhooks")
BATCH = 50
USER_AGENT = "abri-webhooks"


def signed_headers(secret: str, event_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one delivery."""
    now = now or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(event_id, now, body.decode()),
    }


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """Wait before attempt `attempts + 1`: doubling from the base, capped, with jitter in [½, 1]."""
    ceiling = min(settings.webhook_backoff_cap_s, settings.webhook_backoff_s * 2 ** (attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)


async def _lease(conn: asyncpg.Connection, lease_s: float) -> Record | None:
    """Take one subscription that has events due, for `lease_s` seconds."""
    return await conn.fetchrow(
        f"""
        UPDATE webhook_subscriptions SET leased_until = now() + make_interval(secs => $1)
        WHERE id = (
            SELECT s.id FROM webhook_subscriptions s
            WHERE s.next_attempt_at <= now() AND (s.leased_until IS NULL OR s.leased_until < now())
              AND EXISTS (SELECT FROM events e WHERE {PENDING})
            ORDER BY s.next_attempt_at
            LIMIT 1
            FOR UPDATE SKIP LOCKED)
        RETURNING id, url, secret, role, organisation_id, event_types, delivered_position, attempts
        """,
        lease_s,
    )


async def _post(http: httpx.AsyncClient, subscription: Record, event: Event) -> int | None:
    """The receiver's status, or None when it did not answer."""
    body = msgspec.json.encode(event)
    try:
        response = await http.post(
            subscription["url"], content=body, headers=signed_headers(subscription["secret"], str(event.id), body)
        )
    except httpx.HTTPError as exc:
        log.info("webhook_unreachable", subscription_id=str(subscription["id"]), error_type=type(exc).__name__)
        return None
    return response.status_code


def lease_seconds(settings: Settings) -> float:
    """Long enough for one delivery; renewed after each, so a crashed worker's lease soon runs out."""
    return 2 * settings.webhook_timeout_s + 5


async def _delivered(
    conn: asyncpg.Connection, subscription: Record, from_position: int, event: Event, settings: Settings
) -> bool:
    """Move the cursor past `event` and renew the lease; False if a replay or a deletion moved it meanwhile."""
    moved = await conn.fetchval(
        """
        UPDATE webhook_subscriptions
        SET delivered_position = $3, attempts = 0, last_delivered_at = now(),
            leased_until = now() + make_interval(secs => $4)
        WHERE id = $1 AND delivered_position = $2
        RETURNING true
        """,
        subscription["id"],
        from_position,
        event.position,
        lease_seconds(settings),
    )
    return bool(moved)


async def _failed(
    conn: asyncpg.Connection, subscription: Record, from_position: int, event: Event, status: int | None, s: Settings
) -> None:
    """Count a failure: wait a backoff, or dead-letter the event after the last attempt."""
    async with conn.transaction():
        attempts = await conn.fetchval(
            """
            UPDATE webhook_subscriptions SET attempts = attempts + 1, last_status = $3
            WHERE id = $1 AND delivered_position = $2
            RETURNING attempts
            """,
            subscription["id"],
            from_position,
            status,
        )
        if attempts is None:
            return
        if attempts < s.webhook_max_attempts:
            await conn.execute(
                "UPDATE webhook_subscriptions SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
                subscription["id"],
                backoff_seconds(attempts, s),
            )
            return
        await conn.execute(
            """
            INSERT INTO webhook_dead_letters (subscription_id, event_id, attempts, last_status)
            VALUES ($1, $2, $3, $4)
            """,
            subscription["id"],
            event.id,
            attempts,
            status,
        )
        await conn.execute(
            "UPDATE webhook_subscriptions SET delivered_position = $2, attempts = 0 WHERE id = $1",
            subscription["id"],
            event.position,
        )
        log.warning("webhook_dead_letter", subscription_id=str(subscription["id"]), event_type=event.type.value)


async def deliver_once(pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings) -> int:
    """Lease one due subscription and deliver its events in order; return how many went through."""
    async with pool.acquire() as conn:
        subscription = await _lease(conn, lease_seconds(settings))
        if subscription is None:
            return 0
        events = await events_after(
            conn,
            subscription["role"],
            subscription["organisation_id"],
            subscription["delivered_position"],
            subscription["event_types"],
            BATCH,
        )
    position, delivered = subscription["delivered_position"], 0
    try:
        for event in events:
            status = await _post(http, subscription, event)
            async with pool.acquire() as conn:
                if status is not None and 200 <= status < 300:
                    if not await _delivered(conn, subscription, position, event, settings):
                        break
                    position, delivered = event.position, delivered + 1
                    continue
                await _failed(conn, subscription, position, event, status, settings)
                break
    finally:
        async with pool.acquire() as conn:
            await conn.execute("UPDATE webhook_subscriptions SET leased_until = NULL WHERE id = $1", subscription["id"])
    return delivered


async def deliver_forever(app: Litestar, http: httpx.AsyncClient) -> None:
    settings: Settings = app.state.settings
    while True:
        try:
            if await deliver_once(app.state.pool, http, settings):
                continue
        except Exception as exc:  # keep delivering: the lease runs out and the next round retries
            log.warning("webhook_round_failed", error_type=type(exc).__name__)
        await asyncio.sleep(settings.webhook_poll_s)


@asynccontextmanager
async def webhook_worker(app: Litestar) -> AsyncIterator[None]:
    """Lifespan: `webhook_concurrency` delivery loops while the app serves (after the pool is open)."""
    settings: Settings = app.state.settings
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_s, follow_redirects=False) as http:
        tasks = [asyncio.create_task(deliver_forever(app, http)) for _ in range(settings.webhook_concurrency)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
