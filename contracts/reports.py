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
