"""SQL for holds and stays.

Two rules keep a bed from being given twice, both enforced by PostgreSQL:
- within holds, and within stays, `EXCLUDE USING gist (bed_id WITH =, period WITH &&)`;
- across the two tables, every write that takes a bed first locks the bed's row
  (`SELECT … FOR UPDATE`), so the check "no stay or hold overlaps" and the insert that
  follows cannot interleave with another booking of the same bed.
Locks are taken referral first, then beds in id order, so two transactions never wait
on each other in a cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from contracts.placements import Hold, HoldStatus, Stay
from contracts.referrals import ReferralStatus
from service.audit.record import record
from service.auth import Caller
from service.problems import ProblemError
from service.referrals.lifecycle import check_transition
from service.referrals.queries import get_referral, update_referral

HOLD_COLUMNS = """id, referral_id, bed_id, status, lower(period) AS held_from, upper(period) AS expires_at,
                  cancel_reason, version, created_at, updated_at"""
STAY_COLUMNS = """id, referral_id, bed_id, hold_id, transferred_from, lower(period) AS started_at,
                  upper(period) AS ended_at, checked_in_at, ended_as, exit_reason,
                  round((extract(epoch FROM coalesce(upper(period), now()) - lower(period)) / 86400)::numeric, 2)
                      ::float8 AS length_of_stay_days,
                  version, created_at, updated_at"""


def to_hold(row: asyncpg.Record) -> Hold:
    return msgspec.convert(dict(row), Hold)


def to_stay(row: asyncpg.Record) -> Stay:
    return msgspec.convert(dict(row), Stay)


async def lock_bed(conn: asyncpg.Connection, bed_id: UUID, at: datetime, timezone: str) -> UUID:
    """Lock the bed; refuse it unless it can be taken from `at` on. Returns its owner organisation.

    Two statements on purpose: at READ COMMITTED a statement sees the data as of its
    start, so a check made in the locking statement would not see a booking committed
    by the transaction it waited for. Checked after the lock, it does.
    """
    if await conn.fetchval("SELECT id FROM beds WHERE id = $1 FOR UPDATE", bed_id) is None:
        raise ProblemError(422, "No such bed", detail=f"No bed has id {bed_id}.", bed_id=str(bed_id))
    bed = await conn.fetchrow(
        """
        SELECT f.organisation_id,
               f.opened_on <= ($2::timestamptz AT TIME ZONE $3)::date
                   AND (f.closed_on IS NULL OR f.closed_on > ($2::timestamptz AT TIME ZONE $3)::date)
                   AS open,
               EXISTS (SELECT FROM bed_unavailability u WHERE u.bed_id = b.id AND u.period @> $2::timestamptz)
                   AS out_of_service,
               EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.period && tstzrange($2, NULL))
                   OR EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period && tstzrange($2, NULL))
                   AS taken
        FROM beds b JOIN facilities f ON f.id = b.facility_id
        WHERE b.id = $1
        """,
        bed_id,
        at,
        timezone,
    )
    if not bed["open"] or bed["out_of_service"]:
        detail = f"Bed {bed_id} is closed or out of service."
        raise ProblemError(409, "Bed not in service", detail=detail, bed_id=str(bed_id))
    if bed["taken"]:
        raise ProblemError(409, "Bed already taken", detail=f"Bed {bed_id} is held or occupied.", bed_id=str(bed_id))
    return bed["organisation_id"]


async def bed_owner(conn: asyncpg.Connection, bed_id: UUID) -> UUID:
    return await conn.fetchval(
        "SELECT f.organisation_id FROM beds b JOIN facilities f ON f.id = b.facility_id WHERE b.id = $1", bed_id
    )


async def move_referral(
    conn: asyncpg.Connection, actor: Caller | None, referral_id: UUID, status: ReferralStatus, **extra: Any
) -> None:
    """Change a referral's status (already locked by the caller's transaction), audited."""
    current = await get_referral(conn, referral_id)
    check_transition(current.status, status)
    columns: dict[str, Any] = {"status": status.value}
    if status in (ReferralStatus.EXITED, ReferralStatus.WITHDRAWN):
        columns["ended_at"] = await conn.fetchval("SELECT now()")
    await update_referral(conn, referral_id, columns)
    await record(conn, actor, status.value, "referral", [referral_id], [{"status": status.value, **extra}])


async def expire_holds(conn: asyncpg.Connection, referral_id: UUID | None = None) -> int:
    """Mark holds past their expiry as expired and put their referrals back to waiting.

    The bed is free again as soon as the expiry passes (the hold's period ends there);
    this only brings the bookkeeping up to date. The sweeper calls it for all referrals;
    hold creation calls it for its referral first, so nothing waits on the sweeper.
    """
    async with conn.transaction():
        expired = await conn.fetch(
            """
            UPDATE holds SET status = 'expired', version = version + 1, updated_at = now()
            WHERE status = 'active' AND upper(period) <= now() AND ($1::uuid IS NULL OR referral_id = $1)
            RETURNING id, referral_id
            """,
            referral_id,
        )
        if not expired:
            return 0
        await record(conn, None, "expired", "hold", [h["id"] for h in expired], [{"status": "expired"}] * len(expired))
        back = await conn.fetch(
            """
            UPDATE referrals r SET status = 'waiting', version = version + 1, updated_at = now()
            WHERE r.id = ANY($1::uuid[]) AND r.status = 'held'
              AND NOT EXISTS (SELECT FROM holds h WHERE h.referral_id = r.id AND h.status = 'active')
            RETURNING r.id
            """,
            [h["referral_id"] for h in expired],
        )
        if back:
            await record(
                conn,
                None,
                "waiting",
                "referral",
                [r["id"] for r in back],
                [{"status": "waiting", "reason": "hold_expired"}] * len(back),
            )
    return len(expired)


async def insert_hold(conn: asyncpg.Connection, referral_id: UUID, bed_id: UUID, minutes: int) -> Hold:
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO holds (referral_id, bed_id, period)
            VALUES ($1, $2, tstzrange(now(), now() + make_interval(mins => $3)))
            RETURNING {HOLD_COLUMNS}
            """,
            referral_id,
            bed_id,
            minutes,
        )
    except asyncpg.ExclusionViolationError:
        raise ProblemError(409, "Bed already taken", detail=f"Bed {bed_id} is held.", bed_id=str(bed_id)) from None
    return to_hold(row)


