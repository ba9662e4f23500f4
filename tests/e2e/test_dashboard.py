"""The dashboard in headless Chromium against a real server: it shows the API's numbers.

The demo inventory gets a year of simulated history (`abri simulate`'s generator), a
manager key is made, and Chromium (Debian's `chromium`) loads /dashboard with the key in
the URL fragment, runs its script and dumps the DOM. Every element marked data-metric
must read what the API answers the same key; a screenshot is saved beside the test's
temporary files (or in ABRI_TEST_ARTIFACTS).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import asyncpg
import httpx
import pytest

from contracts.common import Role
from service.auth import create_key
from service.demo.load import load_demo
from service.demo.simulate import simulate
from tests.conftest import fresh_database
from tests.process import TEST_REFERENCE_KEY, Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium package is not installed (apt install chromium)"
)


class Metrics(HTMLParser):
    """data-metric → the element's text (or its data-value)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self.loaded: str | None = None
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.loaded = attributes.get("data-loaded")
        metric = attributes.get("data-metric")
        if metric and "data-value" in attributes:
            self.found[metric] = attributes["data-value"] or ""
            metric = None
        self._open.append(metric)
        if metric:
            self.found[metric] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for metric in self._open:
            if metric:
                self.found[metric] += data


async def prepare(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        await load_demo(conn, TEST_REFERENCE_KEY)
        today = datetime.now(UTC).date()
        await simulate(conn, TEST_REFERENCE_KEY, years=1, seed=1, until=today, timezone="Europe/Paris")
        organisation = await conn.fetchval("INSERT INTO organisations (name) VALUES ('City of Paris') RETURNING id")
        return await create_key(conn, Role.MANAGER, organisation)
    finally:
        await conn.close()


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def shown(value: object) -> str:
    return "—" if value is None else str(value)


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


@pytest.fixture(scope="module")
def served(pg_server) -> tuple[Server, str]:
    url = fresh_database(pg_server, "e2e_dashboard")
    key = asyncio.run(prepare(url))
    server = Server({"DATABASE_URL": url})
    server.wait_ready()
    yield server, key
    server.stop()


def test_the_dashboard_shows_the_apis_numbers(served, tmp_path: Path) -> None:
    server, key = served
    page = f"{server.base}/dashboard#key={key}"
    dom = chromium("--virtual-time-budget=20000", "--dump-dom", page).stdout
    metrics = Metrics()
    metrics.feed(dom)
    assert metrics.loaded == "true", dom[-2000:]

    api = httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=30)
    now = api.get("/v1/occupancy", params={"group_by": "kind"}).json()
    assert now["groups"], "the simulated history puts places in service"
    for group in [*now["groups"], {**now["total"], "group": "total"}]:
        for name in ("in_service", "occupied", "held", "out_of_service", "free"):
            assert metrics.found[f"occupancy.{group['group']}.{name}"] == shown(group[name])
        assert metrics.found[f"occupancy.{group['group']}.occupancy_rate"] == percent(group["occupancy_rate"])

    today = datetime.now(UTC).date().isoformat()  # the page's last point, as it asks for it
    last = api.get("/v1/occupancy/series", params={"from": today, "to": today, "group_by": "kind"}).json()
    for group in last["points"][-1]["groups"]:
        assert metrics.found[f"series.{group['group']}.last_rate"].endswith(percent(group["occupancy_rate"]))

    queue = api.get("/v1/reports/waiting").json()
    assert metrics.found["waiting.total"] == shown(queue["waiting"])
    for i, band in enumerate(queue["by_age"]):
        assert metrics.found[f"waiting.by_age.{i}"] == shown(band["people"])

    hotels = next(d for d in api.get("/v1/reports/distance").json()["current"] if d["kind"] == "assore_hotel")
    for i, band in enumerate(hotels["bands"]):
        assert metrics.found[f"distance.assore_hotel.{i}"] == shown(band["placements"])

    facilities = api.get("/v1/facilities", params={"limit": 500}).json()["items"]
    in_area = [f for f in facilities if 48.1 <= f["lat"] <= 49.25 and 1.4 <= f["lon"] <= 3.6]
    assert metrics.found["map.facilities_drawn"] == str(len(in_area))

    artifacts = Path(os.environ.get("ABRI_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "dashboard.png"
    chromium("--virtual-time-budget=20000", "--window-size=1280,1700", f"--screenshot={screenshot}", page)
    assert screenshot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_without_a_key_the_dashboard_asks_for_one(served) -> None:
    server, _ = served
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", f"{server.base}/dashboard").stdout
    assert '<form id="login">' in dom and 'id="board" hidden' in dom
