"""Every error leaves as RFC 9457 `application/problem+json`, never as a bare 500.

Handlers here turn Litestar's HTTP exceptions (validation included), our own
`ProblemError` and the database's integrity errors into problem details. Routes list
the statuses they can return with `problem_responses(...)` so the OpenAPI says so.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from contracts.common import FieldError, Problem

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("abri.problems")


class ProblemError(Exception):
    """Raise to answer with a problem: `raise ProblemError(409, "Bed already held", detail=...)`."""

    def __init__(
        self,
        status: int,
        title: str,
        *,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    problem = Problem(
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=_instance(request),
        errors=errors,
    )
    body = msgspec.to_builtins(problem) | msgspec.to_builtins(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _instance(request: Request) -> str | None:
    request_id = request.scope.get("state", {}).get("request_id")
    return f"urn:uuid:{request_id}" if request_id else None


def on_problem(request: Request, exc: ProblemError) -> Response:
    return problem_response(request, exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extra)


def on_http_exception(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    errors = None
    detail = exc.detail if exc.detail != HTTPStatus(status).phrase else None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [_field_error(e) for e in exc.extra]
    return problem_response(request, status, detail=detail, errors=errors, headers=exc.headers)


def _field_error(raw: Any) -> FieldError:
    if isinstance(raw, dict):
        message = str(raw.get("message", "invalid"))[:500]
        key = raw.get("key")
        return FieldError(field=str(key) if key else None, message=message)
    return FieldError(message=str(raw)[:500])


# Integrity errors the database raises become client errors: the constraints are the
# last line of defence, and their names say which rule was broken.
_INTEGRITY = {
    asyncpg.UniqueViolationError: (409, "Conflicts with an existing resource"),
    asyncpg.ExclusionViolationError: (409, "Overlaps an existing period of the same bed"),
    asyncpg.ForeignKeyViolationError: (422, "Refers to something that does not exist"),
    asyncpg.CheckViolationError: (422, "Breaks a data rule"),
    asyncpg.NotNullViolationError: (422, "A required value is missing"),
    asyncpg.DataError: (422, "A value is out of range or inconsistent"),
}


def on_integrity_error(request: Request, exc: asyncpg.PostgresError) -> Response:
    status, title = next(v for t, v in _INTEGRITY.items() if isinstance(exc, t))
    constraint = getattr(exc, "constraint_name", None)
    return problem_response(request, status, title, detail=_safe_detail(exc), constraint=constraint)


def _safe_detail(exc: asyncpg.PostgresError) -> str:
    # For key conflicts PostgreSQL's DETAIL names the key, e.g. "Key (bed_id, period)=(…)
    # conflicts with …": ids and periods, nothing personal. Other DETAILs can echo a whole
    # row ("Failing row contains …"), so for those only the message is passed on; it names
    # the rule ("violates check constraint …", "range lower bound must be less than …").
    key_conflict = isinstance(
        exc, asyncpg.UniqueViolationError | asyncpg.ExclusionViolationError | asyncpg.ForeignKeyViolationError
    )
    if key_conflict and exc.detail:
        return exc.detail[:300]
    # Client-side encoding errors have no server message; their text's first line says it.
    return (getattr(exc, "message", None) or str(exc).partition("\n")[0])[:300]


# The database is down, restarting or unreachable: a 503 the client may retry, not a 500.
# The pool replaces a lost connection at its next acquire, so service resumes by itself.
DATABASE_UNAVAILABLE = (
    OSError,  # the socket: refused, reset, or gone while the server restarts
    asyncpg.PostgresConnectionError,  # the connection was lost or could not be made
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # asyncpg's protocol out of step with its connection: a query sent after the server's
    # farewell (FATAL, as it shuts down or is told to end the connection) but before the
    # socket's close was seen finds it still busy with that message (MagicStack/asyncpg#1069).
    asyncpg.InternalClientError,
)
RETRY_AFTER_SECONDS = 2


def on_database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database_unavailable", error_type=type(exc).__name__, path=request.url.path)
    return problem_response(
        request,
        503,
        "Database unavailable",
        detail="The database cannot be reached just now; retry after Retry-After seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


# How asyncpg's InterfaceError says a connection is gone: closed under a transaction block
# ("… the underlying connection is closed"), or taken back by the pool as it saw it close,
# between two queries of a request ("… connection has been released back to the pool").
_CONNECTION_GONE = ("connection is closed", "released back to the pool")


def on_interface_error(request: Request, exc: asyncpg.InterfaceError) -> Response:
    """A lost connection that asyncpg reports as misuse of it: a 503 like the loss itself. Any other misuse is a bug."""
    if any(sign in str(exc) for sign in _CONNECTION_GONE):
        return on_database_unavailable(request, exc)
    return on_unexpected(request, exc)


def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", error_type=type(exc).__name__, path=request.url.path, exc_info=exc)
    return problem_response(request, 500, detail="An unexpected error occurred; quote the instance id.")


EXCEPTION_HANDLERS = {
    ProblemError: on_problem,
    HTTPException: on_http_exception,
    **{t: on_integrity_error for t in _INTEGRITY},
    **{t: on_database_unavailable for t in DATABASE_UNAVAILABLE},
    asyncpg.InterfaceError: on_interface_error,
    Exception: on_unexpected,
}

_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, wrong types, values out of range",
    401: "Missing or unknown API key",
    403: "The key's role may not do this",
    404: "No such resource",
    408: "The request body did not arrive in time",
    409: "Conflicts with the current state",
    412: "`If-Match` does not match the current ETag",
    415: "The body is not application/json",
    422: "Well-formed but breaks a data rule",
    428: "`If-Match` is required",
    429: "Too many requests from this API key: retry after `Retry-After` seconds",
    503: "Not ready, too busy, or the database unreachable: retry after `Retry-After` seconds when given",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem statuses a route can return.

    A route that checks the API key (401) is rate limited per key too, so it also gets 429,
    and reads the database, so it gets 503 while the database is unreachable or the server
    is overloaded. A route that takes a JSON body (415) gets 408 when the body is too slow.
    """
    if 401 in statuses:
        statuses = tuple(dict.fromkeys((*statuses, 429, 503)))
    if 415 in statuses:
        statuses = tuple(dict.fromkeys((*statuses, 408)))
    return {
        s: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_DESCRIPTIONS[s],
            generate_examples=False,
        )
        for s in statuses
    }
