"""Load the demo dataset into an empty database, all of it or nothing."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from service.demo.dataset import DemoFacility, DemoReferral, demo_dataset
from service.referrals.queries import reference_hmac

BED_COLUMNS = (
    "facility_id",
    "label",
    "gender_policy",
    "accessible",
    "couple_room",
    "dogs_allowed",
    "medical_level",
    "nightly_cost_cents",
    "in_service_from",
)
SITE_COLUMNS = ("name", "lat", "lon", "radius_m", "intensity", "active_from", "active_until")
REFERRAL_COLUMNS = (
    "organisation_id",
    "reference_hmac",
    "source",
    "gender",
    "accessible",
    "dogs",
    "medical_level",
    "acceptable_kinds",
    "consents_out_of_region",
    "excluded_facility_ids",
    "keep_apart_ids",
    "care_anchor_lat",
    "care_anchor_lon",
    "vulnerability",
    "court_ordered",
    "first_met_on",
)

PARIS = ZoneInfo("Europe/Paris")

INSERT_FACILITY = """
    INSERT INTO facilities (organisation_id, kind, name, address, postcode, commune,
                            arrondissement, department, region, lat, lon, opened_on, closed_on)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING id
"""


async def is_empty(conn: asyncpg.Connection) -> bool:
    """True when the database holds no facility and no consumption site."""
    return not await conn.fetchval("SELECT EXISTS (SELECT FROM facilities) OR EXISTS (SELECT FROM consumption_sites)")


async def load_demo(conn: asyncpg.Connection, reference_key: str) -> dict[str, int]:
    """Insert the demo dataset in one transaction; return how many rows of each kind it holds.

    Raises RuntimeError("database is not empty") and inserts nothing when the database
    already has facilities or sites. Organisations that already exist by name (say, one
    created for a first API key) are reused rather than duplicated. Referrals' synthetic
    references are stored as their HMAC under `reference_key` (the server's
    ABRI_REFERENCE_KEY), never raw, as the API does.
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
        facility_ids: dict[str, UUID] = {}
        for facility in dataset.facilities:
            facility_id = await conn.fetchval(INSERT_FACILITY, organisation_ids[facility.organisation], *_row(facility))
            facility_ids[facility.key] = facility_id
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
                    _paris_midnight(facility.opened_on),  # beds date from their facility's opening
                )
                for bed in facility.beds
            ]
        await conn.copy_records_to_table("beds", records=bed_records, columns=BED_COLUMNS)

        await conn.copy_records_to_table(
            "consumption_sites",
            records=[tuple(getattr(site, column) for column in SITE_COLUMNS) for site in dataset.sites],
            columns=SITE_COLUMNS,
        )
        await _load_referrals(conn, dataset.referrals, organisation_ids, facility_ids, reference_key)
    return {
        "organisations": len(organisation_ids),
        "facilities": len(dataset.facilities),
        "beds": len(bed_records),
        "sites": len(dataset.sites),
        "referrals": len(dataset.referrals),
    }


def _paris_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=PARIS)


async def _load_referrals(
    conn: asyncpg.Connection,
    referrals: tuple[DemoReferral, ...],
    organisation_ids: dict[str, UUID],
    facility_ids: dict[str, UUID],
    reference_key: str,
) -> None:
    """Copy the referrals in, then link couples and keep-apart pairs once their ids exist."""
    hashes = {r.reference: reference_hmac(reference_key, r.reference) for r in referrals}
    await conn.copy_records_to_table(
        "referrals",
        records=[
            (
                organisation_ids[r.organisation],
                hashes[r.reference],
                r.source,
                r.gender,
                r.accessible,
                r.dogs,
                r.medical_level,
                list(r.acceptable_kinds),
                r.consents_out_of_region,
                [facility_ids[key] for key in r.excluded_facilities],
                [],
                *(r.care_anchor or (None, None)),
                r.vulnerability,
                r.court_ordered,
                r.first_met_on,
            )
            for r in referrals
        ],
        columns=REFERRAL_COLUMNS,
    )
    ids = dict(
        await conn.fetch(
            "SELECT reference_hmac, id FROM referrals WHERE reference_hmac = ANY($1::bytea[]) AND status = 'waiting'",
            list(hashes.values()),
        )
    )
    by_reference = {reference: ids[digest] for reference, digest in hashes.items()}
    couples = [(by_reference[r.reference], by_reference[r.couple_partner]) for r in referrals if r.couple_partner]
    await conn.execute(
        """
        UPDATE referrals r SET couple_partner_id = c.partner_id
        FROM unnest($1::uuid[], $2::uuid[]) AS c(id, partner_id)
        WHERE r.id = c.id
        """,
        [c[0] for c in couples],
        [c[1] for c in couples],
    )
    apart = [(by_reference[r.reference], by_reference[other]) for r in referrals for other in r.keep_apart]
    await conn.execute(
        """
        UPDATE referrals r SET keep_apart_ids = k.other_ids
        FROM (SELECT id, array_agg(other_id ORDER BY other_id) AS other_ids
              FROM unnest($1::uuid[], $2::uuid[]) AS k(id, other_id) GROUP BY id) AS k
        WHERE r.id = k.id
        """,
        [a[0] for a in apart],
        [a[1] for a in apart],
    )


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
