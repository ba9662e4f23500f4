"""Referrals: pseudonymous, one active per person, a strict status machine, required If-Match."""

import json

import pytest

from contracts.common import Role
from service.auth import create_key

REFERRAL = {
    "reference": "MAR-2026-0042",
    "source": "outreach_team",
    "needs": {"gender": "woman", "dogs": True, "medical_level": 1},
    "acceptable_kinds": ["assore_hotel", "specialised_unit"],
    "care_anchor": {"lat": 48.88437, "lon": 2.36991},
    "vulnerability": 4,
    "court_ordered": False,
    "first_met_on": "2026-10-01",
}


async def refer(client, keys, role=Role.REFERRER, **changes):
    r = await client.post("/v1/referrals", json=REFERRAL | changes, headers=keys.header(role))
    assert r.status_code == 201, r.text
    return r


async def test_a_referral_keeps_no_trace_of_the_raw_reference(client, keys, conn):
    r = await refer(client, keys, reference="REF-RAW-0001")
    referral = r.json()
    assert "reference" not in referral and "REF-RAW-0001" not in r.text
    assert r.headers["location"] == f"/v1/referrals/{referral['id']}" and r.headers["etag"] == '"1"'
    assert referral["status"] == "waiting" and referral["organisation_id"] == str(keys.organisation_id)
    assert referral["care_anchor"] == {"lat": 48.88, "lon": 2.37}, "the care anchor is kept coarse"
    stored = await conn.fetchrow("SELECT * FROM referrals WHERE id = $1", referral["id"])
    assert all(b"REF-RAW-0001" not in str(v).encode() for v in stored.values())
    assert len(stored["reference_hmac"]) == 32
    events = await conn.fetch("SELECT changes::text FROM audit_events WHERE subject_id = $1", referral["id"])
    assert len(events) == 1
    change = json.loads(events[0]["changes"])
    assert change["source"] == "outreach_team" and "needs" in change["personal_fields"]
    assert "woman" not in events[0]["changes"] and "REF-RAW" not in events[0]["changes"]


async def test_one_active_referral_per_person(client, keys):
    first = (await refer(client, keys, reference="REF-DUP-0001")).json()
    again = await client.post(
        "/v1/referrals", json=REFERRAL | {"reference": "REF-DUP-0001"}, headers=keys.header(Role.PLACEMENT_OFFICER)
    )
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    withdrawn = await client.post(
        f"/v1/referrals/{first['id']}/withdraw", json={"reason": "lost_contact"}, headers=keys.header(Role.REFERRER)
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    await refer(client, keys, reference="REF-DUP-0001")  # the earlier one ended: a new referral is fine


async def test_an_illegal_transition_is_409_with_the_current_status(client, keys):
    referral = (await refer(client, keys, reference="REF-ILL-0001")).json()
    url = f"/v1/referrals/{referral['id']}/withdraw"
    assert (await client.post(url, json={"reason": "declined"}, headers=keys.header(Role.REFERRER))).status_code == 200
    again = await client.post(url, json={"reason": "declined"}, headers=keys.header(Role.REFERRER))
    assert again.status_code == 409
    assert again.json()["current_status"] == "withdrawn" and again.json()["allowed"] == []


async def test_updates_need_if_match(client, keys):
    referral = (await refer(client, keys, reference="REF-UPD-0001")).json()
    url = f"/v1/referrals/{referral['id']}"
    officer = keys.header(Role.PLACEMENT_OFFICER)
    change = {"vulnerability": 5}
    assert (await client.patch(url, json=change, headers=officer)).status_code == 428
    assert (await client.patch(url, json=change, headers=officer | {"If-Match": '"7"'})).status_code == 412
    r = await client.patch(url, json=change, headers=officer | {"If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["vulnerability"] == 5 and r.headers["etag"] == '"2"'
    needs = {"needs": {"gender": "woman", "accessible": True}}
    r = await client.patch(url, json=needs, headers=officer | {"If-Match": '"2"'})
    assert r.json()["needs"] == {
        "gender": "woman",
        "accessible": True,
        "dogs": False,
        "couple_partner_id": None,
        "medical_level": 0,
    }


async def test_an_ended_referral_cannot_change(client, keys):
    referral = (await refer(client, keys, reference="REF-END-0001")).json()
    headers = keys.header(Role.REFERRER)
    await client.post(f"/v1/referrals/{referral['id']}/withdraw", json={"reason": "other"}, headers=headers)
    r = await client.patch(
        f"/v1/referrals/{referral['id']}", json={"vulnerability": 1}, headers=headers | {"If-Match": '"2"'}
    )
    assert r.status_code == 409 and r.json()["current_status"] == "withdrawn"


async def test_referrers_see_their_organisation_only(client, keys, conn):
    mine = (await refer(client, keys, reference="REF-VIS-0001")).json()
    other_org = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Other referrer') RETURNING id")
    other = {"X-API-Key": await create_key(conn, Role.REFERRER, other_org)}
    assert (await client.get(f"/v1/referrals/{mine['id']}", headers=other)).status_code == 404
    assert (await client.get("/v1/referrals", headers=other)).json()["items"] == []
    seen = (await client.get("/v1/referrals", params={"limit": 500}, headers=keys.header(Role.REFERRER))).json()
    assert mine["id"] in {r["id"] for r in seen["items"]}
    everyone = await client.get("/v1/referrals", params={"limit": 500}, headers=keys.header(Role.PLACEMENT_OFFICER))
    assert {r["id"] for r in seen["items"]} <= {r["id"] for r in everyone.json()["items"]}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.PARTNER])
async def test_managers_and_partners_see_no_individual_referral(client, keys, role):
    referral = (await refer(client, keys, reference=f"REF-403-{role.value}")).json()
    assert (await client.get("/v1/referrals", headers=keys.header(role))).status_code == 403
    assert (await client.get(f"/v1/referrals/{referral['id']}", headers=keys.header(role))).status_code == 403
    assert (await client.post("/v1/referrals", json=REFERRAL, headers=keys.header(role))).status_code == 403


async def test_status_filter_and_pages(client, keys):
    officer = keys.header(Role.PLACEMENT_OFFICER)
    seen, cursor = [], None
    while True:
        params = {"status": "waiting", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/referrals", params=params, headers=officer)).json()
        seen += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert seen and all(r["status"] == "waiting" for r in seen)
    assert len({r["id"] for r in seen}) == len(seen)
