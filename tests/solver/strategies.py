"""Hypothesis strategies for random placement problems around north-east Paris."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from solver.problem import (
    BedClass,
    Facility,
    Gender,
    GenderPolicy,
    Kind,
    Parameters,
    Person,
    PlacementProblem,
    Point,
    Site,
)

KINDS = list(Kind)


def _grid(low: float, high: float, step: float = 0.0005) -> st.SearchStrategy[float]:
    """Coordinates on a grid, so that shrunk examples read well."""
    return st.integers(0, round((high - low) / step)).map(lambda k: round(low + k * step, 6))


PARIS = st.builds(Point, lat=_grid(48.80, 48.92), lon=_grid(2.25, 2.45))
FAR_AWAY = st.builds(Point, lat=_grid(43.3, 45.8, 0.01), lon=_grid(1.0, 5.5, 0.01))


def _rarely(draw: st.DrawFn, one_in: int = 4) -> bool:
    """True about once in `one_in` draws (shrinks to False)."""
    return draw(st.sampled_from([False] * (one_in - 1) + [True]))


@st.composite
def parameters(draw: st.DrawFn) -> Parameters:
    if draw(st.booleans()):
        return Parameters()
    return Parameters(
        min_distance_km={k: draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5])) for k in KINDS},
        distance_points=draw(st.integers(0, 1000)),
        distance_saturation_km=draw(st.sampled_from([0.5, 1.0, 3.0, 8.0, 20.0])),
        care_points=draw(st.integers(0, 1000)),
        care_radius_km=draw(st.sampled_from([1.0, 2.0, 5.0, 15.0])),
        points_per_euro=draw(st.integers(0, 10)),
    )


@st.composite
def problems(
    draw: st.DrawFn,
    *,
    min_people: int = 0,
    max_people: int = 6,
    max_facilities: int = 4,
    min_classes: int = 1,
    max_classes: int = 5,
    max_beds: int | None = None,
    side: bool = True,
) -> PlacementProblem:
    """A random problem. side=False: no couples and no keep-apart pairs (partners placed
    elsewhere, exclusions and every bed rule still occur). max_beds caps the total capacity."""
    facilities = []
    for i in range(draw(st.sampled_from(range(1, max_facilities + 1)))):
        kind = draw(st.sampled_from(KINDS))
        location = draw(FAR_AWAY if kind is Kind.OUT_OF_REGION and not _rarely(draw) else PARIS)
        facilities.append(Facility(id=f"f{i}", name=f"facility {i}", kind=kind, location=location))
    facility_ids = [f.id for f in facilities]
    sites = [Site(name=f"s{i}", location=draw(PARIS)) for i in range(draw(st.integers(0, 3)))]

    bed_classes = []
    beds_left = max_beds if max_beds is not None else 10**9
    for i in range(draw(st.sampled_from(range(min_classes, max_classes + 1)))):
        if beds_left <= 0:
            break
        capacity = min(draw(st.sampled_from([1, 1, 2, 3])), beds_left)
        beds_left -= capacity
        bed_classes.append(
            BedClass(
                id=f"b{i}",
                facility_id=draw(st.sampled_from(facility_ids)),
                capacity=capacity,
                gender_policy=GenderPolicy.ANY if not _rarely(draw, 4) else draw(st.sampled_from(list(GenderPolicy))),
                accessible=not _rarely(draw, 2),
                couple_room=_rarely(draw, 6),
                dogs_allowed=not _rarely(draw, 2),
                medical_level=draw(st.sampled_from([0, 1, 2, 3, 3])),
                nightly_cost_cents=draw(st.sampled_from([0, 0, 1999, 4500, 12_050]) | st.integers(0, 100_000)),
            )
        )

    n = draw(st.sampled_from(range(min_people, max_people + 1)))
    ids = [f"p{i}" for i in range(n)]
    fields: list[dict[str, Any]] = []
    for pid in ids:
        person: dict[str, Any] = {
            "id": pid,
            "priority": draw(st.integers(1, 4) | st.integers(1, 1000)),
            "gender": draw(st.sampled_from(list(Gender))),
            "accessible": _rarely(draw, 6),
            "dogs": _rarely(draw, 6),
            "medical_level": draw(st.integers(1, 3)) if _rarely(draw, 4) else 0,
            "consents_out_of_region": not _rarely(draw, 3),
        }
        if _rarely(draw, 5):
            person["acceptable_kinds"] = frozenset(draw(st.sets(st.sampled_from(KINDS))))
        if _rarely(draw, 5):
            person["excluded_facility_ids"] = frozenset({draw(st.sampled_from(facility_ids))})
        if _rarely(draw, 8):
            person["partner_facility_id"] = draw(st.sampled_from([*facility_ids, "elsewhere"]))
        if draw(st.booleans()):
            person["care_anchor"] = draw(PARIS)
        fields.append(person)

    if side and n >= 2:
        order = draw(st.permutations(range(n)))
        for k in range(draw(st.integers(0, n // 2))):
            a, b = fields[order[2 * k]], fields[order[2 * k + 1]]
            a["partner_id"], b["partner_id"] = b["id"], a["id"]
            a.pop("partner_facility_id", None)
            b.pop("partner_facility_id", None)
        for _ in range(draw(st.integers(0, 2))):
            a, b = draw(st.lists(st.sampled_from(range(n)), min_size=2, max_size=2, unique=True))
            fields[a]["keep_apart_ids"] = fields[a].get("keep_apart_ids", frozenset()) | {ids[b]}
            if draw(st.booleans()):
                fields[b]["keep_apart_ids"] = fields[b].get("keep_apart_ids", frozenset()) | {ids[a]}
        singles = [f for f in fields if "partner_id" not in f]
        linked = [f for f in fields if "partner_id" in f]
        if singles and linked and _rarely(draw, 8):  # odd data: a third person names a partner already in a couple
            third = draw(st.sampled_from(singles))
            third["partner_id"] = draw(st.sampled_from(linked))["id"]
            third.pop("partner_facility_id", None)
    if n >= 1 and _rarely(draw, 6):  # a partner outside the problem: a single who may use couple rooms
        fields[0]["partner_id"] = fields[0].get("partner_id") or "someone-not-in-the-problem"

    return PlacementProblem(
        people=[Person(**f) for f in fields],
        facilities=facilities,
        bed_classes=bed_classes,
        sites=sites,
        parameters=draw(parameters()),
    )


tiny_problems = problems(min_people=2, max_people=6, max_facilities=3, min_classes=2, max_classes=4, max_beds=6)
"""Small enough for brute force, side constraints included."""

small_problems = problems(max_people=14, max_facilities=5, max_classes=8)
"""For CP-SAT and greedy comparisons."""

small_plain_problems = problems(max_people=14, max_facilities=5, max_classes=8, side=False)
