"""Referrals API. Referrers see their organisation's; placement officers and admins all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import JSONBody

from contracts.common import Page, Role
from contracts.derive import changes
from contracts.referrals import Referral, ReferralCreate, ReferralStatus, ReferralUpdate, Withdrawal
from service.audit.record import record
from service.auth import Actor, Caller
from service.db.pool import Conn
from service.http import (
    CursorParam,
    IdempotencyKeyHeader,
    IfMatch,
    LimitParam,
    PathId,
    etag,
    expected_versions,
    query,
    with_etag,
)
from service.pagination import decode_cursor, encode_cursor
from service.problems import ProblemError, problem_responses
from service.referrals.lifecycle import ACTIVE, check_transition
from service.referrals.queries import (
    get_referral,
    insert_referral,
    page_referrals,
    to_columns,
    update_referral,
)

# Audit events keep these values; every other field is personal and only named.
NOT_PERSONAL = frozenset({"source", "acceptable_kinds", "status", "reason"})


def audit_changes(fields: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in fields.items() if k in NOT_PERSONAL}
    personal = sorted(k for k in fields if k not in NOT_PERSONAL)
    return kept | ({"personal_fields": personal} if personal else {})


def visible_to(caller: Caller) -> UUID | None:
    """The organisation a caller's view of referrals is limited to; None for all."""
    return caller.organisation_id if caller.role is Role.REFERRER else None


async def readable_referral(conn: Conn, caller: Caller, referral_id: UUID, *, for_update: bool = False) -> Referral:
    referral = await get_referral(conn, referral_id, for_update=for_update)
    if (org := visible_to(caller)) is not None and referral.organisation_id != org:
        # Another organisation's referral: as good as absent, so its existence is not revealed.
        raise ProblemError(404, "No such referral", detail=f"No referral has id {referral_id}.")
    return referral


class ReferralController(Controller):
    path = "/referrals"
    tags = ("referrals",)

    @post(
        responses=problem_responses(400, 401, 403, 409, 415, 422),
        description=(
            "Refer a person. `reference` is your own opaque identifier for them: abri keeps only a keyed "
            "hash, never returns it, and uses it to refuse a second active referral for the same person (409)."
        ),
    )
    async def create_referral(
        self,
        conn: Conn,
        caller: Actor,
        request: Request,
        data: JSONBody[ReferralCreate],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Referral]:
        async with conn.transaction():
            referral = await insert_referral(
                conn, data, caller.organisation_id, request.app.state.settings.reference_key
            )
            fields = changes(data)
            del fields["reference"]
            await record(conn, caller, "created", "referral", [referral.id], [audit_changes(fields)])
        return with_etag(referral, 201, f"/v1/referrals/{referral.id}")

    @get(responses=problem_responses(400, 401, 403))
    async def list_referrals(
        self,
        conn: Conn,
        caller: Actor,
        status: query(ReferralStatus) = None,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Page[Referral]:
        (after,) = decode_cursor(cursor, tuple[UUID]) if cursor else (None,)
        items = await page_referrals(conn, visible_to(caller), status, after, limit + 1)
        next_cursor = encode_cursor(str(items[limit - 1].id)) if len(items) > limit else None
        return Page(items=items[:limit], next_cursor=next_cursor)

    @get("/{referral_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_referral(self, conn: Conn, caller: Actor, referral_id: PathId) -> Response[Referral]:
        return with_etag(await readable_referral(conn, caller, referral_id))

    @patch(
        "/{referral_id:uuid}",
        responses=problem_responses(400, 401, 403, 404, 409, 412, 415, 422, 428),
        description="Change needs or priority inputs of an active referral. `If-Match` is required.",
    )
    async def update_referral(
        self,
        conn: Conn,
        caller: Actor,
        referral_id: PathId,
        data: JSONBody[ReferralUpdate],
        if_match: IfMatch = None,
    ) -> Response[Referral]:
        if if_match is None:
            raise ProblemError(428, "If-Match required", detail="Send the ETag of the referral you last read.")
        versions = expected_versions(if_match)
        fields = changes(data)
        async with conn.transaction():
            current = await readable_referral(conn, caller, referral_id, for_update=True)
            if current.version not in versions:
                raise ProblemError(412, "Precondition failed", headers={"ETag": etag(current.version)})
            if current.status not in ACTIVE:
                raise ProblemError(
                    409,
                    "Referral has ended",
                    detail=f"A {current.status} referral cannot change.",
                    current_status=current.status.value,
                )
            if not fields:
                return with_etag(current)
            updated = await update_referral(conn, referral_id, to_columns(fields))
            await record(conn, caller, "updated", "referral", [referral_id], [audit_changes(fields)])
        return with_etag(updated)

    @post(
        "/{referral_id:uuid}/withdraw",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 409, 415),
        description="Withdraw a waiting or held referral; an active hold on a bed is cancelled with it.",
    )
    async def withdraw_referral(
        self, conn: Conn, caller: Actor, referral_id: PathId, data: JSONBody[Withdrawal]
    ) -> Response[Referral]:
        async with conn.transaction():
            current = await readable_referral(conn, caller, referral_id, for_update=True)
            check_transition(current.status, ReferralStatus.WITHDRAWN)
            released = await conn.fetch(
                """
                UPDATE holds SET status = 'cancelled', cancel_reason = 'referral_withdrawn',
                                 period = tstzrange(lower(period), greatest(lower(period), now())),
                                 version = version + 1, updated_at = now()
                WHERE referral_id = $1 AND status = 'active' AND upper(period) > now()
                RETURNING id
                """,
                referral_id,
            )
            updated = await update_referral(
                conn, referral_id, {"status": ReferralStatus.WITHDRAWN.value, "ended_at": datetime.now(UTC)}
            )
            await record(
                conn,
                caller,
                "withdrawn",
                "referral",
                [referral_id],
                [{"status": "withdrawn", "reason": data.reason.value}],
            )
            if released:
                await record(
                    conn,
                    caller,
                    "cancelled",
                    "hold",
                    [r["id"] for r in released],
                    [{"status": "cancelled", "reason": "referral_withdrawn"}] * len(released),
                )
        return with_etag(updated)
