"""The outbox: the audit trail's changes that partners hear of, as events, in the same transaction.

`service.audit.record` calls `publish` for every audited change, so no change can be
committed without its event. Which audited changes become which events is `EVENT_OF`;
for each audited subject type, `_SOURCES` says in SQL what the event is about and which
organisations may see it (the facility's operator, the referral's organisation).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from contracts.events import EventType as E
from contracts.referrals import ReferralStatus
from service.availability.queries import bed_in_service

# (audited subject type, action) → the event partners get.
EVENT_OF: dict[tuple[str, str], E] = {
    ("referral", "created"): E.REFERRAL_CREATED,
    **{("referral", status.value): E.REFERRAL_STATUS_CHANGED for status in ReferralStatus},
    ("hold", "created"): E.HOLD_CREATED,
    ("hold", "confirmed"): E.HOLD_CONFIRMED,
    ("hold", "cancelled"): E.HOLD_CANCELLED,
    ("hold", "expired"): E.HOLD_EXPIRED,
    ("proposal", "created"): E.PROPOSAL_CREATED,
    ("stay", "started"): E.STAY_STARTED,
    ("stay", "checked_in"): E.STAY_CHECKED_IN,
    ("stay", "no_show"): E.STAY_ENDED,
    ("stay", "transferred"): E.STAY_ENDED,
    ("stay", "exited"): E.STAY_ENDED,
    ("bed_unavailability", "created"): E.BED_STATUS_CHANGED,
    ("bed_unavailability", "updated"): E.BED_STATUS_CHANGED,
    ("bed", "created"): E.CAPACITY_CHANGED,
    ("bed", "updated"): E.CAPACITY_CHANGED,
    ("facility", "created"): E.CAPACITY_CHANGED,
    ("facility", "updated"): E.CAPACITY_CHANGED,
}

# Per audited subject type: rows of (subject_type, subject_id, organisation_ids, data) from
# `changed` (subject_id, changes), the audited ids with their audit changes (non-personal).
# Counts of places free or in service are not in events: they depend on the local day
# (ABRI_TIMEZONE) and move with every stay; /v1/availability and /v1/export/hsds tell them.
_CAPACITY = """
    SELECT 'facility', f.id, ARRAY[f.organisation_id],
           jsonb_build_object('facility_id', f.id, 'beds', (SELECT count(*) FROM beds b WHERE b.facility_id = f.id))
    FROM facilities f
"""
_SOURCES: dict[str, str] = {
    "referral": """
        SELECT 'referral', r.id, ARRAY[r.organisation_id], c.changes
        FROM changed c JOIN referrals r ON r.id = c.subject_id
    """,
    "hold": """
        SELECT 'hold', h.id, ARRAY[f.organisation_id, r.organisation_id],
               c.changes || jsonb_build_object('facility_id', f.id)
        FROM changed c JOIN holds h ON h.id = c.subject_id JOIN referrals r ON r.id = h.referral_id
        JOIN beds b ON b.id = h.bed_id JOIN facilities f ON f.id = b.facility_id
    """,
    "stay": """
        SELECT 'stay', s.id, ARRAY[f.organisation_id, r.organisation_id],
               c.changes || jsonb_build_object('facility_id', f.id)
        FROM changed c JOIN stays s ON s.id = c.subject_id JOIN referrals r ON r.id = s.referral_id
        JOIN beds b ON b.id = s.bed_id JOIN facilities f ON f.id = b.facility_id
    """,
    "proposal": """
        SELECT 'proposal', c.subject_id, '{}'::uuid[], c.changes FROM changed c
    """,
    "bed_unavailability": f"""
        SELECT 'bed', u.bed_id, ARRAY[f.organisation_id], jsonb_build_object(
            'bed_id', u.bed_id, 'facility_id', f.id, 'period_id', u.id, 'reason', u.reason,
            'starts_at', u.starts_at, 'ends_at', u.ends_at, 'in_service_now', {bed_in_service("now()")})
        FROM changed c JOIN bed_unavailability u ON u.id = c.subject_id
        JOIN beds b ON b.id = u.bed_id JOIN facilities f ON f.id = b.facility_id
    """,
    # One event per facility however many of its beds changed (a bulk creation of 2,000 beds).
    "bed": _CAPACITY + "WHERE f.id IN (SELECT b.facility_id FROM changed c JOIN beds b ON b.id = c.subject_id)",
    "facility": _CAPACITY + "WHERE f.id IN (SELECT subject_id FROM changed)",
}


async def publish(
    conn: asyncpg.Connection, action: str, subject_type: str, subject_ids: list[UUID], changes: list[str]
) -> None:
    """Write the events of an audited change (`changes`: JSON texts paired with `subject_ids`)."""
    event_type = EVENT_OF.get((subject_type, action))
    if event_type is None:
        return
    await conn.execute(
        f"""
        WITH changed (subject_id, changes) AS (
            SELECT subject_id, changes::jsonb FROM unnest($2::uuid[], $3::text[]) AS c(subject_id, changes)
        )
        INSERT INTO events (type, subject_type, subject_id, organisation_ids, data)
        SELECT $1, source.* FROM ({_SOURCES[subject_type]}) AS source
        """,
        event_type.value,
        subject_ids,
        changes,
    )
