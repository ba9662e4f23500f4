"""A typed Python client for abri, sync and async, on httpx and the contracts' Structs.

Every API operation is a function here that returns a `Call[T]`: the method, path,
query, body and the Struct `T` its answer decodes into. A client sends it:

    from contracts import client as abri

    with abri.Client("http://127.0.0.1:8000", api_key) as api:
        referral = api.send(abri.create_referral(ReferralCreate(...)))   # a Referral
        for bed in api.items(abri.availability(kind=FacilityKind.ASSORE_HOTEL)):
            ...

`AsyncClient` does the same with `await` and `async for`. Both:

- give every POST an `Idempotency-Key` when its `Call` is built, so the retries of one
  call (and sending the same `Call` again) never act twice; build a new `Call` for a new
  action;
- retry 429 and 503 answers (after `Retry-After` when sent) and connection errors, with
  exponential backoff and jitter, within the `RetryPolicy`'s attempts and total time;
- raise an `ApiError` subclass (`NotFound`, `Conflict`, `InvalidRequest`, ...) carrying
  the decoded `Problem` for any other answer that is not 2xx;
- send `If-Match` on updates given the `version` last read (the API's ETag is `"version"`).

`verify_webhook` checks a webhook's Standard Webhooks signature before its body is used.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, Self, TypeVar, overload
from uuid import UUID, uuid4

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook as Signature
from standardwebhooks.webhooks import WebhookVerificationError

from contracts.audit import AuditEvent
from contracts.availability import AvailabilityPage, PersonGender
from contracts.common import FacilityKind, Health, Page, Problem
from contracts.events import (
    DeadLetter,
    EventPage,
    EventType,
    Replay,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)
from contracts.hsds import HsdsServicePage
from contracts.inventory import (
    Bed,
    BedCreate,
    BedsBulkCreate,
    BedsCreated,
    BedUpdate,
    Facility,
    FacilityCreate,
    FacilityUpdate,
    Organisation,
    OrganisationCreate,
    OrganisationUpdate,
    Site,
    SiteCreate,
    SiteUpdate,
    Unavailability,
    UnavailabilityCreate,
    UnavailabilityUpdate,
)
from contracts.keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from contracts.placements import CancelReason, Exit, ExitReason, Hold, HoldCancel, HoldCreate, Placement, Stay, Transfer
from contracts.proposals import Decline, DeclineReason, Proposal, ProposalCreate, ProposalLine, ProposalSummary
from contracts.referrals import Referral, ReferralCreate, ReferralStatus, ReferralUpdate, Withdrawal, WithdrawReason
from contracts.reports import (
    DistanceReport,
    FlowsReport,
    GroupBy,
    OccupancyReport,
    OccupancySeries,
    Step,
    WaitingReport,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Item_co = TypeVar("Item_co", covariant=True)

API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# A retry of a POST whose first answer the server stored replays that answer: no use trying again.
REPLAYED_HEADER = "Idempotent-Replayed"
RETRIED_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class Paged(Protocol[Item_co]):
    """A page of a list: `Page[T]` or `AvailabilityPage`."""

    @property
    def items(self) -> Sequence[Item_co]: ...

    @property
    def next_cursor(self) -> str | None: ...


PageT = TypeVar("PageT", bound=Paged[Any])


@dataclass(frozen=True)
class Call(Generic[T_co]):
    """One API operation, ready to send: what to ask, and the type its answer decodes into.

    A POST gets a fresh `idempotency_key` here, once: every retry of this call, and every
    later send of this same object, carries it, so the server acts on it at most once.
    """

    method: str
    path: str
    response: type[T_co]
    params: Mapping[str, Any] = field(default_factory=dict)
    body: msgspec.Struct | None = None
    if_match: str | None = None
    idempotency_key: str | None = None
    replayable: bool = True
    """False for the one POST the server will not replay (a new API key: its secret is never stored)."""

    def __post_init__(self) -> None:
        if self.method == "POST" and self.replayable and self.idempotency_key is None:
            object.__setattr__(self, "idempotency_key", str(uuid4()))

    def after(self, page: Paged[Any]) -> Call[T_co] | None:
        """The call for the page after `page`; None when `page` was the last."""
        if page.next_cursor is None:
            return None
        return replace(self, params={**self.params, "cursor": page.next_cursor})


# Errors ---------------------------------------------------------------------------


class ApiError(Exception):
    """A non-2xx answer; `problem` holds its RFC 9457 problem details.

    `extensions` has the problem's other members (`current_status`, `bed_id`,
    `constraint`...), `headers` the answer's headers (a 412 sends the current `ETag`).
    """

    def __init__(self, problem: Problem, extensions: dict[str, Any], headers: httpx.Headers) -> None:
        super().__init__(f"{problem.status} {problem.title}" + (f": {problem.detail}" if problem.detail else ""))
        self.problem = problem
        self.extensions = extensions
        self.headers = headers

    @property
    def status(self) -> int:
        return self.problem.status


class InvalidRequest(ApiError):
    """400 or 422: the request does not fit the schema or breaks a data rule (see `problem.errors`)."""


class BadRequest(InvalidRequest):
    """400: malformed, wrong types, values out of range."""


class Unprocessable(InvalidRequest):
    """422: well-formed but breaks a data rule, e.g. refers to something that does not exist."""


class AccessDenied(ApiError):
    """401 or 403."""


class Unauthorized(AccessDenied):
    """401: missing or unknown API key."""


class Forbidden(AccessDenied):
    """403: the key's role may not do this."""


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409: conflicts with the current state (a bed taken, a move the lifecycle forbids)."""


class PreconditionFailed(ApiError):
    """412: the resource changed since the version sent; read it again."""


class PreconditionRequired(ApiError):
    """428: this update needs the `version` last read."""


class RateLimited(ApiError):
    """429, after the retries."""


class ServerError(ApiError):
    """5xx."""


class ServiceUnavailable(ServerError):
    """503, after the retries: not ready, or too busy."""


_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: Unprocessable,
    428: PreconditionRequired,
    429: RateLimited,
    503: ServiceUnavailable,
}


def problem_error(response: httpx.Response) -> ApiError:
    """The typed error for a non-2xx answer, its problem decoded (or made up when the body is none)."""
    try:
        members = msgspec.json.decode(response.content)
        problem = msgspec.convert(members, Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):  # not a problem document: a proxy's page, say
        members, problem = {}, Problem(title=response.reason_phrase or "Error", status=response.status_code)
    extensions = {k: v for k, v in members.items() if k not in Problem.__struct_fields__}
    status = response.status_code
    kind = _ERRORS.get(status, ServerError if status >= 500 else ApiError)
    return kind(problem, extensions, response.headers)


# Retries --------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a call again, and after how long. Pure: no clock, no I/O.

    Retried: the `statuses` (429, 503) and connection errors, up to `attempts` tries in
    all, none starting later than `total_seconds` after the first began. The wait is the
    answer's `Retry-After` when it sent one, else an exponential backoff from
    `first_delay` (doubling, at most `max_delay`), of which `jitter` draws a random part
    so that many clients do not retry in step.
    """

    attempts: int = 4
    total_seconds: float = 30.0
    first_delay: float = 0.25
    max_delay: float = 8.0
    statuses: frozenset[int] = frozenset({429, 503})
    jitter: Callable[[], float] = random.random

    def delay(
        self, attempt: int, elapsed: float, *, status: int | None = None, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait after try number `attempt` (from 1) got `status` (None: a
        connection error), `elapsed` seconds after the first began; None: do not retry."""
        if attempt >= self.attempts or (status is not None and status not in self.statuses):
            return None
        if retry_after is None:
            backoff = min(self.max_delay, self.first_delay * 2 ** (attempt - 1))
            retry_after = backoff * (0.5 + self.jitter() / 2)
        return retry_after if elapsed + retry_after <= self.total_seconds else None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header in seconds (it may be a number of seconds or an HTTP date)."""
    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


Outcome = httpx.Response | httpx.TransportError


class _Exchange(Generic[T]):
    """The tries of one call: reads each outcome, says whether to retry, gives the result."""

    def __init__(self, call: Call[T], request: httpx.Request, policy: RetryPolicy) -> None:
        self.call, self.request, self.policy = call, request, policy
        self.started = time.monotonic()
        self.tries = 0
        self.outcome: Outcome | None = None

    def retry_in(self, outcome: Outcome) -> float | None:
        """Seconds to wait before trying again, or None when `outcome` is final."""
        self.tries += 1
        self.outcome = outcome
        elapsed = time.monotonic() - self.started
        if isinstance(outcome, httpx.TransportError):
            return self.policy.delay(self.tries, elapsed)
        if outcome.is_success or outcome.headers.get(REPLAYED_HEADER) == "true":
            return None
        wait = retry_after_seconds(outcome.headers.get("Retry-After"), datetime.now(UTC))
        return self.policy.delay(self.tries, elapsed, status=outcome.status_code, retry_after=wait)

    def result(self) -> T:
        """The decoded answer; raises the last connection error or the problem."""
        if isinstance(self.outcome, httpx.TransportError):
            raise self.outcome
        assert self.outcome is not None, "result() before any try"
        if not self.outcome.is_success:
            raise problem_error(self.outcome)
        if self.call.response is type(None):  # 204 No Content
            return None  # type: ignore[return-value]
        return msgspec.json.decode(self.outcome.content, type=self.call.response)


# Clients --------------------------------------------------------------------------

HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)


