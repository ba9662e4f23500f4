"""`GET /v1/availability`: free beds at a moment, farthest from the consumption scenes first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from asyncpg import Record
from litestar import Request, get
from msgspec import Meta

from contracts.availability import (
    AvailabilityPage,
    AvailableBed,
    FacilitySummary,
    PersonGender,
)
from contracts.common import (
    Arrondissement,
    Department,
    FacilityKind,
    Km,
    Name,
    Role,
    Timestamp,
    whole,
)
from contracts.inventory import MedicalLevel
from service.auth import Actor
from service.availability.queries import After, AvailabilityFilter, Bbox, free_beds
from service.db.pool import Conn
from service.http import CursorParam, LimitParam, aware, query
from service.pagination import decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses

_COORD = r"-?\d{1,3}(\.\d{1,15})?"
BboxText = Annotated[str, Meta(pattern=whole(f"{_COORD},{_COORD},{_COORD},{_COORD}"))]


@get(
    "/availability",
    tags=["availability"],
    responses=problem_responses(400, 401, 403),
    description=(
        "Beds free at `at` (default now): in service, facility open, no hold or stay. Each carries "
        "its facility and its great-circle distance to the nearest consumption site active at `at`. "
        "Sorted by that distance, farthest first (beds with no active site at all come first). "
        "Partners see their own organisation's beds only. Later pages keep the first page's `at`."
    ),
)
async def availability(
    conn: Conn,
    request: Request,
    caller: Actor,
    at: query(Timestamp, "Moment to search, ISO 8601 with offset; default now") = None,
    kind: query(FacilityKind) = None,
    gender: query(PersonGender, "The gender of the person to place") = None,
    accessible: query(bool, "true: wheelchair-accessible beds only") = None,
    couple_room: query(bool, "true: couple rooms only") = None,
    dogs: query(bool, "true: beds where dogs are allowed only") = None,
    medical_level: query(MedicalLevel, "At least this medical support level, 0 to 3") = None,
    min_distance_km: query(Km, "At least this far (km) from every site active at `at`") = None,
    arrondissement: query(Arrondissement) = None,
    commune: query(Name) = None,
    department: query(Department) = None,
    region: query(Name) = None,
    bbox: query(BboxText, "min_lon,min_lat,max_lon,max_lat (WGS84)") = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> AvailabilityPage:
    after: After | None = None
    if cursor is not None:
        at, distance, facility_id, bed_id = decode_cursor(cursor, tuple[datetime, float | None, UUID, UUID])
        after = (float("inf") if distance is None else distance, facility_id, bed_id)
    at = aware(at, "at") or datetime.now(UTC)
    criteria = AvailabilityFilter(
        kind=kind,
        gender=gender,
        accessible=accessible,
        couple_room=couple_room,
        dogs=dogs,
        medical_level=medical_level,
        min_distance_km=min_distance_km,
        organisation_id=caller.organisation_id if caller.role is Role.PARTNER else None,
        arrondissement=arrondissement,
        commune=commune,
        department=department,
        region=region,
        bbox=_bbox(bbox),
    )
    rows = await free_beds(conn, at, request.app.state.settings.timezone, criteria, after, limit + 1)
    items = [_available_bed(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(at, last["distance_km"], last["facility_id"], last["id"])
    return AvailabilityPage(at=at, items=items, next_cursor=next_cursor)


def _bbox(raw: str | None) -> Bbox | None:
    if raw is None:
        return None
    box = Bbox(*map(float, raw.split(",")))
    if not (-180 <= box.min_lon < box.max_lon <= 180 and -90 <= box.min_lat < box.max_lat <= 90):
        raise ProblemError(
            400, "Invalid bbox", detail="bbox is min_lon,min_lat,max_lon,max_lat in degrees, with min < max."
        )
    return box


def _available_bed(row: Record) -> AvailableBed:
    bed = dict(row)
    facility = {field: bed["facility_id" if field == "id" else field] for field in FacilitySummary.__struct_fields__}
    distance = bed["distance_km"]
    bed |= {"facility": facility, "distance_km": None if distance is None else round(distance, 3)}
    return msgspec.convert(bed, AvailableBed)
