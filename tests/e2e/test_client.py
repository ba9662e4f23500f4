"""The typed client (contracts/client.py) against a real `abri serve` process.

The data is made through the client itself: a facility and its beds, referrals, holds
and stays. The retry policy's answers (429, 503) are covered over a mock transport in
tests/contracts/test_client.py; here a lost answer is retried against the real server,
and a server with a low rate limit answers 429 until the client has waited as told.
"""

import asyncio
from datetime import date
from uuid import uuid4

import asyncpg
import httpx
import pytest

from contracts import client as abri
from contracts.availability import PersonGender
from contracts.common import FacilityKind, Role
from contracts.inventory import BedsBulkCreate, BedSpec, FacilityCreate, FacilityUpdate, OrganisationCreate
from contracts.placements import ExitReason, HoldCreate
from contracts.referrals import Needs, ReferralCreate, ReferralSource, ReferralStatus, ReferralUpdate, WithdrawReason
from service.auth import create_key
from tests.conftest import fresh_database
from tests.process import Server

BEDS = 5
FAST = abri.RetryPolicy(first_delay=0.05)


async def make_keys(url: str) -> dict[Role, str]:
    conn = await asyncpg.connect(url)
    try:
        organisation = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Client operator') RETURNING id")
        return {role: await create_key(conn, role, organisation) for role in (Role.ADMIN, Role.REFERRER)}
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def server_and_keys(pg_server):
    url = fresh_database(pg_server, "t_e2e_client")
    keys = asyncio.run(make_keys(url))
    server = Server({"DATABASE_URL": url, "ABRI_LOG_LEVEL": "warning"})
    server.wait_ready()
    yield server, keys
    code, _, err = server.stop()
    assert code == 0, err


@pytest.fixture(scope="module")
def api(server_and_keys):
    server, keys = server_and_keys
    with abri.Client(server.base, keys[Role.ADMIN], retry=FAST) as client:
        yield client


@pytest.fixture(scope="module")
def facility(api):
    organisation = api.send(abri.create_organisation(OrganisationCreate(name="Hôtels du Client")))
    created = FacilityCreate(
        organisation_id=organisation.id,
        kind=FacilityKind.ASSORE_HOTEL,
        name="Hôtel du Client",
        address="4 rue du Client",
        commune="Paris",
        arrondissement=14,
        department="75",
        region="Île-de-France",
        lat=48.83,
        lon=2.32,
        opened_on=date(2020, 1, 1),
    )
    facility = api.send(abri.create_facility(created))
    beds = [BedSpec(label=f"C{n}") for n in range(BEDS)]
    api.send(abri.create_beds(BedsBulkCreate(facility_id=facility.id, beds=beds)))
    return facility


def referral(reference: str) -> ReferralCreate:
    return ReferralCreate(
        reference=reference,
        source=ReferralSource.OUTREACH_TEAM,
        needs=Needs(gender=PersonGender.MAN),
        acceptable_kinds=[FacilityKind.ASSORE_HOTEL],
        vulnerability=3,
    )


class LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request to the real server, then loses the first answer, as a
    connection dropped after the server committed would."""

    def __init__(self) -> None:
        self.network = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.network.handle_request(request)
        response.read()
        if len(self.sent) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return response

    def close(self) -> None:
        self.network.close()


def test_a_lost_answer_is_retried_with_the_same_key_and_creates_one_referral(server_and_keys, api):
    server, keys = server_and_keys
    transport = LoseFirstAnswer()
    with abri.Client(server.base, keys[Role.REFERRER], retry=FAST, transport=transport) as flaky:
        created = flaky.send(abri.create_referral(referral("CLIENT-RETRY-01")))
    assert [r.headers["Idempotency-Key"] for r in transport.sent] == [transport.sent[0].headers["Idempotency-Key"]] * 2
    assert created.status is ReferralStatus.WAITING
    assert [r.id for r in api.items(abri.list_referrals())] == [created.id]


def test_the_same_call_sent_again_replays_while_a_new_call_is_a_new_request(api):
    call = abri.create_referral(referral("CLIENT-REPLAY-01"))
    first, again = api.send(call), api.send(call)
    assert again == first
    with pytest.raises(abri.Conflict) as conflict:
        api.send(abri.create_referral(referral("CLIENT-REPLAY-01")))  # a new key: the duplicate is refused
    assert conflict.value.status == 409 and conflict.value.problem.title


def test_pages_and_items_follow_the_cursor(api, facility):
    pages = list(api.pages(abri.list_beds(facility_id=facility.id, limit=2)))
    assert [len(p.items) for p in pages] == [2, 2, 1] and pages[-1].next_cursor is None
    labels = [b.label for b in api.items(abri.list_beds(facility_id=facility.id, limit=2))]
    assert sorted(labels) == [f"C{n}" for n in range(BEDS)]
    free = list(api.items(abri.availability(kind=FacilityKind.ASSORE_HOTEL, limit=2)))
    assert len(free) == BEDS and {b.facility.id for b in free} == {facility.id}


def test_errors_carry_the_problem(server_and_keys, api):
    server, keys = server_and_keys
    missing = uuid4()
    with pytest.raises(abri.NotFound) as not_found:
        api.send(abri.get_referral(missing))
    assert not_found.value.problem.status == 404 and str(missing) in not_found.value.problem.detail

    with pytest.raises(abri.BadRequest) as bad:
        api.send(abri.create_organisation(OrganisationCreate(name="")))  # Structs are checked when decoded, not built
    assert [e.field for e in bad.value.problem.errors] == ["name"]

    nowhere = uuid4()
    with pytest.raises(abri.Unprocessable) as unprocessable:
        api.send(abri.create_beds(BedsBulkCreate(facility_id=nowhere, beds=[BedSpec(label="X")])))
    assert (
        unprocessable.value.problem.title == "No such facility" and str(nowhere) in unprocessable.value.problem.detail
    )

    with abri.Client(server.base, keys[Role.REFERRER]) as referrer, pytest.raises(abri.Forbidden):
        referrer.send(abri.audit_events())
    with abri.Client(server.base, "abri_nobody_secret") as stranger, pytest.raises(abri.Unauthorized) as unknown:
        stranger.send(abri.list_facilities())
    assert isinstance(unknown.value, abri.AccessDenied)


def test_updates_send_the_version_read_as_if_match(api, facility):
    current = api.send(abri.get_facility(facility.id))
    renamed = api.send(abri.update_facility(facility.id, FacilityUpdate(name="Hôtel Renommé"), version=current.version))
    assert renamed.version == current.version + 1
    with pytest.raises(abri.PreconditionFailed) as stale:
        api.send(abri.update_facility(facility.id, FacilityUpdate(name="Trop tard"), version=current.version))
    assert stale.value.headers["ETag"] == f'"{renamed.version}"'

    waiting = api.send(abri.create_referral(referral("CLIENT-PATCH-01")))
    changed = api.send(abri.update_referral(waiting.id, ReferralUpdate(vulnerability=5), version=waiting.version))
    assert changed.vulnerability == 5
    with pytest.raises(abri.PreconditionFailed):
        api.send(abri.update_referral(waiting.id, ReferralUpdate(vulnerability=1), version=waiting.version))


async def test_the_async_client_walks_a_placement(server_and_keys, facility):
    server, keys = server_and_keys
    async with abri.AsyncClient(server.base, keys[Role.ADMIN], retry=FAST) as api:
        person = await api.send(abri.create_referral(referral("CLIENT-ASYNC-01")))
        bed = (await api.send(abri.availability(kind=FacilityKind.ASSORE_HOTEL))).items[0]
        hold = await api.send(abri.create_hold(HoldCreate(referral_id=person.id, bed_id=bed.id)))
        stay = await api.send(abri.confirm_hold(hold.id))
        await api.send(abri.check_in(stay.id))
        ended = await api.send(abri.exit_stay(stay.id, ExitReason.INDEPENDENT_HOUSING))
        assert ended.ended_as == "exit" and ended.checked_in_at is not None
        assert (await api.send(abri.get_referral(person.id))).status is ReferralStatus.EXITED
        actions = [e.action async for e in api.items(abri.audit_events(subject_id=person.id, limit=1))]
        assert {"created", "exited"} <= set(actions)
        with pytest.raises(abri.Conflict) as ended_already:
            await api.send(abri.withdraw_referral(person.id, WithdrawReason.LOST_CONTACT))
        assert ended_already.value.extensions["current_status"] == "exited"


@pytest.fixture(scope="module")
def limited_server_and_key(pg_server):
    """A server that lets each key send 2 requests a second, after a burst of 2."""
    url = fresh_database(pg_server, "t_e2e_client_limited")
    keys = asyncio.run(make_keys(url))
    server = Server({"DATABASE_URL": url, "ABRI_LOG_LEVEL": "warning", "ABRI_RATE_LIMIT": "2", "ABRI_RATE_BURST": "2"})
    server.wait_ready()
    yield server, keys[Role.ADMIN]
    code, _, err = server.stop()
    assert code == 0, err


def test_over_its_rate_the_client_waits_as_told_and_every_call_gets_through(limited_server_and_key):
    server, key = limited_server_and_key
    with httpx.Client(base_url=server.base, headers={"X-API-Key": key}) as raw:
        answers = [raw.get("/v1/organisations") for _ in range(4)]
    refused = [r for r in answers if r.status_code == 429]
    assert refused, "the limiter never answered 429"
    assert int(refused[0].headers["retry-after"]) >= 1
    assert refused[0].headers["content-type"].startswith("application/problem+json")
    with abri.Client(server.base, key, retry=abri.RetryPolicy(attempts=6, total_seconds=30)) as api:
        for n in range(6):
            api.send(abri.create_organisation(OrganisationCreate(name=f"Limited {n}")))
        names = {o.name for o in api.items(abri.list_organisations())}
    assert {f"Limited {n}" for n in range(6)} <= names
