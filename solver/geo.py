"""Great-circle distances on the mean Earth sphere."""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, as in the SQL function km_between


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two WGS84 points given in degrees.

    The same formula and radius as the SQL function `km_between`, so that distances
    computed in Python and in the database agree.
    """
    half_chord = (
        sin(radians(lat2 - lat1) / 2) ** 2
        + cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * asin(sqrt(half_chord))