async def insert_stay(
    conn: asyncpg.Connection, referral_id: UUID, bed_id: UUID, hold_id: UUID | None, transferred_from: UUID | None
) -> Stay:
    try:
        row = await conn.fetchrow(
            f"""
            INSERT INTO stays (referral_id, bed_id, hold_id, transferred_from, period)
            VALUES ($1, $2, $3, $4, tstzrange(now(), NULL))
            RETURNING {STAY_COLUMNS}
            """,
            referral_id,
            bed_id,
            hold_id,
            transferred_from,
        )
    except asyncpg.ExclusionViolationError:
        raise ProblemError(409, "Bed already taken", detail=f"Bed {bed_id} is occupied.", bed_id=str(bed_id)) from None
    return to_stay(row)


async def end_hold(conn: asyncpg.Connection, hold_id: UUID, status: str, reason: str | None = None) -> Hold:
    """Confirm or cancel an active hold: its period ends now, freeing the bed from now on."""
    row = await conn.fetchrow(
        f"""
        UPDATE holds SET status = $2, cancel_reason = $3, period = tstzrange(lower(period), now()),
                         version = version + 1, updated_at = now()
        WHERE id = $1
        RETURNING {HOLD_COLUMNS}
        """,
        hold_id,
        status,
        reason,
    )
    return to_hold(row)


async def end_stay(
    conn: asyncpg.Connection, stay_id: UUID, at: datetime, ended_as: str, exit_reason: str | None = None
) -> Stay:
    row = await conn.fetchrow(
        f"""
        UPDATE stays SET period = tstzrange(lower(period), $2), ended_as = $3, exit_reason = $4,
                         version = version + 1, updated_at = now()
        WHERE id = $1
        RETURNING {STAY_COLUMNS}
        """,
        stay_id,
        at,
        ended_as,
        exit_reason,
    )
    return to_stay(row)


