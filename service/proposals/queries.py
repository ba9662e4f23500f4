"""SQL for proposals: the snapshot a problem is built from, saving a plan as held lines, reading them back.

Saving a plan follows the booking rules of service/placements, in bulk: lock the
referrals, then the candidate beds (each in id order, so two proposals, or a proposal
and a manual hold, never wait on each other in a cycle), then check which beds are
still free in a statement of its own (at READ COMMITTED it sees what the transactions
it waited for committed), and only then insert the holds. A line whose bed was taken
meanwhile takes the next free bed of its class; a line that finds none, or whose
referral no longer waits, is kept as dropped, with its couple partner. The holds'
EXCLUDE constraint stays the last guard.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from contracts.common import Page
from contracts.proposals import (
    LineReason,
    LineStatus,
    Proposal,
    ProposalCounts,
    ProposalLine,
    ProposalParameters,
    ProposalSummary,
)
from service.audit.record import record
from service.auth import Caller
from service.pagination import decode_cursor, encode_cursor
from service.problems import ProblemError
from service.proposals.problem import Booking, ListedRow
from solver.problem import Line, PlacementPlan

_SNAPSHOT = """
WITH scope AS (
    SELECT r.* FROM referrals r
    WHERE r.status = 'waiting'
      AND ($4::uuid[] IS NULL
           OR r.id = ANY($4::uuid[])
           OR r.couple_partner_id = ANY($4::uuid[])
           OR r.id IN (SELECT couple_partner_id FROM referrals WHERE id = ANY($4::uuid[])))
),
open_facilities AS (
    SELECT f.id, f.name, f.kind, f.lat, f.lon FROM facilities f
    WHERE f.opened_on <= ($1::timestamptz AT TIME ZONE $3)::date
      AND (f.closed_on IS NULL OR f.closed_on > ($1::timestamptz AT TIME ZONE $3)::date)
),
classes AS (
    SELECT b.facility_id, b.gender_policy, b.accessible, b.couple_room, b.dogs_allowed, b.medical_level,
           b.nightly_cost_cents, array_agg(b.id ORDER BY b.id) AS bed_ids
    FROM open_facilities f JOIN beds b ON b.facility_id = f.id
    WHERE NOT EXISTS (SELECT FROM bed_unavailability u
                      WHERE u.bed_id = b.id AND u.period && tstzrange($1, $1 + make_interval(mins => $2)))
      AND NOT EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period && tstzrange($1, NULL))
      AND NOT EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.period && tstzrange($1, NULL))
    GROUP BY b.facility_id, b.gender_policy, b.accessible, b.couple_room, b.dogs_allowed, b.medical_level,
             b.nightly_cost_cents
),
linked AS (
    SELECT r.id, r.couple_partner_id, r.keep_apart_ids FROM referrals r
    WHERE r.status IN ('held', 'placed')
      AND (r.id IN (SELECT couple_partner_id FROM scope UNION ALL SELECT unnest(keep_apart_ids) FROM scope)
           OR r.couple_partner_id IN (SELECT id FROM scope)
           OR r.keep_apart_ids && ARRAY(SELECT id FROM scope))
),
placed AS (
    SELECT l.id, l.couple_partner_id, l.keep_apart_ids, bed.facility_id
    FROM linked l
    CROSS JOIN LATERAL (
        SELECT b.facility_id FROM holds h JOIN beds b ON b.id = h.bed_id
        WHERE h.referral_id = l.id AND h.status = 'active' AND h.period @> $1::timestamptz
        UNION ALL
        SELECT b.facility_id FROM stays s JOIN beds b ON b.id = s.bed_id
        WHERE s.referral_id = l.id AND s.period @> $1::timestamptz
        LIMIT 1
    ) bed
)
SELECT (SELECT coalesce(json_agg(json_build_object('id', id, 'status', status)), '[]')
        FROM referrals WHERE id = ANY($4::uuid[]))::text AS listed,
       convert_to(json_build_object(
    'people', (SELECT coalesce(json_agg(p ORDER BY p.id), '[]') FROM (
        SELECT id, gender, accessible, dogs, medical_level, acceptable_kinds, consents_out_of_region,
               excluded_facility_ids, keep_apart_ids, couple_partner_id, care_anchor_lat, care_anchor_lon,
               vulnerability, court_ordered,
               floor(extract(epoch FROM $1::timestamptz - created_at) / 86400)::int AS days_waiting
        FROM scope) p),
    'placed', (SELECT coalesce(json_agg(p), '[]') FROM placed p),
    'declines', (SELECT coalesce(json_agg(d), '[]') FROM (
        SELECT referral_id, facility_id FROM proposal_declines
        WHERE NOT $5 AND referral_id IN (SELECT id FROM scope)) d),
    'classes', (SELECT coalesce(json_agg(c ORDER BY c.facility_id, c.bed_ids[1]), '[]') FROM classes c),
    'facilities', (SELECT coalesce(json_agg(f ORDER BY f.id), '[]')
                   FROM open_facilities f WHERE f.id IN (SELECT facility_id FROM classes)),
    'sites', (SELECT coalesce(json_agg(s ORDER BY s.name), '[]') FROM (
        SELECT name, lat, lon FROM consumption_sites WHERE active @> $1::timestamptz) s)
)::text, 'UTF8') AS snapshot
"""


async def snapshot(
    conn: asyncpg.Connection,
    at: datetime,
    hold_minutes: int,
    timezone: str,
    listed: list[UUID] | None,
    include_declined: bool,
) -> tuple[list[ListedRow], bytes]:
    """The listed referrals' statuses, and everything a problem needs as `Snapshot` JSON, read in
    one statement, so from one consistent snapshot.

    A bed is free when its facility is open on `at`'s local day, no out-of-service period
    overlaps the hold, and no hold or stay covers any time from `at` on (as `lock_bed` checks).
    The snapshot stays UTF-8 bytes, neither decoded nor copied here: the solver's process
    decodes it (megabytes at France scale).
    """
    row = await conn.fetchrow(_SNAPSHOT, at, hold_minutes, timezone, listed, include_declined)
    return msgspec.json.decode(row["listed"], type=list[ListedRow]), row["snapshot"]


# Saving a plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    beds: dict[str, UUID]
    """Person id → the bed their hold takes."""
    dropped: dict[str, LineReason]


@dataclass(frozen=True)
class Now:
    """What the plan's lines meet when saved: referrals under their locks, beds as last read."""

    waiting: set[str]
    """People still waiting."""
    free: set[UUID]
    """Candidate beds free for the whole hold, as far as is known."""
    booked: dict[str, set[str]]
    """Keep-apart others with a bed now → its facility."""


