"""Proposals: the solver's plan, held bed by bed, accepted or declined line by line.

The module's database holds the Paris demo (800 waiting referrals, 825 places). The first
test asks for two whole-demo proposals at once and checks every line against the rules;
the others make small, controlled worlds inside it: a facility of their own, and
referrals that exclude every other facility, so they can only be placed there.

Races go through a real server on the module's database: the in-process client runs one
request at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from contracts.common import Role
from contracts.proposals import (
    ProposalCreate,
    ProposalParameters,
    UnplacedReason,
)
from service.demo.load import load_demo
from service.placements.fit import needs_and_bed
from service.problems import ProblemError
from service.proposals import worker
from service.proposals.problem import (
    Ask,
    Booking,
    FacilityRow,
    PersonRow,
    PlacedRow,
    Snapshot,
    booking,
    build,
    solver_parameters,
)
from service.proposals.queries import Now, assign
from service.proposals.solving import SolverPool, run_solver
from service.referrals.purge import purge
from solver.problem import Kind, Line, Parameters, PlacementPlan
from solver.rules import broken_by_type
from tests.process import TEST_REFERENCE_KEY, Server

OFFICER = Role.PLACEMENT_OFFICER
PROBLEM = "application/problem+json"
MIN_KM = {"assore_hotel": 1.0, "specialised_unit": 1.0, "rest_space": 0.0, "out_of_region": 0.0}
_count = itertools.count(1)


@pytest.fixture(scope="module")
async def demo(conn, keys) -> dict[str, int]:
    return await load_demo(conn, TEST_REFERENCE_KEY)


@pytest.fixture(scope="module")
def server(database_url):
    """`abri serve` on this module's database, with two solver processes."""
    process = Server({"DATABASE_URL": database_url, "ABRI_SOLVER_WORKERS": "2"})
    process.wait_ready()
    yield process
    process.stop()


async def at_once(server: Server, keys, *bodies: dict) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        return await asyncio.gather(
            *(http.post("/v1/proposals", json=body, headers=keys.header(OFFICER)) for body in bodies)
        )


async def propose(client, keys, expect=201, role=OFFICER, **body):
    r = await client.post("/v1/proposals", json=body, headers=keys.header(role))
    assert r.status_code == expect, r.text[:2000]
    if expect >= 400:
        assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


async def call(client, keys, method, url, expect=200, role=OFFICER, **body):
    r = await client.request(method, url, json=body or None, headers=keys.header(role))
    assert r.status_code == expect, r.text[:2000]
    return r.json()


async def facility(conn, keys, *beds: dict, lat=48.80, lon=2.25, kind="assore_hotel") -> tuple[str, list[str]]:
    """A facility of our own (default: in Issy, about 10 km from every site) with the beds given."""
    n = next(_count)
    facility_id = await conn.fetchval(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           VALUES ($1, $2, $3, '1 rue du Test', 'Issy', '92', 'Île-de-France', $4, $5, '2020-01-01') RETURNING id""",
        keys.organisation_id,
        kind,
        f"Maison test {n}",
        lat,
        lon,
    )
    ids = []
    for i, bed in enumerate(beds):
        ids.append(
            str(
                await conn.fetchval(
                    """INSERT INTO beds (facility_id, label, gender_policy, accessible, couple_room, dogs_allowed,
                                         medical_level, nightly_cost_cents)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
                    facility_id,
                    f"T{i}",
                    bed.get("gender_policy", "any"),
                    bed.get("accessible", False),
                    bed.get("couple_room", False),
                    bed.get("dogs_allowed", False),
                    bed.get("medical_level", 0),
                    bed.get("nightly_cost_cents", 3000),
                )
            )
        )
    return str(facility_id), ids


async def only_at(client, keys, conn, *facilities: str, **needs) -> str:
    """A waiting referral that every facility but these excludes."""
    others = [
        str(r["id"]) for r in await conn.fetch("SELECT id FROM facilities WHERE NOT id = ANY($1::uuid[])", facilities)
    ]
    body = {
        "reference": f"PROP-{uuid.uuid4().hex[:12]}",
        "source": "outreach_team",
        "needs": {"gender": "man"} | needs,
        "acceptable_kinds": ["assore_hotel", "specialised_unit"],
        "excluded_facility_ids": others,
        "vulnerability": 3,
    }
    return (await call(client, keys, "POST", "/v1/referrals", 201, Role.REFERRER, **body))["id"]


