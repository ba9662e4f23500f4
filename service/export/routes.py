"""`GET /v1/export/hsds`: facilities and their live bed counts as Open Referral HSDS 3.1.

Each facility is an HSDS service of its operator (the organization), at one physical
location, with one capacity in beds. The service and organization ids are the facility's
and the organisation's; the location, address, service-at-location and capacity ids are
UUIDv5s of the facility id, so every id is the same from one export to the next.
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import ceil
from typing import Annotated
from uuid import NAMESPACE_URL, UUID, uuid5

from asyncpg import Record
from litestar import Request, get
from msgspec import Meta

from contracts.common import Role
from contracts.hsds import (
    HsdsAddress,
    HsdsLocation,
    HsdsOrganization,
    HsdsService,
    HsdsServiceAtLocation,
    HsdsServiceCapacity,
    HsdsServicePage,
    HsdsServiceStatus,
    HsdsUnit,
)
from service.auth import Actor
from service.db.pool import Conn
from service.export.queries import facilities_with_capacity
from service.http import CursorParam, LimitParam
from service.pagination import decode_cursor, encode_cursor
from service.problems import problem_responses

BED = HsdsUnit(id=uuid5(NAMESPACE_URL, "abri:hsds:unit:bed"), name="Bed", identifier="bed")
ORGANIZATION_DESCRIPTION = "Operator of shelter places listed in abri."
CAPACITY_DESCRIPTION = (
    "Beds: available are free now (in service, facility open, no hold or stay); maximum are in service now."
)
# The cursor: the last facility id of the page and the number of the next page.
NextPage = tuple[UUID, Annotated[int, Meta(ge=2)]]


@get(
    "/export/hsds",
    tags=["export"],
    responses=problem_responses(400, 401, 403),
    description=(
        "Facilities and their beds now, as Open Referral HSDS 3.1 services (each validates against "
        "`schema/compiled/service.json`), in a page shaped like the HSDS API's `Page`, facilities in id "
        "order. A facility is a service of its operator (`organization`) at one physical location, with "
        "one capacity in beds: `available` counts the beds `/v1/availability` lists now, `maximum` the "
        "beds in service now (facility open, no out-of-service period), and `updated` is the latest "
        "change to either: the facility or a bed written, its opening or closing day begun, or a hold, "
        "stay or out-of-service period of its beds written, begun or ended. Only counts: nothing about "
        "any person. Partners get their own organisation's facilities only."
    ),
)
async def hsds_export(
    conn: Conn, request: Request, caller: Actor, cursor: CursorParam = None, limit: LimitParam = 100
) -> HsdsServicePage:
    after, page_number = (None, 1) if cursor is None else decode_cursor(cursor, NextPage)
    rows = await facilities_with_capacity(
        conn,
        datetime.now(UTC),
        request.app.state.settings.timezone,
        caller.organisation_id if caller.role is Role.PARTNER else None,
        after,
        limit + 1,
    )
    facilities = [row for row in rows if row["id"] is not None]
    more = len(facilities) > limit
    contents = [_service(row) for row in facilities[:limit]]
    total = rows[0]["total"]
    return HsdsServicePage(
        total_items=total,
        total_pages=ceil(total / limit),
        page_number=page_number,
        size=len(contents),
        first_page=page_number == 1,
        last_page=not more,
        empty=not contents,
        contents=contents,
        next_cursor=encode_cursor(contents[-1].id, page_number + 1) if more else None,
    )


def _service(row: Record) -> HsdsService:
    facility_id, organisation_id = row["id"], row["organisation_id"]
    location = _location(row)
    return HsdsService(
        id=facility_id,
        organization_id=organisation_id,
        name=row["name"],
        description=row["kind_label"],
        status=HsdsServiceStatus(row["status"]),
        last_modified=row["updated_at"],
        organization=HsdsOrganization(
            id=organisation_id, name=row["organisation_name"], description=ORGANIZATION_DESCRIPTION
        ),
        service_at_locations=[
            HsdsServiceAtLocation(
                id=uuid5(facility_id, "service_at_location"),
                service_id=facility_id,
                location_id=location.id,
                location=location,
            )
        ],
        capacities=[
            HsdsServiceCapacity(
                id=uuid5(facility_id, "capacity"),
                service_id=facility_id,
                unit=BED,
                available=row["available"],
                maximum=row["maximum"],
                description=CAPACITY_DESCRIPTION,
                updated=row["changed_at"],
            )
        ],
    )


def _location(row: Record) -> HsdsLocation:
    """The facility's place; its street address only with a postcode, which HSDS requires."""
    location_id = uuid5(row["id"], "location")
    addresses = (
        []
        if row["postcode"] is None
        else [
            HsdsAddress(
                id=uuid5(row["id"], "address"),
                location_id=location_id,
                address_1=row["address"],
                city=row["commune"],
                state_province=row["region"],
                postal_code=row["postcode"],
                country="FR",
            )
        ]
    )
    return HsdsLocation(
        id=location_id,
        organization_id=row["organisation_id"],
        name=row["name"],
        latitude=row["lat"],
        longitude=row["lon"],
        addresses=addresses,
    )
