"""API keys: admins manage every key; a partner manages its own organisation's partner keys.

A key's secret is in the creation response only. No route returns it again, and creation
takes no `Idempotency-Key`: a replay would have to store the secret to send it twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody

from contracts.common import Page, Role
from contracts.keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from service.auth import Actor, Caller, require_organisation
from service.db.pool import Conn
from service.http import CursorParam, IdempotencyKeyHeader, LimitParam, PathId, query
from service.idempotency import NOT_REPLAYABLE
from service.keys.queries import KEYS, create, revoke
from service.problems import ProblemError, problem_responses


def require_manageable(caller: Caller, role: Role, organisation_id: UUID) -> None:
    """403 unless the caller is an admin, or a partner and this is a partner key of its organisation."""
    require_organisation(caller, organisation_id)
    if caller.role is Role.PARTNER and role is not Role.PARTNER:
        raise PermissionDeniedException("A partner manages partner keys only.")


class KeyController(Controller):
    path = "/keys"
    tags = ("keys",)

    @post(
        responses=problem_responses(400, 401, 403, 415, 422),
        opt={NOT_REPLAYABLE: True},
        description=(
            "Create a key. The full key is in this response only: store it now. Partners create partner keys "
            "of their own organisation. No Idempotency-Key (400): retrying cannot show the same secret again."
        ),
    )
    async def create_key(self, conn: Conn, caller: Actor, data: JSONBody[ApiKeyCreate]) -> Response[ApiKeyCreated]:
        require_manageable(caller, data.role, data.organisation_id)
        if data.expires_at is not None and data.expires_at <= datetime.now(UTC):
            raise ProblemError(422, "Expiry in the past", detail="expires_at must be in the future.")
        created = await create(conn, caller, data.role, data.organisation_id, data.label, data.expires_at)
        headers = {"Location": f"/v1/keys/{created.id}", "Cache-Control": "no-store"}
        return Response(created, status_code=201, headers=headers)

    @get(responses=problem_responses(400, 401, 403))
    async def list_keys(
        self,
        conn: Conn,
        caller: Actor,
        organisation_id: query(UUID, "Keys of this organisation (a partner's own by default)") = None,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Page[ApiKey]:
        """Keys in creation order, revoked and expired ones included; never a secret."""
        if caller.role is Role.ADMIN:
            return await KEYS.page(conn, {"organisation_id": organisation_id}, cursor, limit)
        require_organisation(caller, organisation_id or caller.organisation_id)
        filters = {"organisation_id": caller.organisation_id, "role": Role.PARTNER.value}
        return await KEYS.page(conn, filters, cursor, limit)

    @get("/{key_id:uuid}", responses=problem_responses(401, 403, 404))
    async def get_key(self, conn: Conn, caller: Actor, key_id: PathId) -> ApiKey:
        key = await KEYS.get(conn, key_id)
        require_manageable(caller, key.role, key.organisation_id)
        return key

    @post(
        "/{key_id:uuid}/revoke",
        status_code=200,
        responses=problem_responses(400, 401, 403, 404, 422),
        description="Refuse the key from now on. Revoking a revoked key changes nothing and answers the same.",
    )
    async def revoke_key(
        self, conn: Conn, caller: Actor, key_id: PathId, idempotency_key: IdempotencyKeyHeader = None
    ) -> ApiKey:
        key = await KEYS.get(conn, key_id)
        require_manageable(caller, key.role, key.organisation_id)
        return await revoke(conn, caller, key_id)