async def status_of(client, keys, referral_id):
    return (await call(client, keys, "GET", f"/v1/referrals/{referral_id}"))["status"]


async def free_in(client, keys, bed_id: str) -> bool:
    """Whether availability lists the bed now (searching around our test facilities only)."""
    page = await call(client, keys, "GET", "/v1/availability?limit=500&bbox=2.2,48.75,2.3,48.85")
    return bed_id in {b["id"] for b in page["items"]}


def line_of(proposal, referral_id):
    (line,) = [line for line in proposal["lines"] if line["referral_id"] == referral_id]
    return line


# --- whole demo, twice at once -----------------------------------------------------


async def check_line_rules(conn, proposal) -> None:
    """Every proposed line's hold is this referral's, on a bed that fits it, far enough from the scenes."""
    lines = [line for line in proposal["lines"] if line["status"] == "proposed"]
    rows = await conn.fetch(
        """
        SELECT h.id AS hold_id, h.referral_id, h.bed_id, h.status AS hold_status, upper(h.period) AS expires_at,
               r.status, r.gender, r.accessible, r.dogs, r.medical_level, r.acceptable_kinds,
               r.consents_out_of_region, r.couple_partner_id IS NOT NULL AS in_couple, r.excluded_facility_ids,
               f.id AS facility_id, f.kind, b.gender_policy, b.accessible AS bed_accessible, b.couple_room,
               b.dogs_allowed, b.medical_level AS bed_medical_level,
               (SELECT min(km_between(f.lat, f.lon, s.lat, s.lon)) FROM consumption_sites s
                WHERE s.active @> $2::timestamptz) AS km
        FROM holds h JOIN referrals r ON r.id = h.referral_id
        JOIN beds b ON b.id = h.bed_id JOIN facilities f ON f.id = b.facility_id
        WHERE h.id = ANY($1::uuid[])
        """,
        [line["hold_id"] for line in lines],
        datetime.fromisoformat(proposal["at"]),
    )
    by_hold = {str(r["hold_id"]): r for r in rows}
    assert len(by_hold) == len(lines)
    for line in lines:
        row = by_hold[line["hold_id"]]
        assert str(row["referral_id"]) == line["referral_id"] and str(row["bed_id"]) == line["bed_id"]
        assert str(row["facility_id"]) == line["facility"]["id"] and row["kind"] == line["facility"]["kind"]
        assert row["hold_status"] == "active" and row["status"] == "held"
        assert row["expires_at"] == datetime.fromisoformat(proposal["holds_expire_at"])
        needs, bed = needs_and_bed(row)
        assert broken_by_type(needs, bed) is None, (line, row)
        assert row["facility_id"] not in row["excluded_facility_ids"]
        assert row["km"] >= MIN_KM[row["kind"]]
        assert line["distance_km"] == pytest.approx(row["km"], abs=1e-3)
        assert line["nearest_site"] and line["facility"]["name"] in line["explanation"]
        assert "km from" in line["explanation"] and f"priority {line['scores']['priority']}" in line["explanation"]


