"""`Idempotency-Key` on POST: a retry replays the first response instead of acting twice.

How it works, for a POST that carries the header (every other request passes through):

- The key is scoped to the API key that sent it, so callers never see each other's
  responses. It must be 1 to 255 printable ASCII characters (400 otherwise).
- The request is identified by the SHA-256 of its method, path, query string and body.
- One transaction on the request's own connection wraps everything: the key row is
  claimed with `INSERT … ON CONFLICT`, the route runs (its own `conn.transaction()`
  blocks become savepoints inside ours), and its response is stored in the key row.
  The resource, its audit events and the stored response therefore commit together,
  and only then is the response sent. A client that loses the connection after the
  commit and retries gets the stored response; one that loses it before the commit
  finds nothing stored and the retry runs afresh.
- A second request with the same key waits on the first one's row lock, then sees its
  committed response: same request → the stored status, headers (Location, ETag…) and
  body are replayed, marked `Idempotent-Replayed: true`, without running the route;
  another request → 422.
- What is replayed: any response below 500, client errors included. The requirement is
  that a key replays its *first* response, and a 4xx is a response like any other (a
  409 stays a 409 even if the conflict is later resolved: send a new key to try again).
  A 5xx, or a route that raises, rolls the whole transaction back, so nothing is stored
  and the retry runs again. When a route's failing statement ran outside a savepoint,
  it aborted our transaction and nothing the route did can commit: its 4xx is sent
  unstored (the retry runs again), and a 2xx becomes a 500 rather than a false success.
- A route whose response holds a secret (key creation, marked `NOT_REPLAYABLE`) refuses
  the header with a 400: storing its response would keep the secret.
- Keys expire 24 hours after their first use: an older key is treated as new (its row
  is replaced). Each new key also deletes up to `SWEEP_BATCH` expired rows (skipping any
  that another request holds), so the table stays small without a separate sweeper;
  correctness never depends on the sweep.

Routes must therefore tolerate running inside a transaction: no explicit isolation
level of their own (asyncpg refuses a nested transaction with another isolation level),
and statements that may fail belong inside `conn.transaction()` (they already do).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import asyncpg
import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from contracts.common import FieldError
from service.auth import REQUEST_CONNECTION
from service.problems import ProblemError

HEADER = "Idempotency-Key"
# Route `opt` key: the route's response must not be stored (it holds a secret), so the header is a 400.
NOT_REPLAYABLE = "not_replayable"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
EXPIRY = "24 hours"
SWEEP_BATCH = 100

_HEADER = HEADER.lower().encode()
_REPLAYED = (REPLAYED_HEADER.lower().encode(), b"true")
# Headers that belong to one exchange, not to the response being kept.
_NOT_KEPT = frozenset({b"date", b"server", b"set-cookie", b"x-request-id"})

# Claims the key: inserts it, or takes over a row that has expired. When the key is
# already in use the row is locked (a concurrent request with it waits for our commit)
# but not changed, and no row is returned.
_CLAIM = f"""
INSERT INTO idempotency_keys (key_id, idempotency_key, request_sha256) VALUES ($1, $2, $3)
ON CONFLICT (key_id, idempotency_key) DO UPDATE
    SET request_sha256 = excluded.request_sha256, status = NULL, headers = NULL, body = NULL, created_at = now()
    WHERE idempotency_keys.created_at < now() - interval '{EXPIRY}' OR idempotency_keys.status IS NULL
RETURNING true
"""
_STORED = """
SELECT request_sha256, status, headers, body FROM idempotency_keys WHERE key_id = $1 AND idempotency_key = $2
"""
_STORE = """
UPDATE idempotency_keys SET status = $3, headers = $4::jsonb, body = $5 WHERE key_id = $1 AND idempotency_key = $2
"""
_SWEEP = f"""
DELETE FROM idempotency_keys WHERE (key_id, idempotency_key) IN (
    SELECT key_id, idempotency_key FROM idempotency_keys WHERE created_at < now() - interval '{EXPIRY}'
    ORDER BY created_at LIMIT {SWEEP_BATCH} FOR UPDATE SKIP LOCKED
)
"""


@dataclass
class Captured:
    """A response as the app sent it: what gets stored, sent and replayed."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        """The `send` the app is given: keeps the response instead of sending it."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
        else:
            raise RuntimeError(f"an Idempotency-Key response cannot hold a {message['type']} message")

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    async def send_to(self, send: Send, *extra_headers: tuple[bytes, bytes]) -> None:
        if self.status is None:
            return
        await send({"type": "http.response.start", "status": self.status, "headers": [*self.headers, *extra_headers]})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class _RollBack(Exception):
    """Raised inside the transaction to roll it back without failing the request."""


