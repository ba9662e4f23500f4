"""Bad input always gets a 4xx problem+json, never a 500, and never changes data.

One table of cases across every write route, list route and path; each case sends one
request with an admin key and checks the status, the problem document, and that the
rows of every inventory table are as they were before the request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from contracts.common import Role

BIG = 2**70
NOWHERE = str(uuid.UUID(int=42))  # a well-formed id that names nothing
MB = "x" * 1_000_000


class Raw(str):
    """JSON text written into a body as is, for numbers json.dumps cannot write (1e400)."""


class Ref(str):
    """The id of a resource the `world` fixture created: Ref("facility")."""


# Valid bodies; each case breaks one thing.
ORGANISATION = {"name": "Refuge des Flandres"}
FACILITY = {
    "organisation_id": Ref("our_organisation"),
    "kind": "assore_hotel",
    "name": "Hôtel du Canal",
    "address": "3 quai de la Loire",
    "postcode": "75019",
    "commune": "Paris",
    "arrondissement": 19,
    "department": "75",
    "region": "Île-de-France",
    "lat": 48.8839,
    "lon": 2.3714,
    "opened_on": "2020-01-01",
    "closed_on": "2030-12-31",
}
BED = {"facility_id": Ref("facility"), "label": "A1"}
BULK = {"facility_id": Ref("facility"), "beds": [{"label": "B1"}, {"label": "B2"}]}
SITE = {
    "name": "Rotonde",
    "lat": 48.8843,
    "lon": 2.3699,
    "intensity": 4,
    "active_from": "2024-01-01T00:00:00Z",
    "active_until": "2030-01-01T00:00:00Z",
}
PERIOD = {"reason": "maintenance", "starts_at": "2026-01-10T08:00:00Z", "ends_at": "2026-01-12T08:00:00Z"}
LINE = f"/v1/proposals/{NOWHERE}/lines/{NOWHERE}"


def params(**changes: Any) -> dict[str, Any]:
    """A proposal body whose solver parameters break one bound."""
    return {"parameters": changes}


def but(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with some fields changed; a field set to ... is left out."""
    return {k: v for k, v in (base | changes).items() if v is not ...}


