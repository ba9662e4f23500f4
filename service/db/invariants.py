"""What must hold in the database whatever happened: no half-done change.

Every state change runs in one transaction, so after any fault (a killed worker, a lost
database) each stay, hold and audit event is fully there or absent, and referral statuses
agree with stays and holds. Each query below returns the ids that break its rule; none
should return a row. Rules the schema enforces itself (no double booking, an ended
referral has its end time, an exit has its reason) are not repeated here. The test
suite checks them after its flows; the fault benchmarks of issue 7 are to check them
after each fault.

Simulated history (`abri simulate`) is written without an audit event per row, by design:
rows older than the latest simulation's audit event are excused from the audit rules.
"""

from __future__ import annotations

import asyncpg

_SIMULATED_UNTIL = "(SELECT max(at) FROM audit_events WHERE action = 'history.simulated')"

INVARIANTS: dict[str, str] = {
    "a placed referral has exactly one open stay": """
        SELECT r.id FROM referrals r
        WHERE r.status = 'placed'
          AND (SELECT count(*) FROM stays s WHERE s.referral_id = r.id AND s.ended_as IS NULL) <> 1
    """,
    "an open stay's referral is placed": """
        SELECT s.id FROM stays s JOIN referrals r ON r.id = s.referral_id
        WHERE s.ended_as IS NULL AND r.status <> 'placed'
    """,
    "a held referral has an active hold": """
        SELECT r.id FROM referrals r
        WHERE r.status = 'held' AND NOT EXISTS (SELECT FROM holds h WHERE h.referral_id = r.id AND h.status = 'active')
    """,
    "an active hold's referral is held": """
        SELECT h.id FROM holds h JOIN referrals r ON r.id = h.referral_id
        WHERE h.status = 'active' AND r.status <> 'held'
    """,
    "a confirmed hold became a stay, and a stay from a hold had it confirmed": """
        SELECT h.id FROM holds h
        WHERE h.status = 'confirmed' AND NOT EXISTS (SELECT FROM stays s WHERE s.hold_id = h.id)
        UNION ALL
        SELECT s.id FROM stays s JOIN holds h ON h.id = s.hold_id WHERE h.status <> 'confirmed'
    """,
    "an ended stay's period has ended": """
        SELECT id FROM stays WHERE (ended_as IS NOT NULL) <> (upper(period) IS NOT NULL)
    """,
    "every stay and hold has its audit event": f"""
        SELECT s.id FROM stays s
        WHERE NOT EXISTS (SELECT FROM audit_events a
                          WHERE a.subject_id = s.id AND a.subject_type = 'stay' AND a.action = 'started')
          AND s.created_at > coalesce({_SIMULATED_UNTIL}, '-infinity')
        UNION ALL
        SELECT h.id FROM holds h
        WHERE NOT EXISTS (SELECT FROM audit_events a
                          WHERE a.subject_id = h.id AND a.subject_type = 'hold' AND a.action = 'created')
          AND h.created_at > coalesce({_SIMULATED_UNTIL}, '-infinity')
    """,
    "every audit event of a stay or hold is about one that exists": """
        SELECT a.subject_id FROM audit_events a
        WHERE (a.subject_type = 'stay' AND NOT EXISTS (SELECT FROM stays s WHERE s.id = a.subject_id))
           OR (a.subject_type = 'hold' AND NOT EXISTS (SELECT FROM holds h WHERE h.id = a.subject_id))
    """,
    "every stay and hold started has its event for partners": """
        SELECT a.subject_id FROM audit_events a
        WHERE a.subject_type IN ('stay', 'hold') AND a.action IN ('started', 'created')
          AND a.at >= (SELECT coalesce(min(at), 'infinity') FROM events)
          AND NOT EXISTS (SELECT FROM events e WHERE e.subject_id = a.subject_id
                          AND e.type IN ('stay.started', 'hold.created'))
    """,
}


async def violations(conn: asyncpg.Connection, limit: int = 20) -> dict[str, list[str]]:
    """Each broken rule with up to `limit` of the ids that break it; empty when all hold."""
    found = {}
    for rule, sql in INVARIANTS.items():
        rows = await conn.fetch(f"SELECT * FROM ({sql}) AS broken LIMIT {int(limit)}")
        if rows:
            found[rule] = [str(row[0]) for row in rows]
    return found
