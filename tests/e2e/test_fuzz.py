"""Fuzz a real `abri serve` with schemathesis against the committed OpenAPI document.

Every operation of `openapi/openapi.json` (kept equal to the app's own document by
tests/service/api/test_openapi.py) gets schema-driven requests sent with the demo admin
key, from two schemathesis phases: `coverage` (schema-valid boundary values for every
parameter and body field, deterministic by construction) and `fuzzing` (Hypothesis,
derandomized, valid and invalid data). Each response must:

- not be a 5xx;
- have a status code the document lists for that operation;
- have a content type the document lists for that status;
- match the documented body schema and headers;
- if it is an error (4xx/5xx, the router's 405 included), be `application/problem+json`
  whose `status` is the HTTP status.

Checks that schemathesis offers but that do not fit this API are left out on purpose:

- `positive_data_acceptance` wants a 2xx for every schema-valid request. A schema cannot say
  "a cursor we issued" (`cursor=` or any other string gets 400), "an existing facility or
  referral" (422), "the current ETag" (`If-Match` -> 412/428), "an unused Idempotency-Key"
  (422), "end after start" or "a year between 1900 and 2200" (400). It also flags bodies with
  unknown fields, which the API rejects (400) while the schemas do not say
  `additionalProperties: false`: a gap of the document, reported, not a failure of the API.
- `negative_data_rejection` wants a 4xx for every schema-invalid request; query timestamps
  are decoded leniently (a Unix time such as `active_at=3` is accepted), a looseness, not a
  breach of the documented responses.
- `allow_header_conformance` / `unsupported_method`: OPTIONS is answered by Litestar, whose
  `Allow` lists only the methods of the first handler registered on a path
  (litestar-org/litestar#4169, fixed in Litestar 3); OPTIONS is not in the document.
- `ignored_auth`, `missing_required_header`, `use_after_free`, `ensure_resource_availability`,
  `object_level_authorization`: auth and resource life cycles, covered by the service tests.

No stateful (links) test here: Hypothesis' rule-based state machine draws its rules from what
earlier responses returned, so against a real database it stops with
`FlakyStrategyDefinition` now and then. Run it by hand, with the CLI (the key is printed by
`abri serve`):

    uv run schemathesis run http://127.0.0.1:PORT/schema/openapi.json -H "X-API-Key: KEY" \
        --checks all --exclude-checks positive_data_acceptance,allow_header_conformance \
        --phases fuzzing,stateful -n 100

After the fuzzing, every list endpoint must still answer 200 (a fuzzed row must not break a
later read for everyone) and the server must have logged no unhandled error. Last come fixed
cases that earlier, longer fuzzing runs found. About 40 s of CPU on 2 cores for 40
operations, the embedded PostgreSQL's startup included.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis import checks as st

from tests.process import Server

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
# Cases per operation in the fuzzing phase (coverage adds its own fixed set). 15 keeps the run near
# 40 s of CPU for 40 operations; ABRI_FUZZ_EXAMPLES=200 digs deeper locally.
FUZZ_EXAMPLES = int(os.environ.get("ABRI_FUZZ_EXAMPLES", "15"))
PROBLEM_JSON = "application/problem+json"


@schemathesis.check
def errors_are_problem_json(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case):
    """Every error, documented status or not (405 from the router, say), is RFC 9457 problem JSON."""
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
            f"{response.status_code} answered with content type {content_type!r}, not {PROBLEM_JSON}"
        )
        problem = response.json()
        assert isinstance(problem, dict) and problem.get("status") == response.status_code, problem
    return None


CHECKS = [
    st.not_a_server_error,
    st.status_code_conformance,
    st.content_type_conformance,
    st.response_schema_conformance,
    st.response_headers_conformance,
    errors_are_problem_json,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 1,
        "generation": {
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": True,  # Hypothesis derandomize=True: the same cases on every run
            "database": "none",  # no .hypothesis/ replay of earlier failures: CI sees what a developer sees
            "with-security-parameters": False,  # the real key is sent on every request (see `api`)
        },
        "phases": {
            "examples": {"enabled": False},  # the document has no examples
            # Schema-valid boundary values (limits, lengths, each enum member, optional fields absent or
            # present) for every parameter and body field. Its invalid cases (one wrong field at a time)
            # are left out: they cost a third of the run and only ever found documented 400s; the
            # fuzzing phase still sends invalid data.
            "coverage": {"enabled": True, "generation": {"mode": "positive"}},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},  # see the module docstring
        },
        "suppress-health-check": ["all"],  # slow or heavily filtered generation is fine here
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)


class Api:
    def __init__(self, server: Server, key: str) -> None:
        self.server = server
        self.base = server.base
        self.headers = {"X-API-Key": key}
        self.session = requests.Session()

    def call_kwargs(self) -> dict[str, Any]:
        return {"base_url": self.base, "headers": self.headers, "session": self.session, "timeout": 15}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("abri-fuzz")
    server = Server({"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None})
    try:
        server.wait_ready()
        yield Api(server, (data_dir / "demo-key").read_text().strip())
    finally:
        server.stop()


@schema.parametrize()
def test_operation_answers_as_documented(case: schemathesis.Case, api: Api) -> None:
    case.call_and_validate(checks=CHECKS, **api.call_kwargs())


DOCUMENT = json.loads(OPENAPI.read_text())
LISTS = sorted(
    path for path, item in DOCUMENT["paths"].items() if "get" in item and path.startswith("/v1/") and "{" not in path
)


def test_still_serving_after_the_fuzzing(api: Api) -> None:
    """Runs after the fuzzing (file order): whatever it stored, reads keep working for everyone."""
    broken = {}
    for path in LISTS:
        response = api.session.get(api.base + path, headers=api.headers, timeout=15)
        if response.status_code != 200:
            broken[path] = (response.status_code, response.text[:300])
    assert not broken, f"after the fuzzing: {json.dumps(broken, indent=1, ensure_ascii=False)}"
    unhandled = [
        line for line in api.server.output()[1].splitlines() if "unhandled_error" in line or "Traceback" in line
    ]
    assert not unhandled, "\n".join(unhandled)[:5000]


def test_earlier_fuzzing_finds(api: Api) -> None:
    """Fuzzing found: a coordinate a hair's breadth from a site's (lat 1e-200 next to lat 0)
    made the haversine in PostgreSQL underflow, and from then on every GET /v1/availability
    answered an undocumented 422 "value out of range: underflow"."""
    organisation = api.session.get(api.base + "/v1/organisations", params={"limit": 1}, headers=api.headers).json()
    steps = [
        schema["/v1/sites"]["POST"].Case(
            body={"name": "Equator", "lat": 0.0, "lon": 50.0, "intensity": 1, "active_from": "2000-01-01T00:00:00Z"}
        ),
        schema["/v1/facilities"]["POST"].Case(
            body={
                "organisation_id": organisation["items"][0]["id"],
                "kind": "assore_hotel",
                "name": "Almost on the equator",
                "address": "1 rue du Fuzz",
                "postcode": "75001",
                "commune": "Paris",
                "department": "75",
                "region": "Île-de-France",
                "lat": 1e-200,
                "lon": 50.0,
                "opened_on": "2020-01-01",
            }
        ),
        schema["/v1/availability"]["GET"].Case(query={}),
    ]
    for case in steps:
        response = case.call_and_validate(checks=CHECKS, **api.call_kwargs())
        assert response.status_code < 300, response.text
