"""The audit trail: every inventory change recorded with its actor, append-only, admins only."""

import asyncpg
import pytest

from contracts.common import Role

ORGANISATION = {"name": "Audited operator"}


async def trail(client, keys, **params):
    r = await client.get("/v1/audit", params=params, headers=keys.header(Role.ADMIN))
    assert r.status_code == 200, r.text
    return r.json()


async def test_creation_and_update_are_recorded_with_their_actor(client, keys):
    partner_org = str(keys.organisation_id)
    facility = {
        "organisation_id": partner_org,
        "kind": "rest_space",
        "name": "Espace de repos",
        "address": "1 rue Pajol",
        "commune": "Paris",
        "arrondissement": 18,
        "department": "75",
        "region": "Île-de-France",
        "lat": 48.887,
        "lon": 2.36,
        "opened_on": "2021-01-01",
    }
    created = (await client.post("/v1/facilities", json=facility, headers=keys.header(Role.PARTNER))).json()
    await client.patch(f"/v1/facilities/{created['id']}", json={"name": "Sleep-in"}, headers=keys.header(Role.ADMIN))
    events = (await trail(client, keys, subject_id=created["id"]))["items"]
    assert [(e["action"], e["role"]) for e in events] == [("updated", "admin"), ("created", "partner")]
    updated, creation = events
    assert updated["changes"] == {"name": "Sleep-in"}
    assert creation["changes"]["name"] == "Espace de repos" and creation["organisation_id"] == partner_org
    assert all(e["subject_type"] == "facility" and e["subject_id"] == created["id"] for e in events)


async def test_a_refused_change_leaves_no_event(client, keys, conn):
    before = await conn.fetchval("SELECT count(*) FROM audit_events")
    admin = keys.header(Role.ADMIN)
    assert (await client.post("/v1/organisations", json=ORGANISATION, headers=admin)).status_code == 201
    assert (await client.post("/v1/organisations", json=ORGANISATION, headers=admin)).status_code == 409
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == before + 1


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events", "TRUNCATE audit_events"],
)
async def test_the_database_refuses_to_rewrite_history(conn, statement):
    assert await conn.fetchval("SELECT count(*) FROM audit_events") > 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute(statement)


async def test_the_trail_pages_newest_first_and_filters_by_actor(client, keys):
    admin_key_id = (await trail(client, keys, limit=1))["items"][0]["key_id"]
    seen, cursor = [], None
    while True:
        page = await trail(client, keys, key_id=admin_key_id, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [e["id"] for e in seen] == sorted((e["id"] for e in seen), reverse=True)
    assert {e["key_id"] for e in seen} == {admin_key_id} and len(seen) >= 2
    later = await trail(client, keys, since="2199-01-01T00:00:00Z")
    assert later["items"] == []


@pytest.mark.parametrize("role", [Role.PLACEMENT_OFFICER, Role.PARTNER, Role.MANAGER, Role.REFERRER])
async def test_only_admins_read_the_trail(client, keys, role):
    assert (await client.get("/v1/audit", headers=keys.header(role))).status_code == 403
