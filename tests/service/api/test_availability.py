"""Availability: exactly the free beds, with the right distances, in the right order."""

from datetime import date, datetime, timedelta

import pytest
from asyncpg import Range

from contracts.common import Role
from solver.geo import km_between

AT = datetime.fromisoformat("2026-06-15T12:00:00+00:00")
STALINGRAD = (48.8843, 2.3699)
KM_PER_DEGREE_LAT = 111.195


def north_of_stalingrad(km: float) -> tuple[float, float]:
    return STALINGRAD[0] + km / KM_PER_DEGREE_LAT, STALINGRAD[1]


def period(start_days: float, end_days: float | None) -> Range:
    """A [start, end) tstzrange relative to AT, in days; open-ended when end_days is None."""
    end = None if end_days is None else AT + timedelta(days=end_days)
    return Range(AT + timedelta(days=start_days), end)


FACILITIES = {
    # key: (kind, km north of Stalingrad, opened_on, closed_on, owned by the test organisation)
    "far": ("assore_hotel", 5.0, date(2020, 1, 1), None, True),
    "mid": ("assore_hotel", 2.0, date(2020, 1, 1), None, False),
    "near": ("assore_hotel", 0.5, date(2020, 1, 1), None, False),
    "rest": ("rest_space", 0.3, date(2021, 1, 1), None, False),
    "closed": ("assore_hotel", 6.0, date(2016, 1, 1), date(2025, 1, 1), False),
    "future": ("assore_hotel", 7.0, date(2027, 1, 1), None, False),
}
# bed label -> (facility, gender policy, accessible, couple room, dogs, medical level, occupancy)
BEDS = {
    "far-1": ("far", "any", False, False, False, 1, None),
    "far-women": ("far", "women", False, False, False, 1, None),
    "far-men": ("far", "men", False, False, False, 1, None),
    "far-held": ("far", "any", False, False, False, 1, ("holds", period(-0.1, 0.1))),
    "far-staying": ("far", "any", False, False, False, 1, ("stays", period(-30, None))),
    "far-repair": ("far", "any", False, False, False, 1, ("bed_unavailability", period(-2, 2))),
    "far-left": ("far", "any", False, False, False, 1, ("stays", period(-60, -1))),
    "far-hold-expired": ("far", "any", False, False, False, 1, ("holds", period(-1, -0.5))),
    "far-dog": ("far", "any", True, False, True, 1, None),
    "mid-couple": ("mid", "any", False, True, False, 2, None),
    "mid-1": ("mid", "any", False, False, False, 3, None),
    "near-1": ("near", "any", False, False, False, 1, None),
    "rest-1": ("rest", "any", False, False, False, 0, None),
    "closed-1": ("closed", "any", False, False, False, 1, None),
    "future-1": ("future", "any", False, False, False, 1, None),
}
FREE_NOW = [
    *["far-1", "far-women", "far-men", "far-left", "far-hold-expired", "far-dog"],
    *["mid-couple", "mid-1", "near-1", "rest-1"],
]


