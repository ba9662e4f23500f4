"""The access matrix, operation by operation of the OpenAPI document, for every role.

Each operation gets a request that succeeds when allowed (fresh resources made for every
call, so state changes never collide): no key is 401, a refused role is 403 problem+json,
an allowed role is 2xx. For roles the table limits to their own organisation, the same
request from a key of another organisation is refused (403/404) or answers without the
first organisation's ids. Every operation needs a rule (service/access.py) and a request
here: a new route without either fails this module.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import pytest

from contracts.common import Role
from service.access import ACCESS, markdown_table
from service.auth import API_KEY_HEADER, create_key
from service.db.invariants import violations
from service.pagination import encode_cursor
from tests.inventory import insert_bed, insert_facility

ADMIN, OFFICER, PARTNER, REFERRER, MANAGER = Role
ROOT = Path(__file__).resolve().parents[3]
SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text())
OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, item in SPEC["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
)
FIRST_OF_MARCH = "2026-03-01T00:00:00+00:00"
_serial = itertools.count(1)


class Call(NamedTuple):
    method: str
    url: str
    body: Any = None
    owned: tuple[str, ...] = ()
    """Ids of the first organisation's data that another organisation must not see."""


class World:
    """Makes fresh resources of the first organisation (`keys.organisation_id`) for each call."""

    def __init__(self, client, conn, keys) -> None:
        self.client, self.conn, self.keys = client, conn, keys

    async def api(self, method: str, url: str, role: Role, body: Any = None) -> dict:
        r = await self.client.request(method, url, json=body, headers=self.keys.header(role))
        assert r.is_success, f"setting up {method} {url}: {r.status_code} {r.text}"
        return r.json()

    async def facility(self, lat: float = 48.91, lon: float = 2.37) -> str:
        return str(
            await insert_facility(self.conn, self.keys.organisation_id, f"Hôtel {next(_serial)}", lat=lat, lon=lon)
        )

    async def bed(self, facility: str | None = None) -> str:
        return str(await insert_bed(self.conn, UUID(facility or await self.facility()), f"B{next(_serial)}"))

    async def facility_with_a_bed(self) -> str:
        facility = await self.facility()
        await self.bed(facility)
        return facility

    async def period(self) -> str:
        bed = await self.bed()
        body = {"reason": "maintenance", "starts_at": FIRST_OF_MARCH}
        return (await self.api("POST", f"/v1/beds/{bed}/unavailability", ADMIN, body))["id"]

    async def referral(self) -> str:
        return (await self.api("POST", "/v1/referrals", REFERRER, referral_body()))["id"]

    async def hold(self) -> str:
        body = {"referral_id": await self.referral(), "bed_id": await self.bed()}
        return (await self.api("POST", "/v1/holds", OFFICER, body))["id"]

    async def stay(self) -> str:
        body = {"referral_id": await self.referral(), "bed_id": await self.bed()}
        return (await self.api("POST", "/v1/stays", OFFICER, body))["id"]

    async def proposal_line(self) -> tuple[str, str]:
        referral = await self.referral()
        await self.bed()
        proposal = await self.api("POST", "/v1/proposals", OFFICER, {"referral_ids": [referral]})
        [line] = proposal["lines"]
        return proposal["id"], line["id"]

    async def site(self) -> str:
        return (await self.api("POST", "/v1/sites", ADMIN, site_body()))["id"]

    async def webhook(self) -> str:
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["stay.started"]}
        return (await self.api("POST", "/v1/webhooks", PARTNER, body))["id"]

    async def key(self) -> str:
        body = {"role": "partner", "organisation_id": str(self.keys.organisation_id), "label": "made for a call"}
        return (await self.api("POST", "/v1/keys", ADMIN, body))["id"]

    async def organisation(self) -> str:
        return (await self.api("POST", "/v1/organisations", ADMIN, {"name": f"Org {next(_serial)}"}))["id"]