def assign(lines: list[Line], booking: Booking, now: Now) -> Assignment:
    """Give each line, in order, the first free bed of its class; drop a couple together.

    A line is dropped when its referral stopped waiting, when no bed of its class is
    free any more, or when someone to keep apart from got a bed in its facility meanwhile.
    """
    partner = booking.partners
    forced: dict[str, LineReason] = {}
    while True:
        beds: dict[str, UUID] = {}
        dropped = dict(forced)
        # A class's beds are taken in order: each class keeps the position of its next candidate.
        position: dict[str, int] = {}
        for line in lines:
            person = line.person_id
            if person in dropped:
                continue
            if person not in now.waiting:
                dropped[person] = LineReason.REFERRAL_NOT_WAITING
                continue
            if any(line.facility_id in now.booked.get(other, ()) for other in booking.apart[person]):
                dropped[person] = LineReason.KEEP_APART
                continue
            candidates, i = booking.beds[line.bed_class_id], position.get(line.bed_class_id, 0)
            while i < len(candidates) and candidates[i] not in now.free:
                i += 1
            if i == len(candidates):
                position[line.bed_class_id] = i
                dropped[person] = LineReason.BED_TAKEN
                continue
            position[line.bed_class_id] = i + 1
            beds[person] = candidates[i]
        alone = {partner[p] for p in dropped if partner.get(p) in beds}
        if not alone:
            return Assignment(beds, dropped)
        forced |= {p: reason for p, reason in dropped.items() if partner.get(p) in alone}
        forced |= dict.fromkeys(alone, LineReason.PARTNER_DROPPED)


