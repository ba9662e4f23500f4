"""Facilities API. Admins write any facility, partners their own organisation's."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody

from contracts.common import Arrondissement, Department, FacilityKind, Name, Page
from contracts.derive import changes
from contracts.inventory import Facility, FacilityCreate, FacilityUpdate
from service.auth import (
    Actor,
    require_organisation,
)
from service.db.pool import Conn
from service.db.tables import Table
from service.http import (
    GEOJSON_NOTE,
    CursorParam,
    IdempotencyKeyHeader,
    IfMatch,
    LimitParam,
    PathId,
    expected_versions,
    geojson_feature_response,
    geojson_response,
    query,
    wants_geojson,
    with_etag,
)
from service.problems import problem_responses

FACILITIES = Table("facilities", Facility, "facility", "facility")


class FacilityController(Controller):
    path = "/facilities"
    tags = ("inventory",)

    @post(responses=problem_responses(400, 401, 403, 409, 415, 422))
    async def create_facility(
        self, conn: Conn, caller: Actor, data: JSONBody[FacilityCreate], idempotency_key: IdempotencyKeyHeader = None
    ) -> Response[Facility]:
        require_organisation(caller, data.organisation_id)
        created = await FACILITIES.insert(conn, caller, changes(data))
        return with_etag(created, 201, f"/v1/facilities/{created.id}")

    @get(responses=problem_responses(400, 401, 403), description=GEOJSON_NOTE)
    async def list_facilities(
        self,
        conn: Conn,
        request: Request,
        kind: query(FacilityKind) = None,
        organisation_id: query(UUID) = None,
        department: query(Department) = None,
        region: query(Name) = None,
        commune: query(Name) = None,
        arrondissement: query(Arrondissement) = None,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Page[Facility]:
        filters = {
            "kind": kind,
            "organisation_id": organisation_id,
            "department": department,
            "region": region,
            "commune": commune,
            "arrondissement": arrondissement,
        }
        page = await FACILITIES.page(conn, filters, cursor, limit)
        return geojson_response(page.items, page.next_cursor) if wants_geojson(request) else page

    @get(
        "/{facility_id:uuid}",
        responses=problem_responses(401, 403, 404),
        description=GEOJSON_NOTE,
    )
    async def get_facility(self, conn: Conn, request: Request, facility_id: PathId) -> Response[Facility]:
        facility = await FACILITIES.get(conn, facility_id)
        return geojson_feature_response(facility) if wants_geojson(request) else with_etag(facility)

    @patch(
        "/{facility_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 412, 415, 422),
    )
    async def update_facility(
        self,
        conn: Conn,
        caller: Actor,
        facility_id: PathId,
        data: JSONBody[FacilityUpdate],
        if_match: IfMatch = None,
    ) -> Response[Facility]:
        current = await FACILITIES.get(conn, facility_id)
        require_organisation(caller, current.organisation_id)
        updated = await FACILITIES.update(conn, caller, facility_id, changes(data), expected_versions(if_match))
        return with_etag(updated)
