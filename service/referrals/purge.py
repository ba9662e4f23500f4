"""Retention: erase what a referral says about the person once it has long ended.

The row stays, so counts by status, source, organisation and dates stay possible; every
need, the care anchor, the exclusions, the priority inputs and the reference's keyed
hash become NULL. Other referrals' links to a purged one (a partner, a keep-apart) are
ids, not personal values, and are left alone. What proposals recorded about the person
goes too: why they were left unplaced (it names their needs) and the facilities they
declined; proposal lines stay, like holds and stays, for counts. The audit trail holds no personal values
and is never rewritten: each purge only appends one event per referral.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from service.audit.record import record

# Everything personal a referral holds (the raw reference was never stored).
ERASED = (
    "reference_hmac",
    "gender",
    "accessible",
    "dogs",
    "couple_partner_id",
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


async def purge(conn: asyncpg.Connection, older_than: timedelta) -> int:
    """Purge referrals exited or withdrawn more than `older_than` ago; return how many, audited by the system."""
    async with conn.transaction():
        rows = await conn.fetch(
            f"""
            UPDATE referrals
            SET {", ".join(f"{column} = NULL" for column in ERASED)},
                purged_at = now(), version = version + 1, updated_at = now()
            WHERE status IN ('exited', 'withdrawn') AND purged_at IS NULL AND ended_at < now() - $1::interval
            RETURNING id
            """,
            older_than,
        )
        ids = [row["id"] for row in rows]
        if ids:
            await conn.execute("DELETE FROM proposal_unplaced WHERE referral_id = ANY($1::uuid[])", ids)
            await conn.execute("DELETE FROM proposal_declines WHERE referral_id = ANY($1::uuid[])", ids)
            await record(conn, None, "purged", "referral", ids, [{"purged": True}] * len(ids))
    return len(ids)
