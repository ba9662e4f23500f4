"""Holds and stays: the whole path from referral to bed to exit, and no bed given twice."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts.common import Role
from service.placements.queries import expire_holds

OFFICER = Role.PLACEMENT_OFFICER


@pytest.fixture(scope="module")
async def beds(conn, keys):
    """Eight beds in one open hotel of the test organisation, 3 km from the only site."""
    await conn.execute(
        "INSERT INTO consumption_sites (name, lat, lon, intensity, active_from) "
        "VALUES ('Stalingrad', 48.8843, 2.3699, 5, '2019-01-01')"
    )
    facility = await conn.fetchval(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           VALUES ($1, 'assore_hotel', 'Hôtel des Tests', '1 rue du Test', 'Paris', '75', 'Île-de-France',
                   48.9113, 2.3699, '2020-01-01') RETURNING id""",
        keys.organisation_id,
    )
    return [
        str(
            await conn.fetchval(
                "INSERT INTO beds (facility_id, label, gender_policy) VALUES ($1, $2, 'any') RETURNING id",
                facility,
                f"R{n}",
            )
        )
        for n in range(8)
    ]


_count = 0


async def referral(client, keys, needs=None, **changes):
    global _count
    _count += 1
    body = {
        "reference": f"PLACE-{_count:05}",
        "source": "outreach_team",
        "needs": {"gender": "man"} | (needs or {}),
        "acceptable_kinds": ["assore_hotel"],
        "vulnerability": 3,
    } | changes
    r = await client.post("/v1/referrals", json=body, headers=keys.header(Role.REFERRER))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def call(client, keys, method, url, role=OFFICER, expect=200, **body):
    r = await client.request(method, url, json=body or None, headers=keys.header(role))
    assert r.status_code == expect, r.text
    return r.json()


async def status_of(client, keys, referral_id):
    return (await call(client, keys, "GET", f"/v1/referrals/{referral_id}"))["status"]


async def free(client, keys, bed_id, at=None):
    params = {"limit": 500} | ({"at": at.isoformat()} if at else {})
    page = await call(
        client, keys, "GET", "/v1/availability?" + "&".join(f"{k}={v}" for k, v in params.items()).replace("+", "%2B")
    )
    return bed_id in {b["id"] for b in page["items"]}


async def test_hold_confirm_check_in_transfer_exit(client, keys, beds):
    person = await referral(client, keys)
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beds[0])
    assert hold["status"] == "active" and await status_of(client, keys, person) == "held"
    expires = datetime.fromisoformat(hold["expires_at"])
    assert timedelta(hours=3, minutes=59) < expires - datetime.fromisoformat(hold["held_from"]) <= timedelta(hours=4)
    assert not await free(client, keys, beds[0])
    assert await free(client, keys, beds[0], at=expires + timedelta(minutes=1)), "an expired hold blocks nothing"

    stay = await call(client, keys, "POST", f"/v1/holds/{hold['id']}/confirm", expect=201)
    assert (
        stay["hold_id"] == hold["id"] and stay["ended_at"] is None and await status_of(client, keys, person) == "placed"
    )
    assert not await free(client, keys, beds[0], at=datetime.now(UTC) + timedelta(days=30))

    checked = await call(client, keys, "POST", f"/v1/stays/{stay['id']}/check-in", role=Role.PARTNER)
    assert checked["checked_in_at"] is not None
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/check-in", role=Role.PARTNER, expect=409)

    moved = await call(client, keys, "POST", f"/v1/stays/{stay['id']}/transfer", expect=201, bed_id=beds[1])
    assert moved["transferred_from"] == stay["id"] and moved["bed_id"] == beds[1]
    assert await free(client, keys, beds[0]) and not await free(client, keys, beds[1])
    old = await call(client, keys, "GET", f"/v1/stays/{stay['id']}")
    assert old["ended_as"] == "transfer" and await status_of(client, keys, person) == "placed"

    gone = await call(
        client, keys, "POST", f"/v1/stays/{moved['id']}/exit", role=Role.PARTNER, reason="therapeutic_community"
    )
    assert gone["ended_as"] == "exit" and gone["exit_reason"] == "therapeutic_community"
    assert gone["length_of_stay_days"] >= 0 and await status_of(client, keys, person) == "exited"
    assert await free(client, keys, beds[1])
    during = (
        datetime.fromisoformat(moved["started_at"])
        + (datetime.fromisoformat(gone["ended_at"]) - datetime.fromisoformat(moved["started_at"])) / 2
    )
    assert not await free(client, keys, beds[1], at=during), "the past is kept: the bed was taken then"
    await call(client, keys, "POST", f"/v1/stays/{moved['id']}/exit", reason="other", expect=409)


