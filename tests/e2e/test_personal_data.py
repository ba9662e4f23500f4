"""A whole lifecycle on a real server, then every log line is searched for personal data."""

import asyncio
import base64

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from service.referrals.queries import reference_hmac
from tests.conftest import fresh_database
from tests.process import TEST_REFERENCE_KEY, Server

REFERENCE = "PII-CHECK-7731-ZQX"


async def prepare(url: str) -> tuple[dict[Role, str], list[str]]:
    conn = await asyncpg.connect(url)
    try:
        org = await conn.fetchval("INSERT INTO organisations (name) VALUES ('Maraude test') RETURNING id")
        facility = await conn.fetchval(
            """INSERT INTO facilities (organisation_id, kind, name, address, commune, department, region,
                                       lat, lon, opened_on)
               VALUES ($1, 'assore_hotel', 'Hôtel Témoin', '2 rue Témoin', 'Paris', '75', 'Île-de-France',
                       48.85, 2.30, '2020-01-01') RETURNING id""",
            org,
        )
        beds = [
            str(
                await conn.fetchval(
                    # Beds that fit the referral below: a dog, medical support level 2.
                    "INSERT INTO beds (facility_id, label, gender_policy, dogs_allowed, medical_level) "
                    "VALUES ($1, $2, 'any', true, 2) RETURNING id",
                    facility,
                    n,
                )
            )
            for n in ("A", "B")
        ]
        return {role: await create_key(conn, role, org) for role in Role}, beds
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def server_and_keys(pg_server):
    url = fresh_database(pg_server, "t_e2e_personal_data")
    keys, beds = asyncio.run(prepare(url))
    server = Server({"DATABASE_URL": url, "ABRI_LOG_LEVEL": "debug"})
    server.wait_ready()
    yield server, keys, beds
    server.process.kill()


def test_no_reference_hash_or_secret_in_any_log_line(server_and_keys):
    server, keys, beds = server_and_keys

    def call(role, method, path, **body):
        r = httpx.request(method, server.base + path, json=body or None, headers={"X-API-Key": keys[role]})
        assert r.status_code < 500, r.text
        return r.json()

    body = {
        "reference": REFERENCE,
        "source": "court_ordered_treatment",
        "needs": {"gender": "woman", "dogs": True, "medical_level": 2},
        "acceptable_kinds": ["assore_hotel"],
        "care_anchor": {"lat": 48.8912, "lon": 2.3541},
        "vulnerability": 5,
        "court_ordered": True,
    }
    referral = call(Role.REFERRER, "POST", "/v1/referrals", **body)
    call(Role.REFERRER, "POST", "/v1/referrals", **body)  # 409: the duplicate is refused
    hold = call(Role.PLACEMENT_OFFICER, "POST", "/v1/holds", referral_id=referral["id"], bed_id=beds[0])
    stay = call(Role.PLACEMENT_OFFICER, "POST", f"/v1/holds/{hold['id']}/confirm")
    call(Role.PARTNER, "POST", f"/v1/stays/{stay['id']}/check-in")
    moved = call(Role.PLACEMENT_OFFICER, "POST", f"/v1/stays/{stay['id']}/transfer", bed_id=beds[1])
    call(Role.PARTNER, "POST", f"/v1/stays/{moved['id']}/exit", reason="cure_or_post_cure")
    httpx.get(f"{server.base}/v1/referrals?status={REFERENCE}", headers={"X-API-Key": keys[Role.ADMIN]})
    assert call(Role.PLACEMENT_OFFICER, "GET", f"/v1/referrals/{referral['id']}")["status"] == "exited"

    _, out, err = server.stop()
    logs = out + err
    assert '"path": "/v1/referrals"' in logs, "the requests were logged"
    digest = reference_hmac(TEST_REFERENCE_KEY, REFERENCE)
    secrets = {
        "raw reference": REFERENCE,
        "hash (hex)": digest.hex(),
        "hash (base64)": base64.b64encode(digest).decode(),
        "hash (base64url)": base64.urlsafe_b64encode(digest).decode().rstrip("="),
        "reference key": TEST_REFERENCE_KEY,
        "API key": keys[Role.REFERRER].rsplit("_", 1)[1],
    }
    for what, value in secrets.items():
        assert value not in logs, f"the {what} appears in the logs"
