"""Runs the ASGI app in a server process."""

from __future__ import annotations

import uvicorn


def run(host: str, port: int) -> None:
    uvicorn.run("service.app:create_app", factory=True, host=host, port=port, log_config=None, access_log=False)