async def test_a_taken_bed_is_409_naming_the_bed(client, keys, beds):
    first, second = await referral(client, keys), await referral(client, keys)
    await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=first, bed_id=beds[2])
    problem = await call(client, keys, "POST", "/v1/holds", expect=409, referral_id=second, bed_id=beds[2])
    assert problem["bed_id"] == beds[2]
    assert await status_of(client, keys, second) == "waiting", "the refused hold changed nothing"
    again = await call(client, keys, "POST", "/v1/holds", expect=409, referral_id=first, bed_id=beds[3])
    assert again["current_status"] == "held"


async def test_cancel_and_no_show_give_the_bed_back_and_the_referral_waits(client, keys, beds):
    person = await referral(client, keys)
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beds[3])
    cancelled = await call(client, keys, "POST", f"/v1/holds/{hold['id']}/cancel", reason="declined_by_person")
    assert cancelled["status"] == "cancelled" and await status_of(client, keys, person) == "waiting"
    assert await free(client, keys, beds[3])
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=person, bed_id=beds[3])
    missed = await call(client, keys, "POST", f"/v1/stays/{stay['id']}/no-show", role=Role.PARTNER)
    assert missed["ended_as"] == "no_show" and await status_of(client, keys, person) == "waiting"
    assert await free(client, keys, beds[3])


async def test_an_expired_hold_frees_the_bed_without_any_job(client, keys, beds, conn):
    person, other = await referral(client, keys), await referral(client, keys)
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beds[4], minutes=5)
    await conn.execute(
        "UPDATE holds SET period = tstzrange(now() - interval '10 minutes', now() - interval '5 minutes') "
        "WHERE id = $1",
        hold["id"],
    )
    assert await free(client, keys, beds[4])
    await call(client, keys, "POST", f"/v1/holds/{hold['id']}/confirm", expect=409)
    taken = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=other, bed_id=beds[4])
    # The first referral is still 'held' on paper; a new hold brings it up to date first.
    await call(client, keys, "POST", f"/v1/holds/{taken['id']}/cancel", reason="other")
    again = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beds[4])
    assert (await call(client, keys, "GET", f"/v1/holds/{hold['id']}"))["status"] == "expired"
    await call(client, keys, "POST", f"/v1/holds/{again['id']}/cancel", reason="other")


async def test_the_sweeper_marks_expired_holds_and_records_it(client, keys, beds, conn):
    person = await referral(client, keys)
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beds[4])
    await conn.execute(
        "UPDATE holds SET period = tstzrange(now() - interval '2 hours', now() - interval '1 hour') WHERE id = $1",
        hold["id"],
    )
    assert await expire_holds(conn) >= 1
    assert await status_of(client, keys, person) == "waiting"
    event = await conn.fetchrow(
        "SELECT key_id, action FROM audit_events WHERE subject_id = $1 ORDER BY id DESC", hold["id"]
    )
    assert event["action"] == "expired" and event["key_id"] is None, "the system, not a person, expired it"


async def test_partners_act_on_their_own_beds_only(client, keys, beds):
    person = await referral(client, keys)
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=person, bed_id=beds[0])
    r = await client.post(f"/v1/stays/{stay['id']}/check-in", headers={"X-API-Key": keys.other_partner})
    assert r.status_code == 403
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/exit", reason="left_on_own_accord")


