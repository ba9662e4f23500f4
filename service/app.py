"""The app factory: every route, plugin and handler is wired here and only here."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from service.auth import API_KEY_HEADER, ApiKeyMiddleware
from service.availability.routes import availability
from service.beds.routes import BedController
from service.db.pool import pool_lifespan, provide_connection
from service.facilities.routes import FacilityController
from service.health import live, ready
from service.logging import access_log, configure_logging
from service.organisations.routes import OrganisationController
from service.problems import EXCEPTION_HANDLERS
from service.settings import Settings, load_settings
from service.sites.routes import SiteController

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging(settings)
    v1 = Router(
        path="/v1",
        route_handlers=[OrganisationController, FacilityController, BedController, SiteController, availability],
        middleware=[ApiKeyMiddleware],
        security=[{"ApiKey": []}],
    )
    return Litestar(
        route_handlers=[v1, live, ready],
        dependencies={"conn": Provide(provide_connection)},
        lifespan=[pool_lifespan(settings)],
        state=State({"settings": settings}),
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[access_log],
        openapi_config=_openapi(),
        logging_config=None,
        debug=False,
    )


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="abri",
        version=VERSION,
        description=(
            "Shelter capacity and placement API for the people who get homeless crack users in "
            "north-east Paris off the street and into a bed far from the consumption scenes. "
            "Every /v1 route needs an API key in the X-API-Key header. Errors are RFC 9457 "
            "application/problem+json."
        ),
        path="/schema",
        render_plugins=[ScalarRenderPlugin(path="/")],
        components=Components(
            security_schemes={"ApiKey": SecurityScheme(type="apiKey", name=API_KEY_HEADER, security_scheme_in="header")}
        ),
    )
