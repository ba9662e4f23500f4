"""Opaque cursors for keyset pagination: the sort key of the last row, encoded."""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from service.problems import ProblemError


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str, types: type) -> Any:
    """Decode a cursor into `types` (a tuple type); a tampered cursor is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=types)
    except (ValueError, msgspec.DecodeError) as exc:
        raise ProblemError(400, "Invalid cursor", detail="Pass back a next_cursor unchanged.") from exc
