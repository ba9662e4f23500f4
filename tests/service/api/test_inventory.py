"""Inventory API: create, read, update, list; ETags; GeoJSON; who may write what."""

import pytest

from contracts.common import Role

HOTEL = {
    "kind": "assore_hotel",
    "name": "Hôtel des Lilas",
    "address": "12 rue des Lilas",
    "postcode": "75020",
    "commune": "Paris",
    "arrondissement": 20,
    "department": "75",
    "region": "Île-de-France",
    "lat": 48.8712,
    "lon": 2.4031,
    "opened_on": "2020-01-01",
}


@pytest.fixture(scope="module")
async def facility(client, keys):
    r = await client.post(
        "/v1/facilities", json=HOTEL | {"organisation_id": str(keys.organisation_id)}, headers=keys.header(Role.ADMIN)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_facility_returns_it_with_etag_and_location(client, keys, facility):
    assert facility["name"] == HOTEL["name"] and facility["version"] == 1
    r = await client.get(f"/v1/facilities/{facility['id']}", headers=keys.header(Role.MANAGER))
    assert r.status_code == 200
    assert r.headers["etag"] == '"1"'
    assert r.json() == facility


async def test_update_with_matching_etag_then_stale_etag_is_412(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    url = f"/v1/facilities/{facility['id']}"
    etag = (await client.get(url, headers=admin)).headers["etag"]
    r = await client.patch(url, json={"name": "Hôtel des Glycines"}, headers=admin | {"If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Hôtel des Glycines"
    assert r.headers["etag"] != etag
    stale = await client.patch(url, json={"name": "Lost update"}, headers=admin | {"If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.headers["etag"] == r.headers["etag"], "the 412 tells the current ETag"
    assert (await client.get(url, headers=admin)).json()["name"] == "Hôtel des Glycines"


async def test_patch_cannot_break_a_rule_the_create_type_checks(client, keys, facility):
    r = await client.patch(
        f"/v1/facilities/{facility['id']}", json={"closed_on": "2019-01-01"}, headers=keys.header(Role.ADMIN)
    )
    assert r.status_code == 422
    assert r.json()["status"] == 422


async def test_partner_writes_only_its_own_organisations_facilities(client, keys, facility):
    own = await client.post(
        "/v1/facilities",
        json=HOTEL | {"organisation_id": str(keys.organisation_id), "name": "Hôtel du Parc"},
        headers=keys.header(Role.PARTNER),
    )
    assert own.status_code == 201
    url = f"/v1/facilities/{facility['id']}"
    foreign = await client.patch(url, json={"name": "Taken over"}, headers={"X-API-Key": keys.other_partner})
    assert foreign.status_code == 403
    assert (await client.get(url, headers=keys.header(Role.ADMIN))).json()["name"] != "Taken over"


@pytest.mark.parametrize("role", [Role.PLACEMENT_OFFICER, Role.MANAGER, Role.REFERRER])
async def test_only_admins_and_partners_write_inventory(client, keys, role):
    body = HOTEL | {"organisation_id": str(keys.organisation_id)}
    r = await client.post("/v1/facilities", json=body, headers=keys.header(role))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_missing_and_wrong_keys_are_401(client, keys):
    assert (await client.get("/v1/facilities")).status_code == 401
    wrong = keys.by_role[Role.ADMIN][:-3] + "xyz"
    assert (await client.get("/v1/facilities", headers={"X-API-Key": wrong})).status_code == 401


async def test_bulk_beds_are_all_or_nothing(client, keys, facility, conn):
    admin = keys.header(Role.ADMIN)
    beds = [{"label": f"R{n:03}", "gender_policy": "women" if n % 5 == 0 else "any"} for n in range(1, 121)]
    r = await client.post("/v1/beds/bulk", json={"facility_id": facility["id"], "beds": beds}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()["items"]
    assert [b["label"] for b in created] == [b["label"] for b in beds]
    before = await conn.fetchval("SELECT count(*) FROM beds")
    clash = [{"label": "R900"}, {"label": "R001"}]  # R001 exists: the whole batch must fail
    r = await client.post("/v1/beds/bulk", json={"facility_id": facility["id"], "beds": clash}, headers=admin)
    assert r.status_code == 409
    assert await conn.fetchval("SELECT count(*) FROM beds") == before


async def test_list_pages_with_a_cursor_until_the_end(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    seen, cursor = [], None
    while True:
        params = {"facility_id": facility["id"], "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/beds", params=params, headers=admin)).json()
        seen += [b["label"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen)  # ids are uuidv7, so id order is creation order


async def test_out_of_service_periods_cannot_overlap(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    bed = (await client.get("/v1/beds", params={"facility_id": facility["id"], "limit": 1}, headers=admin)).json()
    url = f"/v1/beds/{bed['items'][0]['id']}/unavailability"
    first = {"reason": "maintenance", "starts_at": "2026-03-01T08:00:00Z", "ends_at": "2026-03-05T08:00:00Z"}
    r = await client.post(url, json=first, headers=admin)
    assert r.status_code == 201, r.text
    overlapping = first | {"starts_at": "2026-03-04T08:00:00Z", "ends_at": "2026-03-10T08:00:00Z", "reason": "damage"}
    assert (await client.post(url, json=overlapping, headers=admin)).status_code == 409
    after = first | {"starts_at": "2026-03-05T08:00:00Z", "ends_at": None}  # touching is not overlapping
    assert (await client.post(url, json=after, headers=admin)).status_code == 201
    listed = (await client.get(url, headers=admin)).json()["items"]
    assert [p["reason"] for p in listed] == ["maintenance", "maintenance"]


async def test_facilities_and_sites_as_geojson(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    site = {"name": "Stalingrad", "lat": 48.8843, "lon": 2.3699, "intensity": 5, "active_from": "2019-01-01T00:00:00Z"}
    assert (await client.post("/v1/sites", json=site, headers=admin)).status_code == 201
    for url in ("/v1/facilities", "/v1/sites"):
        r = await client.get(url, headers=admin | {"Accept": "application/geo+json"})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/geo+json"
        collection = r.json()
        assert collection["type"] == "FeatureCollection" and collection["features"]
        for feature in collection["features"]:
            lon, lat = feature["geometry"]["coordinates"]
            assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
            assert "lat" not in feature["properties"] and -180 <= lon <= 180 and -90 <= lat <= 90
    one = await client.get(f"/v1/facilities/{facility['id']}", headers=admin | {"Accept": "application/geo+json"})
    assert one.json()["geometry"]["coordinates"] == [HOTEL["lon"], HOTEL["lat"]]
    plain = await client.get("/v1/sites", headers=admin)
    assert plain.headers["content-type"].startswith("application/json")


async def test_sites_filtered_by_active_time(client, keys):
    admin = keys.header(Role.ADMIN)
    old = {
        "name": "Colline",
        "lat": 48.8986,
        "lon": 2.3599,
        "intensity": 5,
        "active_from": "2018-01-01T00:00:00Z",
        "active_until": "2019-11-27T00:00:00Z",
    }
    created = (await client.post("/v1/sites", json=old, headers=admin)).json()
    names_at = {}
    for at in ("2019-06-01T00:00:00Z", "2024-06-01T00:00:00Z"):
        page = (await client.get("/v1/sites", params={"active_at": at}, headers=admin)).json()
        names_at[at] = {s["name"] for s in page["items"]}
    assert "Colline" in names_at["2019-06-01T00:00:00Z"]
    assert "Colline" not in names_at["2024-06-01T00:00:00Z"]
    assert "Stalingrad" in names_at["2024-06-01T00:00:00Z"]
    moved = await client.patch(f"/v1/sites/{created['id']}", json={"intensity": 2}, headers=admin | {"If-Match": '"1"'})
    assert moved.status_code == 200 and moved.json()["version"] == 2


async def test_organisations_admins_create_everyone_reads(client, keys):
    admin = keys.header(Role.ADMIN)
    r = await client.post("/v1/organisations", json={"name": "Aurore"}, headers=admin)
    assert r.status_code == 201 and r.headers["location"] == f"/v1/organisations/{r.json()['id']}"
    assert (await client.post("/v1/organisations", json={"name": "Aurore"}, headers=admin)).status_code == 409
    assert (
        await client.post("/v1/organisations", json={"name": "Mine"}, headers=keys.header(Role.PARTNER))
    ).status_code == 403
    url = f"/v1/organisations/{r.json()['id']}"
    read = await client.get(url, headers=keys.header(Role.REFERRER))
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    renamed = await client.patch(url, json={"name": "Aurore (ASSORE)"}, headers=admin | {"If-Match": '"1"'})
    assert renamed.json()["name"] == "Aurore (ASSORE)" and renamed.headers["etag"] == '"2"'


async def test_a_facility_can_change_kind(client, keys, facility):
    url = f"/v1/facilities/{facility['id']}"
    r = await client.patch(url, json={"kind": "specialised_unit"}, headers=keys.header(Role.ADMIN))
    assert r.status_code == 200 and r.json()["kind"] == "specialised_unit"
    listed = await client.get("/v1/facilities", params={"kind": "specialised_unit"}, headers=keys.header(Role.ADMIN))
    assert [f["id"] for f in listed.json()["items"]] == [facility["id"]]


async def test_if_match_compares_strongly_and_accepts_a_list(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    url = f"/v1/facilities/{facility['id']}"
    current = (await client.get(url, headers=admin)).headers["etag"]
    weak = await client.patch(url, json={"name": "Weakly"}, headers=admin | {"If-Match": f"W/{current}"})
    assert weak.status_code == 412, "RFC 9110: If-Match never matches a weak tag"
    listed = await client.patch(url, json={"name": "Listed"}, headers=admin | {"If-Match": f'"999", {current}'})
    assert listed.status_code == 200 and listed.json()["name"] == "Listed"


async def test_an_empty_patch_changes_nothing_not_even_the_version(client, keys, facility):
    admin = keys.header(Role.ADMIN)
    url = f"/v1/facilities/{facility['id']}"
    before = (await client.get(url, headers=admin)).json()
    r = await client.patch(url, json={}, headers=admin)
    assert r.status_code == 200 and r.json() == before


async def test_bodies_must_be_json(client, keys):
    r = await client.post(
        "/v1/organisations",
        content=b'{"name": "Plain"}',
        headers=keys.header(Role.ADMIN) | {"Content-Type": "text/plain"},
    )
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")


async def test_lenient_coercions_are_refused(client, keys, facility):
    body = {"facility_id": facility["id"], "label": "Strict-1", "medical_level": "3"}
    r = await client.post("/v1/beds", json=body, headers=keys.header(Role.ADMIN))
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "medical_level", "message": "Expected `int`, got `str`"}]
