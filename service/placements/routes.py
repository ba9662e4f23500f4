"""Holds and stays API: hold a bed, confirm or cancel, place, check in, no-show, transfer, exit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from contracts.common import Role
from contracts.placements import (
    Exit,
    Hold,
    HoldCancel,
    HoldCreate,
    Placement,
    Stay,
    StayEnd,
    Transfer,
)
from contracts.referrals import ReferralStatus
from service.audit.record import record
from service.auth import Actor, Caller
from service.db.pool import Conn
from service.http import IdempotencyKeyHeader, PathId
from service.placements.fit import check_fit
from service.placements.queries import (
    bed_owner,
    cancel_hold,
    confirm_hold,
    end_stay,
    expire_holds,
    get_hold,
    get_stay,
    hold_facts,
    insert_hold,
    insert_stay,
    lock_bed,
    lock_referral,
    move_referral,
    stay_facts,
)
from service.problems import ProblemError, problem_responses

ON_SITE = (Role.ADMIN, Role.PLACEMENT_OFFICER, Role.PARTNER)
WRITE = problem_responses(400, 401, 403, 404, 409, 415, 422)
ACT = problem_responses(400, 401, 403, 404, 409, 422)  # a write with no body


def require_bed_access(caller: Caller, owner: UUID) -> None:
    """Partners act on their own organisation's beds only."""
    if caller.role is Role.PARTNER and caller.organisation_id != owner:
        raise ProblemError(403, "Forbidden", detail="This bed belongs to another organisation.")


def timezone(request: Request) -> str:
    return request.app.state.settings.timezone


async def claim_bed(
    conn: Conn, caller: Caller, request: Request, referral_id: UUID, bed_id: UUID, status: ReferralStatus
) -> None:
    """Inside the caller's transaction: move the referral, lock the bed free now, check the bed fits."""
    await lock_referral(conn, referral_id)
    await move_referral(conn, caller, referral_id, status, bed_id=str(bed_id))
    await lock_bed(conn, bed_id, datetime.now(UTC), timezone(request))
    await check_fit(conn, referral_id, bed_id)


