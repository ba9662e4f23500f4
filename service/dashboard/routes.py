"""`/dashboard`: one static page and its assets, shipped in the package.

The page asks for an API key once and keeps it in the tab's sessionStorage; every number
it shows comes from the /v1 report routes, fetched with that key. Nothing is loaded from
the internet: no map tiles (the map is drawn from coordinates), no CDN.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.response import File
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
ASSETS = "/dashboard/assets"


@get("/dashboard", include_in_schema=False)
async def dashboard() -> File:
    return File(STATIC / "dashboard.html", media_type="text/html; charset=utf-8", content_disposition_type="inline")


def dashboard_assets() -> Router:
    return create_static_files_router(path=ASSETS, directories=[STATIC], include_in_schema=False)
