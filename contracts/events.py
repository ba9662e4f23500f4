"""Events for partners, sent as webhooks (Standard Webhooks) and served by `GET /v1/events`.

An event tells that something changed, with ids, codes and counts only: the details are
read from the API with the same key. `position` follows commit order; a receiver that has
processed position N has seen every earlier event it is entitled to.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import Cursor, Timestamp, whole


class EventType(StrEnum):
    """Managers receive `bed.*` and `capacity.*` only, never an event about a person (SQL `event_visible`)."""

    REFERRAL_CREATED = "referral.created"
    REFERRAL_STATUS_CHANGED = "referral.status_changed"
    HOLD_CREATED = "hold.created"
    HOLD_CONFIRMED = "hold.confirmed"
    HOLD_CANCELLED = "hold.cancelled"
    HOLD_EXPIRED = "hold.expired"
    PROPOSAL_CREATED = "proposal.created"
    STAY_STARTED = "stay.started"
    STAY_CHECKED_IN = "stay.checked_in"
    STAY_ENDED = "stay.ended"
    BED_STATUS_CHANGED = "bed.status_changed"
    CAPACITY_CHANGED = "capacity.changed"


class Subject(msgspec.Struct, kw_only=True):
    type: Annotated[str, Meta(description="referral, hold, stay, proposal, bed or facility")]
    id: UUID


class Event(msgspec.Struct, kw_only=True):
    id: Annotated[UUID, Meta(description="Also the `webhook-id` header: the same event keeps its id on redelivery")]
    position: Annotated[int, Meta(ge=1, description="Commit order across all events")]
    type: EventType
    timestamp: Timestamp
    subject: Subject
    data: dict[str, Any]


class EventPage(msgspec.Struct, kw_only=True):
    """Events after the cursor, oldest first; `next_cursor` continues from the last (or stays put)."""

    items: list[Event]
    next_cursor: Cursor


WebhookUrl = Annotated[
    str,
    Meta(
        max_length=2000,
        pattern=whole(r"https?://[!-~]+"),  # printable ASCII: hosts in punycode
        description="https, or http to a loopback address (localhost, 127.0.0.1, [::1]) for development",
    ),
]
EventTypes = Annotated[list[EventType], Meta(min_length=1, max_length=len(EventType))]


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: WebhookUrl
    event_types: EventTypes


class Webhook(msgspec.Struct, kw_only=True):
    id: UUID
    organisation_id: UUID
    role: Annotated[str, Meta(description="The creating key's role: the subscription sees what that role sees")]
    url: str
    event_types: list[EventType]
    delivered_position: Annotated[int, Meta(ge=0, description="Every event up to here is delivered or dead")]
    pending: Annotated[int, Meta(ge=0, description="Events waiting for delivery")]
    attempts: Annotated[int, Meta(ge=0, description="Failed attempts at the next event")]
    next_attempt_at: Timestamp
    last_status: Annotated[int | None, Meta(description="HTTP status of the last failure; null: no answer")]
    last_delivered_at: Timestamp | None
    dead_letters: Annotated[int, Meta(ge=0)]
    created_at: Timestamp


class WebhookCreated(Webhook, kw_only=True):
    secret: Annotated[str, Meta(description="whsec_…: shown once; verify each delivery's signature with it")]


class DeadLetter(msgspec.Struct, kw_only=True):
    event: Event
    attempts: int
    last_status: int | None
    dead_at: Timestamp


class Replay(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Deliver again every event after `position` (0: from the start), in order."""

    position: Annotated[int, Meta(ge=0)]