async def test_two_whole_demo_proposals_at_once_hold_every_bed_and_referral_at_most_once(
    demo, server, client, keys, conn
):
    assert demo["referrals"] == 800
    first, second = await at_once(server, keys, {}, {"hold_minutes": 60})
    assert first.status_code == second.status_code == 201, (first.text[:500], second.text[:500])
    proposals = [first.json(), second.json()]
    for r, p in zip((first, second), proposals, strict=True):
        assert r.headers["location"] == f"/v1/proposals/{p['id']}"
        assert p["counts"]["people"] == p["statistics"]["people"] > 0
        assert p["counts"]["unplaced"] == len(p["unplaced"])
        assert len(p["lines"]) == p["statistics"]["placed"]
        assert p["counts"]["proposed"] + p["counts"]["dropped"] == len(p["lines"])
        await check_line_rules(conn, p)
        for u in p["unplaced"]:
            assert u["reason"] in {r.value for r in UnplacedReason} and u["explanation"]
            assert u["eligible_beds"] <= u["free_beds"]
            assert all(removed["beds"] > 0 and removed["rule"] for removed in u["beds_removed"])
        for line in p["lines"]:
            if line["status"] == "dropped":
                assert line["hold_id"] is None and line["bed_id"] is None and line["reason"] and line["decided_at"]
    # Both read the same waiting people and free beds, so the second one saved found its
    # referrals or beds taken: none of them is held twice.
    lines = [line for p in proposals for line in p["lines"] if line["status"] == "proposed"]
    assert len({line["bed_id"] for line in lines}) == len(lines)
    assert len({line["referral_id"] for line in lines}) == len(lines)
    assert sum(p["counts"]["dropped"] for p in proposals) > 0
    overlapping = await conn.fetchval(
        """SELECT count(*) FROM holds a JOIN holds b ON a.id < b.id AND a.status = 'active' AND b.status = 'active'
           AND (a.bed_id = b.bed_id OR a.referral_id = b.referral_id) AND a.period && b.period"""
    )
    assert overlapping == 0
    assert await conn.fetchval("SELECT count(*) FROM referrals WHERE status = 'held'") == len(lines)

    # Couples are placed together, in one facility, or neither is.
    couples = await conn.fetch(
        """SELECT a.id AS a, b.id AS b FROM referrals a JOIN referrals b
           ON a.couple_partner_id = b.id AND b.couple_partner_id = a.id AND a.id < b.id"""
    )
    assert len(couples) == 20
    facility_of = {line["referral_id"]: line["facility"]["id"] for line in lines}
    for c in couples:
        a, b = str(c["a"]), str(c["b"])
        assert (a in facility_of) == (b in facility_of)
        assert facility_of.get(a) == facility_of.get(b)
    # Keep-apart pairs never share a facility.
    apart = await conn.fetch(
        "SELECT r.id AS a, unnest(r.keep_apart_ids) AS b FROM referrals r WHERE cardinality(r.keep_apart_ids) > 0"
    )
    assert apart
    for pair in apart:
        a, b = str(pair["a"]), str(pair["b"])
        assert not (a in facility_of and facility_of[a] == facility_of.get(b))

    # Audited: one event per proposal, one per hold, one per referral held.
    for p in proposals:
        held = [line["hold_id"] for line in p["lines"] if line["hold_id"]]
        events = await conn.fetch(
            "SELECT subject_type, count(*) FROM audit_events WHERE changes->>'proposal_id' = $1 "
            "OR subject_id = $2 GROUP BY subject_type",
            p["id"],
            uuid.UUID(p["id"]),
        )
        expected = {"proposal": 1} | ({"hold": len(held), "referral": len(held)} if held else {})
        assert dict(events) == expected

    # The list shows both, with their counts.
    page = await call(client, keys, "GET", "/v1/proposals?limit=1")
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await call(client, keys, "GET", f"/v1/proposals?cursor={page['next_cursor']}")
    summaries = {s["id"]: s for s in page["items"] + rest["items"]}
    for p in proposals:
        assert summaries[p["id"]]["counts"] == p["counts"]
        assert summaries[p["id"]]["method"] == p["statistics"]["method"]


# --- one line's life ------------------------------------------------------------------


async def test_accept_turns_the_hold_into_a_stay(demo, client, keys, conn):
    home, (bed,) = await facility(conn, keys, {})
    person = await only_at(client, keys, conn, home)
    proposal = await propose(client, keys, referral_ids=[person])
    line = line_of(proposal, person)
    assert line["status"] == "proposed" and line["bed_id"] == bed and line["facility"]["id"] == home
    assert await status_of(client, keys, person) == "held" and not await free_in(client, keys, bed)

    url = f"/v1/proposals/{proposal['id']}/lines/{line['id']}"
    accepted = await call(client, keys, "POST", f"{url}/accept")
    assert accepted["status"] == "accepted" and accepted["stay_id"] and accepted["decided_at"]
    assert accepted["version"] == line["version"] + 1
    stay = await call(client, keys, "GET", f"/v1/stays/{accepted['stay_id']}")
    assert stay["hold_id"] == line["hold_id"] and stay["bed_id"] == bed and stay["ended_at"] is None
    assert await status_of(client, keys, person) == "placed"
    assert not await free_in(client, keys, bed)
    again = await call(client, keys, "POST", f"{url}/accept", 409)
    assert again["current_status"] == "accepted"
    assert (await call(client, keys, "POST", f"{url}/decline", 409, reason="other"))["current_status"] == "accepted"
    assert (await call(client, keys, "GET", url))["status"] == "accepted"
    events = await conn.fetch("SELECT action FROM audit_events WHERE subject_id = $1", uuid.UUID(line["id"]))
    assert [e["action"] for e in events] == ["accepted"]


