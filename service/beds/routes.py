"""Beds API, with bulk creation and out-of-service periods."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody

from contracts.common import Page
from contracts.derive import changes
from contracts.inventory import (
    Bed,
    BedCreate,
    BedsBulkCreate,
    BedsCreated,
    BedUpdate,
    Unavailability,
    UnavailabilityCreate,
    UnavailabilityUpdate,
)
from service.auth import (
    Actor,
    Caller,
    require_organisation,
)
from service.beds.queries import bed_owner, facility_owner
from service.db.pool import Conn
from service.db.tables import Table
from service.http import (
    CursorParam,
    IdempotencyKeyHeader,
    IfMatch,
    LimitParam,
    PathId,
    expected_versions,
    query,
    with_etag,
)
from service.problems import problem_responses

BEDS = Table("beds", Bed, "bed", "bed")
UNAVAILABILITY = Table("bed_unavailability", Unavailability, "out-of-service period", "bed_unavailability")

CallerRequest = Request[Caller, UUID, object]


class BedController(Controller):
    tags = ("inventory",)

    @post("/beds", responses=problem_responses(400, 401, 403, 409, 415, 422))
    async def create_bed(
        self, conn: Conn, caller: Actor, data: JSONBody[BedCreate], idempotency_key: IdempotencyKeyHeader = None
    ) -> Response[Bed]:
        require_organisation(caller, await facility_owner(conn, data.facility_id))
        created = await BEDS.insert(conn, caller, changes(data))
        return with_etag(created, 201, f"/v1/beds/{created.id}")

    @post(
        "/beds/bulk",
        responses=problem_responses(400, 401, 403, 409, 415, 422),
        description="Creates up to 2,000 beds of one facility in one transaction: all or none.",
    )
    async def create_beds(
        self, conn: Conn, caller: Actor, data: JSONBody[BedsBulkCreate], idempotency_key: IdempotencyKeyHeader = None
    ) -> BedsCreated:
        require_organisation(caller, await facility_owner(conn, data.facility_id))
        rows = [changes(bed) | {"facility_id": data.facility_id} for bed in data.beds]
        return BedsCreated(items=await BEDS.insert_many(conn, caller, rows))

    @get("/beds", responses=problem_responses(400, 401, 403))
    async def list_beds(
        self,
        conn: Conn,
        facility_id: query(UUID) = None,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Page[Bed]:
        return await BEDS.page(conn, {"facility_id": facility_id}, cursor, limit)

    @get("/beds/{bed_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_bed(self, conn: Conn, bed_id: PathId) -> Response[Bed]:
        return with_etag(await BEDS.get(conn, bed_id))

    @patch(
        "/beds/{bed_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422),
    )
    async def update_bed(
        self, conn: Conn, caller: Actor, bed_id: PathId, data: JSONBody[BedUpdate], if_match: IfMatch = None
    ) -> Response[Bed]:
        require_organisation(caller, await bed_owner(conn, bed_id))
        return with_etag(await BEDS.update(conn, caller, bed_id, changes(data), expected_versions(if_match)))

    @post(
        "/beds/{bed_id:uuid}/unavailability",
        responses=problem_responses(400, 401, 403, 404, 409, 415, 422),
        description="Takes the bed out of service for a period; 409 if it overlaps another such period.",
    )
    async def create_unavailability(
        self,
        conn: Conn,
        caller: Actor,
        bed_id: PathId,
        data: JSONBody[UnavailabilityCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Unavailability]:
        require_organisation(caller, await bed_owner(conn, bed_id))
        created = await UNAVAILABILITY.insert(conn, caller, changes(data) | {"bed_id": bed_id})
        return with_etag(created, 201, f"/v1/unavailability/{created.id}")

    @get(
        "/beds/{bed_id:uuid}/unavailability",
        responses=problem_responses(400, 401, 403, 404),
    )
    async def list_unavailability(
        self, conn: Conn, bed_id: PathId, cursor: CursorParam = None, limit: LimitParam = 100
    ) -> Page[Unavailability]:
        await bed_owner(conn, bed_id)  # 404 for an unknown bed rather than an empty list
        return await UNAVAILABILITY.page(conn, {"bed_id": bed_id}, cursor, limit)

    @get("/unavailability/{period_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_unavailability(self, conn: Conn, period_id: PathId) -> Response[Unavailability]:
        return with_etag(await UNAVAILABILITY.get(conn, period_id))

    @patch(
        "/unavailability/{period_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422),
        description="Change the reason or the period, e.g. end it early when the bed is back in service.",
    )
    async def update_unavailability(
        self,
        conn: Conn,
        caller: Actor,
        period_id: PathId,
        data: JSONBody[UnavailabilityUpdate],
        if_match: IfMatch = None,
    ) -> Response[Unavailability]:
        current = await UNAVAILABILITY.get(conn, period_id)
        require_organisation(caller, await bed_owner(conn, current.bed_id))
        updated = await UNAVAILABILITY.update(conn, caller, period_id, changes(data), expected_versions(if_match))
        return with_etag(updated)
