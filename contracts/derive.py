"""Update and read types derived from create types, so the three never drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType


def patch_of(create: type[msgspec.Struct], name: str, *, exclude: tuple[str, ...] = ()) -> Any:
    """A Struct named `name` with every field of `create` optional (UNSET when absent).

    Constraints are kept; a field that was nullable stays nullable, one that was not
    cannot be set to null. Fields in `exclude` cannot be changed at all.
    """
    fields = [(f.name, f.type | UnsetType, UNSET) for f in msgspec.structs.fields(create) if f.name not in exclude]
    return msgspec.defstruct(
        name,
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        module=create.__module__,
    )


def changes(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a patch sets, as a dict."""
    return {f: v for f in patch.__struct_fields__ if (v := getattr(patch, f)) is not UNSET}


def stored(create: type[msgspec.Struct], name: str, *extra: tuple[str, Any]) -> Any:
    """A Struct named `name`: `create` plus the fields the server sets on every stored resource.

    `version` counts updates and is also sent as the `ETag`.
    """
    fields = [
        ("id", UUID),
        *extra,
        ("version", int),
        ("created_at", Annotated[datetime, Meta(tz=True)]),
        ("updated_at", Annotated[datetime, Meta(tz=True)]),
    ]
    return msgspec.defstruct(name, fields, bases=(create,), kw_only=True, module=create.__module__)