def referral_body() -> dict:
    return {
        "reference": f"ACCESS-{next(_serial):05}",
        "source": "outreach_team",
        "needs": {"gender": "man"},
        "acceptable_kinds": ["assore_hotel"],
        "vulnerability": 2,
    }


def site_body() -> dict:
    # Far from the test facilities (Marseille), so that no distance rule gets in the way.
    return {"name": f"Site {next(_serial)}", "lat": 43.3, "lon": 5.4, "intensity": 3, "active_from": FIRST_OF_MARCH}


def facility_body(organisation_id) -> dict:
    return {
        "organisation_id": str(organisation_id),
        "kind": "specialised_unit",
        "name": f"Unit {next(_serial)}",
        "address": "2 rue du Test",
        "commune": "Paris",
        "department": "75",
        "region": "Île-de-France",
        "lat": 48.9,
        "lon": 2.38,
        "opened_on": "2021-01-01",
    }


REQUESTS: dict[str, Callable[[World], Awaitable[Call]]] = {}


def request(key: str):
    def register(build: Callable[[World], Awaitable[Call]]):
        REQUESTS[key] = build
        return build

    return register


@request("GET /health/live")
async def _(w: World) -> Call:
    return Call("GET", "/health/live")


@request("GET /health/ready")
async def _(w: World) -> Call:
    return Call("GET", "/health/ready")


@request("GET /v1/organisations")
async def _(w: World) -> Call:
    return Call("GET", "/v1/organisations")


@request("POST /v1/organisations")
async def _(w: World) -> Call:
    return Call("POST", "/v1/organisations", {"name": f"Org {next(_serial)}"})


@request("GET /v1/organisations/{organisation_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/organisations/{w.keys.organisation_id}")


@request("PATCH /v1/organisations/{organisation_id}")
async def _(w: World) -> Call:
    return Call("PATCH", f"/v1/organisations/{await w.organisation()}", {"name": f"Org {next(_serial)}"})


@request("GET /v1/facilities")
async def _(w: World) -> Call:
    return Call("GET", "/v1/facilities")


@request("POST /v1/facilities")
async def _(w: World) -> Call:
    return Call("POST", "/v1/facilities", facility_body(w.keys.organisation_id), owned=(str(w.keys.organisation_id),))


@request("GET /v1/facilities/{facility_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/facilities/{await w.facility()}")


@request("PATCH /v1/facilities/{facility_id}")
async def _(w: World) -> Call:
    facility = await w.facility()
    return Call("PATCH", f"/v1/facilities/{facility}", {"name": f"Hôtel {next(_serial)}"}, owned=(facility,))


@request("GET /v1/beds")
async def _(w: World) -> Call:
    return Call("GET", "/v1/beds")


@request("POST /v1/beds")
async def _(w: World) -> Call:
    facility = await w.facility()
    return Call("POST", "/v1/beds", {"facility_id": facility, "label": "N1", "gender_policy": "any"}, (facility,))


@request("POST /v1/beds/bulk")
async def _(w: World) -> Call:
    facility = await w.facility()
    body = {"facility_id": facility, "beds": [{"label": "N1", "gender_policy": "any"}]}
    return Call("POST", "/v1/beds/bulk", body, (facility,))


@request("GET /v1/beds/{bed_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/beds/{await w.bed()}")


@request("PATCH /v1/beds/{bed_id}")
async def _(w: World) -> Call:
    bed = await w.bed()
    return Call("PATCH", f"/v1/beds/{bed}", {"accessible": True}, (bed,))


@request("GET /v1/beds/{bed_id}/unavailability")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/beds/{await w.bed()}/unavailability")


@request("POST /v1/beds/{bed_id}/unavailability")
async def _(w: World) -> Call:
    bed = await w.bed()
    return Call("POST", f"/v1/beds/{bed}/unavailability", {"reason": "cleaning", "starts_at": FIRST_OF_MARCH}, (bed,))


@request("GET /v1/unavailability/{period_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/unavailability/{await w.period()}")


@request("PATCH /v1/unavailability/{period_id}")
async def _(w: World) -> Call:
    period = await w.period()
    return Call("PATCH", f"/v1/unavailability/{period}", {"reason": "damage"}, (period,))


