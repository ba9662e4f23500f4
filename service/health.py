"""Liveness and readiness probes (no API key: load balancers call them)."""

from __future__ import annotations

from litestar import Request, Response, get

from contracts.common import Health
from service.db.migrate import current_version, latest_version
from service.problems import problem_response, problem_responses


@get("/health/live", tags=["health"])
async def live() -> Health:
    """The process is up."""
    return Health(status="ok")


@get("/health/ready", tags=["health"], responses=problem_responses(503))
async def ready(request: Request) -> Response[Health]:
    """The database answers and every migration is applied."""
    try:
        async with request.app.state.pool.acquire(timeout=2) as conn:
            version = await current_version(conn)
    except Exception as exc:
        return problem_response(request, 503, detail=f"Database unreachable ({type(exc).__name__}).")
    if version != latest_version():
        return problem_response(request, 503, detail=f"Schema at version {version}, expected {latest_version()}.")
    return Response(Health(status="ok", schema_version=version))
