"""Run `abri serve` as a real process on a free loopback port."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_SECONDS = 90
TEST_REFERENCE_KEY = "test-reference-key-for-abri-tests-only-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`abri serve` with `env` added to (or, for None values, removed from) the environment."""

    def __init__(self, env: dict[str, str | None], *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        defaults = {"ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY} if env.get("DATABASE_URL") else {}
        merged = {k: v for k, v in (os.environ | defaults | env).items() if v is not None}
        # Files, not pipes: a pipe nobody reads fills up after ~64 KB of log and blocks the server.
        self.stdout = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the server
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(self.port), *args],
            env=merged,
            stdout=self.stdout,
            stderr=self.stderr,
            text=True,
        )

    def output(self) -> tuple[str, str]:
        """What the server printed so far: (stdout, stderr)."""
        texts = []
        for stream in (self.stdout, self.stderr):
            stream.seek(0)
            texts.append(stream.read())
        return texts[0], texts[1]

    def worker_pids(self) -> list[int]:
        """granian's worker processes: the children of the server's main thread."""
        pid = self.process.pid
        return [int(kid) for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"abri serve exited early: {self.output()}")
            try:
                if httpx.get(f"{self.base}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail("abri serve did not become ready")

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, as a process manager would; returns (exit code, stdout, stderr)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return code, *self.output()


@contextmanager
def serving(env: dict[str, str | None], *args: str) -> Iterator[Server]:
    """`abri serve` ready for requests while the block runs; it must then stop cleanly (exit 0)."""
    server = Server(env, *args)
    try:
        server.wait_ready()
        yield server
    finally:
        code, _, err = server.stop()
    assert code == 0, err
