"""Aggregates for managers: occupancy now, at any past moment, and over time.

No report ever names or counts out an individual: every figure is a count of places
or people over a group, and for the manager role small counts of people are suppressed
(see `People`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from contracts.common import FacilityKind
from contracts.placements import ExitReason

Suppressed = Annotated[str, Meta(pattern="^<[0-9]{1,3}$")]
People = Annotated[
    int | Suppressed,
    Meta(
        description=(
            'A count of people; for the manager role, counts from 1 to 4 read "<5" (small-count '
            "suppression; the threshold is ABRI_SMALL_COUNT_THRESHOLD, default 5)"
        )
    ),
]
Places = Annotated[int, Meta(ge=0)]
Rate = Annotated[float, Meta(ge=0, description="occupied / (in service − out of service), 4 decimals")]


class GroupBy(StrEnum):
    KIND = "kind"
    OPERATOR = "operator"
    ARRONDISSEMENT = "arrondissement"
    COMMUNE = "commune"
    DEPARTMENT = "department"
    REGION = "region"
    FACILITY = "facility"


class Step(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Occupancy(msgspec.Struct, kw_only=True):
    """The places of one group at one moment. Each place in service is in exactly one
    state: occupied (a stay covers the moment), else held (a hold does), else out of
    service (an out-of-service period does), else free."""

    group: str | None
    """The group's key: kind code, operator (organisation) id, arrondissement, commune,
    department code, region or facility id; null for the total."""
    label: str | None
    """What to show for the group: kind label, organisation or facility name."""
    in_service: Places
    occupied: People
    held: People
    out_of_service: Places
    free: Places | None
    """Null where it would give away a suppressed count (in service less the rest)."""
    occupancy_rate: Rate | None
    """Null when no place is available, or where it would give away a suppressed count."""


class OccupancyReport(msgspec.Struct, kw_only=True):
    at: datetime
    group_by: GroupBy
    groups: list[Occupancy]
    total: Occupancy


class OccupancyPoint(msgspec.Struct, kw_only=True):
    at: datetime
    groups: list[Occupancy]
    total: Occupancy


class OccupancySeries(msgspec.Struct, kw_only=True):
    """One point per step, at local midnight (ABRI_TIMEZONE) at the start of each day,
    week (Monday) or month from `from` to `to`, both included."""

    step: Step
    group_by: GroupBy
    points: list[OccupancyPoint]


Days = Annotated[
    float,
    Meta(ge=0, description="Days, 2 decimals; for managers null over fewer people than the suppression threshold"),
]


class Flow(msgspec.Struct, kw_only=True):
    """What happened to placements in one period, in one kind of capacity (null: all kinds)."""

    period_start: datetime
    kind: FacilityKind | None
    entries: People
    """Stays begun, transfers excepted."""
    exits: People
    exits_by_reason: dict[ExitReason, People]
    transfers: People
    no_shows: People
    stay_days_median: Days | None
    """Over the stays that ended in the period by an exit or a transfer."""
    stay_days_p90: Days | None
    turnover: Annotated[float, Meta(ge=0)] | None
    """Stays ended in the period (exits, transfers, no-shows) per place in service at its start."""


class FlowsReport(msgspec.Struct, kw_only=True):
    step: Step
    periods: list[Flow]


class AgeBand(msgspec.Struct, kw_only=True):
    from_days: int
    to_days: int | None
    people: People


class TimeToPlacement(msgspec.Struct, kw_only=True):
    """From referral to first stay, for the referrals first placed in the window."""

    source: str
    """A referral source, or "all"."""
    gender: str
    """woman, man, other, unknown (erased after the retention period), or "all"."""
    placed: People
    median_days: Days | None
    p90_days: Days | None


class WaitingReport(msgspec.Struct, kw_only=True):
    at: datetime
    waiting: People
    """Referrals open at `at` with no stay begun and no hold then."""
    by_age: list[AgeBand]
    placed_from: datetime
    placed_to: datetime
    to_placement: list[TimeToPlacement]


class DistanceBand(msgspec.Struct, kw_only=True):
    from_km: float
    to_km: float | None
    placements: People


class KindDistance(msgspec.Struct, kw_only=True):
    kind: FacilityKind
    placements: People
    no_active_site: People
    """Placements with no consumption site active at the time: no distance to measure."""
    bands: list[DistanceBand]
    threshold_km: float | None
    """The kind's minimum distance (the solver's default); null for kinds exempt from it."""
    below_threshold: People | None
    share_below: Annotated[float, Meta(ge=0, le=1)] | None


class DistanceReport(msgspec.Struct, kw_only=True):
    """Each placement's distance from its facility to the nearest consumption site active
    at the time: for `current`, at `to`; for `begun`, when the stay began."""

    started_from: datetime
    to: datetime
    current: list[KindDistance]
    begun: list[KindDistance]
