"""The committed OpenAPI document is the app's, and it documents every error."""

import json

from service.openapi import schema_json
from service.settings import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app():
    assert COMMITTED.read_text() == schema_json(), "run `uv run abri openapi` and commit openapi/openapi.json"


def operations():
    for path, item in json.loads(schema_json())["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_v1_operation_documents_its_problem_responses():
    for path, method, operation in operations():
        if not path.startswith("/v1/"):
            continue
        takes_input = "requestBody" in operation or any(p["in"] != "path" for p in operation.get("parameters", []))
        expected = {"401", "403"} | ({"400"} if takes_input else set())
        expected |= {"404"} if "{" in path else set()
        expected |= {"412"} if method == "patch" else set()
        expected |= {"408", "415"} if "requestBody" in operation else set()
        expected |= {"429", "503"}
        documented = {
            status
            for status, response in operation["responses"].items()
            if "application/problem+json" in response.get("content", {})
        }
        assert expected <= documented, f"{method.upper()} {path} lacks {sorted(expected - documented)}"


def test_only_operations_with_a_body_document_body_errors():
    for path, method, operation in operations():
        for status in ("408", "415"):
            assert (status in operation["responses"]) == ("requestBody" in operation), f"{method.upper()} {path}"


def test_the_api_key_is_a_documented_security_scheme():
    schema = json.loads(schema_json())
    assert schema["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "name": "X-API-Key", "in": "header"}
    assert all(op.get("security") == [{"ApiKey": []}] for path, _, op in operations() if path.startswith("/v1/"))