class _BaseClient(Generic[HttpT]):
    _http_class: type[HttpT]

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry
        self._http = self._http_class(
            base_url=base_url,
            headers={API_KEY_HEADER: api_key, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,  # type: ignore[arg-type]
        )

    def _exchange(self, call: Call[T]) -> _Exchange[T]:
        headers = {}
        if call.idempotency_key is not None:
            headers[IDEMPOTENCY_KEY_HEADER] = call.idempotency_key
        if call.if_match is not None:
            headers["If-Match"] = call.if_match
        content = None
        if call.body is not None:
            content = msgspec.json.encode(call.body)
            headers["Content-Type"] = "application/json"
        params = {k: msgspec.to_builtins(v) for k, v in call.params.items() if v is not None}
        request = self._http.build_request(call.method, call.path, params=params, content=content, headers=headers)
        return _Exchange(call, request, self.retry)


class Client(_BaseClient[httpx.Client]):
    """abri over HTTP: `Client(base_url, api_key)`, then `send(call)`; use it in a `with` block."""

    _http_class = httpx.Client

    def send(self, call: Call[T]) -> T:
        """Send `call`, retrying as the policy says; its answer decoded, or an `ApiError`."""
        exchange = self._exchange(call)
        while (wait := exchange.retry_in(self._try(exchange.request))) is not None:
            time.sleep(wait)
        return exchange.result()

    def _try(self, request: httpx.Request) -> Outcome:
        try:
            return self._http.send(request)
        except RETRIED_ERRORS as error:
            return error

    def pages(self, call: Call[PageT]) -> Iterator[PageT]:
        """Every page of a list, following `next_cursor`."""
        next_call: Call[PageT] | None = call
        while next_call is not None:
            yield (page := self.send(next_call))
            next_call = next_call.after(page)

    def items(self, call: Call[Paged[T]]) -> Iterator[T]:
        """Every item of a list, across its pages."""
        for page in self.pages(call):
            yield from page.items

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncClient(_BaseClient[httpx.AsyncClient]):
    """`Client` for asyncio: `await send(call)`, `async for` over `pages` and `items`, `async with`."""

    _http_class = httpx.AsyncClient

    async def send(self, call: Call[T]) -> T:
        """Send `call`, retrying as the policy says; its answer decoded, or an `ApiError`."""
        exchange = self._exchange(call)
        while (wait := exchange.retry_in(await self._try(exchange.request))) is not None:
            await asyncio.sleep(wait)
        return exchange.result()

    async def _try(self, request: httpx.Request) -> Outcome:
        try:
            return await self._http.send(request)
        except RETRIED_ERRORS as error:
            return error

    async def pages(self, call: Call[PageT]) -> AsyncIterator[PageT]:
        """Every page of a list, following `next_cursor`."""
        next_call: Call[PageT] | None = call
        while next_call is not None:
            yield (page := await self.send(next_call))
            next_call = next_call.after(page)

    async def items(self, call: Call[Paged[T]]) -> AsyncIterator[T]:
        """Every item of a list, across its pages."""
        async for page in self.pages(call):
            for item in page.items:
                yield item

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


# Webhooks -------------------------------------------------------------------------


class InvalidWebhook(Exception):
    """A webhook whose signature headers are missing or malformed, whose signature does not
    match its body under the secret, or whose timestamp is more than 5 minutes off."""


@overload
def verify_webhook(secret: str | bytes, body: bytes, headers: Mapping[str, str]) -> bytes: ...
@overload
def verify_webhook(secret: str | bytes, body: bytes, headers: Mapping[str, str], *, type: type[T]) -> T: ...
def verify_webhook(
    secret: str | bytes, body: bytes, headers: Mapping[str, str], *, type: type[Any] | None = None
) -> Any:
    """Check a webhook by the Standard Webhooks spec (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`); return its body, decoded into `type` when given.

    `secret` is the `whsec_...` secret (or its raw bytes); `body` the bytes exactly as
    received. Raises `InvalidWebhook` when the body cannot be trusted.
    """
    webhook = Signature(secret)
    try:
        webhook.verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError) as exc:  # ValueError: a malformed signature or a non-UTF-8 body
        raise InvalidWebhook(str(exc) or exc.__class__.__name__) from exc
    return body if type is None else msgspec.json.decode(body, type=type)


