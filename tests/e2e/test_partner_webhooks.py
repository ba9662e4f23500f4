"""A partner integrates as the README says: key, webhook, a bed out of service, the signed event, the feed.

`abri serve --demo` runs as a real process on this module's database; the key comes from the
`abri create-key` command; the partner uses the typed client (`contracts/client.py`); the
receiver is a real HTTP server on a loopback port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from contracts import client
from contracts.events import Event, EventType, WebhookCreate
from contracts.inventory import OutOfServiceReason, UnavailabilityCreate
from service.demo.dataset import AURORE
from tests.process import TEST_REFERENCE_KEY, serving
from tests.receiver import Receiver

BED_STATUS_CHANGED = EventType.BED_STATUS_CHANGED


@pytest.fixture(scope="module")
def server(database_url):
    with serving({"DATABASE_URL": database_url, "ABRI_WEBHOOK_POLL_S": "0.1"}, "--demo") as process:
        yield process


def abri(database_url: str, *args: str) -> str:
    env = os.environ | {"DATABASE_URL": database_url, "ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY}
    done = subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_partner_hears_of_its_bed_going_out_of_service_by_webhook_and_feed(server, database_url):
    key = abri(database_url, "create-key", "--role", "partner", "--org", AURORE)
    receiver = Receiver()
    receiver.start()
    try:
        with client.Client(server.base, key) as api:
            webhook = api.send(
                client.create_webhook(WebhookCreate(url=receiver.url("/abri"), event_types=[BED_STATUS_CHANGED]))
            )
            organisation = next(o for o in api.items(client.list_organisations()) if o.name == AURORE)
            facility = next(iter(api.items(client.list_facilities(organisation_id=organisation.id))))
            bed = next(iter(api.items(client.list_beds(facility_id=facility.id))))
            start = api.send(client.events()).next_cursor

            period = UnavailabilityCreate(reason=OutOfServiceReason.DAMAGE, starts_at=datetime.now(UTC))
            api.send(client.create_unavailability(bed.id, period))

            deadline = time.monotonic() + 20
            while not receiver.at("/abri"):
                assert time.monotonic() < deadline, "no webhook within 20 s"
                time.sleep(0.1)
            [(headers, body)] = receiver.at("/abri")
            event = client.verify_webhook(webhook.secret, body, headers, type=Event)
            assert event.type is BED_STATUS_CHANGED and (event.subject.type, event.subject.id) == ("bed", bed.id)
            assert event.data["in_service_now"] is False and event.data["reason"] == "damage"
            with pytest.raises(client.InvalidWebhook):
                client.verify_webhook(webhook.secret, body.replace(b"damage", b"safety"), headers)

            assert api.send(client.events(after=start)).items == [event], "the feed serves the webhook's event"
            assert headers["webhook-id"] == str(event.id)
    finally:
        receiver.stop()
