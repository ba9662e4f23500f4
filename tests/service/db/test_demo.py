"""The Paris demo dataset: its figures (pure), then loading it into an empty database."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import asyncpg
import pytest

from service.demo.dataset import (
    PARIS,
    REGION_IDF,
    SUBURBS,
    DemoDataset,
    DemoFacility,
    demo_dataset,
)
from service.demo.load import is_empty, load_demo
from solver.geo import km_between

NOW = datetime.now(UTC)
IDF_DEPARTMENTS = {"75", "77", "78", "91", "92", "93", "94", "95"}
TABLES = ("organisations", "facilities", "beds", "consumption_sites")


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
    assert demo_dataset() == dataset


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
    assert {facility.organisation for facility in dataset.facilities} == {o.name for o in dataset.organisations}


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


# Loading -------------------------------------------------------------------------


async def row_counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_load_into_the_empty_database(conn: asyncpg.Connection, dataset: DemoDataset) -> None:
    assert await is_empty(conn)

    counts = await load_demo(conn)

    expected = {
        "organisations": len(dataset.organisations),
        "facilities": len(dataset.facilities),
        "beds": sum(len(facility.beds) for facility in dataset.facilities),
        "sites": 10,
    }
    assert counts == expected
    assert await row_counts(conn) == {
        "organisations": expected["organisations"],
        "facilities": expected["facilities"],
        "beds": expected["beds"],
        "consumption_sites": expected["sites"],
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


async def test_second_load_raises_and_changes_nothing(conn: asyncpg.Connection) -> None:
    before = await row_counts(conn)

    with pytest.raises(RuntimeError, match="database is not empty"):
        await load_demo(conn)

    assert await row_counts(conn) == before
