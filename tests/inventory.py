"""Inventory rows written straight to the database, for tests that need places to work on."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def insert_facility(
    conn: asyncpg.Connection, organisation_id: UUID, name: str, *, lat: float = 48.91, lon: float = 2.37
) -> UUID:
    """An open ASSORE hotel in Paris (by default 3 km north of Stalingrad)."""
    return await conn.fetchval(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           VALUES ($1, 'assore_hotel', $2, '1 rue du Test', 'Paris', '75', 'Île-de-France', $3, $4, '2020-01-01')
           RETURNING id""",
        organisation_id,
        name,
        lat,
        lon,
    )


async def insert_bed(conn: asyncpg.Connection, facility_id: UUID, label: str) -> UUID:
    """A bed for anyone, in service since its facility opened."""
    return await conn.fetchval(
        "INSERT INTO beds (facility_id, label, gender_policy) VALUES ($1, $2, 'any') RETURNING id", facility_id, label
    )
