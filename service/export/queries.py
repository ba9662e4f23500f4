"""The HSDS export's query: a page of facilities with their operator and their beds counted.

One statement: the facilities visible to the caller (all, or one operator's), a page of
them in id order, and for each page's bed whether it is in service and free at $1, by
the availability search's own conditions. `changed_at` is the latest moment at or
before $1 at which something counted changed: the facility or a bed written, its
opening or closing day begun, or a hold, stay or out-of-service period of its beds
written, begun or ended.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from service.availability.queries import BED_IN_SERVICE, BED_UNTAKEN, FACILITY_OPEN

_SQL = f"""
WITH visible AS (
    SELECT f.id FROM facilities f WHERE $3::uuid IS NULL OR f.organisation_id = $3
),
page AS (
    SELECT f.id, f.name, f.address, f.postcode, f.commune, f.region, f.lat, f.lon, f.updated_at,
           f.organisation_id, o.name AS organisation_name, k.label AS kind_label,
           ({FACILITY_OPEN}) AS open,
           f.opened_on::timestamp AT TIME ZONE $2 AS opens_at,
           f.closed_on::timestamp AT TIME ZONE $2 AS closes_at
    FROM facilities f
    JOIN organisations o ON o.id = f.organisation_id
    JOIN facility_kinds k ON k.code = f.kind
    WHERE f.id IN (SELECT id FROM visible) AND ($4::uuid IS NULL OR f.id > $4)
    ORDER BY f.id
    LIMIT $5
),
bed_states AS (
    SELECT b.facility_id,
           f.open AND {BED_IN_SERVICE} AS in_service,
           {BED_UNTAKEN} AS untaken,
           greatest(b.updated_at, (
               SELECT max(greatest(periods.updated_at, lower(periods.period),
                                   CASE WHEN upper(periods.period) <= $1 THEN upper(periods.period) END))
               FROM (SELECT period, updated_at FROM holds WHERE bed_id = b.id
                     UNION ALL SELECT period, updated_at FROM stays WHERE bed_id = b.id
                     UNION ALL SELECT period, updated_at FROM bed_unavailability WHERE bed_id = b.id) periods
               WHERE lower(periods.period) <= $1
           )) AS changed_at
    FROM page f
    JOIN beds b ON b.facility_id = f.id
),
capacity AS (
    SELECT facility_id,
           count(*) FILTER (WHERE in_service) AS maximum,
           count(*) FILTER (WHERE in_service AND untaken) AS available,
           max(changed_at) AS changed_at
    FROM bed_states
    GROUP BY facility_id
)
SELECT totals.total, f.*,  -- one row with a null id when the page is empty, for the total
       CASE WHEN f.open THEN 'active' WHEN f.opens_at > $1 THEN 'inactive' ELSE 'defunct' END AS status,
       coalesce(c.maximum, 0) AS maximum,
       coalesce(c.available, 0) AS available,
       greatest(f.updated_at, c.changed_at,
                CASE WHEN f.opens_at <= $1 THEN f.opens_at END,
                CASE WHEN f.closes_at <= $1 THEN f.closes_at END) AS changed_at
FROM (SELECT count(*) AS total FROM visible) totals
LEFT JOIN page f ON true
LEFT JOIN capacity c ON c.facility_id = f.id
ORDER BY f.id
"""


async def facilities_with_capacity(
    conn: asyncpg.Connection, at: datetime, timezone: str, organisation_id: UUID | None, after: UUID | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` facilities after id `after` (of `organisation_id` only, unless None),
    each with its beds in service and free at `at`, and the number of facilities in all."""
    return await conn.fetch(_SQL, at, timezone, organisation_id, after, limit)
