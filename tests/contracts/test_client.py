"""The client's pure parts: retry policy, problem decoding, request building, the send loops
over a mock transport, and the webhook verifier. Against a real server: tests/e2e/test_client.py."""

import inspect
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from contracts import client as abri
from contracts.availability import PersonGender
from contracts.common import FacilityKind, FieldError
from contracts.inventory import OrganisationCreate

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SOME_ID = UUID("00000000-0000-4000-8000-000000000001")


def fixed(jitter: float = 1.0, **settings) -> abri.RetryPolicy:
    return abri.RetryPolicy(jitter=lambda: jitter, **settings)


# Retry policy ----------------------------------------------------------------------


def test_the_backoff_doubles_up_to_its_maximum_with_jitter_taking_up_to_half_off():
    policy = fixed(first_delay=0.5, max_delay=3, attempts=10, total_seconds=100)
    assert [policy.delay(n, 0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]
    assert fixed(0.0, first_delay=0.5).delay(2, 0) == 0.5


def test_only_429_503_and_connection_errors_are_retried():
    policy = fixed()
    assert policy.delay(1, 0, status=429) == policy.delay(1, 0, status=503) == policy.delay(1, 0) == 0.25
    for status in (400, 404, 409, 412, 422, 500, 502):
        assert policy.delay(1, 0, status=status) is None


def test_retry_after_replaces_the_backoff():
    assert fixed().delay(1, 0, status=503, retry_after=7) == 7
    assert fixed().delay(1, 0, status=429, retry_after=0) == 0


def test_attempts_and_total_time_bound_the_retries():
    policy = fixed(attempts=3, total_seconds=10)
    assert policy.delay(2, 0) is not None and policy.delay(3, 0) is None
    assert policy.delay(1, 9.8) is None, "the wait would end past total_seconds"
    assert policy.delay(1, 0, status=503, retry_after=11) is None


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    assert abri.retry_after_seconds("3", NOW) == 3
    assert abri.retry_after_seconds("Sun, 01 Mar 2026 12:00:05 GMT", NOW) == 5
    assert abri.retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0
    assert abri.retry_after_seconds("soon", NOW) is None
    assert abri.retry_after_seconds(None, NOW) is None


# Problems --------------------------------------------------------------------------


def answer(status: int, body: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_a_problem_is_decoded_with_its_field_errors_and_extensions():
    error = abri.problem_error(
        answer(
            409,
            {
                "title": "Referral has ended",
                "status": 409,
                "detail": "A withdrawn referral cannot change.",
                "instance": "urn:uuid:1",
                "current_status": "withdrawn",
            },
        )
    )
    assert isinstance(error, abri.Conflict) and error.status == 409
    assert error.problem.detail == "A withdrawn referral cannot change."
    assert error.extensions == {"current_status": "withdrawn"}
    assert str(error) == "409 Referral has ended: A withdrawn referral cannot change."

    invalid = abri.problem_error(
        answer(400, {"title": "Bad Request", "status": 400, "errors": [{"field": "name", "message": "too short"}]})
    )
    assert isinstance(invalid, abri.BadRequest) and isinstance(invalid, abri.InvalidRequest)
    assert invalid.problem.errors == [FieldError(field="name", message="too short")]


@pytest.mark.parametrize(
    ("status", "kind", "family"),
    [
        (401, abri.Unauthorized, abri.AccessDenied),
        (403, abri.Forbidden, abri.AccessDenied),
        (404, abri.NotFound, abri.ApiError),
        (412, abri.PreconditionFailed, abri.ApiError),
        (422, abri.Unprocessable, abri.InvalidRequest),
        (428, abri.PreconditionRequired, abri.ApiError),
        (429, abri.RateLimited, abri.ApiError),
        (503, abri.ServiceUnavailable, abri.ServerError),
        (500, abri.ServerError, abri.ApiError),
        (418, abri.ApiError, Exception),
    ],
)
def test_each_status_has_its_error_type(status, kind, family):
    error = abri.problem_error(answer(status, {"title": "t", "status": status}, {"ETag": '"4"'}))
    assert type(error) is kind and isinstance(error, family)
    assert error.headers["etag"] == '"4"'


def test_an_answer_that_is_no_problem_document_still_gives_a_typed_error():
    error = abri.problem_error(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert isinstance(error, abri.ServerError)
    assert (error.problem.status, error.problem.title, error.extensions) == (502, "Bad Gateway", {})


# Calls -----------------------------------------------------------------------------


def placeholder(parameter: inspect.Parameter) -> object:
    annotation = str(parameter.annotation)
    return SOME_ID if "UUID" in annotation else 1 if annotation == "int" else None


def test_the_operations_cover_every_route_of_the_openapi_document():
    documented = {
        (method.upper(), re.sub(r"\{\w+\}", "{}", path))
        for path, operations in json.loads(OPENAPI.read_text())["paths"].items()
        for method in operations
    }
    built = set()
    for name, operation in inspect.getmembers(abri, inspect.isfunction):
        if not name.startswith("_") and str(inspect.signature(operation).return_annotation).startswith("Call["):
            required = [p for p in inspect.signature(operation).parameters.values() if p.default is p.empty]
            call = operation(**{p.name: placeholder(p) for p in required})
            built.add((call.method, call.path.replace(str(SOME_ID), "{}")))
    assert built == documented


def test_a_post_gets_one_idempotency_key_when_built_and_keeps_it():
    first, second = abri.create_organisation(OrganisationCreate(name="A")), abri.check_in(SOME_ID)
    assert first.idempotency_key and second.idempotency_key and first.idempotency_key != second.idempotency_key
    assert abri.get_organisation(SOME_ID).idempotency_key is None
    assert abri.Call("POST", "/v1/holds", dict, idempotency_key="mine").idempotency_key == "mine"


def test_an_update_with_a_version_sends_it_as_if_match():
    from contracts.inventory import BedUpdate

    assert abri.update_bed(SOME_ID, BedUpdate(label="B2"), version=3).if_match == '"3"'
    assert abri.update_bed(SOME_ID, BedUpdate(label="B2")).if_match is None


# Send loops over a mock transport ----------------------------------------------------


class Script:
    """A mock server answering from a list, one answer (or exception) a request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


ORGANISATION = {
    "id": str(SOME_ID),
    "name": "Maraude Nord",
    "version": 1,
    "created_at": "2026-03-01T12:00:00Z",
    "updated_at": "2026-03-01T12:00:00Z",
}


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The client's sleeps, recorded instead of slept."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(abri.time, "sleep", slept.append)
    monkeypatch.setattr(abri.asyncio, "sleep", asleep)
    return slept


def client(script: Script, **policy) -> abri.Client:
    return abri.Client("http://abri.test", "key", retry=fixed(**policy), transport=httpx.MockTransport(script))


def test_a_503_then_a_success_is_retried_after_retry_after_with_the_same_key(waits):
    script = Script(answer(503, {"title": "Busy", "status": 503}, {"Retry-After": "2"}), answer(201, ORGANISATION))
    with client(script) as api:
        organisation = api.send(abri.create_organisation(OrganisationCreate(name="Maraude Nord")))
    assert organisation.name == "Maraude Nord" and organisation.id == SOME_ID
    assert waits == [2.0]
    keys = {r.headers["Idempotency-Key"] for r in script.requests}
    assert len(script.requests) == 2 and len(keys) == 1
    assert all(r.headers["X-API-Key"] == "key" for r in script.requests)
    assert msgspec.json.decode(script.requests[1].content) == {"name": "Maraude Nord"}


def test_429s_are_retried_until_the_attempts_run_out_then_raise(waits):
    script = Script(*(answer(429, {"title": "Too Many Requests", "status": 429}) for _ in range(3)))
    with client(script, attempts=3) as api, pytest.raises(abri.RateLimited) as raised:
        api.send(abri.get_organisation(SOME_ID))
    assert raised.value.status == 429 and len(script.requests) == 3
    assert waits == [0.25, 0.5]


def test_connection_errors_are_retried_and_the_last_one_raised(waits):
    script = Script(httpx.ConnectError("refused"), answer(200, ORGANISATION))
    with client(script) as api:
        assert api.send(abri.get_organisation(SOME_ID)).version == 1
    script = Script(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    with client(script, attempts=2) as api, pytest.raises(httpx.ReadTimeout):
        api.send(abri.get_organisation(SOME_ID))
    assert waits == [0.25, 0.25]


def test_other_errors_and_replayed_answers_are_not_retried(waits):
    script = Script(
        answer(404, {"title": "No such organisation", "status": 404}),
        answer(429, {"title": "Too Many Requests", "status": 429}, {"Idempotent-Replayed": "true"}),
    )
    with client(script) as api:
        with pytest.raises(abri.NotFound):
            api.send(abri.get_organisation(SOME_ID))
        with pytest.raises(abri.RateLimited):
            api.send(abri.create_organisation(OrganisationCreate(name="x")))
    assert len(script.requests) == 2 and waits == []


def test_the_query_carries_every_value_in_its_wire_form(waits):
    script = Script(answer(200, {"at": "2026-03-01T12:00:00Z", "items": [], "next_cursor": None}))
    with client(script) as api:
        page = api.send(
            abri.availability(
                at=NOW, kind=FacilityKind.ASSORE_HOTEL, gender=PersonGender.WOMAN, dogs=True, bbox=(2.2, 48.8, 2.5, 49)
            )
        )
    assert page.items == []
    assert dict(script.requests[0].url.params) == {
        "at": "2026-03-01T12:00:00Z",
        "kind": "assore_hotel",
        "gender": "woman",
        "dogs": "true",
        "bbox": "2.2000000,48.8000000,2.5000000,49.0000000",
    }


def page_answer(names: list[str], cursor: str | None) -> httpx.Response:
    return answer(200, {"items": [ORGANISATION | {"name": n} for n in names], "next_cursor": cursor})


def test_items_follow_next_cursor_to_the_last_page(waits):
    script = Script(page_answer(["a", "b"], "c1"), page_answer(["c"], None))
    with client(script) as api:
        assert [o.name for o in api.items(abri.list_organisations(limit=2))] == ["a", "b", "c"]
    assert [dict(r.url.params) for r in script.requests] == [{"limit": "2"}, {"limit": "2", "cursor": "c1"}]


async def test_the_async_client_retries_pages_and_raises_the_same_way(waits):
    script = Script(
        answer(503, {"title": "Busy", "status": 503}, {"Retry-After": "1"}),
        page_answer(["a"], "c1"),
        page_answer(["b"], None),
        answer(404, {"title": "No such organisation", "status": 404}),
    )
    transport = httpx.MockTransport(script)
    async with abri.AsyncClient("http://abri.test", "key", retry=fixed(), transport=transport) as api:
        assert [o.name async for o in api.items(abri.list_organisations())] == ["a", "b"]
        with pytest.raises(abri.NotFound):
            await api.send(abri.get_organisation(SOME_ID))
    assert waits == [1.0] and len(script.requests) == 4


# Webhooks --------------------------------------------------------------------------

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{"type":"referral.placed","referral_id":"00000000-0000-4000-8000-000000000001"}'


def signed(body: bytes, secret: str = SECRET, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", at, body.decode())
    return {"webhook-id": "msg_1", "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


class Placed(msgspec.Struct):
    type: str
    referral_id: UUID


def test_a_correctly_signed_webhook_gives_its_body_or_the_type_asked():
    assert abri.verify_webhook(SECRET, BODY, signed(BODY)) == BODY
    event = abri.verify_webhook(SECRET, BODY, httpx.Headers(signed(BODY)), type=Placed)
    assert event == Placed(type="referral.placed", referral_id=SOME_ID)


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        (BODY.replace(b"placed", b"exited"), signed(BODY), "No matching signature"),
        (BODY, signed(BODY, secret="whsec_" + "QUJD" * 8), "No matching signature"),
        (BODY, signed(BODY, at=datetime.now(UTC) - timedelta(minutes=6)), "too old"),
        (BODY, signed(BODY, at=datetime.now(UTC) + timedelta(minutes=6)), "too new"),
        (BODY, {k: v for k, v in signed(BODY).items() if k != "webhook-signature"}, "Missing"),
        (BODY, signed(BODY) | {"webhook-signature": "garbage"}, "."),
        (b"\xff" + BODY, signed(BODY), "."),
    ],
    ids=["tampered", "wrong secret", "stale", "from the future", "unsigned", "malformed", "not utf-8"],
)
def test_a_webhook_that_cannot_be_trusted_is_refused(body, headers, why):
    with pytest.raises(abri.InvalidWebhook, match=why):
        abri.verify_webhook(SECRET, body, headers)