@request("GET /v1/sites")
async def _(w: World) -> Call:
    return Call("GET", "/v1/sites")


@request("POST /v1/sites")
async def _(w: World) -> Call:
    return Call("POST", "/v1/sites", site_body())


@request("GET /v1/sites/{site_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/sites/{await w.site()}")


@request("PATCH /v1/sites/{site_id}")
async def _(w: World) -> Call:
    return Call("PATCH", f"/v1/sites/{await w.site()}", {"intensity": 4})


@request("GET /v1/availability")
async def _(w: World) -> Call:
    bed = await w.bed(await w.facility(lat=45.0, lon=1.0))  # alone in the box searched
    return Call("GET", "/v1/availability?bbox=0.99,44.99,1.01,45.01&limit=500", owned=(bed,))


@request("GET /v1/audit")
async def _(w: World) -> Call:
    return Call("GET", "/v1/audit?limit=5")


@request("GET /v1/referrals")
async def _(w: World) -> Call:
    return Call("GET", "/v1/referrals?limit=500", owned=(await w.referral(),))


@request("POST /v1/referrals")
async def _(w: World) -> Call:
    return Call("POST", "/v1/referrals", referral_body())


@request("GET /v1/referrals/{referral_id}")
async def _(w: World) -> Call:
    referral = await w.referral()
    return Call("GET", f"/v1/referrals/{referral}", owned=(referral,))


@request("PATCH /v1/referrals/{referral_id}")
async def _(w: World) -> Call:
    referral = await w.referral()
    return Call("PATCH", f"/v1/referrals/{referral}", {"vulnerability": 3}, (referral,))


@request("POST /v1/referrals/{referral_id}/withdraw")
async def _(w: World) -> Call:
    referral = await w.referral()
    return Call("POST", f"/v1/referrals/{referral}/withdraw", {"reason": "lost_contact"}, (referral,))


@request("POST /v1/holds")
async def _(w: World) -> Call:
    return Call("POST", "/v1/holds", {"referral_id": await w.referral(), "bed_id": await w.bed()})


@request("GET /v1/holds/{hold_id}")
async def _(w: World) -> Call:
    return Call("GET", f"/v1/holds/{await w.hold()}")


@request("POST /v1/holds/{hold_id}/confirm")
async def _(w: World) -> Call:
    return Call("POST", f"/v1/holds/{await w.hold()}/confirm")


@request("POST /v1/holds/{hold_id}/cancel")
async def _(w: World) -> Call:
    return Call("POST", f"/v1/holds/{await w.hold()}/cancel", {"reason": "declined_by_person"})


@request("POST /v1/stays")
async def _(w: World) -> Call:
    return Call("POST", "/v1/stays", {"referral_id": await w.referral(), "bed_id": await w.bed()})


@request("GET /v1/stays/{stay_id}")
async def _(w: World) -> Call:
    stay = await w.stay()
    return Call("GET", f"/v1/stays/{stay}", owned=(stay,))


@request("POST /v1/stays/{stay_id}/check-in")
async def _(w: World) -> Call:
    stay = await w.stay()
    return Call("POST", f"/v1/stays/{stay}/check-in", owned=(stay,))


@request("POST /v1/stays/{stay_id}/no-show")
async def _(w: World) -> Call:
    stay = await w.stay()
    return Call("POST", f"/v1/stays/{stay}/no-show", owned=(stay,))


@request("POST /v1/stays/{stay_id}/transfer")
async def _(w: World) -> Call:
    return Call("POST", f"/v1/stays/{await w.stay()}/transfer", {"bed_id": await w.bed()})


@request("POST /v1/stays/{stay_id}/exit")
async def _(w: World) -> Call:
    stay = await w.stay()
    return Call("POST", f"/v1/stays/{stay}/exit", {"reason": "independent_housing"}, (stay,))


@request("GET /v1/proposals")
async def _(w: World) -> Call:
    return Call("GET", "/v1/proposals")


