"""Flows, waiting and distance: what the history of stays, holds and referrals says.

Periods are given by their boundaries, local midnights ascending (the last one ends the
last period); `width_bucket(t, boundaries)` is the period a moment falls in (0 before
the first, n + 1 after the last). Each query returns raw counts; what a caller may see
of them is service/reports/disclosure.py's business.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

_STAYS = """
    SELECT f.kind, s.transferred_from, s.ended_as, s.exit_reason,
           width_bucket(lower(s.period), $1::timestamptz[]) AS started_in,
           width_bucket(upper(s.period), $1::timestamptz[]) AS ended_in,   -- NULL while open
           extract(epoch FROM upper(s.period) - lower(s.period)) / 86400 AS days
    FROM stays s
    JOIN beds b ON b.id = s.bed_id
    JOIN facilities f ON f.id = b.facility_id
    WHERE ($2::uuid IS NULL OR f.organisation_id = $2)
      AND lower(s.period) < $1[cardinality($1)]
      AND (upper(s.period) IS NULL OR upper(s.period) >= $1[1])
"""

FLOW_COUNTS = f"""
WITH s AS ({_STAYS}),
events AS (
    SELECT started_in AS k, kind, 'entry' AS event, NULL AS reason FROM s WHERE transferred_from IS NULL
    UNION ALL
    SELECT ended_in, kind, ended_as, exit_reason FROM s WHERE ended_in IS NOT NULL
)
SELECT k, kind, event, reason, count(*)::int AS n
FROM events
WHERE k BETWEEN 1 AND cardinality($1::timestamptz[]) - 1
GROUP BY k, kind, event, reason
"""

FLOW_LENGTHS = f"""
WITH s AS ({_STAYS})
SELECT ended_in AS k, kind, count(*)::int AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90
FROM s
WHERE ended_as IN ('exit', 'transfer') AND ended_in BETWEEN 1 AND cardinality($1::timestamptz[]) - 1
GROUP BY GROUPING SETS ((ended_in, kind), (ended_in))
"""


async def flow_counts(conn: asyncpg.Connection, boundaries: list[datetime], operator: UUID | None) -> list:
    """(period, kind, event, exit reason, count): entries (transfers excepted), and stays
    ended by exit, transfer or no-show, in each period."""
    return await conn.fetch(FLOW_COUNTS, boundaries, operator)


async def flow_lengths(conn: asyncpg.Connection, boundaries: list[datetime], operator: UUID | None) -> list:
    """(period, kind or NULL for all, count, median and 90th percentile days) of the stays
    that ended by exit or transfer in each period."""
    return await conn.fetch(FLOW_LENGTHS, boundaries, operator)


# A referral waits at `at` once made and until it ends, as long as no stay has begun and no hold covers `at`.
_WAITING_AT = """
    r.created_at <= $1 AND (r.ended_at IS NULL OR r.ended_at > $1)
    AND NOT EXISTS (SELECT FROM stays s WHERE s.referral_id = r.id AND lower(s.period) <= $1)
    AND NOT EXISTS (SELECT FROM holds h WHERE h.referral_id = r.id AND h.period @> $1)
"""

WAITING_BY_AGE = f"""
SELECT width_bucket(extract(epoch FROM $1 - r.created_at) / 86400, $2::float8[]) AS band, count(*)::int AS n
FROM referrals r
WHERE {_WAITING_AT}
GROUP BY 1
"""

TIME_TO_PLACEMENT = """
WITH first_stays AS (
    SELECT r.source, coalesce(r.gender, 'unknown') AS gender,
           extract(epoch FROM min(lower(s.period)) - r.created_at) / 86400 AS days,
           min(lower(s.period)) AS placed_at
    FROM referrals r JOIN stays s ON s.referral_id = r.id
    GROUP BY r.id
)
SELECT CASE WHEN grouping(source) = 1 THEN 'all' ELSE source END AS source,
       CASE WHEN grouping(gender) = 1 THEN 'all' ELSE gender END AS gender,
       count(*)::int AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90
FROM first_stays
WHERE placed_at >= $1 AND placed_at < $2
GROUP BY GROUPING SETS ((source, gender), (source), (gender), ())
ORDER BY grouping(source, gender) DESC, source, gender
"""


async def waiting_by_age(conn: asyncpg.Connection, at: datetime, band_starts: list[float]) -> dict[int, int]:
    """Referrals waiting at `at`, by age band (1-based index into `band_starts`, in days)."""
    rows = await conn.fetch(WAITING_BY_AGE, at, band_starts)
    return {row["band"]: row["n"] for row in rows}


async def time_to_placement(conn: asyncpg.Connection, placed_from: datetime, placed_to: datetime) -> list:
    """Days from referral to first stay, for referrals first placed in [from, to), by
    source and gender and overall."""
    return await conn.fetch(TIME_TO_PLACEMENT, placed_from, placed_to)


# The distance of a placement: its facility to the nearest site active at `moment`.
_DISTANCE = """
    SELECT f.kind,
           (SELECT min(km_between(f.lat, f.lon, c.lat, c.lon)) FROM consumption_sites c
            WHERE c.active @> moment) AS km
    FROM stays s
    JOIN beds b ON b.id = s.bed_id
    JOIN facilities f ON f.id = b.facility_id
    CROSS JOIN LATERAL (SELECT {moment} AS moment) m
    WHERE ($3::uuid IS NULL OR f.organisation_id = $3) AND {which}
"""

DISTANCES = f"""
WITH placements AS (
    SELECT 'current' AS which, kind, km
    FROM ({_DISTANCE.format(moment="$2::timestamptz", which="s.period @> $2::timestamptz")}) current
    UNION ALL
    SELECT 'begun', kind, km
    FROM ({_DISTANCE.format(moment="lower(s.period)", which="lower(s.period) >= $1 AND lower(s.period) < $2")}) begun
)
SELECT which, kind, width_bucket(km, $4::float8[]) AS band, count(*)::int AS n,
       count(*) FILTER (WHERE km < ($5::jsonb ->> kind)::float8)::int AS below   -- no threshold: none
FROM placements
GROUP BY which, kind, band
"""


async def distances(
    conn: asyncpg.Connection,
    started_from: datetime,
    to: datetime,
    operator: UUID | None,
    band_starts: list[float],
    thresholds: str,
) -> list:
    """(which, kind, band, count, below the kind's threshold): stays covering `to` and
    stays begun in [from, to), by distance band (NULL: no site active then)."""
    return await conn.fetch(DISTANCES, started_from, to, operator, band_starts, thresholds)
