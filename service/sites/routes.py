"""Consumption sites API. Admins maintain the list; every role may read it."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody

from contracts.common import Page, Timestamp
from contracts.derive import changes
from contracts.inventory import Site, SiteCreate, SiteUpdate
from service.auth import Actor
from service.db.pool import Conn
from service.db.tables import Table
from service.http import (
    GEOJSON_NOTE,
    CursorParam,
    IdempotencyKeyHeader,
    IfMatch,
    LimitParam,
    PathId,
    aware,
    expected_versions,
    geojson_feature_response,
    geojson_response,
    query,
    wants_geojson,
    with_etag,
)
from service.problems import problem_responses

SITES = Table("consumption_sites", Site, "consumption site", "consumption_site")


class SiteController(Controller):
    path = "/sites"
    tags = ("inventory",)

    @post(responses=problem_responses(400, 401, 403, 409, 415, 422))
    async def create_site(
        self, conn: Conn, caller: Actor, data: JSONBody[SiteCreate], idempotency_key: IdempotencyKeyHeader = None
    ) -> Response[Site]:
        created = await SITES.insert(conn, caller, changes(data))
        return with_etag(created, 201, f"/v1/sites/{created.id}")

    @get(responses=problem_responses(400, 401, 403), description=GEOJSON_NOTE)
    async def list_sites(
        self,
        conn: Conn,
        request: Request,
        active_at: query(Timestamp, "Only sites active at this time") = None,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Page[Site]:
        page = await SITES.page(conn, {"active @> {}::timestamptz": aware(active_at, "active_at")}, cursor, limit)
        return geojson_response(page.items, page.next_cursor) if wants_geojson(request) else page

    @get(
        "/{site_id:uuid}",
        responses=problem_responses(401, 403, 404),
        description=GEOJSON_NOTE,
    )
    async def get_site(self, conn: Conn, request: Request, site_id: PathId) -> Response[Site]:
        site = await SITES.get(conn, site_id)
        return geojson_feature_response(site) if wants_geojson(request) else with_etag(site)

    @patch(
        "/{site_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422),
        description="E.g. set `active_until` when a scene has moved.",
    )
    async def update_site(
        self, conn: Conn, caller: Actor, site_id: PathId, data: JSONBody[SiteUpdate], if_match: IfMatch = None
    ) -> Response[Site]:
        return with_etag(await SITES.update(conn, caller, site_id, changes(data), expected_versions(if_match)))
