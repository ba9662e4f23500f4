"""Rate limiting per API key: a token bucket per key, in this process's memory.

A key may send `burst` requests at once, then `rate` a second: its bucket holds up to
`burst` tokens, refills at `rate` tokens a second, and each request takes one. A request
that finds no whole token is a 429 problem with `Retry-After` (whole seconds until one is
back). Every /v1 response says where the key stands in `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset` (seconds until the bucket is full), the
headers of the IETF draft that Litestar's own limiter sends too.

Litestar's `RateLimitMiddleware` does not fit: a fixed window whose every request
JSON-decodes and re-encodes the list of the window's timestamps under one app-wide lock,
no `Retry-After`, and no burst apart from the rate.

The buckets are per process: with N workers or replicas a key may send N times as much.
It runs inside `ApiKeyMiddleware`, so only authenticated keys get a bucket (keys are few:
nothing to sweep) and a forged key cannot spend another key's tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.problems import ProblemError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One bucket per key, full at first."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[UUID, _Bucket] = {}

    def take(self, key_id: UUID) -> float:
        """Take a token for `key_id` and return the tokens left; below 0 when there was none to take."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
        tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if tokens < 1:
            bucket.tokens = tokens
            return tokens - 1
        bucket.tokens = tokens - 1
        return bucket.tokens

    def headers(self, left: float) -> dict[str, str]:
        """The RateLimit headers for a key with `left` tokens (from `take`)."""
        return {
            "RateLimit-Limit": str(self.burst),
            "RateLimit-Remaining": str(max(0, math.floor(left))),
            "RateLimit-Reset": str(math.ceil((self.burst - max(0.0, left)) / self.rate)),
        }

    def retry_after(self, left: float) -> int:
        """Whole seconds until a refused key (`left` below 0) has a token again."""
        return max(1, math.ceil(-left / self.rate))


class RateLimitMiddleware(ASGIMiddleware):
    """Spends a token of the caller's key on each request; 429 with `Retry-After` when it has none."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, buckets: TokenBuckets) -> None:
        self.buckets = buckets

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        left = self.buckets.take(scope["user"].key_id)
        headers = self.buckets.headers(left)
        if left < 0:
            wait = self.buckets.retry_after(left)
            raise ProblemError(
                429,
                "Too Many Requests",
                detail=(
                    f"This API key may send {self.buckets.burst} requests at once, then {self.buckets.rate:g} a "
                    f"second; retry after {wait} s."
                ),
                headers=headers | {"Retry-After": str(wait)},
            )
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw]
            await send(message)

        await next_app(scope, receive, send_with_headers)
