"""Shared types: constrained scalars, enums, pagination, problem details and health."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

import msgspec
from msgspec import Meta


def whole(pattern: str) -> str:
    """Anchor `pattern` to the whole string.

    msgspec matches with `re.search`, where `$` also matches before a final newline;
    the lookahead closes that gap and stays valid in JSON Schema (ECMA-262) regexes.
    """
    return rf"^(?:{pattern})(?!\n)$"


# One line of text: no control characters at all (C0, DEL, C1). PostgreSQL text
# cannot hold NUL, and names, labels and addresses never need a tab or a newline.
_ONE_LINE = whole(r"[^\x00-\x1f\x7f-\x9f]*")
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=_ONE_LINE)]
Label = Annotated[str, Meta(min_length=1, max_length=64, pattern=_ONE_LINE)]
Address = Annotated[str, Meta(min_length=1, max_length=300, pattern=_ONE_LINE, examples=["12 rue de Flandre"])]
Postcode = Annotated[str, Meta(pattern=whole("[0-9]{5}"), examples=["75019"])]
Department = Annotated[
    str,
    Meta(
        pattern=whole("0[1-9]|1[0-9]|2[1-9]|[3-8][0-9]|9[0-5]|2A|2B|97[1-6]"),
        description="French department code (2A/2B for Corsica, 971-976 overseas)",
        examples=["75", "93", "2A"],
    ),
]
Arrondissement = Annotated[int, Meta(ge=1, le=20, description="Paris arrondissement, 1 to 20")]
Latitude = Annotated[float, Meta(ge=-90, le=90, examples=[48.8847])]
Longitude = Annotated[float, Meta(ge=-180, le=180, examples=[2.3795])]
Km = Annotated[float, Meta(ge=0, le=2000)]
Timestamp = Annotated[
    datetime, Meta(tz=True, description="ISO 8601 with a UTC offset", examples=["2026-01-31T22:00:00Z"])
]
Cursor = Annotated[
    str, Meta(max_length=512, pattern=whole("[A-Za-z0-9_-]*"), description="Opaque cursor from `next_cursor`")
]
PageLimit = Annotated[int, Meta(ge=1, le=500)]


class Role(StrEnum):
    ADMIN = "admin"
    PLACEMENT_OFFICER = "placement_officer"
    PARTNER = "partner"
    REFERRER = "referrer"
    MANAGER = "manager"


class FacilityKind(StrEnum):
    ASSORE_HOTEL = "assore_hotel"
    SPECIALISED_UNIT = "specialised_unit"
    REST_SPACE = "rest_space"
    OUT_OF_REGION = "out_of_region"


class GenderPolicy(StrEnum):
    ANY = "any"
    WOMEN = "women"
    MEN = "men"


T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one (null at the end)."""

    items: list[T]
    next_cursor: str | None


class FieldError(msgspec.Struct, kw_only=True):
    field: str | None = None
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, sent as `application/problem+json`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class Health(msgspec.Struct):
    """What `/health/live` and `/health/ready` answer."""

    status: str
    schema_version: int | None = None