@pytest.mark.parametrize("route", ["/v1/holds", "/v1/stays"])
async def test_fifty_at_once_on_one_bed_exactly_one_wins(client, keys, beds, conn, route):
    people = [await referral(client, keys) for _ in range(50)]
    answers = await asyncio.gather(
        *(
            client.post(
                route,
                json={"referral_id": p, "bed_id": beds[5 if route == "/v1/holds" else 6]},
                headers=keys.header(OFFICER),
            )
            for p in people
        )
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 49
    overlapping = await conn.fetchval(
        """SELECT count(*) FROM (SELECT bed_id, period FROM holds WHERE status = 'active'
                                 UNION ALL SELECT bed_id, period FROM stays) a
           JOIN (SELECT bed_id, period FROM holds WHERE status = 'active'
                 UNION ALL SELECT bed_id, period FROM stays) b
             ON a.bed_id = b.bed_id AND a.period && b.period AND a.period <> b.period"""
    )
    assert overlapping == 0


async def odd_bed(conn, keys, kind="assore_hotel", lat=48.9113, lon=2.3699, **bed):
    """A bed of its own facility, with the attributes given."""
    bed = {"gender_policy": "any"} | bed
    facility = await conn.fetchval(
        """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                   lat, lon, opened_on)
           VALUES ($1, $2, $3, '2 rue du Test', 'Paris', '75', 'Île-de-France', $4, $5, '2020-01-01') RETURNING id""",
        keys.organisation_id,
        kind,
        f"Maison {kind} {bed}",
        lat,
        lon,
    )
    columns = ", ".join(["facility_id", "label", *bed])
    values = ", ".join(f"${i}" for i in range(1, len(bed) + 3))
    bed_id = await conn.fetchval(
        f"INSERT INTO beds ({columns}) VALUES ({values}) RETURNING id", facility, "X1", *bed.values()
    )
    return str(facility), str(bed_id)


# (what the referral needs, the bed, the rule it breaks, what the problem says)
MISFITS = {
    "gender": ({}, {"gender_policy": "women"}, "bed is for women; the referral is a man"),
    "kind": (
        {},
        {"kind": "specialised_unit"},
        "bed is in a specialised_unit facility; the referral accepts assore_hotel",
    ),
    "out_of_region_consent": (
        {"acceptable_kinds": ["out_of_region"]},
        {"kind": "out_of_region"},
        "has not consented to leave it",
    ),
    "accessible": ({"needs": {"accessible": True}}, {}, "needs an accessible bed"),
    "dogs": ({"needs": {"dogs": True}}, {}, "comes with a dog"),
    "couple_room": ({}, {"couple_room": True}, "kept for couples"),
    "medical_level": ({"needs": {"medical_level": 2}}, {"medical_level": 1}, "level 1; the referral needs 2"),
}


@pytest.mark.parametrize("rule", [*MISFITS, "excluded_facility"])
async def test_a_bed_that_does_not_fit_the_referral_is_409_naming_the_rule(client, keys, conn, beds, rule):
    wants, bed, says = MISFITS.get(rule, ({}, {}, "excluded from this facility"))
    facility, bed_id = await odd_bed(conn, keys, **bed)
    if rule == "excluded_facility":
        wants = {"excluded_facility_ids": [facility]}
    person = await referral(client, keys, **wants)
    for route in ("/v1/holds", "/v1/stays"):
        problem = await call(client, keys, "POST", route, expect=409, referral_id=person, bed_id=bed_id)
        assert problem["rule"] == rule and says in problem["detail"] and problem["bed_id"] == bed_id
    assert await status_of(client, keys, person) == "waiting", "the refused booking changed nothing"
    assert await free(client, keys, bed_id)


async def test_a_transfer_to_a_bed_that_does_not_fit_is_409(client, keys, conn, beds):
    person = await referral(client, keys, needs={"gender": "woman"})
    _, men_only = await odd_bed(conn, keys, gender_policy="men")
    stay = await call(client, keys, "POST", "/v1/stays", expect=201, referral_id=person, bed_id=beds[7])
    problem = await call(client, keys, "POST", f"/v1/stays/{stay['id']}/transfer", expect=409, bed_id=men_only)
    assert problem["rule"] == "gender" and problem["detail"] == "bed is for men; the referral is a woman"
    assert (await call(client, keys, "GET", f"/v1/stays/{stay['id']}"))["ended_at"] is None
    await call(client, keys, "POST", f"/v1/stays/{stay['id']}/exit", reason="other")


async def test_an_officer_may_hold_a_bed_next_to_a_scene(client, keys, conn, beds):
    """The distance minimum binds proposals, not officers: this bed is at Stalingrad itself."""
    _, beside = await odd_bed(conn, keys, lat=48.8843, lon=2.3699)
    person = await referral(client, keys, needs={"gender": "other"}, acceptable_kinds=["assore_hotel", "rest_space"])
    hold = await call(client, keys, "POST", "/v1/holds", expect=201, referral_id=person, bed_id=beside)
    await call(client, keys, "POST", f"/v1/holds/{hold['id']}/cancel", reason="other")
