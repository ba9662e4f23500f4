"""Availability search: free beds at a time, with their distance to the scenes."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

import msgspec

from contracts.common import Arrondissement, FacilityKind, GenderPolicy, Timestamp


class PersonGender(StrEnum):
    """The gender of the person to place: a bed fits if its policy is `any` or theirs."""

    WOMAN = "woman"
    MAN = "man"
    OTHER = "other"


class FacilitySummary(msgspec.Struct, kw_only=True):
    id: UUID
    organisation_id: UUID
    kind: FacilityKind
    name: str
    commune: str
    arrondissement: Arrondissement | None
    department: str
    region: str
    lat: float
    lon: float


class AvailableBed(msgspec.Struct, kw_only=True):
    id: UUID
    label: str
    gender_policy: GenderPolicy
    accessible: bool
    couple_room: bool
    dogs_allowed: bool
    medical_level: int
    nightly_cost_cents: int
    facility: FacilitySummary
    distance_km: float | None
    """Great-circle km to the nearest consumption site active at `at`; null when none is."""
    nearest_site: str | None


class AvailabilityPage(msgspec.Struct, kw_only=True):
    """Free beds, farthest from the scenes first. `at` is the moment searched; the
    cursor keeps it, so later pages describe the same moment."""

    at: Timestamp
    items: list[AvailableBed]
    next_cursor: str | None
