"""Referrals: a person waiting for a bed, known only by a pseudonymous reference."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.availability import PersonGender
from contracts.common import FacilityKind, Latitude, Longitude, Timestamp, whole
from contracts.derive import patch_of
from contracts.inventory import MedicalLevel

Reference = Annotated[
    str,
    Meta(
        min_length=4,
        max_length=128,
        pattern=whole("[!-~]+"),
        description=(
            "The referrer's own opaque identifier for the person (printable ASCII, no spaces; never a name). "
            "abri stores only a keyed hash of it and never returns it."
        ),
    ),
]
Vulnerability = Annotated[int, Meta(ge=1, le=5, description="1 lowest to 5 highest, as assessed by the referrer")]


class ReferralSource(StrEnum):
    OUTREACH_TEAM = "outreach_team"
    HOSPITAL = "hospital"
    COURT_ORDERED_TREATMENT = "court_ordered_treatment"
    SELF_REFERRAL = "self_referral"
    OTHER = "other"


class ReferralStatus(StrEnum):
    """waiting → held → placed → exited (or waiting → placed at once); withdrawn from waiting or held."""

    WAITING = "waiting"
    HELD = "held"
    PLACED = "placed"
    EXITED = "exited"
    WITHDRAWN = "withdrawn"


class Needs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The least placement needs to know."""

    gender: PersonGender
    accessible: bool = False
    dogs: bool = False
    couple_partner_id: UUID | None = None
    medical_level: MedicalLevel = 0


class CareAnchor(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Where the person's follow-up happens, coarsely: stored rounded to 0.01° (about 1 km)."""

    lat: Latitude
    lon: Longitude


class ReferralCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reference: Reference
    source: ReferralSource
    needs: Needs
    acceptable_kinds: Annotated[list[FacilityKind], Meta(min_length=1, max_length=4)]
    consents_out_of_region: bool = False
    excluded_facility_ids: Annotated[list[UUID], Meta(max_length=200)] = []
    keep_apart_ids: Annotated[
        list[UUID], Meta(max_length=20, description="Referrals not to share a facility with")
    ] = []
    care_anchor: CareAnchor | None = None
    vulnerability: Vulnerability
    court_ordered: bool = False
    first_met_on: date | None = None


ReferralUpdate = patch_of(ReferralCreate, "ReferralUpdate", exclude=("reference",))


class Referral(msgspec.Struct, kw_only=True):
    """A referral as the API returns it: never the reference itself. Needs are null once purged."""

    id: UUID
    organisation_id: UUID
    status: ReferralStatus
    source: ReferralSource
    needs: Needs | None
    acceptable_kinds: list[FacilityKind] | None
    consents_out_of_region: bool | None
    excluded_facility_ids: list[UUID] | None
    keep_apart_ids: list[UUID] | None
    care_anchor: CareAnchor | None
    vulnerability: Vulnerability | None
    court_ordered: bool | None
    first_met_on: date | None
    version: int
    created_at: Timestamp
    updated_at: Timestamp


class WithdrawReason(StrEnum):
    PLACED_ELSEWHERE = "placed_elsewhere"
    DECLINED = "declined"
    LOST_CONTACT = "lost_contact"
    HOSPITALISED = "hospitalised"
    INCARCERATED = "incarcerated"
    DECEASED = "deceased"
    OTHER = "other"


class Withdrawal(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: WithdrawReason