# Operations -----------------------------------------------------------------------
# One function per route of openapi/openapi.json. `limit=None` and other None arguments
# are left out of the query, so the server's defaults apply.


def _update(path: str, response: type[T], changes: msgspec.Struct, version: int | None) -> Call[T]:
    """A PATCH; with `version`, sent as `If-Match` so that a change since then is a 412."""
    return Call("PATCH", path, response, body=changes, if_match=None if version is None else f'"{version}"')


def live() -> Call[Health]:
    return Call("GET", "/health/live", Health)


def ready() -> Call[Health]:
    """503 (`ServiceUnavailable`) until the database answers and every migration is applied."""
    return Call("GET", "/health/ready", Health)


def list_organisations(*, cursor: str | None = None, limit: int | None = None) -> Call[Page[Organisation]]:
    return Call("GET", "/v1/organisations", Page[Organisation], {"cursor": cursor, "limit": limit})


def create_organisation(organisation: OrganisationCreate) -> Call[Organisation]:
    return Call("POST", "/v1/organisations", Organisation, body=organisation)


def get_organisation(organisation_id: UUID) -> Call[Organisation]:
    return Call("GET", f"/v1/organisations/{organisation_id}", Organisation)


def update_organisation(
    organisation_id: UUID, changes: OrganisationUpdate, *, version: int | None = None
) -> Call[Organisation]:
    return _update(f"/v1/organisations/{organisation_id}", Organisation, changes, version)


