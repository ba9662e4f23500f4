"""HTTP details shared by the routes: ETags, If-Match, GeoJSON negotiation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args, get_origin
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from msgspec import Meta

from contracts.common import Cursor, FieldError, PageLimit
from service.problems import ProblemError

GEOJSON = "application/geo+json"
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


def aware(value: datetime | None, name: str) -> datetime | None:
    """Reject a timestamp without a UTC offset (Meta(tz=True) is not applied to query parameters)."""
    if value is not None and value.tzinfo is None:
        raise ProblemError(
            400,
            "Bad Request",
            detail=f"{name} needs a UTC offset, e.g. 2026-01-31T22:00:00Z",
            errors=[FieldError(field=name, message="Expected a datetime with a UTC offset")],
        )
    return value


# Parameters shared by many routes.
CursorParam = query(Cursor, "`next_cursor` of the previous page")
LimitParam = query(PageLimit, "Page size, 1 to 500", optional=False)
IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", description="ETag from the last read; 412 if it changed since"),
]
PathId = Annotated[UUID, PathParameter()]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header asks for; None when absent or `*`.

    A value that is no ETag of ours can never match, so it is a 412, as RFC 9110 says.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/")
    if 3 <= len(tag) < 12 and tag[0] == tag[-1] == '"' and tag[1:-1].isdigit():
        return int(tag[1:-1])
    raise ProblemError(412, "Precondition failed", detail="If-Match does not name a current ETag.")


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
