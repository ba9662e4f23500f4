"""Holds (a bed kept for a referral until an expiry) and stays (a person in a bed)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import Timestamp

HoldMinutes = Annotated[int, Meta(ge=5, le=2880, description="How long the bed is held, 5 minutes to 48 hours")]


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class CancelReason(StrEnum):
    DECLINED_BY_PERSON = "declined_by_person"
    DECLINED_BY_FACILITY = "declined_by_facility"
    BED_UNAVAILABLE = "bed_unavailable"
    REFERRAL_WITHDRAWN = "referral_withdrawn"
    SUPERSEDED = "superseded"
    OTHER = "other"


class ExitReason(StrEnum):
    THERAPEUTIC_COMMUNITY = "therapeutic_community"
    CURE_OR_POST_CURE = "cure_or_post_cure"
    INDEPENDENT_HOUSING = "independent_housing"
    HOSPITAL = "hospital"
    PRISON = "prison"
    EXCLUSION = "exclusion"
    LEFT_ON_OWN_ACCORD = "left_on_own_accord"
    DEATH = "death"
    OTHER = "other"


class StayEnd(StrEnum):
    NO_SHOW = "no_show"
    TRANSFER = "transfer"
    EXIT = "exit"


class HoldCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    referral_id: UUID
    bed_id: UUID
    minutes: HoldMinutes = 240


class Hold(msgspec.Struct, kw_only=True):
    id: UUID
    referral_id: UUID
    bed_id: UUID
    status: HoldStatus
    held_from: Timestamp
    expires_at: Timestamp
    """When the hold stops blocking the bed: its expiry, or the moment it was confirmed or cancelled."""
    cancel_reason: CancelReason | None
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class HoldCancel(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: CancelReason


class Placement(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Place a referral in a bed at once (a hold confirmed in the same transaction)."""

    referral_id: UUID
    bed_id: UUID


class Stay(msgspec.Struct, kw_only=True):
    id: UUID
    referral_id: UUID
    bed_id: UUID
    hold_id: UUID | None
    transferred_from: UUID | None
    started_at: Timestamp
    ended_at: Timestamp | None
    checked_in_at: Timestamp | None
    ended_as: StayEnd | None
    exit_reason: ExitReason | None
    length_of_stay_days: float
    """Derived from the period: to its end, or to now while the stay goes on."""
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class Transfer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    bed_id: UUID


class Exit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: ExitReason
    at: Timestamp | None = None
    """When the person left; default now. Not before the stay began, not in the future."""
