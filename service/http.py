"""HTTP details shared by the routes: ETags, If-Match, GeoJSON negotiation."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, get_args, get_origin
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from msgspec import Meta

from contracts.common import Cursor, FieldError, PageLimit
from service.problems import ProblemError

GEOJSON = "application/geo+json"
GEOJSON_NOTE = f"Send `Accept: {GEOJSON}` for GeoJSON (RFC 7946)."
# A strong entity tag of ours in an If-Match list: "<version>" not preceded by W/.
_STRONG_TAG = re.compile(r'(?:^|,)\s*"([0-9]{1,9})"\s*(?=,|$)', re.ASCII)
_CONSTRAINTS = ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern", "description")


def query(annotated: Any, description: str | None = None, *, optional: bool = True) -> Any:
    """A query parameter typed and constrained like a contracts type.

    Litestar does not apply msgspec `Meta` constraints to query parameters, so they are
    copied onto the parameter, where Litestar both enforces and documents them.
    """
    base, metas = (
        (get_args(annotated)[0], get_args(annotated)[1:]) if get_origin(annotated) is Annotated else (annotated, ())
    )
    constraints = {
        name: value
        for meta in metas
        if isinstance(meta, Meta)
        for name in _CONSTRAINTS
        if (value := getattr(meta, name)) is not None
    }
    if description:
        constraints["description"] = description
    return Annotated[base | None if optional else base, QueryParameter(**constraints)]


PLAUSIBLE_YEARS = (1900, 2200)
"""Years a moment asked or written may fall in (also CHECKed on stored moments, migration 0009)."""


def aware(value: datetime | None, name: str) -> datetime | None:
    """Reject a timestamp without a UTC offset (Meta(tz=True) is not applied to query parameters)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise _bad_timestamp(name, "needs a UTC offset, e.g. 2026-01-31T22:00:00Z")
    if not PLAUSIBLE_YEARS[0] <= value.year <= PLAUSIBLE_YEARS[1]:
        raise _bad_timestamp(name, f"must fall between the years {PLAUSIBLE_YEARS[0]} and {PLAUSIBLE_YEARS[1]}")
    return value


def _bad_timestamp(name: str, why: str) -> ProblemError:
    return ProblemError(400, "Bad Request", detail=f"{name} {why}", errors=[FieldError(field=name, message=why)])


# Parameters shared by many routes.
CursorParam = query(Cursor, "`next_cursor` of the previous page")
LimitParam = query(PageLimit, "Page size, 1 to 500", optional=False)
IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", description="ETag from the last read; 412 if it changed since"),
]
PathId = Annotated[UUID, PathParameter()]
IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        max_length=255,
        description=(
            "Makes the request safe to retry: for 24 hours, the same key with the same request replays the "
            "first response (status, body, Location, ETag; marked `Idempotent-Replayed: true`) instead of "
            "creating again; with another request, 422. Scoped to your API key; 1 to 255 printable ASCII "
            "characters, e.g. a UUID."
        ),
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_versions(if_match: str | None) -> list[int] | None:
    """The versions an `If-Match` header accepts; None when absent or `*` (any version).

    RFC 9110 §13.1.1: If-Match compares strongly, so weak tags (`W/"3"`) and anything
    that is not one of our tags never match. When nothing can match, it is a 412 now.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    versions = [int(tag) for tag in _STRONG_TAG.findall(if_match)]
    if not versions:
        raise ProblemError(412, "Precondition failed", detail="If-Match names no current ETag of this resource.")
    return versions


def with_etag(resource: Any, status: int = 200, location: str | None = None) -> Response[Any]:
    headers = {"ETag": etag(resource.version)}
    if location:
        headers["Location"] = location
    return Response(resource, status_code=status, headers=headers)


def wants_geojson(request: Request) -> bool:
    return request.accept.best_match(["application/json", GEOJSON], default="application/json") == GEOJSON


def feature(resource: msgspec.Struct) -> dict[str, Any]:
    """An RFC 7946 Feature: a Point at the resource's lon/lat, every other field a property."""
    properties = msgspec.to_builtins(resource)
    point = [properties.pop("lon"), properties.pop("lat")]
    return {
        "type": "Feature",
        "id": properties["id"],
        "geometry": {"type": "Point", "coordinates": point},
        "properties": properties,
    }


def geojson_response(resources: list[Any], next_cursor: str | None = None) -> Response[Any]:
    """A FeatureCollection; `next_cursor` rides along as a foreign member (RFC 7946 §6.1)."""
    body = {"type": "FeatureCollection", "features": [feature(r) for r in resources], "next_cursor": next_cursor}
    return Response(body, media_type=GEOJSON)


def geojson_feature_response(resource: Any) -> Response[Any]:
    return Response(feature(resource), media_type=GEOJSON, headers={"ETag": etag(resource.version)})


async def strict_input(request: Request) -> None:
    """`before_request` hook: check query timestamps and the JSON body by msgspec's strict rules.

    Litestar converts leniently ("48.9" becomes a float, "true" a bool, `at=3` the Unix time 3)
    and lets bytes that are not UTF-8 through to a 500. Checking here first makes the contract
    types the law; Litestar's own conversion then cannot fail.
    """
    _strict_query_timestamps(request)
    await _strict_json_body(request)


def _strict_query_timestamps(request: Request) -> None:
    for key in _timestamp_query_keys(request.route_handler):
        for raw in request.query_params.getall(key, []):
            try:
                msgspec.convert(raw, datetime)
            except msgspec.ValidationError:
                raise _bad_timestamp(key, "must be an ISO 8601 date and time, e.g. 2026-01-31T22:00:00Z") from None


@cache
def _timestamp_query_keys(handler: HTTPRouteHandler) -> tuple[str, ...]:
    """The query keys of `handler`'s datetime parameters, worked out once per route."""
    return tuple(
        getattr(parameter.kwarg_definition, "query", None) or name
        for name, parameter in handler.parsed_fn_signature.parameters.items()
        if parameter.is_subclass_of(datetime) or parameter.has_inner_subclass_of(datetime)
    )


async def _strict_json_body(request: Request) -> None:
    body = request.route_handler.parsed_fn_signature.parameters.get("data")
    if body is None:
        return
    if request.content_type[0] != "application/json":
        raise ProblemError(415, "Unsupported Media Type", detail="Send the body as application/json.")
    try:
        msgspec.json.decode(await request.body(), type=body.annotation)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        field = where.rstrip("`").lstrip(".") or None
        raise ProblemError(
            400,
            "Bad Request",
            detail="The body does not fit the schema.",
            errors=[FieldError(field=field, message=message)],
        ) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "Malformed JSON", detail=str(exc)[:200]) from exc