async def test_decline_frees_the_bed_and_the_pair_is_not_proposed_again(demo, client, keys, conn):
    home, (bed,) = await facility(conn, keys, {})
    person = await only_at(client, keys, conn, home)
    proposal = await propose(client, keys, referral_ids=[person])
    line = line_of(proposal, person)
    url = f"/v1/proposals/{proposal['id']}/lines/{line['id']}"
    declined = await call(client, keys, "POST", f"{url}/decline", reason="unsuitable")
    assert declined["status"] == "declined" and declined["reason"] == "unsuitable" and declined["decided_at"]
    hold = await call(client, keys, "GET", f"/v1/holds/{line['hold_id']}")
    assert hold["status"] == "cancelled"
    assert await status_of(client, keys, person) == "waiting" and await free_in(client, keys, bed)
    assert (await call(client, keys, "POST", f"{url}/accept", 409))["current_status"] == "declined"

    again = await propose(client, keys, referral_ids=[person])
    assert again["lines"] == []
    (unplaced,) = again["unplaced"]
    assert unplaced["reason"] == "no_eligible_bed" and unplaced["eligible_beds"] == 0
    assert "excluded_facility" in {r["rule"] for r in unplaced["beds_removed"]}

    anyway = await propose(client, keys, referral_ids=[person], include_declined=True)
    assert line_of(anyway, person)["bed_id"] == bed
    events = await conn.fetch("SELECT action, changes FROM audit_events WHERE subject_id = $1", uuid.UUID(line["id"]))
    assert [e["action"] for e in events] == ["declined"]

    # Once the referral has long ended, purge forgets what proposals recorded about the person.
    key = uuid.UUID(person)
    counts = "SELECT (SELECT count(*) FROM {} WHERE referral_id = $1)"
    assert [await conn.fetchval(counts.format(t), key) for t in ("proposal_declines", "proposal_unplaced")] == [1, 1]
    await call(client, keys, "POST", f"/v1/referrals/{person}/withdraw", role=Role.REFERRER, reason="other")
    await conn.execute("UPDATE referrals SET ended_at = now() - interval '40 days' WHERE id = $1", key)
    assert await purge(conn, timedelta(days=30)) >= 1
    assert [await conn.fetchval(counts.format(t), key) for t in ("proposal_declines", "proposal_unplaced")] == [0, 0]
    assert await conn.fetchval(counts.format("proposal_lines"), key) == 2, "lines stay, like holds"


async def test_an_expired_line_cannot_be_accepted(demo, client, keys, conn):
    home, (bed,) = await facility(conn, keys, {})
    person = await only_at(client, keys, conn, home)
    proposal = await propose(client, keys, referral_ids=[person], hold_minutes=5)
    line = line_of(proposal, person)
    hold_minutes = datetime.fromisoformat(line["hold_expires_at"]) - datetime.fromisoformat(proposal["at"])
    assert timedelta(minutes=5) <= hold_minutes < timedelta(minutes=6)
    await conn.execute(
        "UPDATE holds SET period = tstzrange(now() - interval '10 minutes', now() - interval '5 minutes') "
        "WHERE id = $1",
        uuid.UUID(line["hold_id"]),
    )
    url = f"/v1/proposals/{proposal['id']}/lines/{line['id']}"
    assert (await call(client, keys, "GET", url))["status"] == "expired"
    problem = await call(client, keys, "POST", f"{url}/accept", 409)
    assert problem["current_status"] == "expired" and problem["title"] == "Hold expired"
    assert (await call(client, keys, "GET", f"/v1/proposals/{proposal['id']}"))["counts"]["expired"] == 1
    assert await free_in(client, keys, bed)


async def test_a_line_ended_through_the_holds_api_reads_as_its_hold(demo, client, keys, conn):
    home, _ = await facility(conn, keys, {})
    person = await only_at(client, keys, conn, home)
    proposal = await propose(client, keys, referral_ids=[person])
    line = line_of(proposal, person)
    await call(client, keys, "POST", f"/v1/holds/{line['hold_id']}/cancel", reason="bed_unavailable")
    now = await call(client, keys, "GET", f"/v1/proposals/{proposal['id']}/lines/{line['id']}")
    assert now["status"] == "declined" and now["reason"] == "bed_unavailable" and now["decided_at"]


# --- concurrency on scarce beds, couples -------------------------------------------------


