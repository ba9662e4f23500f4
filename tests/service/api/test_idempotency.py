"""Idempotency-Key on creating POSTs: a retry replays the first response, never acts twice.

Any stored response below 500 is replayed, 4xx included (a key replays its first
response); a 5xx stores nothing, so the retry runs again.
"""

import asyncio
import contextlib
import uuid

import asyncpg
import pytest

from contracts.common import Role
from service.auth import create_key
from service.db.tables import Table
from service.organisations import routes as organisation_routes

PROBLEM = "application/problem+json"


def idem(keys, role=Role.ADMIN, key=None):
    return keys.header(role) | {"Idempotency-Key": key or str(uuid.uuid4())}


async def count_organisations(conn, name):
    return await conn.fetchval("SELECT count(*) FROM organisations WHERE name = $1", name)


def same_response(a, b):
    assert a.status_code == b.status_code
    assert a.content == b.content
    for header in ("location", "etag", "content-type"):
        assert a.headers.get(header) == b.headers.get(header), header


async def test_same_key_and_body_replays_the_first_response(client, keys, conn):
    headers = idem(keys)
    first = await client.post("/v1/organisations", json={"name": "Idem once"}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers["location"] and first.headers["etag"] == '"1"'
    assert "idempotent-replayed" not in first.headers
    # The resource changes afterwards: the replay is still the first response.
    renamed = await client.patch(
        first.headers["location"], json={"name": "Idem renamed"}, headers=keys.header(Role.ADMIN)
    )
    assert renamed.status_code == 200
    again = await client.post("/v1/organisations", json={"name": "Idem once"}, headers=headers)
    same_response(first, again)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"], "the request id is each exchange's own"
    assert await count_organisations(conn, "Idem once") == 0
    assert await count_organisations(conn, "Idem renamed") == 1
    created = await conn.fetchval(
        "SELECT count(*) FROM audit_events WHERE subject_id = $1 AND action = 'created'", uuid.UUID(first.json()["id"])
    )
    assert created == 1


async def test_same_key_with_another_body_is_422_and_creates_nothing(client, keys, conn):
    headers = idem(keys)
    first = await client.post("/v1/organisations", json={"name": "Idem first body"}, headers=headers)
    assert first.status_code == 201
    other = await client.post("/v1/organisations", json={"name": "Idem other body"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith(PROBLEM)
    assert other.json()["title"] == "Idempotency-Key reused with a different request"
    assert await count_organisations(conn, "Idem other body") == 0
    # Another path with the same key and body is another request too.
    facility = await client.post("/v1/sites", json={"name": "Idem first body"}, headers=headers)
    assert facility.status_code == 422


async def test_keys_are_scoped_per_api_key(client, keys, conn):
    other_admin = await create_key(conn, Role.ADMIN, keys.organisation_id)
    shared = str(uuid.uuid4())
    mine = await client.post("/v1/organisations", json={"name": "Idem mine"}, headers=idem(keys, key=shared))
    theirs = await client.post(
        "/v1/organisations",
        json={"name": "Idem theirs"},
        headers={"X-API-Key": other_admin, "Idempotency-Key": shared},
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = $1", shared) == 2


async def test_a_client_error_is_replayed_too(client, keys, conn):
    admin = keys.header(Role.ADMIN)
    taken = await client.post("/v1/organisations", json={"name": "Idem taken"}, headers=admin)
    headers = idem(keys)
    conflict = await client.post("/v1/organisations", json={"name": "Idem taken"}, headers=headers)
    assert conflict.status_code == 409
    # Even once the name is free again, the key answers what it answered first.
    await client.patch(taken.headers["location"], json={"name": "Idem freed"}, headers=admin)
    again = await client.post("/v1/organisations", json={"name": "Idem taken"}, headers=headers)
    assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == conflict.json()
    assert await count_organisations(conn, "Idem taken") == 0


class FailingTable(Table):
    """Inserts for real, then fails the request: the insert must not survive."""

    async def insert(self, conn, actor, values):
        await super().insert(conn, actor, values)
        raise RuntimeError("boom after the insert")


async def test_a_server_error_stores_nothing_and_the_retry_runs_again(client, keys, conn, monkeypatch):
    headers = idem(keys)
    real = organisation_routes.ORGANISATIONS
    monkeypatch.setattr(organisation_routes, "ORGANISATIONS", FailingTable(**real.__dict__))
    failed = await client.post("/v1/organisations", json={"name": "Idem after 500"}, headers=headers)
    assert failed.status_code == 500
    assert await count_organisations(conn, "Idem after 500") == 0, "the insert is rolled back with the key"
    key = headers["Idempotency-Key"]
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = $1", key) == 0
    monkeypatch.setattr(organisation_routes, "ORGANISATIONS", real)
    retry = await client.post("/v1/organisations", json={"name": "Idem after 500"}, headers=headers)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert await count_organisations(conn, "Idem after 500") == 1


class AbortsThenFails(Table):
    """Inserts, then runs a failing statement outside any savepoint: a 422 (DataError)."""

    async def insert(self, conn, actor, values):
        await super().insert(conn, actor, values)
        await conn.execute("SELECT 1 / 0")


class AbortsThenSucceeds(Table):
    """Inserts, then swallows a failed statement that ran outside any savepoint."""

    async def insert(self, conn, actor, values):
        created = await super().insert(conn, actor, values)
        with contextlib.suppress(asyncpg.DataError):
            await conn.execute("SELECT 1 / 0")
        return created


async def test_a_route_that_aborts_the_transaction_gets_its_4xx_unstored(client, keys, conn, monkeypatch):
    headers = idem(keys)
    real = organisation_routes.ORGANISATIONS
    monkeypatch.setattr(organisation_routes, "ORGANISATIONS", AbortsThenFails(**real.__dict__))
    r = await client.post("/v1/organisations", json={"name": "Idem aborted 4xx"}, headers=headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert await count_organisations(conn, "Idem aborted 4xx") == 0
    key = headers["Idempotency-Key"]
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = $1", key) == 0


async def test_a_success_whose_transaction_aborted_is_a_500_not_a_lie(client, keys, conn, monkeypatch):
    real = organisation_routes.ORGANISATIONS
    monkeypatch.setattr(organisation_routes, "ORGANISATIONS", AbortsThenSucceeds(**real.__dict__))
    r = await client.post("/v1/organisations", json={"name": "Idem aborted 2xx"}, headers=idem(keys))
    assert r.status_code == 500, "a 201 for an insert that cannot commit would be a lie"
    assert await count_organisations(conn, "Idem aborted 2xx") == 0


async def test_without_the_header_nothing_changes(client, keys, conn):
    admin = keys.header(Role.ADMIN)
    stored = await conn.fetchval("SELECT count(*) FROM idempotency_keys")
    first = await client.post("/v1/organisations", json={"name": "Idem plain"}, headers=admin)
    second = await client.post("/v1/organisations", json={"name": "Idem plain"}, headers=admin)
    assert (first.status_code, second.status_code) == (201, 409), "no replay without a key"
    # Only POST is affected: a PATCH with a key is an ordinary PATCH.
    patched = await client.patch(
        first.headers["location"], json={"name": "Idem plain 2"}, headers=admin | {"Idempotency-Key": "k"}
    )
    assert patched.status_code == 200 and "idempotent-replayed" not in patched.headers
    assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == stored


@pytest.mark.parametrize(
    "key", [b"", b"x" * 256, b"x" * 300, "clé".encode(), b"tab\there"], ids=["empty", "256", "300", "utf8", "tab"]
)
async def test_an_invalid_key_is_400(client, keys, conn, key):
    name = f"Idem invalid {key[:10]!r}"
    r = await client.post(
        "/v1/organisations", json={"name": name}, headers=keys.header(Role.ADMIN) | {"Idempotency-Key": key}
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count_organisations(conn, name) == 0


async def test_the_longest_key_is_accepted(client, keys):
    r = await client.post("/v1/organisations", json={"name": "Idem long key"}, headers=idem(keys, key="~" * 255))
    assert r.status_code == 201, r.text


async def test_a_key_expires_after_24_hours(client, keys, conn):
    headers = idem(keys)
    key = headers["Idempotency-Key"]
    first = await client.post("/v1/organisations", json={"name": "Idem old"}, headers=headers)
    assert first.status_code == 201
    await conn.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE idempotency_key = $1", key
    )
    # Another body would be a 422 within 24 hours; now the key is new again.
    renewed = await client.post("/v1/organisations", json={"name": "Idem new"}, headers=headers)
    assert renewed.status_code == 201 and "idempotent-replayed" not in renewed.headers
    assert renewed.json()["id"] != first.json()["id"]
    row = await conn.fetchrow(
        "SELECT created_at > now() - interval '1 minute' AS fresh, body FROM idempotency_keys "
        "WHERE idempotency_key = $1",
        key,
    )
    assert row["fresh"] and row["body"] == renewed.content, "the old row is replaced"
    replay = await client.post("/v1/organisations", json={"name": "Idem new"}, headers=headers)
    same_response(renewed, replay)


async def test_expired_keys_are_swept_by_later_requests(client, keys, conn):
    key_id = await conn.fetchval("SELECT key_id FROM idempotency_keys LIMIT 1")
    await conn.execute(
        "INSERT INTO idempotency_keys (key_id, idempotency_key, request_sha256, status, headers, body, created_at) "
        "VALUES ($1, 'long forgotten', '\\x00', 201, '[]', '', now() - interval '2 days')",
        key_id,
    )
    r = await client.post("/v1/organisations", json={"name": "Idem sweeper"}, headers=idem(keys))
    assert r.status_code == 201
    assert (
        await conn.fetchval("SELECT count(*) FROM idempotency_keys WHERE created_at < now() - interval '24 hours'") == 0
    )


async def test_concurrent_requests_with_one_key_create_one_resource(client, keys, conn):
    headers = idem(keys)
    responses = await asyncio.gather(
        *(client.post("/v1/organisations", json={"name": "Idem race"}, headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {201}
    for r in responses[1:]:
        same_response(responses[0], r)
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1, "one ran, nine replayed"
    assert await count_organisations(conn, "Idem race") == 1


async def test_every_creating_route_accepts_a_key(client, keys, conn):
    admin = idem(keys)
    facility = await client.post(
        "/v1/facilities",
        json={
            "organisation_id": str(keys.organisation_id),
            "kind": "rest_space",
            "name": "Idem rest space",
            "address": "1 rue Idem",
            "commune": "Paris",
            "department": "75",
            "region": "Île-de-France",
            "lat": 48.86,
            "lon": 2.35,
            "opened_on": "2024-01-01",
        },
        headers=admin,
    )
    assert facility.status_code == 201, facility.text
    bulk = {"facility_id": facility.json()["id"], "beds": [{"label": "A1"}, {"label": "A2"}]}
    bulk_headers = idem(keys, Role.PARTNER)
    beds = [await client.post("/v1/beds/bulk", json=bulk, headers=bulk_headers) for _ in range(2)]
    assert beds[0].status_code == 201, beds[0].text
    same_response(*beds)
    assert await conn.fetchval("SELECT count(*) FROM beds WHERE facility_id = $1", uuid.UUID(bulk["facility_id"])) == 2
