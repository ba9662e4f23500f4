"""A real HTTP server on a loopback port that records what it receives: a webhook receiver for tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.process import free_port


class Receiver:
    """A real HTTP server on a loopback port, started and stopped at will; paths in `failing` answer 500."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.failing: set[str] = set()
        self._server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path in receiver.failing:
                    self.send_response(500)
                else:
                    receiver.received.append((self.path, dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def ensure_started(self) -> None:
        if self._server is None:
            self.start()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def at(self, path: str) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for p, headers, body in self.received if p == path]
