"""API keys: created once with their secret, listed and read without it, revoked, expired, scoped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.common import Role
from service.auth import API_KEY_HEADER, create_key, key_id_of

ADMIN, OFFICER, PARTNER, REFERRER, MANAGER = Role
PROBLEM_JSON = "application/problem+json"
SECRET_FIELDS = {"key", "secret", "secret_sha256"}


def new_key(keys, role=PARTNER, organisation_id=None, **extra):
    return {
        "role": role.value,
        "organisation_id": str(organisation_id or keys.organisation_id),
        "label": "Sync",
    } | extra


async def created(client, keys, body, by=ADMIN):
    r = await client.post("/v1/keys", json=body, headers=keys.header(by))
    assert r.status_code == 201, r.text
    return r


def with_key(key):
    return {API_KEY_HEADER: key}


def assert_refused(r, status, words):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert words in r.json()["detail"], r.json()


async def test_a_created_key_is_shown_once_and_works(client, keys):
    r = await created(client, keys, new_key(keys, MANAGER, expires_at="2199-01-01T00:00:00Z"))
    body = r.json()
    assert r.headers["location"] == f"/v1/keys/{body['id']}" and r.headers["cache-control"] == "no-store"
    assert key_id_of(body["key"]) == uuid.UUID(body["id"])
    assert body["role"] == "manager" and body["label"] == "Sync" and body["revoked_at"] is None
    assert body["created_by"] == str(key_id_of(keys.by_role[ADMIN])) and body["last_used_at"] is None
    assert (await client.get("/v1/occupancy", headers=with_key(body["key"]))).status_code == 200

    read = (await client.get(f"/v1/keys/{body['id']}", headers=keys.header(ADMIN))).json()
    assert read.keys().isdisjoint(SECRET_FIELDS) and read["expires_at"] == "2199-01-01T00:00:00Z"
    assert read["last_used_at"] is not None
    listed = (await client.get("/v1/keys", headers=keys.header(ADMIN), params={"limit": 500})).json()["items"]
    assert body["id"] in {k["id"] for k in listed}
    assert all(k.keys().isdisjoint(SECRET_FIELDS) for k in listed)


async def test_creation_and_revocation_are_audited_without_secrets(client, keys, conn):
    body = (await created(client, keys, new_key(keys))).json()
    admin = keys.header(ADMIN)
    for _ in range(2):
        r = await client.post(f"/v1/keys/{body['id']}/revoke", headers=admin)
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
    events = (await client.get("/v1/audit", params={"subject_id": body["id"]}, headers=admin)).json()["items"]
    assert [(e["action"], e["subject_type"]) for e in events] == [("revoked", "api_key"), ("created", "api_key")]
    assert events[1]["changes"] == {
        "role": "partner",
        "organisation_id": str(keys.organisation_id),
        "label": "Sync",
        "expires_at": None,
    }
    digest = await conn.fetchval(
        "SELECT encode(secret_sha256, 'hex') FROM api_keys WHERE id = $1", uuid.UUID(body["id"])
    )
    stored = await conn.fetchval("SELECT string_agg(changes::text, ' ') FROM audit_events")
    assert body["key"].rsplit("_", 1)[1] not in stored and digest not in stored


async def test_a_revoked_key_is_refused_at_once_and_revoking_again_changes_nothing(client, keys):
    body = (await created(client, keys, new_key(keys))).json()
    assert (await client.get("/v1/facilities", headers=with_key(body["key"]))).status_code == 200
    first = await client.post(f"/v1/keys/{body['id']}/revoke", headers=keys.header(ADMIN))
    again = await client.post(f"/v1/keys/{body['id']}/revoke", headers=keys.header(ADMIN))
    assert first.json() == again.json()
    assert_refused(await client.get("/v1/facilities", headers=with_key(body["key"])), 401, "revoked")


async def test_an_expired_key_is_refused_and_says_so(client, keys, conn):
    key = await create_key(conn, PARTNER, keys.organisation_id, label="Short-lived")
    await conn.execute(
        "UPDATE api_keys SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'"
        " WHERE id = $1",
        key_id_of(key),
    )
    assert_refused(await client.get("/v1/facilities", headers=with_key(key)), 401, "expired")


@pytest.mark.parametrize("revoked", [False, True])
async def test_a_wrong_key_learns_nothing_and_writes_nothing(client, keys, conn, revoked):
    key = await create_key(conn, PARTNER, keys.organisation_id)
    if revoked:
        await client.post(f"/v1/keys/{key_id_of(key)}/revoke", headers=keys.header(ADMIN))
    prefix, key_hex, secret = key.split("_", 2)
    for forged in (f"{prefix}_{key_hex}_{secret[::-1]}", f"abra_{key_hex}_{secret}", f"{prefix}_{key_hex}_"):
        assert_refused(await client.get("/v1/facilities", headers=with_key(forged)), 401, "Unknown API key")
    assert await conn.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id_of(key)) is None


async def test_the_last_used_time_is_written_at_most_once_a_minute(client, conn, keys):
    key = await create_key(conn, MANAGER, keys.organisation_id)
    key_id = key_id_of(key)

    async def last_used():
        assert (await client.get("/v1/occupancy", headers=with_key(key))).status_code == 200
        return await conn.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", key_id)

    first = await last_used()
    assert first is not None and await last_used() == first
    await conn.execute("UPDATE api_keys SET last_used_at = now() - interval '61 seconds' WHERE id = $1", key_id)
    assert await last_used() > first


async def test_lists_page_and_filter_by_organisation(client, keys, conn):
    other_org = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Paged keys') RETURNING id")
    made = [(await created(client, keys, new_key(keys, organisation_id=other_org))).json()["id"] for _ in range(3)]
    seen, cursor = [], None
    while True:
        params = {"organisation_id": str(other_org), "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/keys", params=params, headers=keys.header(ADMIN))).json()
        seen += [k["id"] for k in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == made


async def test_a_partner_manages_its_own_partner_keys_only(client, keys, conn):
    own = (await created(client, keys, new_key(keys), by=PARTNER)).json()
    assert own["created_by"] == str(key_id_of(keys.by_role[PARTNER]))
    other_org = await conn.fetchval("SELECT id FROM organisations WHERE name = 'Other operator'")
    foreign = (await created(client, keys, new_key(keys, organisation_id=other_org))).json()
    own_referrer = (await created(client, keys, new_key(keys, REFERRER))).json()
    partner = keys.header(PARTNER)

    for body in (new_key(keys, ADMIN), new_key(keys, REFERRER), new_key(keys, organisation_id=other_org)):
        assert (await client.post("/v1/keys", json=body, headers=partner)).status_code == 403
    for refused in (foreign, own_referrer):
        assert (await client.get(f"/v1/keys/{refused['id']}", headers=partner)).status_code == 403
        assert (await client.post(f"/v1/keys/{refused['id']}/revoke", headers=partner)).status_code == 403
    assert (
        await client.get("/v1/keys", params={"organisation_id": str(other_org)}, headers=partner)
    ).status_code == 403

    listed = (await client.get("/v1/keys", params={"limit": 500}, headers=partner)).json()["items"]
    assert own["id"] in {k["id"] for k in listed}
    assert {(k["role"], k["organisation_id"]) for k in listed} == {("partner", str(keys.organisation_id))}
    assert (await client.get(f"/v1/keys/{own['id']}", headers=partner)).status_code == 200
    assert (await client.post(f"/v1/keys/{own['id']}/revoke", headers=partner)).json()["revoked_at"] is not None


@pytest.mark.parametrize("role", [OFFICER, REFERRER, MANAGER])
async def test_other_roles_manage_no_key(client, keys, role):
    some = uuid.UUID(int=7)
    for method, path, body in [
        ("POST", "/v1/keys", new_key(keys, role)),
        ("GET", "/v1/keys", None),
        ("GET", f"/v1/keys/{some}", None),
        ("POST", f"/v1/keys/{some}/revoke", None),
    ]:
        r = await client.request(method, path, json=body, headers=keys.header(role))
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM_JSON), (method, path)


def soon(**delta):
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"label": "two\nlines"}, 400),
        ({"label": ""}, 400),
        ({"label": "x" * 65}, 400),
        ({"role": "root"}, 400),
        ({"organisation_id": "nope"}, 400),
        ({"expires_at": "2199-01-01T00:00:00"}, 400),
        ({"secret": "mine"}, 400),
        ({"expires_at": soon(seconds=-1)}, 422),
        ({"organisation_id": str(uuid.UUID(int=42))}, 422),
    ],
)
async def test_bad_creations_are_refused_without_a_key(client, keys, conn, change, status):
    before = await conn.fetchval("SELECT count(*) FROM api_keys")
    r = await client.post("/v1/keys", json=new_key(keys) | change, headers=keys.header(ADMIN))
    assert r.status_code == status and r.headers["content-type"].startswith(PROBLEM_JSON), r.text
    assert await conn.fetchval("SELECT count(*) FROM api_keys") == before


async def test_creation_refuses_an_idempotency_key_so_the_secret_is_never_stored(client, keys, conn):
    r = await client.post("/v1/keys", json=new_key(keys), headers=keys.header(ADMIN) | {"Idempotency-Key": "k-1"})
    assert_refused(r, 400, "Idempotency-Key")
    assert not await conn.fetchval("SELECT EXISTS (SELECT FROM idempotency_keys WHERE idempotency_key = 'k-1')")


async def test_unknown_keys_are_404(client, keys):
    nowhere = uuid.UUID(int=42)
    assert (await client.get(f"/v1/keys/{nowhere}", headers=keys.header(ADMIN))).status_code == 404
    assert (await client.post(f"/v1/keys/{nowhere}/revoke", headers=keys.header(ADMIN))).status_code == 404
