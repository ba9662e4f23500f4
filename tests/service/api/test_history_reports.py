"""Flows, waiting and distance reports over HTTP, on a small history whose figures are known."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from asyncpg import Range

from contracts.common import Role

MARCH = datetime(2025, 3, 1, 12, tzinfo=UTC)
STALINGRAD = (48.8843, 2.3699)
KM_PER_DEGREE_LAT = 111.195


def day(n: float) -> datetime:
    return MARCH + timedelta(days=n)


# facility -> (kind, km north of Stalingrad, beds)
FACILITIES = {"near": ("assore_hotel", 0.5, 4), "far": ("assore_hotel", 5.0, 6), "unit": ("specialised_unit", 3.0, 3)}
# referral -> (source, gender, created on day n, [(facility, begins, ends, ended_as, exit_reason, transferred from)])
REFERRALS = {
    "a": ("outreach_team", "woman", -10, [("far", 0, 20, "exit", "hospital", None)]),
    "b": ("outreach_team", "man", -4, [("far", 2, 40, "exit", "independent_housing", None)]),
    "c": ("hospital", "man", -30, [("near", 5, 10, "transfer", None, None), ("far", 10, None, None, None, 0)]),
    "d": ("hospital", "woman", -2, [("unit", 6, 7, "no_show", None, None)]),
    "e": ("self_referral", "man", -20, [("near", 40, None, None, None, None)]),
    "waiting-new": ("outreach_team", "man", 50, []),
    "waiting-old": ("hospital", "woman", -200, []),
}


async def _referral(conn, organisation_id, source: str, gender: str, created: datetime):
    return await conn.fetchval(
        "INSERT INTO referrals (organisation_id, reference_hmac, source, gender, accessible, dogs, medical_level,"
        " acceptable_kinds, consents_out_of_region, excluded_facility_ids, keep_apart_ids, vulnerability,"
        " court_ordered, created_at) VALUES ($1, $2, $3, $4, false, false, 0, '{assore_hotel}', false, '{}', '{}',"
        " 3, false, $5) RETURNING id",
        organisation_id,
        os.urandom(32),
        source,
        gender,
        created,
    )


@pytest.fixture(scope="module")
async def history(conn, keys) -> None:
    await conn.execute(
        "INSERT INTO consumption_sites (name, lat, lon, intensity, active_from) VALUES ('Stalingrad', $1, $2, 3, $3)",
        *STALINGRAD,
        datetime(2020, 1, 1, tzinfo=UTC),
    )
    beds = {}
    for key, (kind, km, count) in FACILITIES.items():
        facility = await conn.fetchval(
            "INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region, lat, lon,"
            " opened_on) VALUES ($1, $2, $3, '1 rue X', 'Paris', '75', 'Île-de-France', $4, $5, '2020-01-01')"
            " RETURNING id",
            keys.organisation_id,
            kind,
            key,
            STALINGRAD[0] + km / KM_PER_DEGREE_LAT,
            STALINGRAD[1],
        )
        beds[key] = [
            await conn.fetchval(
                "INSERT INTO beds (facility_id, label, gender_policy, in_service_from)"
                " VALUES ($1, $2, 'any', '2020-01-01') RETURNING id",
                facility,
                f"{key}-{n}",
            )
            for n in range(count)
        ]
    for source, gender, created, stays in REFERRALS.values():
        referral = await _referral(conn, keys.organisation_id, source, gender, day(created))
        made = []
        for facility, begins, ends, ended_as, reason, previous in stays:
            made.append(
                await conn.fetchval(
                    "INSERT INTO stays (referral_id, bed_id, period, ended_as, exit_reason, transferred_from)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    referral,
                    beds[facility].pop(),
                    Range(day(begins), None if ends is None else day(ends)),
                    ended_as,
                    reason,
                    None if previous is None else made[previous],
                )
            )


def by_kind(report: dict, month: str) -> dict:
    return {f["kind"]: f for f in report["periods"] if f["period_start"].startswith(month)}


@pytest.mark.usefixtures("history")
async def test_monthly_flows(client, keys) -> None:
    answer = await client.get(
        "/v1/reports/flows",
        params={"from": "2025-03-01", "to": "2025-04-30"},
        headers=keys.header(Role.PLACEMENT_OFFICER),
    )
    assert answer.status_code == 200
    march, april = by_kind(answer.json(), "2025-03"), by_kind(answer.json(), "2025-04")
    hotels = march["assore_hotel"]
    # a, b, c began in hotels in March (c's second stay is a transfer, not an entry); a exited, c transferred
    assert (hotels["entries"], hotels["exits"], hotels["transfers"], hotels["no_shows"]) == (3, 1, 1, 0)
    assert hotels["exits_by_reason"] == {"hospital": 1}
    assert hotels["stay_days_median"] == 12.5  # a: 20 days, c's first stay: 5 days
    assert hotels["turnover"] == round(2 / 10, 4)  # 2 stays ended, 10 hotel places
    assert (march["specialised_unit"]["entries"], march["specialised_unit"]["no_shows"]) == (1, 1)
    assert (march[None]["entries"], march[None]["no_shows"], march[None]["exits"]) == (4, 1, 1)
    assert (april["assore_hotel"]["entries"], april["assore_hotel"]["exits_by_reason"]) == (
        1,
        {"independent_housing": 1},
    )


@pytest.mark.usefixtures("history")
async def test_managers_see_flows_without_small_counts(client, keys) -> None:
    answer = await client.get(
        "/v1/reports/flows", params={"from": "2025-03-01", "to": "2025-03-31"}, headers=keys.header(Role.MANAGER)
    )
    hotels = by_kind(answer.json(), "2025-03")["assore_hotel"]
    assert (hotels["entries"], hotels["exits"], hotels["stay_days_median"], hotels["turnover"]) == (
        "<5",
        "<5",
        None,
        None,
    )


@pytest.mark.usefixtures("history")
async def test_waiting_by_age_and_time_to_placement(client, keys) -> None:
    at = day(3)
    answer = await client.get(
        "/v1/reports/waiting",
        params={"at": at.isoformat(), "placed_from": day(-1).isoformat()},
        headers=keys.header(Role.ADMIN),
    )
    assert answer.status_code == 200
    report = answer.json()
    # At day 3: c (made day −30, first stay day 5), d (day −2, stay day 6), e (day −20, stay day 40) and
    # waiting-old (day −200) wait; a and b have begun their stays; waiting-new is not yet made.
    assert report["waiting"] == 4
    assert [band["people"] for band in report["by_age"]] == [1, 1, 1, 0, 1]  # d 5 days, e 23, c 33, old 203
    times = {(t["source"], t["gender"]): t for t in report["to_placement"]}
    assert times["all", "all"]["placed"] == 2  # a (10 days) and b (6 days) were first placed in the window
    assert times["all", "all"]["median_days"] == 8.0
    assert times["outreach_team", "woman"]["median_days"] == 10.0


@pytest.mark.usefixtures("history")
async def test_distance_of_current_and_begun_placements(client, keys) -> None:
    answer = await client.get(
        "/v1/reports/distance",
        params={"to": day(45).isoformat(), "started_from": day(-1).isoformat()},
        headers=keys.header(Role.ADMIN),
    )
    assert answer.status_code == 200
    current = {d["kind"]: d for d in answer.json()["current"]}
    begun = {d["kind"]: d for d in answer.json()["begun"]}
    # At day 45 c stays in "far" (5 km) and e in "near" (0.5 km): one below the hotels' 1 km.
    hotels = current["assore_hotel"]
    assert (hotels["placements"], hotels["below_threshold"], hotels["share_below"], hotels["threshold_km"]) == (
        2,
        1,
        0.5,
        1.0,
    )
    assert {b["from_km"]: b["placements"] for b in hotels["bands"] if b["placements"]} == {0.5: 1, 5.0: 1}
    # Begun in the window: a, b, c twice (near, far) and e in hotels; d in the unit (3 km).
    assert begun["assore_hotel"]["placements"] == 5 and begun["assore_hotel"]["below_threshold"] == 2
    assert begun["specialised_unit"]["bands"][3] == {"from_km": 2.0, "to_km": 5.0, "placements": 1}
    assert begun["rest_space"]["threshold_km"] is None and begun["rest_space"]["share_below"] is None


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/reports/flows", {"from": "2025-03-01", "to": "2025-04-30"}),
        ("/v1/reports/waiting", {"at": "2025-03-04T12:00:00Z"}),
        ("/v1/reports/distance", {"to": "2025-04-15T12:00:00Z"}),
    ],
)
async def test_every_report_as_csv(client, keys, path, params) -> None:
    answer = await client.get(path, params=params, headers={**keys.header(Role.ADMIN), "Accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert len(rows) > 2 and all(len(row) == len(rows[0]) for row in rows)


@pytest.mark.usefixtures("history")
async def test_who_may_read_which_report(client, keys) -> None:
    flows = {"from": "2025-03-01", "to": "2025-03-31"}
    assert (await client.get("/v1/reports/flows", params=flows, headers=keys.header(Role.PARTNER))).status_code == 200
    assert (await client.get("/v1/reports/flows", params=flows, headers=keys.header(Role.REFERRER))).status_code == 403
    assert (await client.get("/v1/reports/waiting", headers=keys.header(Role.PARTNER))).status_code == 403
    assert (await client.get("/v1/reports/distance", headers=keys.header(Role.REFERRER))).status_code == 403
    answer = await client.get("/v1/reports/flows", params=flows, headers={"X-API-Key": keys.other_partner})
    assert by_kind(answer.json(), "2025-03")[None]["entries"] == 0  # another operator's facilities only


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/reports/flows", {"from": "0001-01-01", "to": "0001-01-01"}),
        ("/v1/reports/flows", {"from": "2025-03-01", "to": "9999-12-31"}),
        ("/v1/reports/flows", {"from": "2025-03-02", "to": "2025-03-01"}),
        ("/v1/reports/flows", {"from": "2025-03-01", "to": "2025-03-02", "step": "year"}),
        ("/v1/reports/waiting", {"at": "2025-03-01T00:00:00Z", "placed_from": "2025-03-02T00:00:00Z"}),
        ("/v1/reports/waiting", {"at": "2025-03-01"}),
        ("/v1/reports/distance", {"to": "2025-03-01T00:00:00Z", "started_from": "2025-03-01T00:00:00Z"}),
    ],
)
async def test_bad_input_is_a_problem(client, keys, path, params) -> None:
    answer = await client.get(path, params=params, headers=keys.header(Role.ADMIN))
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
