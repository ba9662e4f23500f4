"""HSDS export: valid HSDS 3.1, counts equal to the database's, partners scoped, roles refused."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jsonschema_rs
import msgspec
import pytest
from asyncpg import Range

from contracts.common import Role
from contracts.hsds import HsdsServicePage
from service.auth import API_KEY_HEADER
from service.pagination import encode_cursor
from tests.service.api.test_availability import occupy

# The HSDS schema files live beside the project (../shared/hsds/schema from the repository root).
HSDS_SCHEMA = Path(__file__).resolve().parents[3].parent / "shared" / "hsds" / "schema"
EXPORT = "/v1/export/hsds"
NOW = datetime.now(UTC)


def around_now(start_hours: float, end_hours: float | None) -> Range:
    """A [start, end) tstzrange relative to now, in hours; open-ended when end_hours is None."""
    return Range(NOW + timedelta(hours=start_hours), None if end_hours is None else NOW + timedelta(hours=end_hours))


# key: (opened_on, closed_on, postcode, owned by the test organisation)
FACILITIES = {
    "ours": (date(2020, 1, 1), None, "75019", True),
    "theirs": (date(2020, 1, 1), None, None, False),
    "closed": (date(2016, 1, 1), date(2025, 1, 1), "75018", False),
    "future": (date(2099, 1, 1), None, "75010", False),
    "empty": (date(2020, 1, 1), None, "75020", True),
}
# facility -> one (table, period) per bed; None is a bed with nothing on it.
BEDS = {
    "ours": [
        None,
        None,
        ("holds", around_now(-1, 3)),
        ("stays", around_now(-48, None)),
        ("bed_unavailability", around_now(-2, 24)),
        ("stays", around_now(-72, -24)),  # left yesterday: free again
        ("holds", around_now(-5, -1)),  # expired: free again
        ("bed_unavailability", around_now(24, 48)),  # tomorrow: in service now
    ],
    "theirs": [None, ("stays", around_now(-1, None)), ("bed_unavailability", around_now(-1, None))],
    "closed": [None],
    "future": [None],
    "empty": [],
}
# facility -> (available, maximum, status)
EXPECTED = {
    "ours": (5, 7, "active"),
    "theirs": (1, 2, "active"),
    "closed": (0, 0, "defunct"),
    "future": (0, 0, "inactive"),
    "empty": (0, 0, "active"),
}


@pytest.fixture(scope="module")
async def inventory(conn, keys):
    """Facility ids by key, and the ids of every hold, stay and referral made."""
    other = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Hotel operator') RETURNING id")
    facility_ids, personal_ids = {}, []
    for key, (opened, closed, postcode, ours) in FACILITIES.items():
        facility_ids[key] = await conn.fetchval(
            """INSERT INTO facilities (organisation_id, kind, name, address, postcode, commune, department, region,
                                       lat, lon, opened_on, closed_on)
               VALUES ($1, 'assore_hotel', $2, '1 rue du Test', $3, 'Paris', '75', 'Île-de-France',
                       48.89, 2.37, $4, $5) RETURNING id""",
            keys.organisation_id if ours else other,
            f"Hôtel {key}",
            postcode,
            opened,
            closed,
        )
        for n, occupancy in enumerate(BEDS[key]):
            bed_id = await conn.fetchval(
                "INSERT INTO beds (facility_id, label, gender_policy) VALUES ($1, $2, 'any') RETURNING id",
                facility_ids[key],
                f"{key}-{n}",
            )
            if occupancy is not None:
                personal_ids += await occupy(conn, keys.organisation_id, bed_id, *occupancy, f"{key}-{n}")
    return facility_ids, personal_ids


async def export(client, keys, role=Role.PLACEMENT_OFFICER, **params):
    r = await client.get(EXPORT, params=params, headers=keys.header(role))
    assert r.status_code == 200, r.text
    return r.json()


def capacities(page):
    """(available, maximum, status) by facility id."""
    return {
        s["id"]: (s["capacities"][0]["available"], s["capacities"][0]["maximum"], s["status"]) for s in page["contents"]
    }


def schema(relative: str):
    if not HSDS_SCHEMA.is_dir():
        pytest.skip(f"the HSDS 3.1 schema files are not at {HSDS_SCHEMA} (the shared folder beside the project)")
    return json.loads((HSDS_SCHEMA / relative).read_text())


async def test_every_service_is_valid_hsds_3_1(client, keys, inventory):
    service = jsonschema_rs.validator_for(schema("compiled/service.json"), validate_formats=True)
    page_schema = schema("openapi.json")["components"]["schemas"]["Page"]
    page = await export(client, keys)
    jsonschema_rs.validate(page_schema, page, validate_formats=True)
    assert len(page["contents"]) == len(FACILITIES)
    for item in page["contents"]:
        errors = [f"{e.instance_path}: {e.message}" for e in service.iter_errors(item)]
        assert not errors, (item["name"], errors)


async def test_counts_are_the_expected_ones(client, keys, inventory):
    facility_ids, _ = inventory
    page = await export(client, keys)
    msgspec.convert(page, HsdsServicePage, strict=False)  # and within the contract's own constraints
    assert capacities(page) == {str(facility_ids[k]): v for k, v in EXPECTED.items()}


async def test_counts_equal_a_direct_count_and_the_availability_search(client, keys, conn, inventory):
    page = await export(client, keys)
    direct = await conn.fetch(
        """SELECT f.id,
                  count(b.id) FILTER (WHERE open AND NOT out_of_service AND NOT taken) AS available,
                  count(b.id) FILTER (WHERE open AND NOT out_of_service) AS maximum
           FROM facilities f
           CROSS JOIN LATERAL (SELECT (now() AT TIME ZONE 'Europe/Paris')::date AS today) local
           CROSS JOIN LATERAL (
               SELECT f.opened_on <= local.today AND (f.closed_on IS NULL OR local.today < f.closed_on) AS open
           ) facility
           LEFT JOIN beds b ON b.facility_id = f.id
           LEFT JOIN LATERAL (
               SELECT EXISTS (SELECT FROM bed_unavailability u WHERE u.bed_id = b.id
                              AND u.starts_at <= now() AND (u.ends_at IS NULL OR now() < u.ends_at)) AS out_of_service,
                      EXISTS (SELECT FROM holds h WHERE h.bed_id = b.id AND h.period @> now())
                      OR EXISTS (SELECT FROM stays s WHERE s.bed_id = b.id AND s.period @> now()) AS taken
           ) bed ON true
           GROUP BY f.id"""
    )
    exported = {s["id"]: s["capacities"][0] for s in page["contents"]}
    assert {str(r["id"]): (r["available"], r["maximum"]) for r in direct} == {
        id_: (c["available"], c["maximum"]) for id_, c in exported.items()
    }
    r = await client.get("/v1/availability", params={"limit": 500}, headers=keys.header(Role.PLACEMENT_OFFICER))
    listed = [bed["facility"]["id"] for bed in r.json()["items"]]
    assert {id_: c["available"] for id_, c in exported.items()} == {id_: listed.count(id_) for id_ in exported}


async def test_ids_are_the_facilities_and_organisations_and_stable(client, keys, inventory):
    facility_ids, _ = inventory
    page = await export(client, keys)
    assert page == await export(client, keys), "nothing changed, so nothing differs"
    assert [s["id"] for s in page["contents"]] == sorted(str(id_) for id_ in facility_ids.values())
    ours = next(s for s in page["contents"] if s["id"] == str(facility_ids["ours"]))
    assert ours["organization_id"] == ours["organization"]["id"] == str(keys.organisation_id)
    assert ours["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] == "75019"
    theirs = next(s for s in page["contents"] if s["id"] == str(facility_ids["theirs"]))
    assert theirs["service_at_locations"][0]["location"]["addresses"] == [], "no postcode, no HSDS address"


async def test_nothing_about_any_person(client, keys, inventory):
    _, personal_ids = inventory
    text = json.dumps(await export(client, keys))
    assert personal_ids and not [id_ for id_ in personal_ids if str(id_) in text]


async def test_pages_walk_every_facility_once(client, keys, inventory):
    walked, cursor, number = [], None, 1
    while True:
        page = await export(client, keys, limit=2, **({"cursor": cursor} if cursor else {}))
        assert (page["page_number"], page["first_page"], page["total_items"]) == (number, number == 1, len(FACILITIES))
        assert page["total_pages"] == 3 and page["size"] == len(page["contents"]) > 0
        walked += [s["id"] for s in page["contents"]]
        cursor, number = page["next_cursor"], number + 1
        assert page["last_page"] == (cursor is None)
        if cursor is None:
            break
    assert walked == [s["id"] for s in (await export(client, keys))["contents"]]


async def test_partners_export_their_own_facilities_only(client, keys, inventory):
    facility_ids, _ = inventory
    page = await export(client, keys, role=Role.PARTNER)
    assert {s["id"] for s in page["contents"]} == {str(facility_ids["ours"]), str(facility_ids["empty"])}
    assert page["total_items"] == 2
    r = await client.get(EXPORT, headers={API_KEY_HEADER: keys.other_partner})
    assert r.status_code == 200 and r.json()["contents"] == [] and r.json()["empty"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PLACEMENT_OFFICER, Role.MANAGER])
async def test_readers_see_every_facility(client, keys, inventory, role):
    assert (await export(client, keys, role=role))["total_items"] == len(FACILITIES)


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({API_KEY_HEADER: "abri_nope"}, 401), (None, 403)])
async def test_referrers_and_strangers_are_refused(client, keys, inventory, headers, status):
    r = await client.get(EXPORT, headers=keys.header(Role.REFERRER) if headers is None else headers)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


SOME_ID = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    "cursor",
    [encode_cursor("not-a-uuid", 2), encode_cursor(SOME_ID, 1), encode_cursor(SOME_ID, -3), encode_cursor(SOME_ID)],
    ids=["not an id", "page 1", "page -3", "no page"],
)
async def test_a_forged_cursor_is_a_400_problem(client, keys, inventory, cursor):
    """Bad limits and other bad cursors are in test_bad_input's table of list routes."""
    r = await client.get(EXPORT, params={"cursor": cursor}, headers=keys.header(Role.ADMIN))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_updated_follows_a_new_hold_not_a_future_period(client, keys, conn, inventory):
    """Last: it adds a facility of its own."""
    facility_id = await conn.fetchval(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           SELECT organisation_id, kind, 'Hôtel tardif', address, commune, department, region, lat, lon, opened_on
           FROM facilities WHERE id = $1 RETURNING id""",
        inventory[0]["empty"],
    )

    async def updated():
        page = await export(client, keys)
        capacity = next(s for s in page["contents"] if s["id"] == str(facility_id))["capacities"][0]
        return datetime.fromisoformat(capacity["updated"]), capacity["available"]

    before, _ = await updated()
    # A bed written as of `before`, so that only what follows can move `updated`.
    bed_id = await conn.fetchval(
        "INSERT INTO beds (facility_id, label, gender_policy, updated_at) VALUES ($1, 'late', 'any', $2) RETURNING id",
        facility_id,
        before,
    )
    now = datetime.now(UTC)
    await occupy(conn, keys.organisation_id, bed_id, "bed_unavailability", Range(now + timedelta(days=1), None), "-")
    assert await updated() == (before, 1), "a period that has not begun changes nothing now"
    await occupy(conn, keys.organisation_id, bed_id, "holds", Range(now, now + timedelta(hours=1)), "late")
    after, available = await updated()
    assert available == 0 and after >= now > before
