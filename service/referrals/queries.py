"""Referral rows: needs are flat columns, nullable once purged; the reference is only an HMAC."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from contracts.derive import changes
from contracts.referrals import CareAnchor, Needs, Referral, ReferralCreate, ReferralStatus
from service.problems import ProblemError

NEEDS_COLUMNS = ("gender", "accessible", "dogs", "couple_partner_id", "medical_level")
# Personal fields: never in an audit event's values, only named as changed.
PERSONAL = frozenset({"needs", "care_anchor", "excluded_facility_ids", "keep_apart_ids", "first_met_on"})
COLUMNS = """id, organisation_id, status, source, gender, accessible, dogs, couple_partner_id, medical_level,
             acceptable_kinds, consents_out_of_region, excluded_facility_ids, keep_apart_ids,
             care_anchor_lat, care_anchor_lon, vulnerability, court_ordered, first_met_on, purged_at,
             version, created_at, updated_at"""


def reference_hmac(secret: str, reference: str) -> bytes:
    return hmac.new(secret.encode(), reference.encode(), hashlib.sha256).digest()


def to_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """API fields (from `changes(...)`) to column values: needs and care anchor flattened."""
    columns = dict(fields)
    if (needs := columns.pop("needs", None)) is not None:
        columns |= {c: getattr(needs, c) for c in NEEDS_COLUMNS}
    if "care_anchor" in columns:
        anchor = columns.pop("care_anchor")
        columns["care_anchor_lat"] = None if anchor is None else round(anchor.lat, 2)
        columns["care_anchor_lon"] = None if anchor is None else round(anchor.lon, 2)
    return columns


def to_referral(row: asyncpg.Record) -> Referral:
    r = dict(row)
    purged = r.pop("purged_at") is not None
    r["needs"] = None if purged else Needs(**{c: r.pop(c) for c in NEEDS_COLUMNS})
    lat, lon = r.pop("care_anchor_lat"), r.pop("care_anchor_lon")
    r["care_anchor"] = None if lat is None else CareAnchor(lat=lat, lon=lon)
    return msgspec.convert(r, Referral)


async def insert_referral(
    conn: asyncpg.Connection, data: ReferralCreate, organisation_id: UUID, secret: str
) -> Referral:
    fields = changes(data)
    columns = to_columns({k: v for k, v in fields.items() if k != "reference"})
    columns |= {"organisation_id": organisation_id, "reference_hmac": reference_hmac(secret, data.reference)}
    names = list(columns)
    try:
        row = await conn.fetchrow(
            f"INSERT INTO referrals ({', '.join(names)}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) RETURNING {COLUMNS}",
            *columns.values(),
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "referrals_one_active_per_person":
            raise
        raise ProblemError(
            409, "Already referred", detail="This person already has an active referral (waiting, held or placed)."
        ) from None
    return to_referral(row)


async def get_referral(conn: asyncpg.Connection, referral_id: UUID, *, for_update: bool = False) -> Referral:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM referrals WHERE id = $1{lock}", referral_id)
    if row is None:
        raise ProblemError(404, "No such referral", detail=f"No referral has id {referral_id}.")
    return to_referral(row)


async def update_referral(
    conn: asyncpg.Connection, referral_id: UUID, columns: dict[str, Any], version: int | None = None
) -> Referral | None:
    """Set `columns` (and bump the version); None when `version` is given and no longer current."""
    assignments = [f"{name} = ${i}" for i, name in enumerate(columns, start=3)]
    row = await conn.fetchrow(
        f"UPDATE referrals SET {', '.join([*assignments, 'version = version + 1', 'updated_at = now()'])} "
        f"WHERE id = $1 AND ($2::int IS NULL OR version = $2) RETURNING {COLUMNS}",
        referral_id,
        version,
        *columns.values(),
    )
    return None if row is None else to_referral(row)


async def page_referrals(
    conn: asyncpg.Connection,
    organisation_id: UUID | None,
    status: ReferralStatus | None,
    after: UUID | None,
    limit: int,
) -> list[Referral]:
    rows = await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM referrals
        WHERE ($1::uuid IS NULL OR organisation_id = $1)
          AND ($2::text IS NULL OR status = $2)
          AND ($3::uuid IS NULL OR id > $3)
        ORDER BY id
        LIMIT $4
        """,
        organisation_id,
        status,
        after,
        limit,
    )
    return [to_referral(r) for r in rows]
