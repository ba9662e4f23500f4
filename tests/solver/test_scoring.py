"""The objective's terms, and against the independent reference on random problems."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.geo import km_between
from solver.problem import Kind, Parameters, PlacementProblem, Site
from solver.scoring import (
    care_points,
    coordinates,
    cost_points,
    distance_points,
    km_matrix,
    nearest_sites,
    placement_weight,
    quality_span,
)
from tests.solver.build import STALINGRAD, bed, facility
from tests.solver.reference import terms
from tests.solver.strategies import parameters, small_problems

P = Parameters()  # 600 distance points saturating at 8 km, 300 care points within 15 km, 1 point per euro


def test_distance_reward_grows_linearly_then_saturates() -> None:
    assert distance_points(0.0, P) == 0
    assert distance_points(2.0, P) == 150
    assert distance_points(4.0, P) == 300
    assert distance_points(8.0, P) == 600
    assert distance_points(30.0, P) == 600
    assert distance_points(600.0, P) == 600


def test_distance_reward_is_full_without_active_sites() -> None:
    assert distance_points(None, P) == 600


def test_care_reward_is_full_at_the_anchor_and_zero_from_the_radius_on() -> None:
    assert int(care_points(0.0, P)) == 300
    assert int(care_points(7.5, P)) == 150
    assert int(care_points(15.0, P)) == 0
    assert int(care_points(40.0, P)) == 0
    assert care_points(np.array([0.0, 3.0, 99.0]), P).tolist() == [300, 240, 0]


def test_cost_counts_whole_euros() -> None:
    assert cost_points(bed("b", "f", nightly_cost_cents=4599), P) == 45
    assert cost_points(bed("b", "f", nightly_cost_cents=99), P) == 0
    assert cost_points(bed("b", "f", nightly_cost_cents=100_000), Parameters(points_per_euro=3)) == 3000


def test_one_priority_point_outweighs_every_quality_term_together() -> None:
    people = 1000
    w = placement_weight(people, P)
    span = quality_span(P)
    assert span == 600 + 300 + 1000
    # one more point of priority, with the worst quality for everyone, still beats the best quality
    worst_with_more_priority = 1 * w - people * 1000
    best_with_less_priority = 0 * w + people * (600 + 300)
    assert worst_with_more_priority > best_with_less_priority


@given(people=st.integers(0, 100_000), parameters=parameters())
def test_placement_weight_dominates_for_any_parameters(people: int, parameters: Parameters) -> None:
    w = placement_weight(people, parameters)
    span = parameters.distance_points + parameters.care_points + parameters.points_per_euro * 1000
    assert w > people * span


def test_nearest_site() -> None:
    near = facility("near", location=STALINGRAD)
    far = facility("far")
    sites = [Site(name="Stalingrad", location=STALINGRAD), Site(name="Halles", location=facility("x").location)]
    found = nearest_sites([near, far], sites[:1])
    assert found[0].km == pytest.approx(0.0) and found[0].site == "Stalingrad"
    assert found[1].km == pytest.approx(km_between(48.8843, 2.3699, 48.83, 2.27))
    assert nearest_sites([far], sites)[0].site == "Halles"
    assert nearest_sites([near, far], []) == [(None, None), (None, None)]
    assert nearest_sites([], sites) == []


def test_km_matrix_agrees_with_km_between() -> None:
    a = [facility("a").location, STALINGRAD]
    b = [STALINGRAD, facility("b", Kind.OUT_OF_REGION).location]
    m = km_matrix(*coordinates(a), *coordinates(b))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            assert m[i, j] == pytest.approx(km_between(p.lat, p.lon, q.lat, q.lon), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(problem=small_problems)
def test_terms_agree_with_the_reference(problem: PlacementProblem) -> None:
    facilities = {f.id: f for f in problem.facilities}
    nearest = dict(zip(facilities, nearest_sites(problem.facilities, problem.sites), strict=True))
    parameters = problem.parameters
    for p in problem.people:
        for b in problem.bed_classes:
            f = facilities[b.facility_id]
            care = 0
            if p.care_anchor is not None:
                anchor_km = km_between(p.care_anchor.lat, p.care_anchor.lon, f.location.lat, f.location.lon)
                care = int(care_points(anchor_km, parameters))
            ours = (p.priority, distance_points(nearest[f.id].km, parameters), care, cost_points(b, parameters))
            assert ours == terms(problem, p, b)