async def test_two_proposals_racing_for_three_beds_hold_each_once(demo, server, client, keys, conn):
    home, beds = await facility(conn, keys, {}, {}, {})
    people = [await only_at(client, keys, conn, home) for _ in range(6)]
    answers = await at_once(server, keys, {"referral_ids": people[:3]}, {"referral_ids": people[3:]})
    assert [r.status_code for r in answers] == [201, 201]
    lines = [line for r in answers for line in r.json()["lines"]]
    held = [line for line in lines if line["status"] == "proposed"]
    assert sorted(line["bed_id"] for line in held) == sorted(beds)
    assert all(line["reason"] == "bed_taken" for line in lines if line["status"] == "dropped")
    statuses = [await status_of(client, keys, p) for p in people]
    assert statuses.count("held") == 3 and statuses.count("waiting") == 3


async def test_a_bed_another_booking_has_locked_is_passed_over_not_waited_for(demo, server, client, keys, conn):
    """The save locks only the beds it assigns, and does not wait for one: a bed another
    booking holds locked counts as taken, and the line takes the next of its class."""
    home, beds = await facility(conn, keys, {}, {})
    first, second = sorted(beds)  # a class's beds are taken in id order
    person = await only_at(client, keys, conn, home)
    async with conn.transaction(), httpx.AsyncClient(base_url=server.base, timeout=15) as http:
        await conn.execute("SELECT FROM beds WHERE id = $1 FOR UPDATE", uuid.UUID(first))
        answer = await http.post("/v1/proposals", json={"referral_ids": [person]}, headers=keys.header(OFFICER))
    assert answer.status_code == 201, answer.text
    assert line_of(answer.json(), person)["bed_id"] == second
    assert await free_in(client, keys, first)


