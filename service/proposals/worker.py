"""What runs in the solver's worker processes: msgpack bytes in, msgpack bytes out.

Kept apart from the web code so a worker imports only msgspec, the contracts and the
solver. Decoding the snapshot and building the problem happen here too: at France scale
they are a second of pure Python, which on the API's event loop would stall every request
of that worker meanwhile.
"""

from __future__ import annotations

import msgspec

from service.proposals.problem import Ask, Snapshot, booking, build
from solver import solve

_decoder = msgspec.msgpack.Decoder(Ask)
_snapshot_decoder = msgspec.json.Decoder(Snapshot)
_encoder = msgspec.msgpack.Encoder()


def solve_packed(packed: bytes) -> bytes:
    """Decode (and validate) an Ask, build its problem and solve it; encode (plan, booking)."""
    ask = _decoder.decode(packed)
    built = build(_snapshot_decoder.decode(ask.snapshot), ask.listed, ask.parameters)
    plan = solve(built.problem)
    return _encoder.encode((plan, booking(built, plan.lines)))