_BOOKED = """
SELECT h.referral_id, b.facility_id FROM holds h JOIN beds b ON b.id = h.bed_id
WHERE h.referral_id = ANY($1::uuid[]) AND h.status = 'active' AND h.period @> $2::timestamptz
UNION ALL
SELECT s.referral_id, b.facility_id FROM stays s JOIN beds b ON b.id = s.bed_id
WHERE s.referral_id = ANY($1::uuid[]) AND s.period @> $2::timestamptz
"""


_FREE = """
SELECT b.id FROM beds b JOIN facilities f ON f.id = b.facility_id
WHERE b.id = ANY($1::uuid[])
  AND f.opened_on <= ($2::timestamptz AT TIME ZONE $4)::date
  AND (f.closed_on IS NULL OR f.closed_on > ($2::timestamptz AT TIME ZONE $4)::date)
  AND NOT EXISTS (SELECT FROM bed_unavailability u WHERE u.bed_id = b.id AND u.period && tstzrange($2, $3))
  AND NOT EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period && tstzrange($2, NULL))
  AND NOT EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.period && tstzrange($2, NULL))
"""


async def lock_and_assign(
    conn: asyncpg.Connection, lines: list[Line], booking: Booking, start: datetime, expiry: datetime, timezone: str
) -> Assignment:
    """Lock the lines' referrals and their keep-apart others, then the beds the lines take.

    Referrals in id order, waiting for them, as service/placements does. Beds: those free
    now among the candidates are assigned (`assign`), and only the beds assigned are
    locked, without waiting (SKIP LOCKED: a bed locked by another booking counts as
    taken, so nothing here waits on a bed and no cycle of waits can form), then checked
    again in a statement of their own, which sees what was committed before the lock. A
    bed found taken is out, and the lines are assigned again, until every bed assigned is
    locked and free. Locking every candidate bed instead (tens of thousands at France
    scale) made each save write a lock on each of those rows.
    """
    people = {line.person_id for line in lines}
    others = {other for person in people for other in booking.apart[person]}
    locked = await conn.fetch(
        "SELECT id, status FROM referrals WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
        sorted(UUID(r) for r in people | others),
    )
    booked: dict[str, set[str]] = {}
    for r in await conn.fetch(_BOOKED, [UUID(o) for o in others], start):
        booked.setdefault(str(r["referral_id"]), set()).add(str(r["facility_id"]))
    candidates = sorted({bed for line in lines for bed in booking.beds[line.bed_class_id]})
    now = Now(
        waiting={str(r["id"]) for r in locked if r["status"] == "waiting" and str(r["id"]) in people},
        free={r["id"] for r in await conn.fetch(_FREE, candidates, start, expiry, timezone)},
        booked=booked,
    )
    checked: set[UUID] = set()
    while True:
        assignment = assign(lines, booking, now)
        wanted = sorted(set(assignment.beds.values()) - checked)
        if not wanted:
            return assignment
        got = await conn.fetch(
            "SELECT id FROM beds WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE SKIP LOCKED", wanted
        )
        free = {r["id"] for r in await conn.fetch(_FREE, [r["id"] for r in got], start, expiry, timezone)}
        checked |= free
        now = replace(now, free=now.free - (set(wanted) - free))


