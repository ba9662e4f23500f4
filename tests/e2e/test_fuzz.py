"""Fuzz a real `abri serve` with schemathesis against the committed OpenAPI document.

Every operation of `openapi/openapi.json` (kept equal to the app's own document by
tests/service/api/test_openapi.py) gets schema-driven requests sent with the demo admin key,
from the four schemathesis phases:

- `examples`: the document's property examples (timestamps, coordinates, postcodes...), the
  rest of each request filled in;
- `coverage`: boundary values for every parameter and body field, valid and one wrong field at
  a time (deterministic by construction);
- `fuzzing`: Hypothesis, derandomized, valid and invalid data;
- `stateful`: scenarios that chain operations by the links schemathesis infers from the
  response schemas (a created facility's id into `POST /v1/beds`, a bed's and a referral's
  into `POST /v1/holds`, the hold's into `.../confirm`, the stay's into `.../check-in`...), so
  new routes join in without configuration; all but key revocation (`OWN_KEY_REVOCATION`).

Each response must:

- not be a 5xx;
- have a status code the document lists for that operation;
- have a content type the document lists for that status;
- match the documented body schema and headers;
- be a 4xx when the request breaks the document (`negative_data_rejection`);
- if it is an error (4xx/5xx, the router's 405 included), be `application/problem+json`
  whose `status` is the HTTP status.

Checks that schemathesis offers but that do not fit this API are left out on purpose:

- `positive_data_acceptance` wants a 2xx for every schema-valid request. A schema cannot say
  "a cursor we issued" (`cursor=` or any other string gets 400), "an existing facility or
  referral" (422), "the current ETag" (`If-Match` -> 412/428), "an unused Idempotency-Key"
  (422), "end after start" or "a year between 1900 and 2200" (400).
- `allow_header_conformance` / `unsupported_method`: OPTIONS is answered by Litestar, whose
  `Allow` lists only the methods of the first handler registered on a path
  (litestar-org/litestar#4169, fixed in Litestar 3); OPTIONS is not in the document.
- `ignored_auth`, `missing_required_header`, `use_after_free`, `ensure_resource_availability`,
  `object_level_authorization`: auth and resource life cycles, covered by the service tests.

Stateful scenarios and Hypothesis: a state machine run replays the choices of earlier scenarios
to reach new ones, and expects the same choices to draw the same way. Against a real database
they do not: the second `POST /v1/organisations` with the same body is a 409 where the first was
a 201, so other rules become possible and Hypothesis stops the run with
`FlakyStrategyDefinition`. No setting prevents it (derandomizing fixes the choices, not the
server's answers), and resetting the database between scenarios would mean restoring the demo
under a running server. So such a run ends there (schemathesis' own runner ends its stateful
suite the same way) and the next suite starts from the next fixed seed until the scenario budget
is spent; check failures are collected as they happen, never through Hypothesis' replay, so an
ended run cannot hide one.

After the fuzzing, every list endpoint must still answer 200 (a fuzzed row must not break a
later read for everyone) and the server must have logged no unhandled error. Last come fixed
cases that earlier, longer fuzzing runs found. About 100 s on 2 cores, the embedded
PostgreSQL's startup included. A longer run (the same phases and checks):

    ABRI_FUZZ_EXAMPLES=200 ABRI_FUZZ_SCENARIOS=500 uv run pytest tests/e2e/test_fuzz.py
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.errors import FailureGroup

from tests.process import Server

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
# Cases per operation in the fuzzing phase (examples and coverage add their own fixed sets), and
# stateful scenarios in all; the defaults keep the run near 100 s on 2 cores.
FUZZ_EXAMPLES = int(os.environ.get("ABRI_FUZZ_EXAMPLES", "15"))
SCENARIOS = int(os.environ.get("ABRI_FUZZ_SCENARIOS", "40"))
SCENARIO_STEPS = 10  # deep enough for organisation -> facility -> bed -> hold -> stay -> check-in -> exit
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


CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    errors_are_problem_json.__name__,
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 1,
        "generation": {
            "max-examples": FUZZ_EXAMPLES,
            "deterministic": True,  # Hypothesis derandomize=True: the same cases on every run
            "database": "none",  # no .hypothesis/ replay of earlier failures: CI sees what a developer sees
            "with-security-parameters": False,  # the real key is sent on every request (see `api`)
        },
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {
            "examples": {"enabled": True, "fill-missing": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
        },
        "suppress-health-check": ["all"],  # slow or heavily filtered generation is fine here
    }
)
schema = schemathesis.openapi.from_path(OPENAPI, config=CONFIG)
# Out of the stateful phase only: its links lead from the key list to revoking the very key
# the fuzzing sends, after which every request is a 401. The other phases still send it
# (with made-up ids: 404), and tests/service/api/test_keys.py covers revocation.
OWN_KEY_REVOCATION = "/v1/keys/{key_id}/revoke"
# Requests sent per phase, for `test_every_phase_ran`.
SENT = Counter()


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
    # The limiter out of the way (tests/service/api/test_rate_limit.py has its own tests): on a
    # fast machine the fuzzer outruns 100 requests a second, and 429s would answer in place of
    # the routes it means to reach, the check after it included.
    unlimited = {"ABRI_RATE_LIMIT": "1000000", "ABRI_RATE_BURST": "1000000"}
    server = Server({"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None} | unlimited)
    try:
        server.wait_ready()
        yield Api(server, (data_dir / "demo-key").read_text().strip())
    finally:
        server.stop()


@schema.parametrize()
def test_operation_answers_as_documented(case: schemathesis.Case, api: Api) -> None:
    """The examples, coverage and fuzzing phases, one test per operation."""
    SENT[case.meta.phase.name.value] += 1
    case.call_and_validate(**api.call_kwargs())


def test_linked_operations_answer_as_documented(api: Api) -> None:
    """The stateful phase: SCENARIOS scenarios in suites seeded 0, 1, 2... (see the module docstring)."""
    failures: list[str] = []
    scenarios = cut_short = 0

    class Scenario(schema.exclude(path=OWN_KEY_REVOCATION).as_state_machine()):
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            SENT[case.meta.phase.name.value] += 1
            return api.call_kwargs()

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case, *args, **kwargs) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except FailureGroup as found:
                failures.extend(f"{case.as_curl_command()}\n  {failure}" for failure in found.exceptions)

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    for suite_seed in range(SCENARIOS):
        settings = hypothesis.settings(
            max_examples=SCENARIOS - scenarios,
            stateful_step_count=SCENARIO_STEPS,
            phases=[hypothesis.Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        try:
            hypothesis.seed(suite_seed)(Scenario).run(settings=settings)
        except FlakyStrategyDefinition:
            cut_short += 1  # the server answered a replayed choice otherwise: the next suite starts
        if scenarios >= SCENARIOS:
            break
    print(f"\n{scenarios} scenarios in {suite_seed + 1} suites, {cut_short} ended by FlakyStrategyDefinition")
    assert not failures, "\n".join(dict.fromkeys(failures))
    assert scenarios >= SCENARIOS


def test_every_phase_ran() -> None:
    """Runs after the phases (file order); `pytest -s` shows the requests each sent."""
    print(f"\nrequests per phase: {dict(SENT)}")
    assert all(SENT[phase] for phase in ("examples", "coverage", "fuzzing", "stateful")), SENT


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
        response = case.call_and_validate(**api.call_kwargs())
        assert response.status_code < 300, response.text
