"""API keys as admins and partners manage them: never the secret, except once at creation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import Label, Role, Timestamp


class ApiKeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Role
    organisation_id: UUID
    label: Label
    expires_at: Timestamp | None = None
    """Refused from this moment on; never when null. Must be in the future."""


class ApiKey(msgspec.Struct, kw_only=True):
    """A key's metadata. `label` is null for keys made before labels existed."""

    id: UUID
    role: Role
    organisation_id: UUID
    label: Label | None
    created_at: Timestamp
    created_by: UUID | None
    """The key that created this one; null when made with the `abri` command."""
    expires_at: Timestamp | None
    last_used_at: Timestamp | None
    """When it last authenticated a request, to the minute; null if never."""
    revoked_at: Timestamp | None


class ApiKeyCreated(ApiKey, kw_only=True):
    key: Annotated[str, Meta(description="The full key for the X-API-Key header: shown in this response only")]
