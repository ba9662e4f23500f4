"""The app factory: every route, plugin and handler is wired here and only here."""

from __future__ import annotations

from collections.abc import Iterator

import swagger_ui_bundle
from litestar import Litestar, Router, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from service.access import authorise, check_access
from service.audit.routes import audit_trail
from service.auth import API_KEY_HEADER, ApiKeyMiddleware, provide_caller
from service.availability.routes import availability
from service.beds.routes import BedController
from service.dashboard.routes import dashboard, dashboard_assets
from service.db.pool import pool_lifespan, provide_connection
from service.events.delivery import webhook_worker
from service.events.routes import WebhookController, event_feed
from service.export.routes import hsds_export
from service.facilities.routes import FacilityController
from service.health import live, ready
from service.http import strict_input
from service.idempotency import IdempotencyMiddleware
from service.keys.routes import KeyController
from service.load_shedding import InFlightLimit
from service.logging import access_log, configure_logging
from service.openapi import ClosedStructSchemaPlugin
from service.organisations.routes import OrganisationController
from service.placements.routes import HoldController, StayController
from service.placements.sweeper import hold_sweeper
from service.problems import EXCEPTION_HANDLERS
from service.proposals.routes import ProposalController
from service.proposals.solving import solver_pool
from service.rate_limit import RateLimitMiddleware, TokenBuckets
from service.referrals.routes import ReferralController
from service.reports.routes import distance, flows, occupancy, occupancy_series, waiting
from service.settings import Settings, load_settings
from service.sites.routes import SiteController

VERSION = "0.1.0"
# Swagger UI is served from the installed package: the docs work offline.
DOCS_ASSETS = "/docs/assets"


@get("/docs", include_in_schema=False)
async def docs() -> Redirect:
    """Interactive API docs (Swagger UI over /schema/openapi.json)."""
    return Redirect("/schema/")


def docs_assets() -> Router:
    return create_static_files_router(
        path=DOCS_ASSETS, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings)
    v1 = Router(
        path="/v1",
        route_handlers=[
            OrganisationController,
            FacilityController,
            BedController,
            SiteController,
            availability,
            audit_trail,
            ReferralController,
            HoldController,
            StayController,
            ProposalController,
            occupancy,
            occupancy_series,
            flows,
            waiting,
            distance,
            event_feed,
            WebhookController,
            hsds_export,
            KeyController,
        ],
        # Shedding first, so a refused request costs no key check and no connection.
        middleware=[
            InFlightLimit(settings.max_in_flight),
            ApiKeyMiddleware(),
            *_rate_limit(settings),
            IdempotencyMiddleware(),
        ],
        guards=[authorise],
        before_request=strict_input,
        security=[{"ApiKey": []}],
    )
    app = Litestar(
        route_handlers=[v1, live, ready, docs, docs_assets(), dashboard, dashboard_assets()],
        dependencies={
            "conn": Provide(provide_connection, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        lifespan=[pool_lifespan(settings), solver_pool(settings), hold_sweeper, webhook_worker],
        state=State({"settings": settings}),
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=_openapi(),
        plugins=[ClosedStructSchemaPlugin()],
        logging_config=None,
        debug=False,
    )
    check_access(documented_routes(app))
    # Outermost, so the access log also sees 404s and errors raised by middleware.
    app.asgi_handler = access_log(app.asgi_handler)
    return app


def documented_routes(app: Litestar) -> Iterator[tuple[str, str]]:
    """(method, path) of every operation in the OpenAPI document."""
    for path, item in (app.openapi_schema.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            if getattr(item, method) is not None:
                yield method.upper(), path


def _rate_limit(settings: Settings) -> list[RateLimitMiddleware]:
    """The per-key limiter, after the key check; none when `ABRI_RATE_LIMIT` is 0."""
    if not settings.rate_limit:
        return []
    return [RateLimitMiddleware(TokenBuckets(settings.rate_limit, settings.rate_burst))]


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="abri",
        version=VERSION,
        description=(
            "Shelter capacity and placement API for the people who get homeless crack users in "
            "north-east Paris off the street and into a bed far from the consumption scenes. "
            "Every /v1 route needs an API key in the X-API-Key header, and answers 429 with Retry-After when "
            "the key sends too many requests. Errors are RFC 9457 application/problem+json."
        ),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
            )
        ],
        components=Components(
            security_schemes={"ApiKey": SecurityScheme(type="apiKey", name=API_KEY_HEADER, security_scheme_in="header")}
        ),
    )