_INSERT_LINES = """
INSERT INTO proposal_lines (proposal_id, position, referral_id, facility_id, facility_name, kind, bed_id, hold_id,
                            distance_km, nearest_site, priority_score, distance_score, care_score, cost_score,
                            status, reason, decided_at)
SELECT $1, l.position, l.referral_id, l.facility_id, l.facility_name, l.kind, l.bed_id, l.hold_id,
       l.distance_km, l.nearest_site, l.priority_score, l.distance_score, l.care_score, l.cost_score,
       l.status, l.reason, CASE WHEN l.status = 'dropped' THEN $2::timestamptz END
FROM unnest($3::int[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::uuid[],
            $10::float8[], $11::text[], $12::int[], $13::int[], $14::int[], $15::int[], $16::text[], $17::text[])
     AS l(position, referral_id, facility_id, facility_name, kind, bed_id, hold_id,
          distance_km, nearest_site, priority_score, distance_score, care_score, cost_score, status, reason)
"""

_INSERT_UNPLACED = """
INSERT INTO proposal_unplaced (proposal_id, referral_id, reason, explanation, free_beds, beds_removed, eligible_beds)
SELECT $1, u.referral_id, u.reason, u.explanation, u.free_beds, u.beds_removed::jsonb, u.eligible_beds
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[])
     AS u(referral_id, reason, explanation, free_beds, beds_removed, eligible_beds)
"""


@dataclass(frozen=True)
class NewProposal:
    at: datetime
    hold_minutes: int
    include_declined: bool
    referrals_listed: int | None
    parameters: ProposalParameters


async def save_plan(
    conn: asyncpg.Connection,
    caller: Caller,
    timezone: str,
    request: NewProposal,
    booking: Booking,
    plan: PlacementPlan,
    start: datetime,
) -> UUID:
    """Store the proposal, hold a bed for each line that can still have one, all in one transaction."""
    expiry = start + timedelta(minutes=request.hold_minutes)
    lines = sorted(plan.lines, key=lambda line: (-line.scores.priority, line.person_id))
    async with conn.transaction():
        assignment = await lock_and_assign(conn, lines, booking, start, expiry, timezone)

        proposal_id = await conn.fetchval(
            """
            INSERT INTO proposals (key_id, organisation_id, at, holds_expire_at, hold_minutes, include_declined,
                                   referrals_listed, people, parameters, statistics)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)
            RETURNING id
            """,
            caller.key_id,
            caller.organisation_id,
            request.at,
            expiry,
            request.hold_minutes,
            request.include_declined,
            request.referrals_listed,
            booking.people,
            msgspec.json.encode(request.parameters).decode(),
            msgspec.json.encode(plan.statistics).decode(),
        )
        held = [UUID(person) for person in assignment.beds]
        beds = list(assignment.beds.values())
        holds = await conn.fetch(
            """
            INSERT INTO holds (referral_id, bed_id, period)
            SELECT referral_id, bed_id, tstzrange($3, $4) FROM unnest($1::uuid[], $2::uuid[]) AS h(referral_id, bed_id)
            RETURNING id, referral_id, bed_id
            """,
            held,
            beds,
            start,
            expiry,
        )
        hold_of = {str(h["referral_id"]): h["id"] for h in holds}
        await conn.execute(
            "UPDATE referrals SET status = 'held', version = version + 1, updated_at = now() "
            "WHERE id = ANY($1::uuid[])",
            held,
        )
        await _insert_lines(conn, proposal_id, lines, assignment, hold_of, booking, start)
        await _insert_unplaced(conn, proposal_id, plan)

        facts = {"proposal_id": str(proposal_id)}
        await record(
            conn,
            caller,
            "created",
            "proposal",
            [proposal_id],
            [
                {
                    "people": booking.people,
                    "lines": len(lines),
                    "held": len(holds),
                    "dropped": len(assignment.dropped),
                    "unplaced": len(plan.unplaced),
                    "method": plan.statistics.method.value,
                    "hold_minutes": request.hold_minutes,
                    "include_declined": request.include_declined,
                }
            ],
        )
        await record(
            conn,
            caller,
            "held",
            "referral",
            held,
            [{"status": "held", "bed_id": str(bed), **facts} for bed in beds],
        )
        await record(
            conn,
            caller,
            "created",
            "hold",
            [h["id"] for h in holds],
            [
                {
                    "bed_id": str(h["bed_id"]),
                    "referral_id": str(h["referral_id"]),
                    "status": "active",
                    "expires_at": expiry.isoformat(),
                    **facts,
                }
                for h in holds
            ],
        )
    return proposal_id


