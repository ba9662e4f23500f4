"""Webhooks and the event feed against a real local HTTP receiver: nothing lost, in order, signed.

The app runs its webhook worker with short waits (50 ms polls, backoff from 50 ms capped
at 400 ms, 16 attempts: a receiver may be down for 2.5 s at least before events go to the
dead letters).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from contracts.common import Role
from service.app import create_app
from service.auth import API_KEY_HEADER
from service.settings import Settings
from tests.inventory import insert_bed, insert_facility
from tests.receiver import Receiver

ADMIN, OFFICER, PARTNER, REFERRER, MANAGER = Role
FAST = {
    "webhook_poll_s": 0.05,
    "webhook_backoff_s": 0.05,
    "webhook_backoff_cap_s": 0.4,
    "webhook_max_attempts": 16,
    "webhook_timeout_s": 2.0,
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, **FAST))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def beds(conn: asyncpg.Connection, keys) -> list[str]:
    facility = await insert_facility(conn, keys.organisation_id, "Hôtel des Ondes")
    return [str(await insert_bed(conn, facility, f"W{n}")) for n in range(3)]


async def api(client, key: str, method: str, url: str, expect: int = 200, body=None) -> dict:
    r = await client.request(method, url, json=body, headers={API_KEY_HEADER: key})
    assert r.status_code == expect, r.text
    return r.json() if r.content else {}


async def subscribe(client, key: str, url: str, *types: str) -> dict:
    body = {"url": url, "event_types": list(types or ["bed.status_changed"])}
    return await api(client, key, "POST", "/v1/webhooks", 201, body)


_days = itertools.count()


async def out_of_service_and_back(client, keys, bed: str) -> None:
    """Two bed.status_changed events on `bed`: out of service from a past day on, then back the next day."""
    day = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=next(_days))
    period = await api(
        client,
        keys.by_role[PARTNER],
        "POST",
        f"/v1/beds/{bed}/unavailability",
        201,
        {"reason": "cleaning", "starts_at": day.isoformat()},
    )
    r = await client.patch(
        f"/v1/unavailability/{period['id']}",
        json={"ends_at": (day + timedelta(days=1)).isoformat()},
        headers={API_KEY_HEADER: keys.by_role[PARTNER], "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text


async def feed(client, key: str, after: str | None = None, **params) -> dict:
    query = {"limit": 500} | ({"after": after} if after else {}) | params
    r = await client.get("/v1/events", params=query, headers={API_KEY_HEADER: key})
    assert r.status_code == 200, r.text
    return r.json()


async def wait_for(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_receiver_down_then_up_gets_every_event_once_in_order_signed(client, keys, beds, receiver):
    partner = keys.by_role[PARTNER]
    webhook = await subscribe(client, partner, receiver.url("/ours"))
    assert webhook["secret"].startswith("whsec_") and webhook["role"] == "partner"
    start = (await feed(client, partner))["next_cursor"]
    for _ in range(3):  # interleaved subjects: 3 beds × 3 rounds × 2 events
        for bed in beds:
            await out_of_service_and_back(client, keys, bed)
    await asyncio.sleep(1.0)  # down for a second: every attempt so far met a closed port
    assert receiver.at("/ours") == []
    receiver.start()
    await wait_for(lambda: len(receiver.at("/ours")) >= 18)
    await asyncio.sleep(0.3)  # room for a wrong extra delivery to show up

    events = (await feed(client, partner, start, types="bed.status_changed"))["items"]
    delivered = [json.loads(body) for _, body in receiver.at("/ours")]
    assert [e["id"] for e in delivered] == [e["id"] for e in events], "each event once, in commit order"
    assert len(events) == 18
    assert [e["subject"]["id"] for e in delivered] == [bed for _ in range(3) for bed in beds for _ in range(2)]
    assert [e["data"]["in_service_now"] for e in delivered[:2]] == [False, True]
    verifier = Verifier(webhook["secret"])
    for headers, body in receiver.at("/ours"):
        assert verifier.verify(body, headers)["id"] == headers["webhook-id"]
    after = await api(client, partner, "GET", f"/v1/webhooks/{webhook['id']}")
    assert after["pending"] == 0 and after["attempts"] == 0 and after["delivered_position"] == events[-1]["position"]


async def test_a_wrong_signature_is_detected_by_the_receiver(client, keys, beds, receiver):
    receiver.ensure_started()
    webhook = await subscribe(client, keys.by_role[PARTNER], receiver.url("/signed"))
    await out_of_service_and_back(client, keys, beds[0])
    await wait_for(lambda: len(receiver.at("/signed")) >= 2)
    headers, body = receiver.at("/signed")[0]
    Verifier(webhook["secret"]).verify(body, headers)
    other_secret = (await subscribe(client, keys.by_role[PARTNER], receiver.url("/elsewhere")))["secret"]
    with pytest.raises(WebhookVerificationError):
        Verifier(other_secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(webhook["secret"]).verify(body.replace(b"cleaning", b"damage"), headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(webhook["secret"]).verify(body, headers | {"webhook-timestamp": str(int(time.time()) - 3600)})


async def test_another_organisation_hears_nothing_of_ours(client, keys, beds, receiver):
    theirs = await subscribe(client, keys.other_partner, receiver.url("/theirs"))
    ours = await subscribe(client, keys.by_role[PARTNER], receiver.url("/ours-too"))
    start = (await feed(client, keys.other_partner))["next_cursor"]
    await out_of_service_and_back(client, keys, beds[1])
    await wait_for(lambda: len(receiver.at("/ours-too")) >= 2)
    await asyncio.sleep(0.3)
    assert receiver.at("/theirs") == []
    assert (await feed(client, keys.other_partner, start))["items"] == []
    assert (await api(client, keys.other_partner, "GET", f"/v1/webhooks/{theirs['id']}"))["pending"] == 0
    await api(client, keys.other_partner, "GET", f"/v1/webhooks/{ours['id']}", 404)


async def test_after_the_last_attempt_the_event_is_a_dead_letter_and_replay_delivers_it(client, keys, beds, receiver):
    partner = keys.by_role[PARTNER]
    receiver.ensure_started()
    receiver.failing.add("/flaky")
    webhook = await subscribe(client, partner, receiver.url("/flaky"))
    before = webhook["delivered_position"]
    await out_of_service_and_back(client, keys, beds[2])
    url = f"/v1/webhooks/{webhook['id']}"

    async def dead() -> list:
        return await api(client, partner, "GET", f"{url}/dead-letters")

    deadline = time.monotonic() + 20
    while len(await dead()) < 2:
        assert time.monotonic() < deadline, await api(client, partner, "GET", url)
        await asyncio.sleep(0.1)
    letters = await dead()
    assert [d["attempts"] for d in letters] == [16, 16] and {d["last_status"] for d in letters} == {500}
    assert receiver.at("/flaky") == []

    receiver.failing.discard("/flaky")
    await api(client, partner, "POST", f"{url}/replay", 422, {"position": 10**9})
    replayed = await api(client, partner, "POST", f"{url}/replay", 200, {"position": before})
    assert replayed["dead_letters"] == 0
    await wait_for(lambda: len(receiver.at("/flaky")) >= 2)
    assert [json.loads(b)["id"] for _, b in receiver.at("/flaky")] == [d["event"]["id"] for d in letters]


async def test_the_feed_pages_by_cursor_and_stays_put_at_the_end(client, keys, beds):
    admin = keys.by_role[ADMIN]
    first = await feed(client, admin, limit=3)
    assert len(first["items"]) == 3
    rest = await feed(client, admin, first["next_cursor"])
    positions = [e["position"] for e in first["items"] + rest["items"]]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert (await feed(client, admin, rest["next_cursor"])) == {"items": [], "next_cursor": rest["next_cursor"]}
    r = await client.get("/v1/events", params={"after": "not-a-cursor!"}, headers={API_KEY_HEADER: admin})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


async def test_each_role_hears_what_it_may_see(client, keys, beds):
    referral = await api(
        client,
        keys.by_role[REFERRER],
        "POST",
        "/v1/referrals",
        201,
        {
            "reference": "HOOK-1",
            "source": "hospital",
            "needs": {"gender": "woman"},
            "acceptable_kinds": ["assore_hotel"],
            "vulnerability": 2,
        },
    )
    await api(
        client, keys.by_role[OFFICER], "POST", "/v1/stays", 201, {"referral_id": referral["id"], "bed_id": beds[0]}
    )
    await out_of_service_and_back(client, keys, beds[1])

    def types(page: dict) -> set[str]:
        return {e["type"] for e in page["items"]}

    assert {"referral.created", "referral.status_changed", "stay.started"} <= types(
        await feed(client, keys.by_role[OFFICER])
    )
    assert {"referral.created", "stay.started"} <= types(await feed(client, keys.by_role[REFERRER]))
    assert "stay.started" in types(await feed(client, keys.by_role[PARTNER]))
    manager = types(await feed(client, keys.by_role[MANAGER]))
    assert "bed.status_changed" in manager and manager <= {"bed.status_changed", "capacity.changed"}
    assert types(await feed(client, keys.other_partner)) <= {"capacity.changed"}
    events = (await feed(client, keys.by_role[OFFICER]))["items"]
    started = next(e for e in events if e["type"] == "stay.started" and e["data"]["referral_id"] == referral["id"])
    assert set(started["data"]) <= {"bed_id", "referral_id", "facility_id"}, "ids only, nothing personal"


async def test_a_refused_change_leaves_no_event(client, keys, beds, conn):
    count = "SELECT count(*) FROM events"
    before = await conn.fetchval(count)
    body = {"reason": "cleaning", "starts_at": "2027-06-01T00:00:00+00:00", "ends_at": "2027-06-03T00:00:00+00:00"}
    await api(client, keys.by_role[PARTNER], "POST", f"/v1/beds/{beds[0]}/unavailability", 201, body)
    await api(client, keys.by_role[PARTNER], "POST", f"/v1/beds/{beds[0]}/unavailability", 409, body)
    assert await conn.fetchval(count) == before + 1


async def test_positions_follow_commit_order_not_insert_order(conn, database_url):
    other = await asyncpg.connect(database_url)
    try:
        insert = (
            "INSERT INTO events (type, subject_type, subject_id, organisation_ids, data) "
            "VALUES ('capacity.changed', 'facility', uuidv7(), '{}', '{}') RETURNING id"
        )
        first = conn.transaction()
        await first.start()
        inserted_first = await conn.fetchval(insert)
        async with other.transaction():
            inserted_second = await other.fetchval(insert)
        await first.commit()
        positions = dict(
            await conn.fetch("SELECT id, position FROM events WHERE id = ANY($1)", [inserted_first, inserted_second])
        )
        assert positions[inserted_second] < positions[inserted_first]
    finally:
        await other.close()


async def test_webhook_urls_must_be_https_or_loopback(client, keys):
    partner = keys.by_role[PARTNER]
    refused = ("http://example.org/hook", "ftp://127.0.0.1/x", "http://10.0.0.1/hook", "https://0]x", "https://é.fr/")
    for url in refused:
        r = await client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["stay.started"]}, headers={API_KEY_HEADER: partner}
        )
        assert r.status_code in (400, 422), (url, r.text)
    for url in ("https://example.org/hook", "http://localhost:9/x", "http://[::1]:9/x"):
        await subscribe(client, partner, url, "stay.started")


async def test_a_bulk_of_beds_is_one_capacity_change_of_its_facility_with_its_counts(client, keys, beds, conn):
    partner = keys.by_role[PARTNER]
    start = (await feed(client, partner))["next_cursor"]
    facility = await conn.fetchval("SELECT facility_id FROM beds WHERE id = $1::uuid", beds[0])
    before = await conn.fetchval("SELECT count(*) FROM beds WHERE facility_id = $1", facility)
    beds = [{"label": f"Bulk {n}", "gender_policy": "any"} for n in range(3)]
    await api(client, partner, "POST", "/v1/beds/bulk", 201, {"facility_id": str(facility), "beds": beds})
    [event] = (await feed(client, partner, start, types="capacity.changed"))["items"]
    assert event["subject"] == {"type": "facility", "id": str(facility)}
    assert event["data"]["beds"] == before + 3