class HoldController(Controller):
    path = "/holds"
    tags = ("placements",)

    @post(
        responses=WRITE,
        description=(
            "Hold a free bed for a waiting referral until an expiry (default 4 hours). The hold stops blocking "
            "the bed at its expiry by itself; 409 naming the bed if it is taken."
        ),
    )
    async def create_hold(
        self,
        conn: Conn,
        caller: Actor,
        request: Request,
        data: JSONBody[HoldCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Hold:
        await expire_holds(conn, data.referral_id)
        async with conn.transaction():
            await claim_bed(conn, caller, request, data.referral_id, data.bed_id, ReferralStatus.HELD)
            hold = await insert_hold(conn, data.referral_id, data.bed_id, data.minutes)
            await record(conn, caller, "created", "hold", [hold.id], [hold_facts(hold)])
        return hold

    @get("/{hold_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_hold(self, conn: Conn, hold_id: PathId) -> Hold:
        return await get_hold(conn, hold_id)

    @post(
        "/{hold_id:uuid}/confirm",
        responses=ACT,
        description="The person takes the bed: the hold ends and a stay begins, in one transaction.",
    )
    async def confirm_hold(
        self, conn: Conn, caller: Actor, hold_id: PathId, idempotency_key: IdempotencyKeyHeader = None
    ) -> Stay:
        async with conn.transaction():
            stay = await confirm_hold(conn, caller, hold_id)
        return stay

    @post("/{hold_id:uuid}/cancel", status_code=200, responses=WRITE)
    async def cancel_hold(self, conn: Conn, caller: Actor, hold_id: PathId, data: JSONBody[HoldCancel]) -> Hold:
        async with conn.transaction():
            cancelled = await cancel_hold(conn, caller, hold_id, data.reason.value)
        return cancelled


class StayController(Controller):
    path = "/stays"
    tags = ("placements",)

    @post(
        responses=WRITE,
        description="Place a waiting referral in a free bed at once, with no hold (e.g. the person is there).",
    )
    async def place(
        self,
        conn: Conn,
        caller: Actor,
        request: Request,
        data: JSONBody[Placement],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Stay:
        await expire_holds(conn, data.referral_id)
        async with conn.transaction():
            await claim_bed(conn, caller, request, data.referral_id, data.bed_id, ReferralStatus.PLACED)
            stay = await insert_stay(conn, data.referral_id, data.bed_id, None, None)
            await record(conn, caller, "started", "stay", [stay.id], [stay_facts(stay)])
        return stay

    @get("/{stay_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_stay(self, conn: Conn, caller: Actor, stay_id: PathId) -> Stay:
        stay = await get_stay(conn, stay_id)
        require_bed_access(caller, await bed_owner(conn, stay.bed_id))
        return stay

    @post("/{stay_id:uuid}/check-in", status_code=200, responses=ACT)
    async def check_in(self, conn: Conn, caller: Actor, stay_id: PathId) -> Stay:
        async with conn.transaction():
            stay = await _open_stay(conn, caller, stay_id)
            if stay.checked_in_at is not None:
                raise ProblemError(409, "Already checked in", detail=f"Checked in at {stay.checked_in_at.isoformat()}.")
            row = await conn.fetchval(
                "UPDATE stays SET checked_in_at = now(), version = version + 1, updated_at = now() "
                "WHERE id = $1 RETURNING id",
                stay_id,
            )
            await record(conn, caller, "checked_in", "stay", [row], [{"bed_id": str(stay.bed_id)}])
            return await get_stay(conn, stay_id)

    @post(
        "/{stay_id:uuid}/no-show",
        status_code=200,
        responses=ACT,
        description="The person never arrived: the stay ends now, the bed is free, the referral waits again.",
    )
    async def no_show(self, conn: Conn, caller: Actor, stay_id: PathId) -> Stay:
        async with conn.transaction():
            stay = await _open_stay(conn, caller, stay_id)
            if stay.checked_in_at is not None:
                raise ProblemError(409, "Already checked in", detail="A checked-in stay ends with an exit.")
            await move_referral(conn, caller, stay.referral_id, ReferralStatus.WAITING, reason="no_show")
            ended = await end_stay(conn, stay_id, datetime.now(UTC), StayEnd.NO_SHOW.value)
            await record(conn, caller, "no_show", "stay", [stay_id], [stay_facts(ended)])
        return ended

    @post(
        "/{stay_id:uuid}/transfer",
        responses=WRITE,
        description="Move the person to another bed: this stay ends and the new one begins in one transaction.",
    )
    async def transfer(
        self,
        conn: Conn,
        caller: Actor,
        request: Request,
        stay_id: PathId,
        data: JSONBody[Transfer],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Stay:
        async with conn.transaction():
            stay = await _open_stay(conn, caller, stay_id)
            if data.bed_id == stay.bed_id:
                raise ProblemError(422, "Same bed", detail="A transfer needs another bed.")
            now = datetime.now(UTC)
            ended = await end_stay(conn, stay_id, now, StayEnd.TRANSFER.value)
            await lock_bed(conn, data.bed_id, now, timezone(request))
            await check_fit(conn, stay.referral_id, data.bed_id)
            moved = await insert_stay(conn, stay.referral_id, data.bed_id, None, stay_id)
            await record(conn, caller, "transferred", "stay", [stay_id], [stay_facts(ended)])
            await record(conn, caller, "started", "stay", [moved.id], [stay_facts(moved)])
        return moved

    @post("/{stay_id:uuid}/exit", status_code=200, responses=WRITE)
    async def exit(self, conn: Conn, caller: Actor, stay_id: PathId, data: JSONBody[Exit]) -> Stay:
        async with conn.transaction():
            stay = await _open_stay(conn, caller, stay_id)
            at = data.at or datetime.now(UTC)
            if not stay.started_at < at <= datetime.now(UTC):
                raise ProblemError(
                    422, "Exit time out of range", detail="The exit falls after the start, not later than now."
                )
            await move_referral(conn, caller, stay.referral_id, ReferralStatus.EXITED, reason=data.reason.value)
            ended = await end_stay(conn, stay_id, at, StayEnd.EXIT.value, data.reason.value)
            await record(conn, caller, "exited", "stay", [stay_id], [stay_facts(ended)])
        return ended


async def _open_stay(conn: Conn, caller: Caller, stay_id: UUID) -> Stay:
    """The stay, locked with its referral and checked for access, if it is still going on; 409 otherwise."""
    stay = await get_stay(conn, stay_id)
    require_bed_access(caller, await bed_owner(conn, stay.bed_id))
    await lock_referral(conn, stay.referral_id)
    stay = await get_stay(conn, stay_id, for_update=True)
    if stay.ended_at is not None:
        raise ProblemError(409, "Stay has ended", detail=f"The stay ended ({stay.ended_as}).", ended_as=stay.ended_as)
    return stay
