"""Load the demo dataset into an empty database, all of it or nothing."""

from __future__ import annotations

import asyncpg

from service.demo.dataset import DemoFacility, demo_dataset

BED_COLUMNS = (
    "facility_id",
    "label",
    "gender_policy",
    "accessible",
    "couple_room",
    "dogs_allowed",
    "medical_level",
    "nightly_cost_cents",
)
SITE_COLUMNS = ("name", "lat", "lon", "radius_m", "intensity", "active_from", "active_until")

INSERT_FACILITY = """
    INSERT INTO facilities (organisation_id, kind, name, address, postcode, commune,
                            arrondissement, department, region, lat, lon, opened_on, closed_on)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING id
"""


async def is_empty(conn: asyncpg.Connection) -> bool:
    """True when the database holds no facility and no consumption site."""
    return not await conn.fetchval("SELECT EXISTS (SELECT FROM facilities) OR EXISTS (SELECT FROM consumption_sites)")


async def load_demo(conn: asyncpg.Connection) -> dict[str, int]:
    """Insert the demo dataset in one transaction; return how many rows of each kind it holds.

    Raises RuntimeError("database is not empty") and inserts nothing when the database
    already has facilities or sites. Organisations that already exist by name (say, one
    created for a first API key) are reused rather than duplicated.
    """
    dataset = demo_dataset()
    async with conn.transaction():
        # Two processes starting on the same empty database must not both load: this lock
        # conflicts with itself and with inserts, so the second loader waits, then sees rows.
        await conn.execute("LOCK TABLE facilities, consumption_sites IN SHARE ROW EXCLUSIVE MODE")
        if not await is_empty(conn):
            raise RuntimeError("database is not empty")

        names = [organisation.name for organisation in dataset.organisations]
        await conn.execute(
            "INSERT INTO organisations (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", names
        )
        organisation_ids = dict(
            await conn.fetch("SELECT name, id FROM organisations WHERE name = ANY($1::text[])", names)
        )

        bed_records = []
        for facility in dataset.facilities:
            facility_id = await conn.fetchval(INSERT_FACILITY, organisation_ids[facility.organisation], *_row(facility))
            bed_records += [
                (
                    facility_id,
                    bed.label,
                    bed.gender_policy,
                    bed.accessible,
                    bed.couple_room,
                    bed.dogs_allowed,
                    bed.medical_level,
                    bed.nightly_cost_cents,
                )
                for bed in facility.beds
            ]
        await conn.copy_records_to_table("beds", records=bed_records, columns=BED_COLUMNS)

        await conn.copy_records_to_table(
            "consumption_sites",
            records=[tuple(getattr(site, column) for column in SITE_COLUMNS) for site in dataset.sites],
            columns=SITE_COLUMNS,
        )
    return {
        "organisations": len(organisation_ids),
        "facilities": len(dataset.facilities),
        "beds": len(bed_records),
        "sites": len(dataset.sites),
    }


def _row(facility: DemoFacility) -> tuple[object, ...]:
    return (
        facility.kind,
        facility.name,
        facility.address,
        facility.postcode,
        facility.commune,
        facility.arrondissement,
        facility.department,
        facility.region,
        facility.lat,
        facility.lon,
        facility.opened_on,
        facility.closed_on,
    )
