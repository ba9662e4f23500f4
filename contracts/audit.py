"""The audit trail as the API shows it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from contracts.common import Role, Timestamp


class AuditEvent(msgspec.Struct, kw_only=True):
    """One state change: who (key, role, organisation; null for the system), what, when."""

    id: int
    at: Timestamp
    key_id: UUID | None
    role: Role | None
    organisation_id: UUID | None
    action: str
    subject_type: str
    subject_id: UUID
    changes: dict[str, Any]
