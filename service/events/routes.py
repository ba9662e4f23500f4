"""`GET /v1/events` (the feed) and `/v1/webhooks` (subscriptions, dead letters, replay).

A subscription belongs to the creating key's organisation and sees what that key's role
sees (`event_visible` in SQL); other organisations' subscriptions are 404 to everyone but
admins. The secret is returned once, at creation.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from urllib.parse import urlsplit
from uuid import UUID

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody

from contracts.common import Page, PageLimit, Role
from contracts.events import (
    DeadLetter,
    EventPage,
    EventType,
    Replay,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)
from service.audit.record import record
from service.auth import Actor, Caller
from service.db.pool import Conn
from service.events import queries
from service.http import CursorParam, IdempotencyKeyHeader, LimitParam, PathId, query
from service.pagination import decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses

LOOPBACK_NAMES = frozenset({"localhost"})


@get(
    "/events",
    tags=("events",),
    responses=problem_responses(400, 401, 403),
    description=(
        "Events after `after` (a `next_cursor`; none: from the first), oldest first, as the webhooks "
        "send them. Keep `next_cursor` and ask again: it stays put when nothing is new. Partners and "
        "referrers see their organisation's events, managers bed and capacity events only."
    ),
)
async def event_feed(
    conn: Conn,
    caller: Actor,
    after: CursorParam = None,
    types: query(list[EventType], "Only these event types") = None,
    limit: LimitParam = 100,
) -> EventPage:
    (position,) = decode_cursor(after, tuple[int]) if after else (0,)
    wanted = types and [t.value for t in types]
    items = await queries.events_after(conn, caller.role.value, caller.organisation_id, position, wanted, limit)
    return EventPage(items=items, next_cursor=encode_cursor(items[-1].position if items else position))


def _owner(caller: Caller) -> UUID | None:
    return None if caller.role is Role.ADMIN else caller.organisation_id


def _check_url(url: str) -> None:
    """https, or http to a loopback host: a subscription must not make the server talk in clear."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise ProblemError(422, "Webhook URL refused", detail=f"Not a URL: {exc}.") from exc
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise ProblemError(422, "Webhook URL refused", detail="Use https (http only to localhost, 127.0.0.1 or [::1]).")


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in LOOPBACK_NAMES


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookController(Controller):
    path = "/webhooks"
    tags = ("events",)

    @post(
        responses=problem_responses(400, 401, 403, 409, 415, 422),
        description="Subscribe a URL to event types; deliveries start with the next event. The secret is shown once.",
    )
    async def create_webhook(
        self, conn: Conn, caller: Actor, data: JSONBody[WebhookCreate], idempotency_key: IdempotencyKeyHeader = None
    ) -> Response[WebhookCreated]:
        _check_url(data.url)
        secret = new_secret()
        async with conn.transaction():
            webhook_id = await queries.create_webhook(conn, caller, data.url, sorted(set(data.event_types)), secret)
            await record(
                conn,
                caller,
                "created",
                "webhook",
                [webhook_id],
                [{"host": urlsplit(data.url).hostname, "event_types": [t.value for t in data.event_types]}],
            )
        created = queries.webhook_of(await queries.get_webhook(conn, webhook_id, None), WebhookCreated, secret=secret)
        return Response(created, status_code=201, headers={"Location": f"/v1/webhooks/{webhook_id}"})

    @get(responses=problem_responses(400, 401, 403))
    async def list_webhooks(
        self, conn: Conn, caller: Actor, cursor: CursorParam = None, limit: LimitParam = 100
    ) -> Page[Webhook]:
        (after,) = decode_cursor(cursor, tuple[UUID]) if cursor else (None,)
        rows = await queries.list_webhooks(conn, _owner(caller), after, limit + 1)
        items = [queries.webhook_of(r) for r in rows[:limit]]
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)

    @get("/{webhook_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_webhook(self, conn: Conn, caller: Actor, webhook_id: PathId) -> Webhook:
        return queries.webhook_of(await _found(conn, caller, webhook_id))

    @delete("/{webhook_id:uuid}", responses=problem_responses(401, 403, 404))
    async def delete_webhook(self, conn: Conn, caller: Actor, webhook_id: PathId) -> None:
        async with conn.transaction():
            await _found(conn, caller, webhook_id)
            await queries.delete_webhook(conn, webhook_id)
            await record(conn, caller, "deleted", "webhook", [webhook_id], [{}])

    @post(
        "/{webhook_id:uuid}/replay",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 415, 422),
        description=(
            "Deliver again, in order, every event after `position` (dead letters included), starting now. "
            "Only backwards: `position` at most the subscription's `delivered_position`."
        ),
    )
    async def replay(self, conn: Conn, caller: Actor, webhook_id: PathId, data: JSONBody[Replay]) -> Webhook:
        async with conn.transaction():
            current = await _found(conn, caller, webhook_id, for_update=True)
            if data.position > current["delivered_position"]:
                raise ProblemError(
                    422,
                    "Replay goes backwards only",
                    detail=f"position must be at most delivered_position ({current['delivered_position']}).",
                )
            await queries.rewind(conn, webhook_id, data.position)
            await record(conn, caller, "replayed", "webhook", [webhook_id], [{"position": data.position}])
        return queries.webhook_of(await queries.get_webhook(conn, webhook_id, None))

    @get("/{webhook_id:uuid}/dead-letters", responses=problem_responses(400, 401, 403, 404))
    async def list_dead_letters(
        self, conn: Conn, caller: Actor, webhook_id: PathId, limit: query(PageLimit, "At most this many") = 100
    ) -> list[DeadLetter]:
        await _found(conn, caller, webhook_id)
        return await queries.dead_letters(conn, webhook_id, limit)


async def _found(conn: Conn, caller: Caller, webhook_id: UUID, *, for_update: bool = False):
    if for_update:
        await conn.execute("SELECT FROM webhook_subscriptions WHERE id = $1 FOR UPDATE", webhook_id)
    row = await queries.get_webhook(conn, webhook_id, _owner(caller))
    if row is None:
        raise ProblemError(404, "Webhook not found")
    return row
