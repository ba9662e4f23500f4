"""Load shedding: past a bound on requests in flight, a process answers 503 at once.

Without a bound, a process offered more than it can serve queues every request: each
waits longer than the last, memory grows, and callers time out on answers that then
arrive for nobody. With it, the requests beyond `ABRI_MAX_IN_FLIGHT` in this process
are refused in microseconds with a 503 problem and `Retry-After: 1`, before any key
check or database work, so the process keeps serving the others at full speed and
recovers as soon as the load drops (bench/overload.py measures both).

The bound is per process and counts requests under /v1 only: health checks and the
docs always answer. It is a count, not a rate: a slow database makes requests last
longer, so fewer are admitted, which is the point.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.problems import ProblemError

RETRY_AFTER_SECONDS = 1


class InFlightLimit(ASGIMiddleware):
    """Admits at most `limit` requests at once in this process; 503 for the rest."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if self.in_flight >= self.limit:
            raise ProblemError(
                503,
                "Service overloaded",
                detail=f"This server is at its limit of {self.limit} requests at once; retry shortly.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.in_flight += 1
        try:
            await next_app(scope, receive, send)
        finally:
            self.in_flight -= 1
