"""Organisations API: admins create and rename them; every role may read them."""

from __future__ import annotations

from litestar import Controller, Response, get, patch, post
from litestar.params import JSONBody

from contracts.common import Page
from contracts.derive import changes
from contracts.inventory import Organisation, OrganisationCreate, OrganisationUpdate
from service.auth import Actor
from service.db.pool import Conn
from service.db.tables import Table
from service.http import (
    CursorParam,
    IdempotencyKeyHeader,
    IfMatch,
    LimitParam,
    PathId,
    expected_versions,
    with_etag,
)
from service.problems import problem_responses

ORGANISATIONS = Table("organisations", Organisation, "organisation", "organisation")


class OrganisationController(Controller):
    path = "/organisations"
    tags = ("inventory",)

    @post(responses=problem_responses(400, 401, 403, 409, 415, 422))
    async def create_organisation(
        self,
        conn: Conn,
        caller: Actor,
        data: JSONBody[OrganisationCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Organisation]:
        created = await ORGANISATIONS.insert(conn, caller, {"name": data.name})
        return with_etag(created, 201, f"/v1/organisations/{created.id}")

    @get(responses=problem_responses(400, 401, 403))
    async def list_organisations(
        self, conn: Conn, cursor: CursorParam = None, limit: LimitParam = 100
    ) -> Page[Organisation]:
        return await ORGANISATIONS.page(conn, {}, cursor, limit)

    @get("/{organisation_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_organisation(self, conn: Conn, organisation_id: PathId) -> Response[Organisation]:
        return with_etag(await ORGANISATIONS.get(conn, organisation_id))

    @patch(
        "/{organisation_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422),
    )
    async def update_organisation(
        self,
        conn: Conn,
        caller: Actor,
        organisation_id: PathId,
        data: JSONBody[OrganisationUpdate],
        if_match: IfMatch = None,
    ) -> Response[Organisation]:
        updated = await ORGANISATIONS.update(conn, caller, organisation_id, changes(data), expected_versions(if_match))
        return with_etag(updated)
