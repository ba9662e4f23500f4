"""What runs in the solver's worker processes: msgpack bytes in, msgpack bytes out.

Kept apart from the web code so a worker imports only msgspec, the contracts and the
solver. Decoding the snapshot and building the problem happen here too: at France scale
they are a second of pure Python, which on the API's event loop would stall every request
of that worker meanwhile.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from contextlib import suppress
from multiprocessing import forkserver

import msgspec

from service.proposals.problem import Ask, Snapshot, booking, build
from solver import solve

_decoder = msgspec.msgpack.Decoder(Ask)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)
_encoder = msgspec.msgpack.Encoder()
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def start_worker() -> None:
    """Run once in each new worker: give way to the API and PostgreSQL, and end with the pool.

    A France-scale solve is seconds of CPU; searches are milliseconds and must stay so
    meanwhile (bench/solver_isolation.py). Niceness alone would not do: the kernel shares
    the CPU between sessions first (autogroups), so the worker gets a session of its own at
    the lowest weight, and the idle policy within it.

    A worker waits for work on pipes that the workers themselves keep open, and each also
    holds the fork server's "parent alive" pipe, so when the API process died (SIGKILL, a
    crash) neither the workers nor the fork server ever noticed: they stayed, orphans, for
    good. The worker lets go of that pipe (it starts no process), so the fork server exits
    when the API process does, and the death signal then ends the worker. Linux only;
    elsewhere the worker runs as is.
    """
    _release_fork_server()
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the fork server died before the signal was asked for
        os._exit(1)
    os.setsid()
    with suppress(OSError), open("/proc/self/autogroup", "w") as autogroup:  # absent without autogroups
        autogroup.write("19")
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _release_fork_server() -> None:
    """Close this process's copy of the fork server's "parent alive" pipe (CPython 3.4+ keeps it here)."""
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        server._forkserver_alive_fd = None


def solve_packed(packed: bytes) -> bytes:
    """Decode (and validate) an Ask, build its problem and solve it; encode (plan, booking)."""
    ask = _decoder.decode(packed)
    built = build(_snapshot_decoder.decode(ask.snapshot), ask.listed, ask.parameters)
    plan = solve(built.problem)
    return _encoder.encode((plan, booking(built, plan.lines)))