class IdempotencyMiddleware(ASGIMiddleware):
    """Makes POSTs with an `Idempotency-Key` safe to retry; runs inside `ApiKeyMiddleware`."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        sent = [value for name, value in scope["headers"] if name == _HEADER] if scope["method"] == "POST" else []
        if not sent:
            await next_app(scope, receive, send)
            return
        if scope["route_handler"].opt.get(NOT_REPLAYABLE):
            raise ProblemError(
                400, "Bad Request", detail=f"This response cannot be stored to be replayed: send no {HEADER}."
            )
        key = _valid_key(sent)
        # Read through Litestar so its body-size limit applies; it keeps the body in the
        # scope for the route's own Request, and `receive` replays it for anything else.
        body = await Request(scope, receive).body()
        digest = _request_digest(scope, body)
        conn: asyncpg.Connection = scope["state"][REQUEST_CONNECTION]
        key_id = scope["user"].key_id
        response, marks = Captured(), ()
        try:
            async with conn.transaction():
                if await conn.fetchval(_CLAIM, key_id, key, digest):
                    await conn.execute(_SWEEP)
                    try:
                        await next_app(scope, _replaying(body, receive), response)
                    finally:
                        # Litestar's inner exception layer marked the response as started,
                        # but it is only captured: an error from here on must still be
                        # answered by the outer layer, not refused as "after response started".
                        ScopeState.from_scope(scope).response_started = False
                    if response.status is None or response.status >= 500:
                        raise _RollBack
                    await _store(conn, key_id, key, response)
                else:
                    response, marks = await _stored(conn, key_id, key, digest), (_REPLAYED,)
        except _RollBack:
            pass
        # Only now, after the commit, does the client hear about it.
        await response.send_to(send, *marks)


def _valid_key(sent: list[bytes]) -> str:
    value = sent[0]
    if len(sent) == 1 and 1 <= len(value) <= MAX_KEY_LENGTH and all(0x20 <= b <= 0x7E for b in value):
        return value.decode("ascii")
    why = (
        f"send one {HEADER} header"
        if len(sent) > 1
        else f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, e.g. a UUID"
    )
    raise ProblemError(400, "Bad Request", detail=f"{HEADER} {why}.", errors=[FieldError(field=HEADER, message=why)])


def _request_digest(scope: Scope, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b"")):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(body)
    return digest.digest()


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the already-read body once, then defers to the server."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay  # type: ignore[return-value]


async def _stored(conn: asyncpg.Connection, key_id: object, key: str, digest: bytes) -> Captured:
    row = await conn.fetchrow(_STORED, key_id, key)
    if row["request_sha256"] != digest:
        raise ProblemError(
            422,
            "Idempotency-Key reused with a different request",
            detail=f"This {HEADER} was first used with another method, path, query or body; send a new key.",
        )
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in msgspec.json.decode(row["headers"])]
    return Captured(row["status"], headers, [row["body"]])


async def _store(conn: asyncpg.Connection, key_id: object, key: str, response: Captured) -> None:
    kept = [[name.decode("latin-1"), value.decode("latin-1")] for name, value in response.headers]
    kept = [pair for pair in kept if pair[0].lower().encode("latin-1") not in _NOT_KEPT]
    try:
        await conn.execute(_STORE, key_id, key, response.status, msgspec.json.encode(kept).decode(), response.body)
    except asyncpg.InFailedSQLTransactionError:
        # The route's own failed statement aborted the transaction outside a savepoint:
        # nothing it did can commit. A client error is still the truth, so it is sent
        # (unstored, the retry runs again); a success would be a lie, so that fails.
        if response.status is not None and 400 <= response.status < 500:
            raise _RollBack from None
        raise