async def test_couples_are_placed_together_or_not_at_all(demo, client, keys, conn):
    home, (single,) = await facility(conn, keys, {"couple_room": True})
    her = await only_at(client, keys, conn, home, gender="woman")
    him = await only_at(client, keys, conn, home, couple_partner_id=her)
    referral = await call(client, keys, "GET", f"/v1/referrals/{her}")
    r = await client.patch(
        f"/v1/referrals/{her}",
        json={"needs": referral["needs"] | {"couple_partner_id": him}},
        headers=keys.header(OFFICER) | {"If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text

    # One couple room for two: neither is placed. Listing her brings him in.
    alone = await propose(client, keys, referral_ids=[her])
    assert alone["counts"]["people"] == 2 and alone["lines"] == []
    assert {u["referral_id"] for u in alone["unplaced"]} == {her, him}

    await conn.execute(
        """INSERT INTO beds (facility_id, label, gender_policy, couple_room, nightly_cost_cents)
           VALUES ($1, 'T1', 'any', true, 3000)""",
        uuid.UUID(home),
    )
    together = await propose(client, keys, referral_ids=[him])
    assert {line["referral_id"] for line in together["lines"]} == {her, him}
    assert {line["facility"]["id"] for line in together["lines"]} == {home}
    assert single in {line["bed_id"] for line in together["lines"]}


# --- input, roles, plumbing ------------------------------------------------------------


async def test_listed_referrals_must_exist_and_wait(demo, client, keys, conn):
    nowhere = str(uuid.UUID(int=99))
    missing = await propose(client, keys, 422, referral_ids=[nowhere])
    assert missing["referral_ids"] == [nowhere]
    home, _ = await facility(conn, keys, {})
    held, waiting = await only_at(client, keys, conn, home), await only_at(client, keys, conn, home)
    await propose(client, keys, referral_ids=[held])
    busy = await propose(client, keys, 409, referral_ids=[waiting, held])
    assert busy["referrals"] == [{"id": held, "status": "held"}]
    assert await conn.fetchval("SELECT status FROM referrals WHERE id = $1", uuid.UUID(waiting)) == "waiting"


@pytest.mark.parametrize(
    "body",
    [
        {"referral_ids": []},
        {"referral_ids": [str(uuid.UUID(int=1))] * 2},
        {"referral_ids": [str(uuid.UUID(int=i)) for i in range(5001)]},
        {"referral_ids": ["not-a-uuid"]},
        {"hold_minutes": 4},
        {"hold_minutes": 2881},
        {"include_declined": "yes"},
        {"surprise": 1},
        {"parameters": {"surprise": 1}},
        {"parameters": {"time_limit_s": 0.09}},
        {"parameters": {"time_limit_s": 31}},
        {"parameters": {"distance_points": -1}},
        {"parameters": {"distance_points": 1001}},
        {"parameters": {"distance_saturation_km": 0.4}},
        {"parameters": {"distance_saturation_km": 1001}},
        {"parameters": {"care_points": 1001}},
        {"parameters": {"care_radius_km": 0.9}},
        {"parameters": {"care_radius_km": 1001}},
        {"parameters": {"points_per_euro": -1}},
        {"parameters": {"points_per_euro": 11}},
        {"parameters": {"min_distance_km": {"assore_hotel": -0.1}}},
        {"parameters": {"min_distance_km": {"rest_space": 50.1}}},
        {"parameters": {"min_distance_km": {"hostel": 1}}},
        {"parameters": {"min_distance_km": 1}},
    ],
    ids=lambda body: str(body)[:60],
)
async def test_bad_bodies_are_400_and_hold_nothing(demo, client, keys, conn, body):
    before = await conn.fetchval("SELECT count(*) FROM holds")
    problem = await propose(client, keys, 400, **body)
    assert problem["status"] == 400
    assert await conn.fetchval("SELECT count(*) FROM holds") == before


@pytest.mark.parametrize("role", [Role.REFERRER, Role.PARTNER, Role.MANAGER])
async def test_only_officers_and_admins_may_propose(demo, client, keys, conn, role):
    before = await conn.fetchval("SELECT count(*) FROM proposals")
    await propose(client, keys, 403, role=role)
    assert (await client.get("/v1/proposals", headers=keys.header(role))).status_code == 403
    assert await conn.fetchval("SELECT count(*) FROM proposals") == before


async def test_an_idempotent_retry_replays_the_proposal(demo, client, keys, conn):
    home, _ = await facility(conn, keys, {})
    person = await only_at(client, keys, conn, home)
    headers = keys.header(OFFICER) | {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/proposals", json={"referral_ids": [person]}, headers=headers)
    again = await client.post("/v1/proposals", json={"referral_ids": [person]}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    assert await conn.fetchval("SELECT count(*) FROM holds WHERE referral_id = $1", uuid.UUID(person)) == 1


async def test_unknown_proposals_and_lines_are_404(demo, client, keys):
    nowhere = uuid.UUID(int=5)
    await call(client, keys, "GET", f"/v1/proposals/{nowhere}", 404)
    await call(client, keys, "POST", f"/v1/proposals/{nowhere}/lines/{nowhere}/accept", 404)
    await call(client, keys, "POST", f"/v1/proposals/{nowhere}/lines/{nowhere}/decline", 404, reason="other")


def test_contract_parameters_mirror_the_solvers():
    """Same defaults as solver.problem.Parameters (the time limit is the API's own)."""
    ours, theirs = solver_parameters(ProposalParameters()), Parameters()
    assert msgspec.structs.replace(ours, time_limit_s=theirs.time_limit_s) == theirs
    assert ProposalCreate().referral_ids is None


def ask(snapshot: Snapshot, time_limit_s: float = 5.0) -> Ask:
    return Ask(
        snapshot=msgspec.json.encode(snapshot),
        listed=None,
        parameters=ProposalParameters(time_limit_s=time_limit_s),
    )


async def test_a_busy_solver_answers_503_with_retry_after(monkeypatch):
    monkeypatch.setattr("service.proposals.solving.MARGIN_S", 0.5)
    pool = SolverPool(1)
    try:
        pool.executor.submit(time.sleep, 3)  # the only worker is busy
        with pytest.raises(ProblemError) as raised:
            await run_solver(pool, ask(snapshot([]), time_limit_s=0.1))
        assert raised.value.status == 503 and raised.value.headers == {"Retry-After": "1"}
    finally:
        pool.close()


async def test_a_timed_out_solve_is_stopped_so_the_next_proposal_does_not_wait_behind_it(monkeypatch):
    monkeypatch.setattr("service.proposals.solving.MARGIN_S", 0.5)
    pool = SolverPool(1)
    try:
        await asyncio.to_thread(pool.start)
        stuck = pool.executor.submit(time.sleep, 60)  # a solve that outlasts its request
        with pytest.raises(ProblemError) as raised:
            await run_solver(pool, ask(snapshot([]), time_limit_s=0.1))
        assert raised.value.status == 503
        started = time.monotonic()
        plan, _ = await run_solver(pool, ask(snapshot([]), time_limit_s=5.0))
        assert plan.statistics.people == 0 and time.monotonic() - started < 5
        with pytest.raises(BrokenProcessPool):
            stuck.result(timeout=1)  # its worker was killed, not left sleeping
    finally:
        pool.close()


async def test_a_dead_worker_is_replaced():
    pool = SolverPool(1)
    try:
        await asyncio.to_thread(pool.start)
        with pytest.raises(BrokenProcessPool):
            await asyncio.wrap_future(pool.executor.submit(os._exit, 1))
        nobody = ask(snapshot([]))
        with pytest.raises(ProblemError) as raised:
            await run_solver(pool, nobody)
        assert raised.value.status == 503 and "Retry-After" in raised.value.headers
        plan, _ = await run_solver(pool, nobody)
        assert plan.statistics.people == 0, "the next proposal finds a new worker"
    finally:
        pool.close()


# --- building the problem, saving the plan (pure) ------------------------------------------


def person(id_: str, **changes) -> PersonRow:
    base = {
        "id": id_,
        "gender": "man",
        "accessible": False,
        "dogs": False,
        "medical_level": 0,
        "acceptable_kinds": ["assore_hotel"],
        "consents_out_of_region": False,
        "excluded_facility_ids": [],
        "keep_apart_ids": [],
        "couple_partner_id": None,
        "care_anchor_lat": None,
        "care_anchor_lon": None,
        "vulnerability": 3,
        "court_ordered": False,
        "days_waiting": 9,
    }
    return msgspec.convert(base | changes, PersonRow)


def snapshot(people, placed=(), declines=()) -> Snapshot:
    f = FacilityRow(id="F", name="Hôtel F", kind=Kind.ASSORE_HOTEL, lat=48.8, lon=2.25)
    beds = [uuid.UUID(int=i) for i in (3, 1, 2)]
    bed = {"facility_id": "F", "gender_policy": "any", "accessible": False, "couple_room": False}
    bed |= {"dogs_allowed": False, "medical_level": 0, "nightly_cost_cents": 3000, "bed_ids": beds}
    return msgspec.convert(
        {
            "people": list(people),
            "placed": list(placed),
            "declines": list(declines),
            "classes": [bed],
            "facilities": [f],
            "sites": [{"name": "Stalingrad", "lat": 48.8843, "lon": 2.3699}],
        },
        Snapshot,
        from_attributes=True,
    )


def test_couples_keep_apart_and_declines_shape_the_problem():
    people = [
        person("a", couple_partner_id="b", gender="woman"),
        person("b", couple_partner_id="a"),
        person("c", couple_partner_id="x"),  # x has a bed in G and names c back
        person("d", keep_apart_ids=["y", "a"]),  # y has a bed in H
        person("e", couple_partner_id="a"),  # a is taken: no couple
    ]
    placed = [
        PlacedRow(id="x", couple_partner_id="c", keep_apart_ids=[], facility_id="G"),
        PlacedRow(id="y", couple_partner_id=None, keep_apart_ids=["e"], facility_id="H"),
    ]
    declines = [{"referral_id": "b", "facility_id": "K"}]
    built = build(snapshot(people, placed, declines), None, ProposalParameters())
    by_id = {p.id: p for p in built.problem.people}
    assert by_id["a"].partner_id == "b" and by_id["b"].partner_id == "a" and by_id["e"].partner_id is None
    assert by_id["c"].partner_facility_id == "G" and by_id["c"].partner_id is None
    assert by_id["d"].keep_apart_ids == {"a"} and by_id["a"].keep_apart_ids == {"d"}
    assert by_id["d"].excluded_facility_ids == {"H"} and by_id["e"].excluded_facility_ids == {"H"}
    assert by_id["b"].excluded_facility_ids == {"K"}
    assert built.apart["d"] == {"a", "y"} and built.apart["e"] == {"y"}
    assert by_id["a"].priority > by_id["b"].priority, "a woman scores 10 more"
    assert built.beds == {"c0": [uuid.UUID(int=3), uuid.UUID(int=1), uuid.UUID(int=2)]}
    assert built.problem.bed_classes[0].capacity == 3

    with_declined = build(snapshot(people, placed, []), None, ProposalParameters())
    assert {p.id: p for p in with_declined.problem.people}["b"].excluded_facility_ids == set()

    listed = build(snapshot(people, placed, declines), [uuid.UUID(int=0)], ProposalParameters())
    assert listed.problem.people == []


def test_the_worker_builds_the_problem_and_sends_back_only_what_saving_needs():
    """The snapshot is decoded and built in the solver's process, not on the API's event loop;
    of the problem, only the plan's bed classes, facilities and people come back."""
    found = snapshot([person("c"), person("d"), person("e", acceptable_kinds=["rest_space"])])
    unit = FacilityRow(id="G", name="Unité G", kind=Kind.SPECIALISED_UNIT, lat=48.7, lon=2.2)
    unused = msgspec.structs.replace(found.classes[0], facility_id="G", bed_ids=[uuid.UUID(int=9)])
    found = msgspec.structs.replace(found, classes=[*found.classes, unused], facilities=[*found.facilities, unit])
    packed = worker.solve_packed(msgspec.msgpack.encode(ask(found)))
    plan, kept = msgspec.msgpack.decode(packed, type=tuple[PlacementPlan, Booking])
    assert sorted(line.person_id for line in plan.lines) == ["c", "d"]
    assert [u.person_id for u in plan.unplaced] == ["e"]
    assert kept.people == 3 and kept.partners == {}
    assert kept.beds == {"c0": [uuid.UUID(int=i) for i in (3, 1, 2)]} and list(kept.facilities) == ["F"]
    assert kept.apart == {"c": set(), "d": set()}


def test_listing_one_partner_brings_the_other():
    a, b = str(uuid.UUID(int=10)), str(uuid.UUID(int=11))
    people = [person(a, couple_partner_id=b), person(b, couple_partner_id=a), person(str(uuid.UUID(int=12)))]
    built = build(snapshot(people), [uuid.UUID(a)], ProposalParameters())
    assert sorted(p.id for p in built.problem.people) == [a, b]


def test_assign_takes_the_next_free_bed_and_drops_couples_together():
    people = [person("a", couple_partner_id="b"), person("b", couple_partner_id="a"), person("c"), person("d")]
    built = build(snapshot(people), None, ProposalParameters())
    scores = {"priority": 30, "distance": 0, "care": 0, "cost": 0}
    line = {"facility_id": "F", "bed_class_id": "c0", "kind": "assore_hotel", "distance_km": 5.0}
    line |= {"nearest_site": "Stalingrad", "scores": scores}
    lines = [msgspec.convert(line | {"person_id": p}, Line) for p in ("c", "a", "b", "d")]
    one, two, three = (uuid.UUID(int=i) for i in (1, 2, 3))
    # Bed 3 (first of the class) was taken meanwhile: c gets 1, a gets 2, b finds none, so a
    # is dropped with b, and d takes 2.
    result = assign(lines, booking(built, lines), Now(waiting={"a", "b", "c", "d"}, free={one, two}, booked={}))
    assert result.beds == {"c": one, "d": two}
    assert result.dropped == {"b": "bed_taken", "a": "partner_dropped"}
    gone = assign(lines, booking(built, lines), Now(waiting={"a", "b", "d"}, free={one, two, three}, booked={}))
    assert gone.dropped == {"c": "referral_not_waiting"} and gone.beds == {"a": three, "b": one, "d": two}
    kept_apart = build(snapshot([person("c", keep_apart_ids=["z"])]), None, ProposalParameters())
    apart = assign(lines[:1], booking(kept_apart, lines[:1]), Now(waiting={"c"}, free={one}, booked={"z": {"F"}}))
    assert apart.dropped == {"c": "keep_apart"}


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# A process with a solver pool, standing in for an API worker: prints its worker's pid.
POOL_OWNER = """
import sys
from service.proposals.solving import SolverPool
pool = SolverPool(1)
pool.start()
print(*pool.executor._processes, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="priorities and the death signal are Linux's")
async def test_a_solver_worker_gives_way_and_ends_when_the_api_process_is_killed():
    root = Path(__file__).resolve().parents[3]
    owner = subprocess.Popen(
        [sys.executable, "-c", POOL_OWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=root
    )
    try:
        pid = int(owner.stdout.readline())
        fork_server = _parent_pid(pid)
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE, "searches come before a solve"
        assert os.getsid(pid) == pid, "a session of its own: its own autogroup"
        autogroup = Path(f"/proc/{pid}/autogroup")
        if autogroup.exists():  # kernels built without autogroups have no such file
            assert autogroup.read_text().split()[-1] == "19", "that autogroup at the lowest weight"
    finally:
        owner.kill()  # SIGKILL: no clean-up code runs in the owner
        owner.wait()
    deadline = time.monotonic() + 10
    while (_alive(pid) or _alive(fork_server)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(fork_server), "the fork server ends with the process that started it"
    assert not _alive(pid), "and no solver process outlives them"