@pytest.fixture(scope="module")
async def inventory(conn, keys):
    other = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Hotel operator') RETURNING id")
    await conn.execute(
        "INSERT INTO consumption_sites (name, lat, lon, intensity, active_from) "
        "VALUES ('Stalingrad', $1, $2, 5, '2019-01-01')",
        *STALINGRAD,
    )
    # An old scene right on top of the "far" hotel, over since 2025: it must not count now.
    await conn.execute(
        "INSERT INTO consumption_sites (name, lat, lon, intensity, active_from, active_until) "
        "VALUES ('Old scene', $1, $2, 3, '2018-01-01', '2025-01-01')",
        *north_of_stalingrad(5.0),
    )
    facility_ids = {}
    for key, (kind, km, opened, closed, ours) in FACILITIES.items():
        lat, lon = north_of_stalingrad(km)
        facility_ids[key] = await conn.fetchval(
            """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                       lat, lon, opened_on, closed_on)
               VALUES ($1, $2, $3, '1 rue du Test', 'Paris', '75', 'Île-de-France', $4, $5, $6, $7) RETURNING id""",
            keys.organisation_id if ours else other,
            kind,
            f"Facility {key}",
            lat,
            lon,
            opened,
            closed,
        )
    for label, (key, gender, accessible, couple, dogs, medical, occupancy) in BEDS.items():
        bed_id = await conn.fetchval(
            """INSERT INTO beds (facility_id, label, gender_policy, accessible, couple_room,
                                 dogs_allowed, medical_level)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
            facility_ids[key],
            label,
            gender,
            accessible,
            couple,
            dogs,
            medical,
        )
        if occupancy is not None:
            await occupy(conn, keys.organisation_id, bed_id, *occupancy, label)
    return facility_ids


async def occupy(conn, organisation_id, bed_id, table: str, when: Range, reference: str) -> list:
    """Over `when`, put the bed out of service (`table` bed_unavailability), or hold it or
    place a new referral in it (holds, stays); return the referral's and booking's ids."""
    if table == "bed_unavailability":
        await conn.execute(
            "INSERT INTO bed_unavailability (bed_id, starts_at, ends_at, reason) VALUES ($1, $2, $3, 'damage')",
            bed_id,
            when.lower,
            when.upper,
        )
        return []
    referral_id = await insert_referral(conn, organisation_id, reference)
    booking_id = await conn.fetchval(
        f"INSERT INTO {table} (bed_id, referral_id, period) VALUES ($1, $2, $3) RETURNING id", bed_id, referral_id, when
    )
    return [referral_id, booking_id]


async def insert_referral(conn, organisation_id, reference: str):
    """A minimal referral, straight into the table (the referrals API has its own tests)."""
    return await conn.fetchval(
        """INSERT INTO referrals (organisation_id, reference_hmac, source, gender, accessible, dogs, medical_level,
                                  acceptable_kinds, consents_out_of_region, excluded_facility_ids, keep_apart_ids,
                                  vulnerability, court_ordered)
           VALUES ($1, $2, 'outreach_team', 'man', false, false, 0, '{assore_hotel}', false, '{}', '{}', 3, false)
           RETURNING id""",
        organisation_id,
        reference.encode(),
    )


async def search(client, keys, role=Role.PLACEMENT_OFFICER, **params):
    r = await client.get("/v1/availability", params={"at": AT.isoformat()} | params, headers=keys.header(role))
    assert r.status_code == 200, r.text
    return r.json()


async def test_exactly_the_free_beds_farthest_first(client, keys, inventory):
    page = await search(client, keys)
    labels = [b["label"] for b in page["items"]]
    assert sorted(labels) == sorted(FREE_NOW)
    distances = [b["distance_km"] for b in page["items"]]
    assert distances == sorted(distances, reverse=True)
    assert page["next_cursor"] is None


async def test_each_bed_carries_its_facility_and_true_distance(client, keys, inventory):
    for bed in (await search(client, keys))["items"]:
        facility = bed["facility"]
        expected = km_between(facility["lat"], facility["lon"], *STALINGRAD)
        assert bed["distance_km"] == pytest.approx(expected, abs=0.001)
        assert bed["nearest_site"] == "Stalingrad", "the old scene is over and must be ignored"
        assert facility["id"] == str(inventory[bed["label"].split("-")[0]])


async def test_min_distance_excludes_every_nearer_bed(client, keys, inventory):
    page = await search(client, keys, kind="assore_hotel", min_distance_km=1)
    labels = {b["label"] for b in page["items"]}
    assert labels == {"far-1", "far-women", "far-men", "far-left", "far-hold-expired", "far-dog", "mid-couple", "mid-1"}
    assert all(b["distance_km"] >= 1 for b in page["items"])


async def test_distances_are_to_the_sites_active_at_the_time_asked(client, keys, inventory):
    page = await search(client, keys, at="2024-06-15T12:00:00+00:00", kind="assore_hotel")
    far = [b for b in page["items"] if b["facility"]["id"] == str(inventory["far"])]
    assert far and all(b["nearest_site"] == "Old scene" and b["distance_km"] < 0.01 for b in far)
    assert "closed-1" in {b["label"] for b in page["items"]}, "the closed hotel was open in 2024"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"gender": "woman"}, set(FREE_NOW) - {"far-men"}),
        ({"gender": "man"}, set(FREE_NOW) - {"far-women"}),
        ({"gender": "other"}, set(FREE_NOW) - {"far-men", "far-women"}),
        ({"dogs": "true", "accessible": "true"}, {"far-dog"}),
        ({"couple_room": "true"}, {"mid-couple"}),
        ({"medical_level": 2}, {"mid-couple", "mid-1"}),
        ({"kind": "rest_space"}, {"rest-1"}),
        ({"kind": "out_of_region"}, set()),
        ({"medical_level": 3, "min_distance_km": 3}, set()),
    ],
)
async def test_filters(client, keys, inventory, params, expected):
    assert {b["label"] for b in (await search(client, keys, **params))["items"]} == expected


async def test_area_filters(client, keys, inventory):
    lat, lon = north_of_stalingrad(2.0)
    box = f"{lon - 0.01:.6f},{lat - 0.001:.6f},{lon + 0.01:.6f},{lat + 0.001:.6f}"
    assert {b["label"] for b in (await search(client, keys, bbox=box))["items"]} == {"mid-couple", "mid-1"}
    assert len((await search(client, keys, department="75"))["items"]) == len(FREE_NOW)
    assert (await search(client, keys, department="93"))["items"] == []


async def test_pages_walk_the_same_order_without_repeats(client, keys, inventory):
    everything = [b["id"] for b in (await search(client, keys))["items"]]
    walked, cursor = [], None
    while True:
        page = await search(client, keys, limit=3, **({"cursor": cursor} if cursor else {}))
        walked += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == everything


async def test_partners_see_their_own_beds_only(client, keys, inventory):
    page = await search(client, keys, role=Role.PARTNER)
    assert {b["facility"]["id"] for b in page["items"]} == {str(inventory["far"])}


async def test_referrers_may_not_search(client, keys, inventory):
    r = await client.get("/v1/availability", headers=keys.header(Role.REFERRER))
    assert r.status_code == 403


async def test_with_no_active_site_distance_is_null_and_min_distance_passes(client, keys, inventory):
    page = await search(client, keys, at="2017-06-15T12:00:00+00:00", min_distance_km=50)
    assert [(b["label"], b["distance_km"], b["nearest_site"]) for b in page["items"]] == [("closed-1", None, None)]
