"""The Paris demo dataset: its figures (pure), then loading it into an empty database."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import asyncpg
import pytest

from service.demo.dataset import (
    MARAUDE,
    PARIS,
    REGION_IDF,
    SUBURBS,
    DemoDataset,
    DemoFacility,
    DemoReferral,
    demo_dataset,
)
from service.demo.load import is_empty, load_demo
from service.referrals.queries import reference_hmac
from solver.geo import km_between
from tests.process import TEST_REFERENCE_KEY

NOW = datetime.now(UTC)
IDF_DEPARTMENTS = {"75", "77", "78", "91", "92", "93", "94", "95"}
TABLES = ("organisations", "facilities", "beds", "consumption_sites", "referrals")
KINDS = {"assore_hotel", "specialised_unit", "rest_space", "out_of_region"}
SOURCES = {"outreach_team", "hospital", "court_ordered_treatment", "self_referral", "other"}


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return demo_dataset()


def of_kind(dataset: DemoDataset, kind: str) -> list[DemoFacility]:
    return [facility for facility in dataset.facilities if facility.kind == kind]


def places(facilities: list[DemoFacility]) -> list[int]:
    return [len(facility.beds) for facility in facilities]


def km_to_nearest_active_site(dataset: DemoDataset, facility: DemoFacility) -> float:
    return min(
        km_between(facility.lat, facility.lon, site.lat, site.lon) for site in dataset.sites if site.is_active(NOW)
    )


# Pure checks ---------------------------------------------------------------------


def test_two_calls_give_equal_datasets(dataset: DemoDataset) -> None:
    again = demo_dataset()
    assert again == dataset
    assert again.referrals == dataset.referrals and len(dataset.referrals) > 0


def test_totals_match_the_seeds(dataset: DemoDataset) -> None:
    hotels = of_kind(dataset, "assore_hotel")
    assert sum(places(hotels)) == 610
    assert 45 <= len(hotels) <= 55

    units = of_kind(dataset, "specialised_unit")
    uhs = [unit for unit in units if unit.key.startswith("uhs-")]
    phase = [unit for unit in units if unit.key.startswith("phase-")]
    assert len(uhs) + len(phase) == len(units)
    assert sum(places(uhs)) == 68 and len(uhs) == 3
    assert all(20 <= count <= 25 for count in places(uhs))
    assert sum(places(phase)) == 26 and len(phase) == 3

    rest = {facility.name: len(facility.beds) for facility in of_kind(dataset, "rest_space")}
    assert rest == {"Espace de repos de la Porte de la Chapelle": 26, "Sleep-in": 15}

    away = of_kind(dataset, "out_of_region")
    assert len({facility.region for facility in away}) == len(away) == 11
    assert all(6 <= count <= 9 for count in places(away))
    assert 71 <= sum(places(away)) <= 90
    assert all(f.region != REGION_IDF and f.department not in IDF_DEPARTMENTS for f in away)

    assert len(dataset.sites) == 10
    assert sum(site.is_active(NOW) for site in dataset.sites) >= 7


def test_hotel_places_grew_as_the_programme_did(dataset: DemoDataset) -> None:
    hotels = of_kind(dataset, "assore_hotel")
    growth = {
        cutoff: sum(len(hotel.beds) for hotel in hotels if hotel.opened_on <= cutoff)
        for cutoff in (date(2018, 12, 31), date(2019, 12, 31), date(2020, 3, 31), date(2020, 12, 31))
    }
    assert list(growth.values()) == [60, 120, 200, 400]


def test_hotel_rooms_look_like_the_programme(dataset: DemoDataset) -> None:
    beds = [bed for hotel in of_kind(dataset, "assore_hotel") for bed in hotel.beds]
    women = sum(bed.gender_policy == "women" for bed in beds)
    assert 0.05 <= women / len(beds) <= 0.15
    assert any(bed.couple_room for bed in beds)
    assert any(bed.accessible for bed in beds)
    assert any(bed.dogs_allowed for bed in beds)
    assert {bed.medical_level for bed in beds} == {1}
    assert all(3000 <= bed.nightly_cost_cents <= 4500 for bed in beds)


def test_keys_names_and_bed_labels_are_unique(dataset: DemoDataset) -> None:
    assert len({facility.key for facility in dataset.facilities}) == len(dataset.facilities)
    assert len({facility.name for facility in dataset.facilities}) == len(dataset.facilities)
    for facility in dataset.facilities:
        assert len({bed.label for bed in facility.beds}) == len(facility.beds), facility.key
    owners = {facility.organisation for facility in dataset.facilities} | {r.organisation for r in dataset.referrals}
    assert owners == {o.name for o in dataset.organisations}


def test_paris_facilities_have_matching_postcodes_and_lie_in_paris(dataset: DemoDataset) -> None:
    in_paris = [facility for facility in dataset.facilities if facility.commune == "Paris"]
    assert in_paris
    for facility in in_paris:
        assert facility.department == "75"
        assert facility.postcode == f"750{facility.arrondissement:02d}", facility.key
        assert 48.815 <= facility.lat <= 48.902 and 2.224 <= facility.lon <= 2.470, facility.key


def test_idf_facilities_lie_near_their_arrondissement_or_commune_centre(dataset: DemoDataset) -> None:
    for facility in dataset.facilities:
        if facility.region != REGION_IDF or facility.kind == "rest_space":
            continue  # rest spaces are placed at exact points next to the scenes
        place = PARIS[facility.arrondissement] if facility.commune == "Paris" else SUBURBS[facility.commune]
        assert (facility.postcode, facility.department) == (place.postcode, place.department)
        assert facility.department in {"75", "92", "93", "94"}
        assert km_between(facility.lat, facility.lon, place.lat, place.lon) <= 0.3, facility.key


def test_most_hotels_are_well_away_from_active_sites(dataset: DemoDataset) -> None:
    distances = [km_to_nearest_active_site(dataset, hotel) for hotel in of_kind(dataset, "assore_hotel")]
    near = sum(distance < 1.0 for distance in distances)
    well_away = sum(distance >= 1.5 for distance in distances)
    assert 3 <= near <= 8  # enough for the distance filter to visibly matter
    assert well_away >= 0.8 * len(distances)


def test_rest_spaces_are_near_the_scenes(dataset: DemoDataset) -> None:
    for facility in of_kind(dataset, "rest_space"):
        nearest_any_time = min(km_between(facility.lat, facility.lon, s.lat, s.lon) for s in dataset.sites)
        assert nearest_any_time < 0.5, facility.key


# Referrals -----------------------------------------------------------------------


def share(referrals: tuple[DemoReferral, ...], test) -> float:
    return sum(1 for r in referrals if test(r)) / len(referrals)


def test_about_800_people_wait_about_one_in_ten_a_woman(dataset: DemoDataset) -> None:
    referrals = dataset.referrals
    assert 750 <= len(referrals) <= 850
    assert 0.09 <= share(referrals, lambda r: r.gender == "woman") <= 0.13
    assert 0.005 <= share(referrals, lambda r: r.gender == "other") <= 0.02
    assert {r.organisation for r in referrals} == {MARAUDE}
    references = [r.reference for r in referrals]
    assert len(set(references)) == len(references)
    assert all(re.fullmatch(r"DEMO-\d{4}", reference) for reference in references)


def test_needs_follow_the_domain(dataset: DemoDataset) -> None:
    referrals = dataset.referrals
    assert 0.12 <= share(referrals, lambda r: r.dogs) <= 0.18
    assert 0.03 <= share(referrals, lambda r: r.accessible) <= 0.07
    levels = Counter(r.medical_level for r in referrals)
    assert set(levels) == {0, 1, 2, 3}
    assert (levels[0] + levels[1]) / len(referrals) >= 0.7
    vulnerability = Counter(r.vulnerability for r in referrals)
    assert set(vulnerability) == {1, 2, 3, 4, 5}
    assert vulnerability.most_common(2)[0][0] in {3, 4} and vulnerability.most_common(2)[1][0] in {3, 4}
    assert 0.4 <= share(referrals, lambda r: r.care_anchor is not None) <= 0.6
    for r in referrals:
        assert r.source in SOURCES
        assert set(r.acceptable_kinds) <= KINDS and {"assore_hotel", "specialised_unit"} <= set(r.acceptable_kinds)
        assert len(set(r.acceptable_kinds)) == len(r.acceptable_kinds)
        assert ("out_of_region" in r.acceptable_kinds) == r.consents_out_of_region, r.reference
        assert date(2023, 1, 1) <= r.first_met_on <= date(2026, 12, 31)
        if r.care_anchor is not None:
            lat, lon = r.care_anchor
            assert (round(lat, 2), round(lon, 2)) == (lat, lon), "coarse: 0.01 degree"
            assert km_between(lat, lon, 48.89, 2.36) < 3, r.reference  # the 18th and 19th
    assert 0.03 <= share(referrals, lambda r: r.consents_out_of_region) <= 0.07
    assert any("rest_space" in r.acceptable_kinds for r in referrals)
    assert Counter(r.source for r in referrals).most_common(1)[0][0] == "outreach_team"
    assert {r.first_met_on.year for r in referrals} == {2023, 2024, 2025, 2026}


def test_court_ordered_treatment(dataset: DemoDataset) -> None:
    court = [r for r in dataset.referrals if r.court_ordered]
    assert 0.06 <= len(court) / len(dataset.referrals) <= 0.10
    from_court = sum(r.source == "court_ordered_treatment" for r in court)
    assert from_court > len(court) / 2
    assert all(r.court_ordered for r in dataset.referrals if r.source == "court_ordered_treatment")


def test_couples_and_keep_apart_pairs_point_at_each_other(dataset: DemoDataset) -> None:
    by_reference = {r.reference: r for r in dataset.referrals}
    in_couples = [r for r in dataset.referrals if r.couple_partner is not None]
    assert 30 <= len(in_couples) <= 50 and len(in_couples) % 2 == 0
    for r in in_couples:
        partner = by_reference[r.couple_partner]
        assert partner.couple_partner == r.reference and partner is not r
        assert (r.dogs, r.acceptable_kinds, r.consents_out_of_region) == (
            partner.dogs,
            partner.acceptable_kinds,
            partner.consents_out_of_region,
        ), "a couple is placed together"
    kept_apart = [r for r in dataset.referrals if r.keep_apart]
    assert 6 <= len(kept_apart) <= 14
    for r in kept_apart:
        assert all(r.reference in by_reference[other].keep_apart for other in r.keep_apart)
        assert r.reference not in r.keep_apart and r.couple_partner not in r.keep_apart
    facilities = {f.key: f for f in dataset.facilities}
    excluded = [key for r in dataset.referrals for key in r.excluded_facilities]
    assert excluded and all(facilities[key].kind == "assore_hotel" for key in excluded)


# Loading -------------------------------------------------------------------------


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_load_into_the_empty_database(conn: asyncpg.Connection, dataset: DemoDataset) -> None:
    assert await is_empty(conn)

    counts = await load_demo(conn, TEST_REFERENCE_KEY)

    expected = {
        "organisations": len(dataset.organisations),
        "facilities": len(dataset.facilities),
        "beds": sum(len(facility.beds) for facility in dataset.facilities),
        "sites": 10,
        "referrals": len(dataset.referrals),
    }
    assert counts == expected
    assert await row_counts(conn) == {
        "organisations": expected["organisations"],
        "facilities": expected["facilities"],
        "beds": expected["beds"],
        "consumption_sites": expected["sites"],
        "referrals": expected["referrals"],
    }
    assert not await is_empty(conn)
    by_kind = dict(
        await conn.fetch(
            "SELECT f.kind, count(*) FROM beds b JOIN facilities f ON f.id = b.facility_id GROUP BY f.kind"
        )
    )
    assert by_kind == Counter(f.kind for f in dataset.facilities for _ in f.beds)


async def test_sql_distances_agree_with_python(conn: asyncpg.Connection, dataset: DemoDataset) -> None:
    rows = await conn.fetch(
        """
        SELECT f.name, min(km_between(f.lat, f.lon, s.lat, s.lon)) AS km
        FROM facilities f
        JOIN consumption_sites s ON s.active @> $1::timestamptz
        WHERE f.kind = 'assore_hotel'
        GROUP BY f.name
        """,
        NOW,
    )
    in_sql = {row["name"]: row["km"] for row in rows}
    in_python = {hotel.name: km_to_nearest_active_site(dataset, hotel) for hotel in of_kind(dataset, "assore_hotel")}
    assert in_sql.keys() == in_python.keys()
    for name, km in in_python.items():
        assert in_sql[name] == pytest.approx(km, abs=1e-9), name


async def test_loaded_referrals_wait_with_every_need(conn: asyncpg.Connection, dataset: DemoDataset) -> None:
    rows = await conn.fetch(
        """
        SELECT r.status, r.gender, o.name AS organisation, r.purged_at, r.ended_at
        FROM referrals r JOIN organisations o ON o.id = r.organisation_id
        """
    )
    assert len(rows) == len(dataset.referrals)
    assert {(row["status"], row["organisation"], row["purged_at"], row["ended_at"]) for row in rows} == {
        ("waiting", MARAUDE, None, None)
    }
    assert Counter(row["gender"] for row in rows) == Counter(r.gender for r in dataset.referrals)
    stored = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE care_anchor_lat IS NOT NULL) AS anchored,
               count(*) FILTER (WHERE cardinality(excluded_facility_ids) > 0) AS excluding,
               count(*) FILTER (WHERE dogs) AS dogs, count(*) FILTER (WHERE court_ordered) AS court_ordered
        FROM referrals
        """
    )
    assert dict(stored) == {
        "anchored": sum(r.care_anchor is not None for r in dataset.referrals),
        "excluding": sum(bool(r.excluded_facilities) for r in dataset.referrals),
        "dogs": sum(r.dogs for r in dataset.referrals),
        "court_ordered": sum(r.court_ordered for r in dataset.referrals),
    }
    assert not await conn.fetchval(
        """
        SELECT EXISTS (SELECT FROM referrals r, unnest(r.excluded_facility_ids) AS e(id)
                       LEFT JOIN facilities f ON f.id = e.id AND f.kind = 'assore_hotel' WHERE f.id IS NULL)
        """
    )