def cursor_of(raw: bytes) -> str:
    """A cursor as the API makes them: unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # may name world ids: "/v1/beds/{bed}"
    status: int
    body: Any = None  # a JSON value (with Raw and Ref inside), or bytes sent as they are
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def case(id_: str, method: str, path: str, status: int = 400, body: Any = None, **params: Any) -> Any:
    return pytest.param(Case(method, path, status, body, {k: str(v) for k, v in params.items()}), id=id_)


def post(id_: str, path: str, body: Any, status: int = 400) -> Any:
    return case(f"POST {path} {id_}", "POST", path, status, body)


def patch(id_: str, path: str, body: Any, status: int = 400) -> Any:
    return case(f"PATCH {path} {id_}", "PATCH", path, status, body)


def get(id_: str, path: str, status: int = 400, **params: Any) -> Any:
    return case(f"GET {path} {id_}", "GET", path, status, None, **params)


def if_match(id_: str, value: str, status: int = 412) -> Any:
    path = "/v1/facilities/{facility}"
    return pytest.param(
        Case("PATCH", path, status, {"name": "Renamed by a stale writer"}, headers={"If-Match": value}),
        id=f"PATCH {path} If-Match {id_}",
    )


# --- the case table -------------------------------------------------------------------

WRITE_ROUTES = [
    ("POST", "/v1/organisations"),
    ("POST", "/v1/facilities"),
    ("POST", "/v1/beds"),
    ("POST", "/v1/beds/bulk"),
    ("POST", "/v1/sites"),
    ("POST", "/v1/beds/{bed}/unavailability"),
    ("PATCH", "/v1/organisations/{organisation}"),
    ("PATCH", "/v1/facilities/{facility}"),
    ("PATCH", "/v1/beds/{bed}"),
    ("PATCH", "/v1/sites/{site}"),
    ("PATCH", "/v1/unavailability/{period}"),
    ("POST", "/v1/proposals"),
    ("POST", f"{LINE}/decline"),
]
MALFORMED_BODIES = {
    "truncated": b'{"name": "Refuge',
    "trailing garbage": b'{"name": "Refuge"} garbage',
    "not UTF-8": b'{"name": "\xff\xfe"}',
    "empty": b"",
    "array": b"[]",
    "array of an object": b'[{"name": "Refuge"}]',
    "string": b'"Refuge"',
    "null": b"null",
    "deeply nested": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}
MALFORMED = [
    case(f"{method} {path} {what}", method, path, 400, raw)
    for method, path in WRITE_ROUTES
    for what, raw in MALFORMED_BODIES.items()
]

LIST_ROUTES = [
    "/v1/organisations",
    "/v1/facilities",
    "/v1/beds",
    "/v1/sites",
    "/v1/beds/{bed}/unavailability",
    "/v1/availability",
    "/v1/proposals",
    "/v1/export/hsds",
]
BAD_PAGING = {
    "limit 0": {"limit": 0},
    "limit 100000": {"limit": 100_000},
    "limit -1": {"limit": -1},
    "limit 2**70": {"limit": BIG},
    "limit -2**70": {"limit": -BIG},
    "limit text": {"limit": "ten"},
    "limit float": {"limit": 1.5},
    "cursor random text": {"cursor": "not a cursor!"},
    "cursor too long": {"cursor": "A" * 513},
    "cursor base64 of garbage": {"cursor": cursor_of(b"\xff\xfe\x00\x81garbage")},
    "cursor base64 of text": {"cursor": cursor_of(b"hello")},
    "cursor base64 of an object": {"cursor": cursor_of(b'{"id": 1}')},
    "cursor base64 of []": {"cursor": cursor_of(b"[]")},
    "cursor base64 of [2**70]": {"cursor": cursor_of(f"[{BIG}]".encode())},
    "cursor not base64": {"cursor": "A"},
}
PAGING = [get(what, path, **params) for path in LIST_ROUTES for what, params in BAD_PAGING.items()]

IDS = f'"{NOWHERE}", "{NOWHERE}"'
BODIES_AND_QUERIES = [
    # --- organisations
    post("name empty", "/v1/organisations", {"name": ""}),
    post("name 1 MB", "/v1/organisations", {"name": MB}),
    post("name NUL", "/v1/organisations", {"name": "Refuge\x00"}),
    post("name ESC", "/v1/organisations", {"name": "Refuge\x1b[2J"}),
    post("name number", "/v1/organisations", {"name": 42}),
    post("name 2**70", "/v1/organisations", {"name": BIG}),
    post("name null", "/v1/organisations", {"name": None}),
    post("name missing", "/v1/organisations", {}),
    post("unknown field", "/v1/organisations", ORGANISATION | {"id": NOWHERE}),
    patch("name empty", "/v1/organisations/{organisation}", {"name": ""}),
    patch("name null", "/v1/organisations/{organisation}", {"name": None}),
    patch("name NUL", "/v1/organisations/{organisation}", {"name": "\x00"}),
    patch("name 1 MB", "/v1/organisations/{organisation}", {"name": MB}),
    patch("version", "/v1/organisations/{organisation}", {"version": 7}),
    # --- facilities
    post("lat 91", "/v1/facilities", but(FACILITY, lat=91)),
    post("lat -91", "/v1/facilities", but(FACILITY, lat=-91)),
    post("lon 181", "/v1/facilities", but(FACILITY, lon=181)),
    post("lat 1e400", "/v1/facilities", but(FACILITY, lat=Raw("1e400"))),
    post("lon -1e400", "/v1/facilities", but(FACILITY, lon=Raw("-1e400"))),
    post("lat string", "/v1/facilities", but(FACILITY, lat="48.88")),
    post("lat 2**70", "/v1/facilities", but(FACILITY, lat=BIG)),
    post("arrondissement 0", "/v1/facilities", but(FACILITY, arrondissement=0)),
    post("arrondissement 21", "/v1/facilities", but(FACILITY, arrondissement=21)),
    post("arrondissement 2**70", "/v1/facilities", but(FACILITY, arrondissement=BIG)),
    post("arrondissement -2**70", "/v1/facilities", but(FACILITY, arrondissement=-BIG)),
    post("department 00", "/v1/facilities", but(FACILITY, department="00")),
    post("department 2C", "/v1/facilities", but(FACILITY, department="2C")),
    post("postcode 4 digits", "/v1/facilities", but(FACILITY, postcode="7519")),
    post("kind unknown", "/v1/facilities", but(FACILITY, kind="hostel")),
    post("kind null", "/v1/facilities", but(FACILITY, kind=None)),
    post("opened_on Feb 30", "/v1/facilities", but(FACILITY, opened_on="2024-02-30")),
    post("opened_on yesterday", "/v1/facilities", but(FACILITY, opened_on="yesterday")),
    post("closed_on before opened_on", "/v1/facilities", but(FACILITY, closed_on="2019-12-31")),
    post("closed_on = opened_on", "/v1/facilities", but(FACILITY, closed_on="2020-01-01")),
    post("organisation_id not a uuid", "/v1/facilities", but(FACILITY, organisation_id="not-a-uuid")),
    post("organisation_id 2**70", "/v1/facilities", but(FACILITY, organisation_id=BIG)),
    post("organisation_id of nothing", "/v1/facilities", but(FACILITY, organisation_id=NOWHERE), 422),
    post("name 1 MB", "/v1/facilities", but(FACILITY, name=MB)),
    post("address NUL", "/v1/facilities", but(FACILITY, address="3 quai\x00")),
    post("commune BEL", "/v1/facilities", but(FACILITY, commune="Paris\x07")),
    post("region DEL", "/v1/facilities", but(FACILITY, region="IdF\x7f")),
    post("unknown field", "/v1/facilities", but(FACILITY, capacity=40)),
    post("lat missing", "/v1/facilities", but(FACILITY, lat=...)),
    patch("organisation_id", "/v1/facilities/{facility}", {"organisation_id": Ref("organisation")}),
    patch("name null", "/v1/facilities/{facility}", {"name": None}),
    patch("opened_on null", "/v1/facilities/{facility}", {"opened_on": None}),
    patch("opened_on yesterday", "/v1/facilities/{facility}", {"opened_on": "yesterday"}),
    patch("lat 91", "/v1/facilities/{facility}", {"lat": 91}),
    patch("lat 1e400", "/v1/facilities/{facility}", {"lat": Raw("1e400")}),
    patch("arrondissement 2**70", "/v1/facilities/{facility}", {"arrondissement": BIG}),
    patch("department 00", "/v1/facilities/{facility}", {"department": "00"}),
    patch("kind unknown", "/v1/facilities/{facility}", {"kind": "hostel"}),
    patch("unknown field", "/v1/facilities/{facility}", {"id": NOWHERE}),
    # PATCH bodies are checked field by field; the stored row's range is checked by the database.
    patch("closed_on before stored opened_on", "/v1/facilities/{facility}", {"closed_on": "2019-12-31"}, 422),
    patch("closed_on = stored opened_on", "/v1/facilities/{facility}", {"closed_on": "2020-01-01"}, 422),
    patch("opened_on after stored closed_on", "/v1/facilities/{facility}", {"opened_on": "2031-01-01"}, 422),
    patch(
        "both ends, reversed",
        "/v1/facilities/{facility}",
        {"opened_on": "2025-01-01", "closed_on": "2024-01-01"},
        422,
    ),
    # --- beds
    post("label empty", "/v1/beds", but(BED, label="")),
    post("label 65 chars", "/v1/beds", but(BED, label="x" * 65)),
    post("label NUL", "/v1/beds", but(BED, label="A\x00")),
    post("medical_level 4", "/v1/beds", but(BED, medical_level=4)),
    post("medical_level -1", "/v1/beds", but(BED, medical_level=-1)),
    post("medical_level 2**70", "/v1/beds", but(BED, medical_level=BIG)),
    post("medical_level -2**70", "/v1/beds", but(BED, medical_level=-BIG)),
    post("medical_level 1e400", "/v1/beds", but(BED, medical_level=Raw("1e400"))),
    post("nightly cost -1", "/v1/beds", but(BED, nightly_cost_cents=-1)),
    post("nightly cost 100001", "/v1/beds", but(BED, nightly_cost_cents=100_001)),
    post("nightly cost 2**70", "/v1/beds", but(BED, nightly_cost_cents=BIG)),
    post("gender_policy unknown", "/v1/beds", but(BED, gender_policy="mixed")),
    post("accessible yes", "/v1/beds", but(BED, label="A9", accessible="yes")),
    post("accessible string true", "/v1/beds", but(BED, label="A9", accessible="true")),
    post("medical_level string", "/v1/beds", but(BED, label="A8", medical_level="3")),
    post("facility_id not a uuid", "/v1/beds", but(BED, facility_id="nope")),
    post("facility_id of nothing", "/v1/beds", but(BED, facility_id=NOWHERE), 422),
    post("facility_id missing", "/v1/beds", but(BED, facility_id=...)),
    post("unknown field", "/v1/beds", but(BED, version=1)),
    post("no beds", "/v1/beds/bulk", but(BULK, beds=[])),
    post("2001 beds", "/v1/beds/bulk", but(BULK, beds=[{"label": f"C{i}"} for i in range(2001)])),
    post("beds not a list", "/v1/beds/bulk", but(BULK, beds="B1")),
    post("medical_level 9", "/v1/beds/bulk", but(BULK, beds=[{"label": "C1", "medical_level": 9}])),
    post(
        "last of 2000 invalid",
        "/v1/beds/bulk",
        but(BULK, beds=[{"label": f"C{i}"} for i in range(1999)] + [{"label": "C\x00"}]),
    ),
    post("cost 2**70", "/v1/beds/bulk", but(BULK, beds=[{"label": "C1"}, {"label": "C2", "nightly_cost_cents": BIG}])),
    post("label 1 MB", "/v1/beds/bulk", but(BULK, beds=[{"label": MB}])),
    post("facility_id of nothing", "/v1/beds/bulk", but(BULK, facility_id=NOWHERE), 422),
    patch("facility_id", "/v1/beds/{bed}", {"facility_id": Ref("facility")}),
    patch("label null", "/v1/beds/{bed}", {"label": None}),
    patch("label NUL", "/v1/beds/{bed}", {"label": "\x00"}),
    patch("medical_level 2**70", "/v1/beds/{bed}", {"medical_level": BIG}),
    patch("medical_level -2**70", "/v1/beds/{bed}", {"medical_level": -BIG}),
    patch("gender_policy unknown", "/v1/beds/{bed}", {"gender_policy": "mixed"}),
    # --- consumption sites
    post("intensity 0", "/v1/sites", but(SITE, intensity=0)),
    post("intensity 6", "/v1/sites", but(SITE, intensity=6)),
    post("intensity 2**70", "/v1/sites", but(SITE, intensity=BIG)),
    post("radius -1", "/v1/sites", but(SITE, radius_m=-1)),
    post("radius 5001", "/v1/sites", but(SITE, radius_m=5001)),
    post("radius -2**70", "/v1/sites", but(SITE, radius_m=-BIG)),
    post("lat 1e400", "/v1/sites", but(SITE, lat=Raw("1e400"))),
    post("lon -181", "/v1/sites", but(SITE, lon=-181)),
    post("active_from without offset", "/v1/sites", but(SITE, active_from="2024-01-01T00:00:00")),
    post("active_from yesterday", "/v1/sites", but(SITE, active_from="yesterday")),
    post("active_from Feb 30", "/v1/sites", but(SITE, active_from="2024-02-30T00:00:00Z")),
    post("active_until before active_from", "/v1/sites", but(SITE, active_until="2023-12-31T00:00:00Z")),
    post("active_until = active_from", "/v1/sites", but(SITE, active_until="2024-01-01T01:00:00+01:00")),
    post("name NUL", "/v1/sites", but(SITE, name="Rotonde\x00")),
    post("name 1 MB", "/v1/sites", but(SITE, name=MB)),
    post("unknown field", "/v1/sites", but(SITE, geometry=None)),
    # Valid ISO 8601 and PostgreSQL timestamptz, but before year 1 once in UTC.
    post("active_from before year 1 in UTC", "/v1/sites", but(SITE, active_from="0001-01-01T00:00:00+01:00"), 422),
    # Year 1 in UTC itself was stored, then broke every read of the site list (longer fuzzing).
    post("active_from in year 1", "/v1/sites", but(SITE, active_from="0001-01-01T00:00:00.0Z"), 422),
    patch("active_from in 1850", "/v1/sites/{site}", {"active_from": "1850-01-01T00:00:00Z"}, 422),
    patch("intensity 6", "/v1/sites/{site}", {"intensity": 6}),
    patch("radius 1e400", "/v1/sites/{site}", {"radius_m": Raw("1e400")}),
    patch("active_from null", "/v1/sites/{site}", {"active_from": None}),
    patch("active_from without offset", "/v1/sites/{site}", {"active_from": "2024-01-01T00:00:00"}),
    patch("active_until before stored active_from", "/v1/sites/{site}", {"active_until": "2023-06-01T00:00:00Z"}, 422),
    patch("active_from after stored active_until", "/v1/sites/{site}", {"active_from": "2031-01-01T00:00:00Z"}, 422),
    # --- out-of-service periods
    post("reason unknown", "/v1/beds/{bed}/unavailability", but(PERIOD, reason="vacation")),
    post("reason null", "/v1/beds/{bed}/unavailability", but(PERIOD, reason=None)),
    post("starts_at without offset", "/v1/beds/{bed}/unavailability", but(PERIOD, starts_at="2026-01-10T08:00:00")),
    post("starts_at Feb 30", "/v1/beds/{bed}/unavailability", but(PERIOD, starts_at="2024-02-30T08:00:00Z")),
    post("starts_at in year 1", "/v1/beds/{bed}/unavailability", but(PERIOD, starts_at="0001-01-01T00:00:00Z"), 422),
    post("starts_at yesterday", "/v1/beds/{bed}/unavailability", but(PERIOD, starts_at="yesterday")),
    post("starts_at 2**70", "/v1/beds/{bed}/unavailability", but(PERIOD, starts_at=BIG)),
    post("ends_at without offset", "/v1/beds/{bed}/unavailability", but(PERIOD, ends_at="2026-01-12T08:00:00")),
    post("ends_at before starts_at", "/v1/beds/{bed}/unavailability", but(PERIOD, ends_at="2026-01-09T08:00:00Z")),
    post("ends_at = starts_at", "/v1/beds/{bed}/unavailability", but(PERIOD, ends_at="2026-01-10T09:00:00+01:00")),
    post("unknown field", "/v1/beds/{bed}/unavailability", but(PERIOD, bed_id=Ref("bed"))),
    patch("reason unknown", "/v1/unavailability/{period}", {"reason": "vacation"}),
    patch("starts_at null", "/v1/unavailability/{period}", {"starts_at": None}),
    patch("starts_at without offset", "/v1/unavailability/{period}", {"starts_at": "2026-01-10T08:00:00"}),
    patch("bed_id", "/v1/unavailability/{period}", {"bed_id": Ref("bed")}),
    patch("ends_at before stored starts_at", "/v1/unavailability/{period}", {"ends_at": "2026-01-09T00:00:00Z"}, 422),
    patch("ends_at = stored starts_at", "/v1/unavailability/{period}", {"ends_at": "2026-01-10T08:00:00Z"}, 422),
    patch("starts_at after stored ends_at", "/v1/unavailability/{period}", {"starts_at": "2026-01-13T00:00:00Z"}, 422),
    patch(
        "ends_at after year 9999 in UTC",
        "/v1/unavailability/{period}",
        {"ends_at": "9999-12-31T23:59:59-01:00"},
        422,
    ),
    # --- proposals: every bound of every parameter, and the referrals to place
    post("referral_ids empty", "/v1/proposals", {"referral_ids": []}),
    post("referral_ids twice the same", "/v1/proposals", {"referral_ids": [NOWHERE, NOWHERE]}),
    post("5001 referral_ids", "/v1/proposals", {"referral_ids": [str(uuid.UUID(int=i)) for i in range(5001)]}),
    post("referral_ids not uuids", "/v1/proposals", {"referral_ids": ["nope"]}),
    post("referral_ids a string", "/v1/proposals", {"referral_ids": NOWHERE}),
    post("referral of nothing", "/v1/proposals", {"referral_ids": [NOWHERE]}, 422),
    post("hold_minutes 4", "/v1/proposals", {"hold_minutes": 4}),
    post("hold_minutes 2881", "/v1/proposals", {"hold_minutes": 2881}),
    post("hold_minutes 2**70", "/v1/proposals", {"hold_minutes": BIG}),
    post("include_declined string", "/v1/proposals", {"include_declined": "true"}),
    post("unknown field", "/v1/proposals", {"solver": "greedy"}),
    post("parameters unknown field", "/v1/proposals", params(exact_below=0)),
    post("parameters null", "/v1/proposals", {"parameters": None}),
    post("time_limit_s 0.09", "/v1/proposals", params(time_limit_s=0.09)),
    post("time_limit_s 30.01", "/v1/proposals", params(time_limit_s=30.01)),
    post("time_limit_s 1e300", "/v1/proposals", params(time_limit_s=1e300)),
    post("distance_points -1", "/v1/proposals", params(distance_points=-1)),
    post("distance_points 1001", "/v1/proposals", params(distance_points=1001)),
    post("distance_points float", "/v1/proposals", params(distance_points=1.5)),
    post("distance_saturation_km 0.49", "/v1/proposals", params(distance_saturation_km=0.49)),
    post("distance_saturation_km 1000.1", "/v1/proposals", params(distance_saturation_km=1000.1)),
    post("care_points -1", "/v1/proposals", params(care_points=-1)),
    post("care_points 1001", "/v1/proposals", params(care_points=1001)),
    post("care_radius_km 0.99", "/v1/proposals", params(care_radius_km=0.99)),
    post("care_radius_km 1000.1", "/v1/proposals", params(care_radius_km=1000.1)),
    post("points_per_euro -1", "/v1/proposals", params(points_per_euro=-1)),
    post("points_per_euro 11", "/v1/proposals", params(points_per_euro=11)),
    *(
        post(f"min_distance_km.{kind} {km}", "/v1/proposals", params(min_distance_km={kind: km}))
        for kind in ("assore_hotel", "specialised_unit", "rest_space", "out_of_region")
        for km in (-0.1, 50.1)
    ),
    post("min_distance_km unknown kind", "/v1/proposals", params(min_distance_km={"hostel": 1})),
    post("min_distance_km a number", "/v1/proposals", params(min_distance_km=1)),
    post("decline reason unknown", f"{LINE}/decline", {"reason": "bored"}),
    post("decline reason missing", f"{LINE}/decline", {}),
    post("decline unknown field", f"{LINE}/decline", {"reason": "other", "note": "free text"}),
    # --- list filters
    get("kind unknown", "/v1/facilities", kind="hostel"),
    get("organisation_id not a uuid", "/v1/facilities", organisation_id="nope"),
    get("arrondissement 21", "/v1/facilities", arrondissement=21),
    get("arrondissement 2**70", "/v1/facilities", arrondissement=BIG),
    get("department 2C", "/v1/facilities", department="2C"),
    get("commune NUL", "/v1/facilities", commune="Paris\x00"),
    get("region 201 chars", "/v1/facilities", region="x" * 201),
    get("facility_id not a uuid", "/v1/beds", facility_id="nope"),
    get("facility_id 2**70", "/v1/beds", facility_id=BIG),
    get("active_at without offset", "/v1/sites", active_at="2026-01-01T00:00:00"),
    get("active_at yesterday", "/v1/sites", active_at="yesterday"),
    get("active_at a Unix time", "/v1/sites", active_at="3"),
    # --- availability
    get("at without offset", "/v1/availability", at="2026-01-10T12:00:00"),
    get("at yesterday", "/v1/availability", at="yesterday"),
    get("at a Unix time", "/v1/availability", at="0.5"),
    get("at Feb 30", "/v1/availability", at="2024-02-30T12:00:00Z"),
    get("at offset +25:00", "/v1/availability", at="2026-01-10T12:00:00+25:00"),
    get("kind unknown", "/v1/availability", kind="hostel"),
    get("gender unknown", "/v1/availability", gender="robot"),
    get("accessible maybe", "/v1/availability", accessible="maybe"),
    get("medical_level 4", "/v1/availability", medical_level=4),
    get("medical_level 2**70", "/v1/availability", medical_level=BIG),
    get("medical_level -2**70", "/v1/availability", medical_level=-BIG),
    get("min_distance_km -1", "/v1/availability", min_distance_km=-1),
    get("min_distance_km 2001", "/v1/availability", min_distance_km=2001),
    get("min_distance_km 1e400", "/v1/availability", min_distance_km="1e400"),
    get("min_distance_km nan", "/v1/availability", min_distance_km="nan"),
    get("min_distance_km inf", "/v1/availability", min_distance_km="inf"),
    get("arrondissement 0", "/v1/availability", arrondissement=0),
    get("arrondissement 2**70", "/v1/availability", arrondissement=BIG),
    get("department 00", "/v1/availability", department="00"),
    get("commune control char", "/v1/availability", commune="Paris\x1b"),
    get("region 60 KB", "/v1/availability", region="x" * 60_000),  # httpx refuses longer query strings
    get("at before year 1 in UTC", "/v1/availability", 400, at="0001-01-01T00:00:00+01:00"),
    get("active_at before year 1 in UTC", "/v1/sites", 400, active_at="0001-01-01T00:00:00+01:00"),
    get("bbox min lon > max lon", "/v1/availability", bbox="3,48,2,49"),
    get("bbox min lat > max lat", "/v1/availability", bbox="2,49,3,48"),
    get("bbox empty", "/v1/availability", bbox="2,48,2,48"),
    get("bbox three numbers", "/v1/availability", bbox="2,48,3"),
    get("bbox words", "/v1/availability", bbox="west,south,east,north"),
    get(
        "cursor base64 of a naive time",
        "/v1/availability",
        cursor=cursor_of(f'["2026-01-01T00:00:00", 1.0, {IDS}]'.encode()),
    ),
    get("cursor base64 of a bad time", "/v1/availability", cursor=cursor_of(f'["yesterday", null, {IDS}]'.encode())),
    get(
        "cursor base64 of a bad distance",
        "/v1/availability",
        cursor=cursor_of(f'["2026-01-01T00:00:00Z", "far", {IDS}]'.encode()),
    ),
    get("cursor base64 of 3 items", "/v1/availability", cursor=cursor_of(b'["2026-01-01T00:00:00Z", null, "x"]')),
]

PATHS = [
    get("id not a uuid", "/v1/facilities/not-a-uuid", 404),
    get("id 2**70", f"/v1/beds/{BIG}", 404),
    get("id of nothing", f"/v1/facilities/{NOWHERE}", 404),
    get("id of nothing", f"/v1/unavailability/{NOWHERE}", 404),
    patch("id not a uuid", "/v1/sites/zzz", {"intensity": 3}, 404),
    patch("id not a uuid", "/v1/beds/123", {"label": "A2"}, 404),
    post("id not a uuid", "/v1/beds/not-a-uuid/unavailability", PERIOD, 404),
    patch("id of nothing", f"/v1/organisations/{NOWHERE}", {"name": "Nobody"}, 404),
    patch("id of nothing", f"/v1/facilities/{NOWHERE}", {"name": "Nowhere"}, 404),
    patch("id of nothing", f"/v1/beds/{NOWHERE}", {"label": "A2"}, 404),
    patch("id of nothing", f"/v1/sites/{NOWHERE}", {"intensity": 3}, 404),
    patch("id of nothing", f"/v1/unavailability/{NOWHERE}", {"reason": "other"}, 404),
    post("id of nothing", f"/v1/beds/{NOWHERE}/unavailability", PERIOD, 404),
    get("id not a uuid", "/v1/proposals/not-a-uuid", 404),
    get("id of nothing", f"/v1/proposals/{NOWHERE}", 404),
    get("id of nothing", LINE, 404),
    post("id of nothing", f"{LINE}/accept", None, 404),
    post("id of nothing", f"{LINE}/decline", {"reason": "other"}, 404),
    post("line id not a uuid", f"/v1/proposals/{NOWHERE}/lines/1/accept", None, 404),
]

IF_MATCH = [
    if_match("garbage", "garbage"),
    if_match("empty quotes", '""'),
    if_match("not a number", '"abc"'),
    if_match("negative", '"-1"'),
    if_match("version 0", '"0"'),
    if_match("future version", '"99"'),
    if_match("weak, not a number", 'W/"x"'),
    if_match("beyond 32 bits", '"9999999999"'),
    if_match("2**70", f'"{BIG}"'),
]

CASES = MALFORMED + PAGING + BODIES_AND_QUERIES + PATHS + IF_MATCH


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(client, keys) -> dict[str, str]:
    """One resource of each kind, made through the API; the ids cases refer to."""
    admin = keys.header(Role.ADMIN)

    async def create(path: str, body: dict[str, Any]) -> str:
        r = await client.post(path, json=body, headers=admin)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    ids = {"our_organisation": str(keys.organisation_id)}
    ids["organisation"] = await create("/v1/organisations", ORGANISATION)
    ids["facility"] = await create("/v1/facilities", fill(FACILITY, ids))
    ids["bed"] = await create("/v1/beds", fill(BED, ids))
    ids["site"] = await create("/v1/sites", SITE)
    ids["period"] = await create(f"/v1/beds/{ids['bed']}/unavailability", PERIOD)
    return ids


def fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every Ref replaced by its id."""
    if isinstance(value, Ref):
        return ids[value]
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def encode(body: Any, ids: dict[str, str]) -> bytes:
    """A case's body as bytes: JSON, with Refs filled in and Raw text written as is."""
    if isinstance(body, bytes):
        return body
    raws = {f"@raw:{k}@": v for k, v in body.items() if isinstance(v, Raw)}
    body = {k: f"@raw:{k}@" if isinstance(v, Raw) else v for k, v in body.items()}
    text = json.dumps(fill(body, ids))
    for token, raw in raws.items():
        text = text.replace(json.dumps(token), raw)
    return text.encode()