def list_facilities(
    *,
    kind: FacilityKind | None = None,
    organisation_id: UUID | None = None,
    department: str | None = None,
    region: str | None = None,
    commune: str | None = None,
    arrondissement: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[Page[Facility]]:
    params = {
        "kind": kind,
        "organisation_id": organisation_id,
        "department": department,
        "region": region,
        "commune": commune,
        "arrondissement": arrondissement,
        "cursor": cursor,
        "limit": limit,
    }
    return Call("GET", "/v1/facilities", Page[Facility], params)


def create_facility(facility: FacilityCreate) -> Call[Facility]:
    return Call("POST", "/v1/facilities", Facility, body=facility)


def get_facility(facility_id: UUID) -> Call[Facility]:
    return Call("GET", f"/v1/facilities/{facility_id}", Facility)


def update_facility(facility_id: UUID, changes: FacilityUpdate, *, version: int | None = None) -> Call[Facility]:
    return _update(f"/v1/facilities/{facility_id}", Facility, changes, version)


def list_beds(
    *, facility_id: UUID | None = None, cursor: str | None = None, limit: int | None = None
) -> Call[Page[Bed]]:
    return Call("GET", "/v1/beds", Page[Bed], {"facility_id": facility_id, "cursor": cursor, "limit": limit})


def create_bed(bed: BedCreate) -> Call[Bed]:
    return Call("POST", "/v1/beds", Bed, body=bed)


def create_beds(beds: BedsBulkCreate) -> Call[BedsCreated]:
    """Up to 2,000 beds of one facility, all or none."""
    return Call("POST", "/v1/beds/bulk", BedsCreated, body=beds)


def get_bed(bed_id: UUID) -> Call[Bed]:
    return Call("GET", f"/v1/beds/{bed_id}", Bed)


def update_bed(bed_id: UUID, changes: BedUpdate, *, version: int | None = None) -> Call[Bed]:
    return _update(f"/v1/beds/{bed_id}", Bed, changes, version)


def list_unavailability(
    bed_id: UUID, *, cursor: str | None = None, limit: int | None = None
) -> Call[Page[Unavailability]]:
    return Call("GET", f"/v1/beds/{bed_id}/unavailability", Page[Unavailability], {"cursor": cursor, "limit": limit})


def create_unavailability(bed_id: UUID, period: UnavailabilityCreate) -> Call[Unavailability]:
    return Call("POST", f"/v1/beds/{bed_id}/unavailability", Unavailability, body=period)


def get_unavailability(period_id: UUID) -> Call[Unavailability]:
    return Call("GET", f"/v1/unavailability/{period_id}", Unavailability)


def update_unavailability(
    period_id: UUID, changes: UnavailabilityUpdate, *, version: int | None = None
) -> Call[Unavailability]:
    return _update(f"/v1/unavailability/{period_id}", Unavailability, changes, version)


def list_sites(
    *, active_at: datetime | None = None, cursor: str | None = None, limit: int | None = None
) -> Call[Page[Site]]:
    return Call("GET", "/v1/sites", Page[Site], {"active_at": active_at, "cursor": cursor, "limit": limit})


def create_site(site: SiteCreate) -> Call[Site]:
    return Call("POST", "/v1/sites", Site, body=site)


def get_site(site_id: UUID) -> Call[Site]:
    return Call("GET", f"/v1/sites/{site_id}", Site)


def update_site(site_id: UUID, changes: SiteUpdate, *, version: int | None = None) -> Call[Site]:
    return _update(f"/v1/sites/{site_id}", Site, changes, version)


def availability(
    *,
    at: datetime | None = None,
    kind: FacilityKind | None = None,
    gender: PersonGender | None = None,
    accessible: bool | None = None,
    couple_room: bool | None = None,
    dogs: bool | None = None,
    medical_level: int | None = None,
    min_distance_km: float | None = None,
    arrondissement: int | None = None,
    commune: str | None = None,
    department: str | None = None,
    region: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[AvailabilityPage]:
    """Beds free at `at` (default now), farthest from the active consumption sites first.
    `bbox` is (min_lon, min_lat, max_lon, max_lat)."""
    params = {
        "at": at,
        "kind": kind,
        "gender": gender,
        "accessible": accessible,
        "couple_room": couple_room,
        "dogs": dogs,
        "medical_level": medical_level,
        "min_distance_km": min_distance_km,
        "arrondissement": arrondissement,
        "commune": commune,
        "department": department,
        "region": region,
        "bbox": None if bbox is None else ",".join(f"{v:.7f}" for v in bbox),
        "cursor": cursor,
        "limit": limit,
    }
    return Call("GET", "/v1/availability", AvailabilityPage, params)


def list_referrals(
    *, status: ReferralStatus | None = None, cursor: str | None = None, limit: int | None = None
) -> Call[Page[Referral]]:
    return Call("GET", "/v1/referrals", Page[Referral], {"status": status, "cursor": cursor, "limit": limit})


def create_referral(referral: ReferralCreate) -> Call[Referral]:
    """409 (`Conflict`) when the reference already has an active referral."""
    return Call("POST", "/v1/referrals", Referral, body=referral)


def get_referral(referral_id: UUID) -> Call[Referral]:
    return Call("GET", f"/v1/referrals/{referral_id}", Referral)


def update_referral(referral_id: UUID, changes: ReferralUpdate, *, version: int) -> Call[Referral]:
    """Referrals require the version last read (412 when it changed since)."""
    return _update(f"/v1/referrals/{referral_id}", Referral, changes, version)


def withdraw_referral(referral_id: UUID, reason: WithdrawReason) -> Call[Referral]:
    return Call("POST", f"/v1/referrals/{referral_id}/withdraw", Referral, body=Withdrawal(reason=reason))


def create_hold(hold: HoldCreate) -> Call[Hold]:
    return Call("POST", "/v1/holds", Hold, body=hold)


def get_hold(hold_id: UUID) -> Call[Hold]:
    return Call("GET", f"/v1/holds/{hold_id}", Hold)


def confirm_hold(hold_id: UUID) -> Call[Stay]:
    """The hold becomes a stay."""
    return Call("POST", f"/v1/holds/{hold_id}/confirm", Stay)


def cancel_hold(hold_id: UUID, reason: CancelReason) -> Call[Hold]:
    return Call("POST", f"/v1/holds/{hold_id}/cancel", Hold, body=HoldCancel(reason=reason))


def place(placement: Placement) -> Call[Stay]:
    """Place a waiting referral in a bed at once."""
    return Call("POST", "/v1/stays", Stay, body=placement)


def get_stay(stay_id: UUID) -> Call[Stay]:
    return Call("GET", f"/v1/stays/{stay_id}", Stay)


def check_in(stay_id: UUID) -> Call[Stay]:
    return Call("POST", f"/v1/stays/{stay_id}/check-in", Stay)


def no_show(stay_id: UUID) -> Call[Stay]:
    """Ends the stay; the referral waits again."""
    return Call("POST", f"/v1/stays/{stay_id}/no-show", Stay)


def transfer(stay_id: UUID, bed_id: UUID) -> Call[Stay]:
    """Ends this stay and returns the next one, in `bed_id`."""
    return Call("POST", f"/v1/stays/{stay_id}/transfer", Stay, body=Transfer(bed_id=bed_id))


def exit_stay(stay_id: UUID, reason: ExitReason, *, at: datetime | None = None) -> Call[Stay]:
    return Call("POST", f"/v1/stays/{stay_id}/exit", Stay, body=Exit(reason=reason, at=at))


def list_proposals(*, cursor: str | None = None, limit: int | None = None) -> Call[Page[ProposalSummary]]:
    return Call("GET", "/v1/proposals", Page[ProposalSummary], {"cursor": cursor, "limit": limit})


def create_proposal(request: ProposalCreate) -> Call[Proposal]:
    """Solve and hold a bed per line; 503 (retried) when the solver is busy."""
    return Call("POST", "/v1/proposals", Proposal, body=request)


def get_proposal(proposal_id: UUID) -> Call[Proposal]:
    return Call("GET", f"/v1/proposals/{proposal_id}", Proposal)


def get_proposal_line(proposal_id: UUID, line_id: UUID) -> Call[ProposalLine]:
    return Call("GET", f"/v1/proposals/{proposal_id}/lines/{line_id}", ProposalLine)


def accept_line(proposal_id: UUID, line_id: UUID) -> Call[ProposalLine]:
    return Call("POST", f"/v1/proposals/{proposal_id}/lines/{line_id}/accept", ProposalLine)


def decline_line(proposal_id: UUID, line_id: UUID, reason: DeclineReason) -> Call[ProposalLine]:
    path = f"/v1/proposals/{proposal_id}/lines/{line_id}/decline"
    return Call("POST", path, ProposalLine, body=Decline(reason=reason))


def occupancy(*, at: datetime | None = None, group_by: GroupBy | None = None) -> Call[OccupancyReport]:
    return Call("GET", "/v1/occupancy", OccupancyReport, {"at": at, "group_by": group_by})


def occupancy_series(
    *, from_: date | None = None, to: date | None = None, step: Step | None = None, group_by: GroupBy | None = None
) -> Call[OccupancySeries]:
    params = {"from": from_, "to": to, "step": step, "group_by": group_by}
    return Call("GET", "/v1/occupancy/series", OccupancySeries, params)


def flows(*, from_: date | None = None, to: date | None = None, step: Step | None = None) -> Call[FlowsReport]:
    return Call("GET", "/v1/reports/flows", FlowsReport, {"from": from_, "to": to, "step": step})


def waiting(*, at: datetime | None = None, placed_from: datetime | None = None) -> Call[WaitingReport]:
    return Call("GET", "/v1/reports/waiting", WaitingReport, {"at": at, "placed_from": placed_from})


def distance(*, to: datetime | None = None, started_from: datetime | None = None) -> Call[DistanceReport]:
    return Call("GET", "/v1/reports/distance", DistanceReport, {"to": to, "started_from": started_from})


def audit_events(
    *,
    subject_id: UUID | None = None,
    key_id: UUID | None = None,
    organisation_id: UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Call[Page[AuditEvent]]:
    params = {
        "subject_id": subject_id,
        "key_id": key_id,
        "organisation_id": organisation_id,
        "since": since,
        "until": until,
        "cursor": cursor,
        "limit": limit,
    }
    return Call("GET", "/v1/audit", Page[AuditEvent], params)


def events(
    *, after: str | None = None, types: Sequence[EventType] | None = None, limit: int | None = None
) -> Call[EventPage]:
    """The feed: events after `after` (a `next_cursor`), oldest first; keep `next_cursor` and ask again."""
    return Call("GET", "/v1/events", EventPage, {"after": after, "types": types, "limit": limit})


def create_webhook(webhook: WebhookCreate) -> Call[WebhookCreated]:
    return Call("POST", "/v1/webhooks", WebhookCreated, body=webhook)


def list_webhooks(*, cursor: str | None = None, limit: int | None = None) -> Call[Page[Webhook]]:
    return Call("GET", "/v1/webhooks", Page[Webhook], {"cursor": cursor, "limit": limit})


def get_webhook(webhook_id: UUID) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{webhook_id}", Webhook)


def delete_webhook(webhook_id: UUID) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{webhook_id}", type(None))


def replay_webhook(webhook_id: UUID, position: int) -> Call[Webhook]:
    return Call("POST", f"/v1/webhooks/{webhook_id}/replay", Webhook, body=Replay(position=position))


def dead_letters(webhook_id: UUID, *, limit: int | None = None) -> Call[list[DeadLetter]]:
    return Call("GET", f"/v1/webhooks/{webhook_id}/dead-letters", list[DeadLetter], {"limit": limit})


def hsds_export(*, cursor: str | None = None, limit: int | None = None) -> Call[HsdsServicePage]:
    """Facilities and their live capacity as Open Referral HSDS 3.1 services."""
    return Call("GET", "/v1/export/hsds", HsdsServicePage, {"cursor": cursor, "limit": limit})


def create_key(key: ApiKeyCreate) -> Call[ApiKeyCreated]:
    """A new API key; its full `key` is in this answer only. Not replayable: a retry after a lost
    answer may make a second key (revoke the one you did not get)."""
    return Call("POST", "/v1/keys", ApiKeyCreated, body=key, replayable=False)


def list_keys(
    *, organisation_id: UUID | None = None, cursor: str | None = None, limit: int | None = None
) -> Call[Page[ApiKey]]:
    return Call("GET", "/v1/keys", Page[ApiKey], {"organisation_id": organisation_id, "cursor": cursor, "limit": limit})


def get_key(key_id: UUID) -> Call[ApiKey]:
    return Call("GET", f"/v1/keys/{key_id}", ApiKey)


def revoke_key(key_id: UUID) -> Call[ApiKey]:
    return Call("POST", f"/v1/keys/{key_id}/revoke", ApiKey)