async def test_loaded_couples_and_keep_apart_point_at_each_other(
    conn: asyncpg.Connection, dataset: DemoDataset
) -> None:
    couples = await conn.fetch(
        """
        SELECT r.id, r.couple_partner_id, p.couple_partner_id AS partners_partner
        FROM referrals r JOIN referrals p ON p.id = r.couple_partner_id
        """
    )
    assert len(couples) == sum(r.couple_partner is not None for r in dataset.referrals)
    assert all(row["partners_partner"] == row["id"] != row["couple_partner_id"] for row in couples)
    one_sided = await conn.fetchval(
        """
        SELECT count(*) FROM referrals r, unnest(r.keep_apart_ids) AS k(other_id)
        WHERE NOT EXISTS (SELECT FROM referrals o WHERE o.id = k.other_id AND r.id = ANY(o.keep_apart_ids))
        """
    )
    assert one_sided == 0
    assert await conn.fetchval("SELECT count(*) FROM referrals WHERE cardinality(keep_apart_ids) > 0") == sum(
        bool(r.keep_apart) for r in dataset.referrals
    )


async def test_references_are_stored_only_as_their_keyed_hash(conn: asyncpg.Connection, dataset: DemoDataset) -> None:
    # No column of any referral holds the raw reference, as text or as bytes.
    assert await conn.fetchval("SELECT count(*) FROM referrals r WHERE r::text LIKE '%DEMO-%'") == 0
    assert (
        await conn.fetchval("SELECT count(*) FROM referrals WHERE position('DEMO-'::bytea IN reference_hmac) > 0") == 0
    )
    assert await conn.fetchval("SELECT count(*) FROM audit_events e WHERE e::text LIKE '%DEMO-%'") == 0
    hashes = {reference_hmac(TEST_REFERENCE_KEY, r.reference) for r in dataset.referrals}
    stored = {row["reference_hmac"] for row in await conn.fetch("SELECT reference_hmac FROM referrals")}
    assert stored == hashes


async def test_second_load_raises_and_changes_nothing(conn: asyncpg.Connection) -> None:
    before = await row_counts(conn)

    with pytest.raises(RuntimeError, match="database is not empty"):
        await load_demo(conn, TEST_REFERENCE_KEY)

    assert await row_counts(conn) == before
