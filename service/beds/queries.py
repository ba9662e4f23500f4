"""Who owns a bed or a facility: the organisation a partner must belong to."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from service.problems import ProblemError


async def facility_owner(conn: asyncpg.Connection, facility_id: UUID) -> UUID:
    owner = await conn.fetchval("SELECT organisation_id FROM facilities WHERE id = $1", facility_id)
    if owner is None:
        raise ProblemError(422, "No such facility", detail=f"No facility has id {facility_id}.")
    return owner


async def bed_owner(conn: asyncpg.Connection, bed_id: UUID) -> UUID:
    owner = await conn.fetchval(
        "SELECT f.organisation_id FROM beds b JOIN facilities f ON f.id = b.facility_id WHERE b.id = $1",
        bed_id,
    )
    if owner is None:
        raise ProblemError(404, "No such bed", detail=f"No bed has id {bed_id}.")
    return owner
