"""A partner integrates as the README says: key, webhook, a bed out of service, the signed event, the feed.

`abri serve --demo` runs as a real process on its own database; the key comes from the
`abri create-key` command; the receiver is a real HTTP server on a loopback port.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from service.demo.dataset import AURORE
from tests.conftest import execute_on, fresh_database
from tests.process import TEST_REFERENCE_KEY, Server
from tests.receiver import Receiver

DATABASE = "t_partner_webhooks_e2e"


@pytest.fixture(scope="module")
def database_url(pg_server):
    url = fresh_database(pg_server, DATABASE)
    yield url
    asyncio.run(execute_on(pg_server.get_uri(), f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def server(database_url):
    process = Server({"DATABASE_URL": database_url, "ABRI_WEBHOOK_POLL_S": "0.1"}, "--demo")
    try:
        process.wait_ready()
        yield process
    finally:
        code, _, err = process.stop()
        assert code == 0, err


def abri(database_url: str, *args: str) -> str:
    env = os.environ | {"DATABASE_URL": database_url, "ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY}
    done = subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_partner_hears_of_its_bed_going_out_of_service_by_webhook_and_feed(server, database_url):
    key = abri(database_url, "create-key", "--role", "partner", "--org", AURORE)
    api = httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=10)
    receiver = Receiver()
    receiver.start()
    try:
        webhook = api.post("/v1/webhooks", json={"url": receiver.url("/abri"), "event_types": ["bed.status_changed"]})
        assert webhook.status_code == 201, webhook.text
        secret = webhook.json()["secret"]
        organisation = next(
            o["id"] for o in api.get("/v1/organisations?limit=500").json()["items"] if o["name"] == AURORE
        )
        facility = api.get("/v1/facilities", params={"organisation_id": organisation}).json()["items"][0]
        bed = api.get("/v1/beds", params={"facility_id": facility["id"]}).json()["items"][0]
        start = api.get("/v1/events").json()["next_cursor"]

        out = api.post(f"/v1/beds/{bed['id']}/unavailability", json={"reason": "damage", "starts_at": now()})
        assert out.status_code == 201, out.text

        deadline = time.monotonic() + 20
        while not receiver.at("/abri"):
            assert time.monotonic() < deadline, "no webhook within 20 s"
            time.sleep(0.1)
        [(headers, body)] = receiver.at("/abri")
        event = Verifier(secret).verify(body, headers)
        assert event["type"] == "bed.status_changed" and event["subject"] == {"type": "bed", "id": bed["id"]}
        assert event["data"]["in_service_now"] is False and event["data"]["reason"] == "damage"

        [fed] = api.get("/v1/events", params={"after": start}).json()["items"]
        assert fed == json.loads(body), "the feed serves the same event as the webhook"
        assert headers["webhook-id"] == fed["id"]
    finally:
        receiver.stop()
        api.close()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
