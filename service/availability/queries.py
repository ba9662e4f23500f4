"""The availability query.

A bed is free at `at` when it is in service (no out-of-service period covers `at`),
its facility is open on that local calendar day, and no hold or stay covers `at`.

Each facility's distance to the nearest site active at `at` is read, not computed: the
database keeps one per facility for every period in which the same sites are active
(migration 0010). An index gives a period's facilities farthest first, and PostgreSQL
walks them in that order, looks at each one's beds (a LATERAL subquery, fenced by
OFFSET 0, so that a filter matching few beds cannot tempt the planner into finding every
matching bed of every facility first: 94 → 26 ms for woman + dogs + accessible), and
stops as soon as the page is full. At France scale (4,906 open facilities, 200,000 beds)
a first page is ~3 ms, against 43 ms when every search computed and sorted every
facility's distance, and ~600 ms for sorting every free bed (bench/availability.py). The
nearest site's name is looked up for the returned rows only.

Each bed's stays, holds and out-of-service periods are checked in place
(`bed_free_probed`), stays first, by one btree probe each for the latest period to start
by `at` (migration 0011): a bed's periods never overlap, so no other can cover `at`.
That is a quarter of a GiST search's cost, and it matters most when the walk passes many
taken beds, as after a large proposal. In place, not as joins: those were at the mercy of the generic plan a prepared
statement gets after five runs, which guesses how many stays cover `at` from a default
selectivity and chose a nested loop over all of them for each bed, 7.5 ms instead of
2.3 ms on the demo (bench/load.py, docs/architecture.md). The LIMIT keeps the probe in
place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.availability import PersonGender
from contracts.common import FacilityKind


@dataclass(frozen=True)
class Bbox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


@dataclass(frozen=True)
class AvailabilityFilter:
    kind: FacilityKind | None = None
    gender: PersonGender | None = None
    accessible: bool | None = None
    couple_room: bool | None = None
    dogs: bool | None = None
    medical_level: int | None = None
    min_distance_km: float | None = None
    organisation_id: UUID | None = None
    arrondissement: int | None = None
    commune: str | None = None
    department: str | None = None
    region: str | None = None
    bbox: Bbox | None = None


# What makes a bed free, as SQL conditions on a facility `f` and a bed `b` at the moment
# $1 (timestamptz), with $2 the time zone of the facilities' calendar days. The HSDS
# export counts with the same conditions.
FACILITY_OPEN = """f.opened_on <= ($1::timestamptz AT TIME ZONE $2)::date
              AND (f.closed_on IS NULL OR f.closed_on > ($1::timestamptz AT TIME ZONE $2)::date)"""


def _covered(table: str, at: str, per_bed: bool) -> str:
    """SQL: a period of bed `b` in `table` covers the moment `at`."""
    if not per_bed:
        return f"EXISTS (SELECT FROM {table} x WHERE x.bed_id = b.id AND x.period @> {at})"
    # A bed's periods are half-open and never overlap: only the latest to start by `at` can cover it.
    latest = (
        f"SELECT x.period FROM {table} x WHERE x.bed_id = b.id AND lower(x.period) <= {at}"
        " ORDER BY lower(x.period) DESC LIMIT 1"
    )
    return f"EXISTS (SELECT FROM ({latest}) latest WHERE latest.period @> {at})"


def bed_in_service(at: str) -> str:
    """SQL: no out-of-service period of bed `b` covers the moment `at` (an SQL expression)."""
    return f"NOT {_covered('bed_unavailability', at, per_bed=False)}"


def bed_untaken(at: str) -> str:
    """SQL: no stay and no hold of bed `b` covers the moment `at`."""
    return f"NOT {_covered('stays', at, per_bed=False)} AND NOT {_covered('holds', at, per_bed=False)}"


def bed_free_probed(at: str) -> str:
    """SQL: bed `b` is untaken and in service at `at`, by an index probe per table, stays first.

    One clause, `(… OR … OR …) IS NOT TRUE`: PostgreSQL reorders ANDed conditions by
    estimated cost (and turns `NOT (a OR b)` into `NOT a AND NOT b`), which put the hold
    probe first, but evaluates an OR's arms in the order written and stops at the first
    true one. Most beds are occupied, so the stay probe alone settles most of them:
    2.9 → 2.4 ms for a hotel search on the demo's 5-year history.
    """
    tables = ("stays", "holds", "bed_unavailability")
    return "(" + " OR ".join(_covered(table, at, per_bed=True) for table in tables) + ") IS NOT TRUE"


BED_IN_SERVICE = bed_in_service("$1::timestamptz")
BED_UNTAKEN = bed_untaken("$1::timestamptz")
# Sort key of the last row of the previous page: (distance or +inf, facility id, bed id).
After = tuple[float, UUID, UUID]

_POLICIES = {PersonGender.WOMAN: ["any", "women"], PersonGender.MAN: ["any", "men"], PersonGender.OTHER: ["any"]}


@dataclass
class _Where:
    """Collects conditions and their positional parameters."""

    args: list[Any]
    conditions: list[str] = field(default_factory=list)

    def add(self, condition: str, *values: Any) -> None:
        placeholders = []
        for value in values:
            self.args.append(value)
            placeholders.append(f"${len(self.args)}")
        self.conditions.append(condition.format(*placeholders))

    def sql(self) -> str:
        return " AND ".join(self.conditions) or "true"


def _facility_conditions(where: _Where, f: AvailabilityFilter) -> None:
    if f.kind is not None:  # on the kept copy, whose index walks one kind farthest first
        where.add("nearest.kind = {}", f.kind.value)
    if f.organisation_id is not None:
        where.add("f.organisation_id = {}", f.organisation_id)
    for column in ("arrondissement", "commune", "department", "region"):
        if (value := getattr(f, column)) is not None:
            where.add(f"f.{column} = {{}}", value)
    if f.bbox is not None:
        b = f.bbox
        where.add("f.lon BETWEEN {} AND {} AND f.lat BETWEEN {} AND {}", b.min_lon, b.max_lon, b.min_lat, b.max_lat)
    if f.min_distance_km is not None:
        # No active site at all means no scene to keep away from: the facility qualifies.
        where.add("(nearest.km IS NULL OR nearest.km >= {})", f.min_distance_km)


def _bed_conditions(where: _Where, f: AvailabilityFilter, after: After | None) -> None:
    if f.gender is not None:
        where.add("b.gender_policy = ANY({}::text[])", _POLICIES[f.gender])
    for column, wanted in (("accessible", f.accessible), ("couple_room", f.couple_room), ("dogs_allowed", f.dogs)):
        if wanted:
            where.add(f"b.{column}")
    if f.medical_level is not None:
        where.add("b.medical_level >= {}", f.medical_level)
    if after is not None:
        where.add("(f.distance_sort, f.id, b.id) < ({}, {}, {})", *after)


async def free_beds(
    conn: asyncpg.Connection, at: datetime, timezone: str, f: AvailabilityFilter, after: After | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` free beds at `at` after the sort key `after`, farthest from the scenes first."""
    args: list[Any] = [at, timezone]
    facility_where, bed_where = _Where(args), _Where(args)
    _facility_conditions(facility_where, f)
    _bed_conditions(bed_where, f, after)
    args.append(limit)
    sql = f"""
        WITH open_facilities AS NOT MATERIALIZED (
            SELECT f.id, f.organisation_id, f.kind, f.name, f.commune, f.arrondissement,
                   f.department, f.region, f.lat, f.lon, nearest.nearest_site_id,
                   nearest.km AS distance_km, nearest.distance_sort
            FROM facility_scene_distances nearest
            JOIN facilities f ON f.id = nearest.facility_id
            WHERE nearest.period_id = (SELECT id FROM scene_periods WHERE period @> $1::timestamptz)
              AND {FACILITY_OPEN}
              AND {facility_where.sql()}
        )
        SELECT b.id, b.label, b.gender_policy, b.accessible, b.couple_room, b.dogs_allowed,
               b.medical_level, b.nightly_cost_cents,
               f.id AS facility_id, f.organisation_id, f.kind, f.name, f.commune, f.arrondissement,
               f.department, f.region, f.lat, f.lon, f.distance_km, f.distance_sort,
               (SELECT s.name FROM consumption_sites s WHERE s.id = f.nearest_site_id) AS nearest_site
        FROM open_facilities f
        CROSS JOIN LATERAL (
            SELECT b.* FROM beds b
            WHERE b.facility_id = f.id
              AND {bed_where.sql()}
              AND {bed_free_probed("$1::timestamptz")}
            OFFSET 0
        ) b
        ORDER BY f.distance_sort DESC, f.id DESC, b.id DESC
        LIMIT ${len(args)}
    """
    return await conn.fetch(sql, *args)
