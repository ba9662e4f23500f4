"""`abri serve` as a newcomer runs it: a real process, the embedded database, the demo data."""

import json
from pathlib import Path

import httpx
import psutil
import pytest

from tests.process import Server


def postgres_running_on(data_dir: Path) -> bool:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and any(str(data_dir) in arg for arg in proc.info["cmdline"] or []):
            return True
    return False


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("abri-data")


def test_serve_demo_availability_stop_and_restart(data_dir):
    server = Server({"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None})
    try:
        server.wait_ready()
        key_file = data_dir / "demo-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        key = key_file.read_text().strip()
        headers = {"X-API-Key": key}
        r = httpx.get(
            f"{server.base}/v1/availability",
            params={"kind": "assore_hotel", "min_distance_km": 1, "limit": 500},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        beds = r.json()["items"]
        assert len(beds) > 300, "most of the 610 demo hotel places are free and far from the scenes"
        assert all(b["facility"]["kind"] == "assore_hotel" and b["distance_km"] >= 1 for b in beds)
        assert all(b["nearest_site"] for b in beds)
        assert httpx.get(f"{server.base}/v1/availability").status_code == 401
        docs = httpx.get(f"{server.base}/docs", follow_redirects=True)
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
    finally:
        code, out, err = server.stop()
    assert code == 0, err
    assert "Loaded the Paris demo data" in out and key in out
    access = [json.loads(line) for line in err.splitlines() if line.startswith("{") and '"request"' in line]
    assert {"request_id", "method", "path", "status", "duration_ms"} <= access[0].keys()
    assert not any("X-API-Key" in line or key in line for line in err.splitlines()), "no secrets in logs"
    assert not postgres_running_on(data_dir), "SIGTERM stops the embedded PostgreSQL too"

    again = Server({"ABRI_DATA_DIR": str(data_dir), "DATABASE_URL": None})
    try:
        again.wait_ready()
        r = httpx.get(f"{again.base}/v1/facilities", params={"limit": 1}, headers={"X-API-Key": key})
        assert r.status_code == 200, "the data and the key survive a restart"
    finally:
        code, out, _ = again.stop()
    assert code == 0
    assert "Loaded the Paris demo data" not in out, "the demo is loaded into an empty database only"