@request("POST /v1/proposals")
async def _(w: World) -> Call:
    await w.bed()
    return Call("POST", "/v1/proposals", {"referral_ids": [await w.referral()]})


@request("GET /v1/proposals/{proposal_id}")
async def _(w: World) -> Call:
    proposal, _ = await w.proposal_line()
    return Call("GET", f"/v1/proposals/{proposal}")


@request("GET /v1/proposals/{proposal_id}/lines/{line_id}")
async def _(w: World) -> Call:
    proposal, line = await w.proposal_line()
    return Call("GET", f"/v1/proposals/{proposal}/lines/{line}")


@request("POST /v1/proposals/{proposal_id}/lines/{line_id}/accept")
async def _(w: World) -> Call:
    proposal, line = await w.proposal_line()
    return Call("POST", f"/v1/proposals/{proposal}/lines/{line}/accept")


@request("POST /v1/proposals/{proposal_id}/lines/{line_id}/decline")
async def _(w: World) -> Call:
    proposal, line = await w.proposal_line()
    return Call("POST", f"/v1/proposals/{proposal}/lines/{line}/decline", {"reason": "unsuitable"})


@request("GET /v1/occupancy")
async def _(w: World) -> Call:
    return Call("GET", "/v1/occupancy?group_by=facility", owned=(await w.facility_with_a_bed(),))


@request("GET /v1/occupancy/series")
async def _(w: World) -> Call:
    today = datetime.now(UTC).date()  # the series' last point, tomorrow at midnight, sees the new bed
    url = f"/v1/occupancy/series?from={today}&to={today + timedelta(days=1)}&group_by=facility"
    return Call("GET", url, owned=(await w.facility_with_a_bed(),))


@request("GET /v1/reports/flows")
async def _(w: World) -> Call:
    return Call("GET", "/v1/reports/flows")


@request("GET /v1/reports/waiting")
async def _(w: World) -> Call:
    return Call("GET", "/v1/reports/waiting")


@request("GET /v1/reports/distance")
async def _(w: World) -> Call:
    return Call("GET", "/v1/reports/distance")


@request("GET /v1/export/hsds")
async def _(w: World) -> Call:
    facility = await w.facility_with_a_bed()
    return Call("GET", "/v1/export/hsds?limit=500", owned=(facility,))


@request("GET /v1/keys")
async def _(w: World) -> Call:
    return Call("GET", "/v1/keys?limit=500", owned=(await w.key(),))


@request("POST /v1/keys")
async def _(w: World) -> Call:
    body = {"role": "partner", "organisation_id": str(w.keys.organisation_id), "label": "access test"}
    return Call("POST", "/v1/keys", body, owned=(str(w.keys.organisation_id),))


@request("GET /v1/keys/{key_id}")
async def _(w: World) -> Call:
    key = await w.key()
    return Call("GET", f"/v1/keys/{key}", owned=(key,))


@request("POST /v1/keys/{key_id}/revoke")
async def _(w: World) -> Call:
    key = await w.key()
    return Call("POST", f"/v1/keys/{key}/revoke", owned=(key,))


@request("GET /v1/events")
async def _(w: World) -> Call:
    last = await w.conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    bed = await w.bed()
    await w.api("POST", f"/v1/beds/{bed}/unavailability", ADMIN, {"reason": "safety", "starts_at": FIRST_OF_MARCH})
    return Call("GET", f"/v1/events?after={encode_cursor(last)}", owned=(bed,))


@request("GET /v1/webhooks")
async def _(w: World) -> Call:
    return Call("GET", "/v1/webhooks?limit=500", owned=(await w.webhook(),))


@request("POST /v1/webhooks")
async def _(w: World) -> Call:
    return Call("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": ["hold.created"]})


@request("GET /v1/webhooks/{webhook_id}")
async def _(w: World) -> Call:
    webhook = await w.webhook()
    return Call("GET", f"/v1/webhooks/{webhook}", owned=(webhook,))