async def get_hold(conn: asyncpg.Connection, hold_id: UUID, *, for_update: bool = False) -> Hold:
    row = await conn.fetchrow(
        f"SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1{' FOR UPDATE' if for_update else ''}", hold_id
    )
    if row is None:
        raise ProblemError(404, "No such hold", detail=f"No hold has id {hold_id}.")
    return to_hold(row)


async def get_stay(conn: asyncpg.Connection, stay_id: UUID, *, for_update: bool = False) -> Stay:
    row = await conn.fetchrow(
        f"SELECT {STAY_COLUMNS} FROM stays WHERE id = $1{' FOR UPDATE' if for_update else ''}", stay_id
    )
    if row is None:
        raise ProblemError(404, "No such stay", detail=f"No stay has id {stay_id}.")
    return to_stay(row)


async def lock_referral(conn: asyncpg.Connection, referral_id: UUID) -> None:
    """Lock a referral named in a request body (422 when it does not exist)."""
    if await conn.fetchval("SELECT id FROM referrals WHERE id = $1 FOR UPDATE", referral_id) is None:
        raise ProblemError(422, "No such referral", detail=f"No referral has id {referral_id}.")


async def active_hold(conn: asyncpg.Connection, hold_id: UUID) -> Hold:
    """The hold, locked with its referral, if it still holds the bed; 409 otherwise."""
    hold = await get_hold(conn, hold_id)
    await lock_referral(conn, hold.referral_id)
    hold = await get_hold(conn, hold_id, for_update=True)
    if hold.status is HoldStatus.ACTIVE and hold.expires_at <= datetime.now(UTC):
        raise ProblemError(409, "Hold expired", detail=f"The hold ended at {hold.expires_at.isoformat()}.")
    if hold.status is not HoldStatus.ACTIVE:
        raise ProblemError(
            409, "Hold has ended", detail=f"The hold is {hold.status}.", current_status=hold.status.value
        )
    return hold


async def confirm_hold(conn: asyncpg.Connection, actor: Caller, hold_id: UUID) -> Stay:
    """The person takes the bed: the hold ends and a stay begins (call inside a transaction), audited."""
    hold = await active_hold(conn, hold_id)
    await move_referral(conn, actor, hold.referral_id, ReferralStatus.PLACED)
    confirmed = await end_hold(conn, hold_id, HoldStatus.CONFIRMED.value)
    stay = await insert_stay(conn, hold.referral_id, hold.bed_id, hold_id, None)
    await record(conn, actor, "confirmed", "hold", [hold_id], [hold_facts(confirmed)])
    await record(conn, actor, "started", "stay", [stay.id], [stay_facts(stay)])
    return stay


async def cancel_hold(conn: asyncpg.Connection, actor: Caller, hold_id: UUID, reason: str) -> Hold:
    """The bed is given back and the referral waits again (call inside a transaction), audited."""
    hold = await active_hold(conn, hold_id)
    await move_referral(conn, actor, hold.referral_id, ReferralStatus.WAITING, reason=reason)
    cancelled = await end_hold(conn, hold_id, HoldStatus.CANCELLED.value, reason)
    await record(conn, actor, "cancelled", "hold", [hold_id], [hold_facts(cancelled)])
    return cancelled


def hold_facts(hold: Hold) -> dict[str, object]:
    return {
        "bed_id": str(hold.bed_id),
        "referral_id": str(hold.referral_id),
        "status": hold.status.value,
        "expires_at": hold.expires_at.isoformat(),
    }


def stay_facts(stay: Stay) -> dict[str, object]:
    facts: dict[str, object] = {"bed_id": str(stay.bed_id), "referral_id": str(stay.referral_id)}
    if stay.ended_as is not None:
        facts |= {"ended_as": stay.ended_as.value, "exit_reason": stay.exit_reason and stay.exit_reason.value}
    return facts