def explanation(r: dict[str, Any]) -> str:
    """Why a line scored as it did, from its stored facts about the bed (nothing about the person)."""
    if r["distance_km"] is None:
        where = "no consumption site is active"
    else:
        where = (
            f"{r['distance_km']:.1f} km from {r['nearest_site']}, the nearest active consumption site "
            f"(at least {r['min_distance_km']:g} km required for {r['kind']})"
        )
    return (
        f"{r['facility_name']}: {where}; priority {r['priority_score']}, distance +{r['distance_score']}, "
        f"care +{r['care_score']}, cost −{r['cost_score']} points."
    )


async def _insert_lines(
    conn: asyncpg.Connection,
    proposal_id: UUID,
    lines: list[Line],
    assignment: Assignment,
    hold_of: dict[str, UUID],
    booking: Booking,
    start: datetime,
) -> None:
    columns: list[list[Any]] = [[] for _ in range(15)]
    for position, line in enumerate(lines):
        facility = booking.facilities[line.facility_id]
        person = line.person_id
        reason = assignment.dropped.get(person)
        values = (
            position,
            UUID(person),
            UUID(line.facility_id),
            facility.name,
            line.kind.value,
            assignment.beds.get(person),
            hold_of.get(person),
            line.distance_km,
            line.nearest_site,
            line.scores.priority,
            line.scores.distance,
            line.scores.care,
            line.scores.cost,
            LineStatus.DROPPED.value if reason else LineStatus.PROPOSED.value,
            reason and reason.value,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await conn.execute(_INSERT_LINES, proposal_id, start, *columns)


async def _insert_unplaced(conn: asyncpg.Connection, proposal_id: UUID, plan: PlacementPlan) -> None:
    u = plan.unplaced
    await conn.execute(
        _INSERT_UNPLACED,
        proposal_id,
        [UUID(x.person_id) for x in u],
        [x.reason.value for x in u],
        [x.explanation for x in u],
        [x.free_beds for x in u],
        [msgspec.json.encode(x.beds_removed).decode() for x in u],
        [x.eligible_beds for x in u],
    )


# Reading --------------------------------------------------------------------------

LINE_COLUMNS = """id, referral_id, facility_id, facility_name, kind, bed_id, hold_id, hold_expires_at, stay_id,
                  distance_km, nearest_site, priority_score, distance_score, care_score, cost_score, min_distance_km,
                  status, reason, decided_at, version"""
_COUNTS = """
    count(*) FILTER (WHERE status = 'proposed') AS proposed,
    count(*) FILTER (WHERE status = 'accepted') AS accepted,
    count(*) FILTER (WHERE status = 'declined') AS declined,
    count(*) FILTER (WHERE status = 'dropped') AS dropped,
    count(*) FILTER (WHERE status = 'expired') AS expired
"""


TURN = 500  # lines converted between two turns of the event loop (~7 ms)


def to_line(row: asyncpg.Record) -> ProposalLine:
    r = dict(row)
    r["explanation"] = explanation(r)
    del r["min_distance_km"]
    r["facility"] = {"id": r.pop("facility_id"), "name": r.pop("facility_name"), "kind": r.pop("kind")}
    r["scores"] = {k: r.pop(f"{k}_score") for k in ("priority", "distance", "care", "cost")}
    return msgspec.convert(r, ProposalLine)


async def _lines_in_turns(rows: list[asyncpg.Record]) -> list[ProposalLine]:
    """`to_line` for each row, giving way to the worker's other requests every TURN rows.

    5,000 lines take ~70 ms of Python: in one go, every search on this worker would wait.
    """
    lines: list[ProposalLine] = []
    for start in range(0, len(rows), TURN):
        lines += map(to_line, rows[start : start + TURN])
        await asyncio.sleep(0)
    return lines


async def get_line(conn: asyncpg.Connection, proposal_id: UUID, line_id: UUID) -> ProposalLine:
    row = await conn.fetchrow(
        f"SELECT {LINE_COLUMNS} FROM proposal_lines_now WHERE id = $1 AND proposal_id = $2", line_id, proposal_id
    )
    if row is None:
        raise ProblemError(404, "No such line", detail=f"Proposal {proposal_id} has no line {line_id}.")
    return to_line(row)


async def lock_line(conn: asyncpg.Connection, proposal_id: UUID, line_id: UUID) -> ProposalLine:
    """Lock the line and return it as it stands now; 404 if the proposal has no such line."""
    await conn.execute("SELECT FROM proposal_lines WHERE id = $1 AND proposal_id = $2 FOR UPDATE", line_id, proposal_id)
    return await get_line(conn, proposal_id, line_id)


async def get_proposal(conn: asyncpg.Connection, proposal_id: UUID) -> Proposal:
    row = await conn.fetchrow(
        """
        SELECT id, created_at, at, holds_expire_at, hold_minutes, include_declined, key_id, organisation_id,
               people, parameters::text, statistics::text
        FROM proposals WHERE id = $1
        """,
        proposal_id,
    )
    if row is None:
        raise ProblemError(404, "No such proposal", detail=f"No proposal has id {proposal_id}.")
    rows = await conn.fetch(
        f"SELECT {LINE_COLUMNS} FROM proposal_lines_now WHERE proposal_id = $1 ORDER BY position", proposal_id
    )
    lines = await _lines_in_turns(rows)
    unplaced = await conn.fetch(
        """
        SELECT referral_id, reason, explanation, free_beds, beds_removed::text, eligible_beds
        FROM proposal_unplaced WHERE proposal_id = $1 ORDER BY referral_id
        """,
        proposal_id,
    )
    by_status = {s: 0 for s in LineStatus}
    for line in lines:
        by_status[line.status] += 1
    p = dict(row)
    people = p.pop("people")
    p |= {
        "parameters": msgspec.json.decode(p["parameters"]),
        "statistics": msgspec.json.decode(p["statistics"]),
        "counts": {"people": people, "unplaced": len(unplaced), **{s.value: n for s, n in by_status.items()}},
        "lines": lines,
        "unplaced": [dict(u) | {"beds_removed": msgspec.json.decode(u["beds_removed"])} for u in unplaced],
    }
    return msgspec.convert(p, Proposal)


async def page_proposals(conn: asyncpg.Connection, cursor: str | None, limit: int) -> Page[ProposalSummary]:
    (after,) = decode_cursor(cursor, tuple[UUID]) if cursor else (None,)
    rows = await conn.fetch(
        f"""
        SELECT p.id, p.created_at, p.at, p.holds_expire_at, p.key_id, p.organisation_id, p.people,
               p.statistics->>'method' AS method, (p.statistics->>'objective')::bigint AS objective,
               (p.statistics->>'gap')::float8 AS gap, (p.statistics->>'seconds')::float8 AS seconds,
               c.*, (SELECT count(*) FROM proposal_unplaced u WHERE u.proposal_id = p.id) AS unplaced
        FROM proposals p
        CROSS JOIN LATERAL (SELECT {_COUNTS} FROM proposal_lines_now l WHERE l.proposal_id = p.id) c
        WHERE ($1::uuid IS NULL OR p.id > $1)
        ORDER BY p.id
        LIMIT $2
        """,
        after,
        limit + 1,
    )
    items = []
    for row in rows[:limit]:
        r = dict(row)
        counts = {f: r.pop(f) for f in ProposalCounts.__struct_fields__}
        items.append(msgspec.convert(r | {"counts": counts}, ProposalSummary))
    next_cursor = encode_cursor(str(items[-1].id)) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)
