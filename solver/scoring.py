"""The objective's terms, all integers so that results are exact and reproducible.

value(person, bed) = priority × W + distance + care − cost, where

    distance = round(distance_points × min(d, saturation) / saturation)
    care     = round(care_points × max(0, 1 − a / care_radius))   (0 without an anchor)
    cost     = points_per_euro × nightly cost in whole euros

d is the facility's great-circle distance to the nearest active site, a its distance to
the person's care anchor. W, the placement weight, exceeds what the quality terms of all
people together can vary by, so one more point of placed priority always wins: the plan
first maximises the priority-weighted number of people placed, then the quality terms.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from solver.geo import EARTH_RADIUS_KM
from solver.problem import BedClass, Facility, Parameters, Point, Site

MAX_NIGHTLY_EUROS = 1000  # BedClass.nightly_cost_cents is at most 100,000


class Nearest(NamedTuple):
    km: float | None
    site: str | None


def km_matrix(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Haversine km between every point of the first set (rows) and of the second (columns)."""
    p1, l1 = np.radians(lat1)[:, None], np.radians(lon1)[:, None]
    p2, l2 = np.radians(lat2)[None, :], np.radians(lon2)[None, :]
    half_chord = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(half_chord, 1.0)))


def coordinates(points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p.lat for p in points], dtype=float), np.array([p.lon for p in points], dtype=float)


def nearest_sites(facilities: list[Facility], sites: list[Site]) -> list[Nearest]:
    """Each facility's distance to the nearest site, and that site's name."""
    if not sites:
        return [Nearest(None, None)] * len(facilities)
    if not facilities:
        return []
    km = km_matrix(*coordinates([f.location for f in facilities]), *coordinates([s.location for s in sites]))
    closest = km.argmin(axis=1)
    return [Nearest(float(km[i, j]), sites[j].name) for i, j in enumerate(closest)]


def distance_points(km: float | None, parameters: Parameters) -> int:
    """Grows linearly with the distance to the nearest site, saturating; full when no site is active."""
    if km is None:
        return parameters.distance_points
    return round(
        parameters.distance_points * min(km, parameters.distance_saturation_km) / parameters.distance_saturation_km
    )


def care_points(anchor_km: np.ndarray | float, parameters: Parameters) -> np.ndarray:
    """Closeness to the care anchor: full at the anchor, 0 from `care_radius_km` on."""
    share = np.maximum(0.0, 1.0 - np.asarray(anchor_km, dtype=float) / parameters.care_radius_km)
    return np.rint(parameters.care_points * share).astype(np.int64)


def cost_points(bed: BedClass, parameters: Parameters) -> int:
    return parameters.points_per_euro * (bed.nightly_cost_cents // 100)


def quality_span(parameters: Parameters) -> int:
    """How much the quality terms of one person can differ between two beds, at most."""
    return parameters.distance_points + parameters.care_points + parameters.points_per_euro * MAX_NIGHTLY_EUROS


def placement_weight(people: int, parameters: Parameters) -> int:
    """W > people × quality span: a point of priority outweighs all quality terms together."""
    return people * quality_span(parameters) + 1