@request("DELETE /v1/webhooks/{webhook_id}")
async def _(w: World) -> Call:
    webhook = await w.webhook()
    return Call("DELETE", f"/v1/webhooks/{webhook}", owned=(webhook,))


@request("POST /v1/webhooks/{webhook_id}/replay")
async def _(w: World) -> Call:
    webhook = await w.webhook()
    return Call("POST", f"/v1/webhooks/{webhook}/replay", {"position": 0}, (webhook,))


@request("GET /v1/webhooks/{webhook_id}/dead-letters")
async def _(w: World) -> Call:
    webhook = await w.webhook()
    return Call("GET", f"/v1/webhooks/{webhook}/dead-letters", owned=(webhook,))


@pytest.fixture(scope="module")
async def world(client, conn, keys) -> World:
    return World(client, conn, keys)


@pytest.fixture(scope="module")
async def other_keys(conn) -> dict[Role, str]:
    """Keys of the second organisation ('Other operator') for the roles limited to their own."""
    other = await conn.fetchval("SELECT id FROM organisations WHERE name = 'Other operator'")
    scoped = {role for found in ACCESS.values() for role in found.own}
    return {role: await create_key(conn, role, other) for role in scoped}


def test_every_operation_has_a_rule_and_a_request_here():
    assert set(OPERATIONS) == ACCESS.keys(), "service/access.py and the OpenAPI document disagree"
    assert set(OPERATIONS) == REQUESTS.keys(), "every operation needs a request in this module"


def test_the_readme_shows_the_access_matrix_as_in_code():
    assert markdown_table() in (ROOT / "README.md").read_text(), "run `uv run abri access-matrix` into the README"


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_without_a_key_is_401_unless_public(world, operation):
    call = await REQUESTS[operation](world)
    r = await world.client.request(call.method, call.url, json=call.body)
    if ACCESS[operation].public:
        assert r.is_success, r.text
    else:
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_each_role_is_served_or_refused_as_the_table_says(world, operation, role):
    call = await REQUESTS[operation](world)
    r = await send(world, call, world.keys.by_role[role])
    if role in ACCESS[operation].roles:
        assert r.is_success, f"{role} on {operation}: {r.status_code} {r.text}"
    else:
        assert r.status_code == 403, f"{role} on {operation}: {r.status_code} {r.text}"
        assert r.headers["content-type"].startswith("application/problem+json")


SCOPED = [(operation, role) for operation in OPERATIONS for role in sorted(ACCESS[operation].own)]


@pytest.mark.parametrize(("operation", "role"), SCOPED, ids=[f"{o} as {r}" for o, r in SCOPED])
async def test_another_organisation_neither_changes_nor_sees_the_first_ones_data(world, other_keys, operation, role):
    call = await REQUESTS[operation](world)
    ours = await send(world, call, world.keys.by_role[role])
    assert ours.is_success, ours.text
    if not call.owned:  # a creation without an owner in the body: made in the caller's organisation
        theirs = await send(world, await REQUESTS[operation](world), other_keys[role])
        assert theirs.is_success and str(world.keys.organisation_id) not in theirs.text, theirs.text
        return
    if call.method == "GET" and "{" not in operation:  # a list or report: the ids are ours to see only
        assert all(owned in ours.text for owned in call.owned), "the check would prove nothing"
    theirs = await send(world, await REQUESTS[operation](world) if call.method != "GET" else call, other_keys[role])
    if theirs.status_code in (403, 404):
        return
    assert theirs.is_success, theirs.text
    assert not any(owned in theirs.text for owned in call.owned), f"{operation} shows another organisation's data"


async def send(world: World, call: Call, key: str):
    headers = {API_KEY_HEADER: key} | ({"If-Match": '"1"'} if call.method == "PATCH" else {})
    return await world.client.request(call.method, call.url, json=call.body, headers=headers)


async def test_after_every_operation_as_every_role_no_invariant_is_broken(world):
    """Last in the module: hundreds of state changes above, each complete or refused whole."""
    assert await violations(world.conn) == {}
