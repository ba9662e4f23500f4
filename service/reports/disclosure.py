"""What a caller may see of the figures: small counts of people hidden from managers.

Counts of places (in service, out of service) describe the inventory and are shown as
they are. Counts of people (occupied, held) from 1 to threshold − 1 read "<threshold"
for the manager role, and so does anything that would give them away in the same row:
the free places (in service less the rest) and the occupancy rate.
"""

from __future__ import annotations

from contracts.common import Role
from contracts.reports import Occupancy
from service.reports.occupancy import Figures

SUPPRESSED_FOR = frozenset({Role.MANAGER})


def occupancy(figures: Figures, role: Role, threshold: int) -> Occupancy:
    hide = role in SUPPRESSED_FOR
    occupied, held = (_people(n, threshold, hide) for n in (figures.occupied, figures.held))
    revealing = isinstance(occupied, str) or isinstance(held, str)
    available = figures.in_service - figures.out_of_service
    return Occupancy(
        group=figures.key,
        label=figures.label,
        in_service=figures.in_service,
        occupied=occupied,
        held=held,
        out_of_service=figures.out_of_service,
        free=None if revealing else figures.free,
        occupancy_rate=None if revealing or available <= 0 else round(figures.occupied / available, 4),
    )


def _people(count: int, threshold: int, hide: bool) -> int | str:
    return f"<{threshold}" if hide and 0 < count < threshold else count
