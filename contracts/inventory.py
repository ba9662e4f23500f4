"""Organisations, facilities, beds, out-of-service periods and consumption sites."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import (
    Address,
    Arrondissement,
    Department,
    FacilityKind,
    GenderPolicy,
    Label,
    Latitude,
    Longitude,
    Name,
    Postcode,
    Timestamp,
)
from contracts.derive import patch_of, stored

MedicalLevel = Annotated[
    int,
    Meta(ge=0, le=3, description="0 none, 1 nursing visits, 2 daily nursing, 3 on-site medical team"),
]
NightlyCost = Annotated[int, Meta(ge=0, le=100_000, description="Euro cents per night")]
Intensity = Annotated[int, Meta(ge=1, le=5, description="1 occasional use to 5 major open scene")]
RadiusM = Annotated[int, Meta(ge=0, le=5000)]


def _ordered(start: object, end: object | None, what: str) -> None:
    if end is not None and end <= start:  # type: ignore[operator]
        raise ValueError(f"{what}: the end must come after the start")


# Organisations -------------------------------------------------------------------


class OrganisationCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


OrganisationUpdate = patch_of(OrganisationCreate, "OrganisationUpdate")


Organisation = stored(OrganisationCreate, "Organisation")


# Facilities ----------------------------------------------------------------------


class FacilityCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    organisation_id: UUID
    kind: FacilityKind
    name: Name
    address: Address
    postcode: Postcode | None = None
    commune: Name
    arrondissement: Arrondissement | None = None
    department: Department
    region: Name
    lat: Latitude
    lon: Longitude
    opened_on: date
    closed_on: date | None = None

    def __post_init__(self) -> None:
        _ordered(self.opened_on, self.closed_on, "opened_on/closed_on")


FacilityUpdate = patch_of(FacilityCreate, "FacilityUpdate", exclude=("organisation_id",))


Facility = stored(FacilityCreate, "Facility")


# Beds ----------------------------------------------------------------------------


class BedSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    label: Label
    gender_policy: GenderPolicy = GenderPolicy.ANY
    accessible: bool = False
    couple_room: bool = False
    dogs_allowed: bool = False
    medical_level: MedicalLevel = 0
    nightly_cost_cents: NightlyCost = 0


class BedCreate(BedSpec, kw_only=True, forbid_unknown_fields=True):
    facility_id: UUID


class BedsBulkCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Up to 2,000 beds of one facility, created together or not at all."""

    facility_id: UUID
    beds: Annotated[list[BedSpec], Meta(min_length=1, max_length=2000)]


BedUpdate = patch_of(BedSpec, "BedUpdate")


Bed = stored(BedCreate, "Bed")


class BedsCreated(msgspec.Struct, kw_only=True):
    items: list[Bed]


# Out-of-service periods ----------------------------------------------------------


class OutOfServiceReason(StrEnum):
    MAINTENANCE = "maintenance"
    DAMAGE = "damage"
    CLEANING = "cleaning"
    PEST_CONTROL = "pest_control"
    SAFETY = "safety"
    STAFFING = "staffing"
    OTHER = "other"


class UnavailabilityCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The bed is out of service from `starts_at` until `ends_at` (open-ended when null)."""

    reason: OutOfServiceReason
    starts_at: Timestamp
    ends_at: Timestamp | None = None

    def __post_init__(self) -> None:
        _ordered(self.starts_at, self.ends_at, "starts_at/ends_at")


UnavailabilityUpdate = patch_of(UnavailabilityCreate, "UnavailabilityUpdate")


Unavailability = stored(UnavailabilityCreate, "Unavailability", ("bed_id", UUID))


# Consumption sites ---------------------------------------------------------------


class SiteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A place where crack is sold and used, active from `active_from` until `active_until`."""

    name: Name
    lat: Latitude
    lon: Longitude
    radius_m: RadiusM = 200
    intensity: Intensity
    active_from: Timestamp
    active_until: Timestamp | None = None

    def __post_init__(self) -> None:
        _ordered(self.active_from, self.active_until, "active_from/active_until")


SiteUpdate = patch_of(SiteCreate, "SiteUpdate")


Site = stored(SiteCreate, "Site")
