"""What a caller may see of the figures: small counts of people hidden from managers.

Counts of places (in service, out of service) describe the inventory and are shown as
they are. Counts of people (occupied, held, entries, exits, waiting...) from 1 to
threshold − 1 read "<threshold" for the manager role; anything that would give them
away in the same row (free places, occupancy rate) is left out, and so are statistics
(medians, percentiles, shares) over fewer people than the threshold.
"""

from __future__ import annotations

from contracts.common import Role
from contracts.reports import Occupancy
from service.reports.occupancy import Figures

SUPPRESSED_FOR = frozenset({Role.MANAGER})


class Viewer:
    """What one caller may see: counts of people and statistics over few people hidden
    from the roles in SUPPRESSED_FOR."""

    def __init__(self, role: Role, threshold: int) -> None:
        self.hide, self.threshold = role in SUPPRESSED_FOR, threshold

    def people(self, count: int) -> int | str:
        return f"<{self.threshold}" if self.hide and 0 < count < self.threshold else count

    def over(self, people: int, value: float | None, digits: int = 2) -> float | None:
        """A statistic (median, share) over that many people; None where it would tell too much."""
        if value is None or (self.hide and people < self.threshold):
            return None
        return round(value, digits)


def occupancy(figures: Figures, viewer: Viewer) -> Occupancy:
    occupied, held = viewer.people(figures.occupied), viewer.people(figures.held)
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
