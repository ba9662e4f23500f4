"""Occupancy reports over HTTP: who may ask, what each role sees, CSV, series, bad input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asyncpg import Range

from contracts.common import Role

DAY = datetime(2025, 3, 1, tzinfo=UTC)  # 01:00 in Paris: every local day starts before it
# facility key -> (owned by the test organisation, beds, people staying from DAY + n days, for that many days)
FACILITIES = {
    "own": (True, 10, [(0, 30), (0, 30), (2, 3)]),
    "busy": (False, 8, [(0, None)] * 7),
}


@pytest.fixture(scope="module")
async def inventory(conn, keys) -> dict[str, str]:
    other = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Hotel group') RETURNING id")
    referral = await conn.fetchval(
        "INSERT INTO referrals (organisation_id, source, status, purged_at, ended_at) "
        "VALUES ($1, 'other', 'exited', now(), now()) RETURNING id",
        keys.organisation_id,
    )
    ids = {}
    for key, (own, beds, stays) in FACILITIES.items():
        ids[key] = facility = await conn.fetchval(
            "INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region, lat, lon,"
            " opened_on) VALUES ($1, 'assore_hotel', $2, '1 rue X', 'Paris', '75', 'Île-de-France', 48.9, 2.4,"
            " '2020-01-01') RETURNING id",
            keys.organisation_id if own else other,
            f"Hôtel {key}",
        )
        bed_ids = [
            await conn.fetchval(
                "INSERT INTO beds (facility_id, label, gender_policy, in_service_from) "
                "VALUES ($1, $2, 'any', '2020-01-01') RETURNING id",
                facility,
                f"{key}-{n}",
            )
            for n in range(beds)
        ]
        for bed, (start, days) in zip(bed_ids, stays, strict=False):
            begins = DAY + timedelta(days=start)
            await conn.execute(
                "INSERT INTO stays (referral_id, bed_id, period) VALUES ($1, $2, $3)",
                referral,
                bed,
                Range(begins, None if days is None else begins + timedelta(days=days)),
            )
    return {key: str(value) for key, value in ids.items()}


def by_group(report: dict) -> dict[str, dict]:
    return {group["group"]: group for group in report["groups"]}


@pytest.mark.usefixtures("inventory")
@pytest.mark.parametrize("role", [Role.ADMIN, Role.PLACEMENT_OFFICER, Role.MANAGER])
async def test_officers_and_managers_see_every_facility(client, keys, inventory, role) -> None:
    answer = await client.get(
        "/v1/occupancy",
        params={"at": (DAY + timedelta(days=5)).isoformat(), "group_by": "facility"},
        headers=keys.header(role),
    )
    assert answer.status_code == 200
    assert set(by_group(answer.json())) == set(inventory.values())


async def test_a_partner_sees_its_own_facilities_only(client, keys, inventory) -> None:
    answer = await client.get(
        "/v1/occupancy", params={"at": DAY.isoformat(), "group_by": "facility"}, headers=keys.header(Role.PARTNER)
    )
    assert answer.status_code == 200
    assert set(by_group(answer.json())) == {inventory["own"]}


async def test_referrers_and_anonymous_callers_are_refused(client, keys) -> None:
    assert (await client.get("/v1/occupancy", headers=keys.header(Role.REFERRER))).status_code == 403
    assert (await client.get("/v1/occupancy")).status_code == 401
    series = {"from": "2025-03-01", "to": "2025-03-02"}
    assert (
        await client.get("/v1/occupancy/series", params=series, headers=keys.header(Role.REFERRER))
    ).status_code == 403


async def test_the_figures_at_a_moment(client, keys, inventory) -> None:
    at = DAY + timedelta(days=2, hours=12)  # the third stay of "own" has begun
    answer = await client.get(
        "/v1/occupancy",
        params={"at": at.isoformat(), "group_by": "facility"},
        headers=keys.header(Role.PLACEMENT_OFFICER),
    )
    groups = by_group(answer.json())
    own, busy = groups[inventory["own"]], groups[inventory["busy"]]
    assert (own["in_service"], own["occupied"], own["held"], own["out_of_service"], own["free"]) == (10, 3, 0, 0, 7)
    assert own["occupancy_rate"] == 0.3 and own["label"] == "Hôtel own"
    assert (busy["occupied"], busy["free"], busy["occupancy_rate"]) == (7, 1, 0.875)
    assert answer.json()["total"] == {
        "group": None,
        "label": None,
        "in_service": 18,
        "occupied": 10,
        "held": 0,
        "out_of_service": 0,
        "free": 8,
        "occupancy_rate": round(10 / 18, 4),
    }


async def test_managers_do_not_see_small_counts_of_people(client, keys, inventory) -> None:
    at = (DAY + timedelta(days=2, hours=12)).isoformat()
    answer = await client.get(
        "/v1/occupancy", params={"at": at, "group_by": "facility"}, headers=keys.header(Role.MANAGER)
    )
    groups = by_group(answer.json())
    own, busy = groups[inventory["own"]], groups[inventory["busy"]]
    assert (own["occupied"], own["held"], own["free"], own["occupancy_rate"]) == ("<5", 0, None, None)
    assert own["in_service"] == 10  # places are inventory, not people
    assert (busy["occupied"], busy["free"]) == (7, 1)
    assert answer.json()["total"]["occupied"] == 10


async def test_csv_carries_the_same_figures(client, keys, inventory) -> None:
    params = {"at": (DAY + timedelta(days=2, hours=12)).isoformat(), "group_by": "facility"}
    header = keys.header(Role.PLACEMENT_OFFICER)
    as_json = (await client.get("/v1/occupancy", params=params, headers=header)).json()
    answer = await client.get("/v1/occupancy", params=params, headers={**header, "Accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [row["group"] for row in rows] == [g["group"] for g in as_json["groups"]] + [""]
    assert rows[-1]["label"] == "total" and int(rows[-1]["occupied"]) == as_json["total"]["occupied"]
    for row, group in zip(rows, as_json["groups"], strict=False):
        assert (int(row["occupied"]), int(row["free"])) == (group["occupied"], group["free"])


async def test_a_daily_series_follows_the_stays(client, keys, inventory) -> None:
    answer = await client.get(
        "/v1/occupancy/series",
        params={"from": "2025-03-01", "to": "2025-03-06", "group_by": "facility"},
        headers=keys.header(Role.ADMIN),
    )
    assert answer.status_code == 200
    points = answer.json()["points"]
    # Local midnights in Paris (UTC+1 in March): 23:00 UTC the day before.
    assert [p["at"] for p in points][:2] == ["2025-03-01T00:00:00+01:00", "2025-03-02T00:00:00+01:00"]
    own = [by_group(p)[inventory["own"]]["occupied"] for p in points]
    # Stays begin at 00:00 UTC on DAY + n, an hour after that local midnight.
    assert own == [0, 2, 2, 3, 3, 3]


@pytest.mark.parametrize(
    ("step", "first", "last", "count"),
    [
        ("week", "2025-02-24T00:00:00+01:00", "2025-03-31T00:00:00+02:00", 6),  # summer time from 30 March
        ("month", "2025-03-01T00:00:00+01:00", "2025-04-01T00:00:00+02:00", 2),
    ],
)
async def test_weeks_start_on_monday_and_months_on_the_first(client, keys, step, first, last, count) -> None:
    answer = await client.get(
        "/v1/occupancy/series",
        params={"from": "2025-03-01", "to": "2025-04-01", "step": step},
        headers=keys.header(Role.ADMIN),
    )
    points = answer.json()["points"]
    assert (points[0]["at"], points[-1]["at"], len(points)) == (first, last, count)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/occupancy", {"group_by": "street"}),
        ("/v1/occupancy", {"at": "2025-03-01T10:00:00"}),
        ("/v1/occupancy", {"at": "yesterday"}),
        ("/v1/occupancy/series", {"from": "0001-01-01", "to": "0001-01-01"}),
        # No `from`: a year before year 1 overflowed (found by the longer fuzzing run).
        ("/v1/reports/flows", {"to": "0001-01-01"}),
        ("/v1/occupancy/series", {"to": "0001-01-01"}),
        ("/v1/occupancy/series", {"from": "2025-03-02", "to": "2025-03-01"}),
        ("/v1/occupancy/series", {"from": "2000-01-01", "to": "2025-03-01", "step": "day"}),
        ("/v1/occupancy/series", {"from": "2025-03-01", "to": "2025-03-02", "step": "hour"}),
    ],
)
async def test_bad_input_is_a_problem(client, keys, path, params) -> None:
    answer = await client.get(path, params=params, headers=keys.header(Role.ADMIN))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_a_moment_before_any_place_counts_nothing(client, keys) -> None:
    answer = await client.get("/v1/occupancy", params={"at": "2019-06-01T00:00:00Z"}, headers=keys.header(Role.ADMIN))
    assert answer.json()["groups"] == [] and answer.json()["total"]["in_service"] == 0


async def test_a_series_defaults_to_the_last_year_by_day(client, keys) -> None:
    answer = await client.get("/v1/occupancy/series", headers=keys.header(Role.ADMIN))
    points = answer.json()["points"]
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    assert (len(points), points[-1]["at"][:10], points[0]["at"][:10]) == (
        366,
        today.isoformat(),
        (today - timedelta(days=365)).isoformat(),
    )
