"""What runs in the solver's worker processes: msgpack bytes in, msgpack bytes out.

Kept apart from the web code so a worker imports only msgspec and the solver.
"""

from __future__ import annotations

import msgspec

from solver import solve
from solver.problem import PlacementProblem

_decoder = msgspec.msgpack.Decoder(PlacementProblem)
_encoder = msgspec.msgpack.Encoder()


def solve_packed(problem: bytes) -> bytes:
    """Decode (and validate) a problem, solve it, encode the plan."""
    return _encoder.encode(solve(_decoder.decode(problem)))
