"""Proposals: the solver's assignment of waiting referrals to free beds, held for review.

Each line of a proposal holds its bed until a placement officer accepts it (the hold
becomes a stay) or declines it (the bed is free again, and the pair is not proposed
again unless asked). The parameters mirror the solver's, with the same bounds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import FacilityKind, Timestamp
from contracts.placements import HoldMinutes

MinDistance = Annotated[float, Meta(ge=0, le=50, description="km from the nearest active consumption site")]
Points = Annotated[int, Meta(ge=0, le=1000)]
MAX_REFERRALS = 5000


class MinDistanceKm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Hard minimum great-circle distance from the nearest active consumption site, per facility kind.

    Rest spaces sit near the scenes by design; out-of-region places are far by nature.
    """

    assore_hotel: MinDistance = 1.0
    specialised_unit: MinDistance = 1.0
    rest_space: MinDistance = 0.0
    out_of_region: MinDistance = 0.0


class ProposalParameters(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The rules and weights a proposal may tune, each within bounds (defaults are the solver's)."""

    min_distance_km: MinDistanceKm = msgspec.field(default_factory=MinDistanceKm)
    distance_points: Points = 600
    """Reward for a bed at `distance_saturation_km` or more from the nearest active site."""
    distance_saturation_km: Annotated[float, Meta(ge=0.5, le=1000)] = 8.0
    care_points: Points = 300
    """Reward for a bed at the person's care anchor, falling to 0 at `care_radius_km`."""
    care_radius_km: Annotated[float, Meta(ge=1, le=1000)] = 15.0
    points_per_euro: Annotated[int, Meta(ge=0, le=10)] = 1
    """Penalty per euro of nightly cost."""
    time_limit_s: Annotated[float, Meta(ge=0.1, le=30)] = 5.0
    """For the couples and keep-apart model; the core assignment is exact and needs no limit."""


class ProposalCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    referral_ids: (
        Annotated[
            list[UUID],
            Meta(
                min_length=1,
                max_length=MAX_REFERRALS,
                description=(
                    "Waiting referrals to place, each once; null for every waiting referral. A listed "
                    "referral's waiting couple partner is added: couples are placed together or not at all."
                ),
            ),
        ]
        | None
    ) = None
    parameters: ProposalParameters = msgspec.field(default_factory=ProposalParameters)
    hold_minutes: HoldMinutes = 240
    include_declined: bool = False
    """Propose again (referral, facility) pairs declined before."""

    def __post_init__(self) -> None:
        if self.referral_ids is not None and len(set(self.referral_ids)) != len(self.referral_ids):
            raise ValueError("referral_ids: each referral may be listed once")


class LineStatus(StrEnum):
    PROPOSED = "proposed"
    """The bed is held; waiting for a decision."""
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DROPPED = "dropped"
    """Never held: between solving and saving, the bed was taken, the referral stopped waiting,
    its couple partner's line was dropped, or someone to keep apart from got a bed in the facility."""
    EXPIRED = "expired"
    """The hold ran out before a decision."""


class DeclineReason(StrEnum):
    DECLINED_BY_PERSON = "declined_by_person"
    DECLINED_BY_FACILITY = "declined_by_facility"
    UNSUITABLE = "unsuitable"
    OTHER = "other"


class LineReason(StrEnum):
    """Why a line was dropped or declined."""

    BED_TAKEN = "bed_taken"
    REFERRAL_NOT_WAITING = "referral_not_waiting"
    PARTNER_DROPPED = "partner_dropped"
    KEEP_APART = "keep_apart"
    DECLINED_BY_PERSON = "declined_by_person"
    DECLINED_BY_FACILITY = "declined_by_facility"
    UNSUITABLE = "unsuitable"
    OTHER = "other"
    # A hold cancelled through /v1/holds or by a withdrawal, not by a decline.
    BED_UNAVAILABLE = "bed_unavailable"
    REFERRAL_WITHDRAWN = "referral_withdrawn"
    SUPERSEDED = "superseded"


class Decline(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: DeclineReason


class LineFacility(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    kind: FacilityKind


class LineScores(msgspec.Struct, kw_only=True):
    """The line's terms; its value is `priority × placement_weight + distance + care − cost`."""

    priority: int
    distance: int
    care: int
    cost: int


class ProposalLine(msgspec.Struct, kw_only=True):
    id: UUID
    referral_id: UUID
    facility: LineFacility
    bed_id: UUID | None
    hold_id: UUID | None
    hold_expires_at: Timestamp | None
    """When the hold stops blocking the bed: its expiry, or when it was accepted or declined."""
    stay_id: UUID | None
    distance_km: float | None
    """Great-circle km to the nearest consumption site active at the proposal's `at`; null when none is."""
    nearest_site: str | None
    scores: LineScores
    explanation: str
    status: LineStatus
    reason: LineReason | None
    decided_at: Timestamp | None
    version: int


class HardRule(StrEnum):
    """The solver's hard rules, in the order explanations apply them."""

    KIND = "kind"
    CONSENT = "out_of_region_consent"
    MIN_DISTANCE = "min_distance"
    EXCLUDED = "excluded_facility"
    PARTNER_FACILITY = "partner_facility"
    GENDER = "gender"
    ACCESSIBLE = "accessible"
    DOGS = "dogs"
    COUPLE_ROOM = "couple_room"
    MEDICAL = "medical_level"


class BedsRemoved(msgspec.Struct, kw_only=True):
    rule: HardRule
    beds: int


class UnplacedReason(StrEnum):
    NO_ELIGIBLE_BED = "no_eligible_bed"
    OUTRANKED = "outranked"
    COUPLE = "couple_not_placed_together"
    KEEP_APART = "keep_apart"


class UnplacedReferral(msgspec.Struct, kw_only=True):
    referral_id: UUID
    reason: UnplacedReason
    explanation: str
    free_beds: int
    beds_removed: list[BedsRemoved]
    """How many of the free beds each rule removed, applied in order."""
    eligible_beds: int


class SolverStatistics(msgspec.Struct, kw_only=True):
    """The solver's account of its plan (see docs/architecture.md, Proposals)."""

    method: str
    objective: int
    bound: int
    gap: float
    placement_weight: int
    people: int
    placed: int
    priority_placed: int
    people_classes: int
    bed_classes: int
    nodes: int
    arcs: int
    side_people: int
    cp_sat_status: str | None
    seconds: float


class ProposalCounts(msgspec.Struct, kw_only=True):
    """People in the problem, lines by status, and people left unplaced."""

    people: int
    proposed: int
    accepted: int
    declined: int
    dropped: int
    expired: int
    unplaced: int


class Proposal(msgspec.Struct, kw_only=True):
    id: UUID
    created_at: Timestamp
    at: Timestamp
    """The moment the problem describes: waiting referrals, free beds and active sites then."""
    holds_expire_at: Timestamp
    hold_minutes: int
    include_declined: bool
    key_id: UUID
    """The API key that asked for it."""
    organisation_id: UUID
    parameters: ProposalParameters
    statistics: SolverStatistics
    counts: ProposalCounts
    lines: list[ProposalLine]
    unplaced: list[UnplacedReferral]


class ProposalSummary(msgspec.Struct, kw_only=True):
    id: UUID
    created_at: Timestamp
    at: Timestamp
    holds_expire_at: Timestamp
    key_id: UUID
    organisation_id: UUID
    counts: ProposalCounts
    method: str
    objective: int
    gap: float
    seconds: float
