"""Proposals API: ask the solver for a plan, read it, accept or decline each line."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody

from contracts.common import Page
from contracts.proposals import (
    Decline,
    DeclineReason,
    LineStatus,
    Proposal,
    ProposalCreate,
    ProposalLine,
    ProposalSummary,
)
from contracts.referrals import ReferralStatus
from service.audit.record import record
from service.auth import Actor
from service.db.pool import Conn
from service.http import CursorParam, IdempotencyKeyHeader, LimitParam, PathId
from service.placements.queries import cancel_hold, confirm_hold, expire_holds
from service.problems import ProblemError, problem_responses
from service.proposals.problem import Ask, ListedRow
from service.proposals.queries import (
    NewProposal,
    get_line,
    get_proposal,
    lock_line,
    page_proposals,
    save_plan,
    snapshot,
)
from service.proposals.solving import run_solver

LINE_ACTION = problem_responses(400, 401, 403, 404, 409, 415, 422)
LINE_ACCEPT = problem_responses(400, 401, 403, 404, 409, 422)  # no body
# A declined line's hold is cancelled with the nearest hold reason; the line keeps the exact one.
HOLD_CANCEL_REASON = {
    DeclineReason.DECLINED_BY_PERSON: "declined_by_person",
    DeclineReason.DECLINED_BY_FACILITY: "declined_by_facility",
    DeclineReason.UNSUITABLE: "other",
    DeclineReason.OTHER: "other",
}


def _check_listed(found: list[ListedRow], listed: list[UUID]) -> None:
    """422 naming unknown referrals; 409 naming those not waiting (with their status)."""
    status = {r.id: r.status for r in found}
    unknown = [str(i) for i in listed if i not in status]
    if unknown:
        raise ProblemError(
            422, "No such referral", detail=f"{len(unknown)} listed referral(s) do not exist.", referral_ids=unknown
        )
    busy = [{"id": str(i), "status": status[i]} for i in listed if status[i] != ReferralStatus.WAITING]
    if busy:
        raise ProblemError(
            409,
            "Referrals not waiting",
            detail=f"{len(busy)} listed referral(s) are not waiting; only waiting referrals can be proposed.",
            referrals=busy,
        )


class ProposalController(Controller):
    path = "/proposals"
    tags = ("proposals",)

    @post(
        responses=problem_responses(400, 401, 403, 409, 415, 422, 503),
        description=(
            "Ask the solver to place waiting referrals (all of them, or those listed plus their waiting couple "
            "partners) in the beds free for the whole hold, far from the consumption scenes, and hold a bed "
            "for each line of its plan until `hold_minutes` from now. Lines whose bed or referral was taken "
            "while solving are kept as `dropped`. 422 names unknown referrals, 409 those not waiting; 503 "
            "with Retry-After when the solver is busy or too slow."
        ),
    )
    async def create_proposal(
        self,
        conn: Conn,
        caller: Actor,
        request: Request,
        data: JSONBody[ProposalCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Proposal]:
        timezone = request.app.state.settings.timezone
        await expire_holds(conn)
        at = datetime.now(UTC)
        found, problem = await snapshot(conn, at, data.hold_minutes, timezone, data.referral_ids, data.include_declined)
        if data.referral_ids is not None:
            _check_listed(found, data.referral_ids)
        ask = Ask(snapshot=problem, listed=data.referral_ids, parameters=data.parameters)
        plan, booking = await run_solver(request.app.state.solver_pool, ask)
        new = NewProposal(
            at=at,
            hold_minutes=data.hold_minutes,
            include_declined=data.include_declined,
            referrals_listed=None if data.referral_ids is None else len(data.referral_ids),
            parameters=data.parameters,
        )
        try:
            proposal_id = await save_plan(conn, caller, timezone, new, booking, plan, datetime.now(UTC))
        except asyncpg.DeadlockDetectedError:
            raise ProblemError(
                503, "Busy", detail="Concurrent bookings got in the way; try again.", headers={"Retry-After": "1"}
            ) from None
        proposal = await get_proposal(conn, proposal_id)
        return Response(proposal, status_code=201, headers={"Location": f"/v1/proposals/{proposal_id}"})

    @get(responses=problem_responses(400, 401, 403), description="Proposals, oldest first, with their counts.")
    async def list_proposals(
        self, conn: Conn, cursor: CursorParam = None, limit: LimitParam = 100
    ) -> Page[ProposalSummary]:
        return await page_proposals(conn, cursor, limit)

    @get("/{proposal_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_proposal(self, conn: Conn, proposal_id: PathId) -> Proposal:
        return await get_proposal(conn, proposal_id)

    @get("/{proposal_id:uuid}/lines/{line_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_line(self, conn: Conn, proposal_id: PathId, line_id: PathId) -> ProposalLine:
        return await get_line(conn, proposal_id, line_id)

    @post(
        "/{proposal_id:uuid}/lines/{line_id:uuid}/accept",
        status_code=200,
        responses=LINE_ACCEPT,
        description=(
            "The person takes the bed: the line's hold becomes a stay, as POST /v1/holds/{id}/confirm does. "
            "409 with `current_status` unless the line is `proposed` (an expired hold reads `expired`)."
        ),
    )
    async def accept_line(
        self,
        conn: Conn,
        caller: Actor,
        proposal_id: PathId,
        line_id: PathId,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> ProposalLine:
        async with conn.transaction():
            line = await _undecided(conn, proposal_id, line_id)
            stay = await confirm_hold(conn, caller, line.hold_id)
            await conn.execute(
                """
                UPDATE proposal_lines SET status = 'accepted', stay_id = $2, decided_at = now(),
                                          version = version + 1, updated_at = now()
                WHERE id = $1
                """,
                line_id,
                stay.id,
            )
            await record(
                conn,
                caller,
                "accepted",
                "proposal_line",
                [line_id],
                [_line_facts(proposal_id, line, stay_id=str(stay.id))],
            )
        return await get_line(conn, proposal_id, line_id)

    @post(
        "/{proposal_id:uuid}/lines/{line_id:uuid}/decline",
        status_code=200,
        responses=LINE_ACTION,
        description=(
            "The line is turned down: its hold is cancelled, the referral waits again, and this referral is "
            "not proposed this facility again unless a proposal sets `include_declined`. 409 with "
            "`current_status` unless the line is `proposed`."
        ),
    )
    async def decline_line(
        self, conn: Conn, caller: Actor, proposal_id: PathId, line_id: PathId, data: JSONBody[Decline]
    ) -> ProposalLine:
        async with conn.transaction():
            line = await _undecided(conn, proposal_id, line_id)
            await cancel_hold(conn, caller, line.hold_id, HOLD_CANCEL_REASON[data.reason])
            await conn.execute(
                """
                UPDATE proposal_lines SET status = 'declined', reason = $2, decided_at = now(),
                                          version = version + 1, updated_at = now()
                WHERE id = $1
                """,
                line_id,
                data.reason.value,
            )
            await conn.execute(
                """
                INSERT INTO proposal_declines (referral_id, facility_id, line_id) VALUES ($1, $2, $3)
                ON CONFLICT (referral_id, facility_id) DO UPDATE SET line_id = excluded.line_id, declined_at = now()
                """,
                line.referral_id,
                line.facility.id,
                line_id,
            )
            await record(
                conn,
                caller,
                "declined",
                "proposal_line",
                [line_id],
                [_line_facts(proposal_id, line, reason=data.reason.value)],
            )
        return await get_line(conn, proposal_id, line_id)


async def _undecided(conn: Conn, proposal_id: UUID, line_id: UUID) -> ProposalLine:
    """The line, locked, if it still awaits a decision; 409 with its status otherwise."""
    line = await lock_line(conn, proposal_id, line_id)
    if line.status is LineStatus.EXPIRED:
        raise ProblemError(
            409,
            "Hold expired",
            detail=f"The line's hold ended at {line.hold_expires_at.isoformat()}; ask for a new proposal.",
            current_status=line.status.value,
        )
    if line.status is not LineStatus.PROPOSED:
        raise ProblemError(
            409, "Line already decided", detail=f"The line is {line.status}.", current_status=line.status.value
        )
    return line


def _line_facts(proposal_id: UUID, line: ProposalLine, **extra: str) -> dict[str, str]:
    return {
        "proposal_id": str(proposal_id),
        "referral_id": str(line.referral_id),
        "facility_id": str(line.facility.id),
        "bed_id": str(line.bed_id),
        "hold_id": str(line.hold_id),
        **extra,
    }