async def send(client, keys, world: dict[str, str], c: Case, role: Role = Role.ADMIN):
    url = c.path.format(**world)
    headers = keys.header(role) | {"content-type": "application/json"} | c.headers
    content = None if c.body is None else encode(c.body, world)
    return await client.request(c.method, url, params=c.params, content=content, headers=headers)


async def inventory_state(conn, world: dict[str, str]) -> dict[str, Any]:
    """Row counts of the inventory tables and the full rows the world fixture made."""
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM organisations) AS organisations,
                  (SELECT count(*) FROM facilities) AS facilities,
                  (SELECT count(*) FROM beds) AS beds,
                  (SELECT count(*) FROM consumption_sites) AS consumption_sites,
                  (SELECT count(*) FROM bed_unavailability) AS bed_unavailability,
                  (SELECT to_jsonb(t)::text FROM organisations t WHERE id = $1) AS organisation_row,
                  (SELECT to_jsonb(t)::text FROM facilities t WHERE id = $2) AS facility_row,
                  (SELECT to_jsonb(t)::text FROM beds t WHERE id = $3) AS bed_row,
                  (SELECT to_jsonb(t)::text FROM consumption_sites t WHERE id = $4) AS site_row,
                  (SELECT to_jsonb(t)::text FROM bed_unavailability t WHERE id = $5) AS period_row""",
        *(uuid.UUID(world[k]) for k in ("organisation", "facility", "bed", "site", "period")),
    )
    return dict(row)


def assert_problem(response, status: int) -> None:
    assert response.status_code == status, response.text[:1000]
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]


# --- the tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def initial_state(conn, world) -> dict[str, Any]:
    """The state before the first case, for the check after the last."""
    return await inventory_state(conn, world)


@pytest.mark.parametrize("c", CASES)
async def test_bad_input_gets_a_problem_and_changes_nothing(client, keys, conn, world, initial_state, c: Case) -> None:
    before = await inventory_state(conn, world)
    response = await send(client, keys, world, c)
    assert_problem(response, c.status)
    assert await inventory_state(conn, world) == before


async def send_raw_headers(client, method: str, url: str, headers: dict[str, bytes], body: bytes) -> httpx.Response:
    """Send header bytes exactly as given, as an HTTP server passes them to the app.

    Litestar's test client re-encodes header values as UTF-8; this request goes through
    httpx's plain ASGI transport instead, on the event loop the test client runs the app on.
    """

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as raw_client:
            return await raw_client.request(method, url, headers=headers, content=body)

    return await asyncio.to_thread(client.blocking_portal.call, call)


@pytest.mark.parametrize("digit", [b"\xb2", b"\xb3", b"\xb9"], ids=["superscript 2", "superscript 3", "superscript 1"])
async def test_if_match_with_a_latin1_superscript_digit_is_412(client, keys, conn, world, digit: bytes) -> None:
    """Header bytes are Latin-1, and '²' is a digit to str.isdigit() but not to int()."""
    before = await inventory_state(conn, world)
    headers = {k: v.encode() for k, v in keys.header(Role.ADMIN).items()} | {
        "content-type": b"application/json",
        "if-match": b'"' + digit + b'"',
    }
    url = f"/v1/facilities/{world['facility']}"
    assert_problem(await send_raw_headers(client, "PATCH", url, headers, b'{"name": "Renamed"}'), 412)
    assert await inventory_state(conn, world) == before


async def test_if_match_sent_as_raw_bytes_still_works(client, keys, conn, world) -> None:
    """The raw sending above reaches the app: a stale ASCII ETag is a 412 through it too."""
    headers = {k: v.encode() for k, v in keys.header(Role.ADMIN).items()} | {
        "content-type": b"application/json",
        "if-match": b'"5"',
    }
    url = f"/v1/facilities/{world['facility']}"
    assert_problem(await send_raw_headers(client, "PATCH", url, headers, b'{"name": "Renamed"}'), 412)


NO_KEY_ROUTES = [("GET", "/v1/facilities"), ("POST", "/v1/facilities"), ("GET", "/v1/availability")]


@pytest.mark.parametrize(("method", "path"), NO_KEY_ROUTES)
async def test_no_key_is_401(client, conn, world, method: str, path: str) -> None:
    before = await inventory_state(conn, world)
    body = encode(fill(FACILITY, world), world) if method == "POST" else None
    assert_problem(await client.request(method, path, content=body), 401)
    assert await inventory_state(conn, world) == before


WRONG_KEYS = {
    "not a key": lambda real: "nope",
    "unknown key id": lambda real: "abri_" + "0" * 32 + "_secret",
    "key id not hex": lambda real: "abri_" + "g" * 32 + "_secret",
    "secret too long": lambda real: real + "s" * 101,
    "not ASCII": lambda real: real.encode() + b"\xff",
    "wrong secret": lambda real: real[:-1] + ("A" if real[-1] != "A" else "B"),
}


@pytest.mark.parametrize("wrong", WRONG_KEYS.values(), ids=WRONG_KEYS.keys())
async def test_wrong_key_is_401(client, keys, conn, world, wrong) -> None:
    before = await inventory_state(conn, world)
    key = wrong(keys.by_role[Role.ADMIN])
    r = await client.post("/v1/facilities", content=encode(fill(FACILITY, world), world), headers={"X-API-Key": key})
    assert_problem(r, 401)
    assert await inventory_state(conn, world) == before


async def test_referrer_creating_a_facility_is_403(client, keys, conn, world) -> None:
    before = await inventory_state(conn, world)
    body = fill(but(FACILITY, name="Hôtel du Référent"), world)
    assert_problem(await client.post("/v1/facilities", json=body, headers=keys.header(Role.REFERRER)), 403)
    assert await inventory_state(conn, world) == before


async def test_partner_of_another_organisation_patching_our_facility_is_403(client, keys, conn, world) -> None:
    before = await inventory_state(conn, world)
    r = await client.patch(
        f"/v1/facilities/{world['facility']}",
        json={"name": "Taken over", "closed_on": None},
        headers={"X-API-Key": keys.other_partner},
    )
    assert_problem(r, 403)
    assert await inventory_state(conn, world) == before


async def test_after_every_case_the_inventory_is_as_it_was(conn, world, initial_state) -> None:
    """Runs last in this module: counts of every inventory table and the fixture's rows."""
    assert await inventory_state(conn, world) == initial_state
