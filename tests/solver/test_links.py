"""solver/links.py: households placed around the relaxed flow's plan (the path solve()
takes at scale), on problems small enough to see the right answer by hand."""

from __future__ import annotations

import random

import pytest

from solver import links
from solver.flow import FlowModel
from solver.instance import Instance
from solver.problem import Gender, GenderPolicy, Parameters
from tests.solver.build import bed, facility, person, problem
from tests.solver.test_properties import solve_as_at_scale

WOMAN = Gender.WOMAN


def _placements(plan) -> dict[str, str]:
    return {line.person_id: line.bed_class_id for line in plan.lines}


def test_a_couple_finds_the_one_facility_with_room_for_both_past_many_with_room_for_one() -> None:
    """Twelve hotels have one free bed each (and score better): only the thirteenth can
    take both partners. Taking the candidates by best bed alone would miss it."""
    hotels = [facility(f"h{n}") for n in range(13)]
    beds = [bed(f"b{n}", f"h{n}", 1, nightly_cost_cents=0) for n in range(12)]
    beds.append(bed("pair", "h12", 2, couple_room=True, nightly_cost_cents=9000))
    people = [person("a", 50, WOMAN, partner_id="b"), person("b", 50, partner_id="a")]
    plan = solve_as_at_scale(problem(people, hotels, beds, parameters=Parameters(candidate_facilities=3)))
    assert _placements(plan) == {"a": "pair", "b": "pair"}


def test_a_couple_takes_a_bed_from_a_single_only_when_it_gains_priority() -> None:
    hotel = [facility("h")]
    beds = [bed("room", "h", 1, couple_room=True, gender_policy=GenderPolicy.ANY), bed("std", "h", 1)]
    single = person("s", 30)
    couple = [person("a", 20, WOMAN, partner_id="b"), person("b", 20, partner_id="a")]
    plan = solve_as_at_scale(problem([single, *couple], hotel, beds))
    assert _placements(plan) == {"a": "room", "b": "std"}  # 40 points beat 30
    outranked = [person("a", 10, WOMAN, partner_id="b"), person("b", 10, partner_id="a")]
    plan = solve_as_at_scale(problem([single, *outranked], hotel, beds))
    assert _placements(plan) == {"s": "std"}  # 20 points do not


def test_keep_apart_sends_the_lower_priority_elsewhere() -> None:
    hotels = [facility("near"), facility("far")]
    beds = [bed("n", "near", 2, nightly_cost_cents=0), bed("f", "far", 1, nightly_cost_cents=9000)]
    people = [person("x", 50, keep_apart_ids=frozenset({"y"})), person("y", 40)]
    plan = solve_as_at_scale(problem(people, hotels, beds))
    assert _placements(plan) == {"x": "n", "y": "f"}
    assert plan.statistics.side_people == 2


@pytest.mark.parametrize("seed", range(4))
def test_facility_gains_of_a_couple_are_exact(seed: int) -> None:
    """_upper_bounds gives a two-member household's best gain in each facility exactly
    (what the option search relies on to stop early), checked against every bed choice."""
    rng = random.Random(seed)
    hotels = [facility(f"h{n}") for n in range(12)]
    beds = [
        bed(f"b{n}-{k}", f"h{n}", rng.randint(1, 2), couple_room=k == 0, nightly_cost_cents=rng.randrange(0, 9000, 100))
        for n in range(12)
        for k in range(rng.randint(1, 3))
    ]
    singles = [person(f"s{k}", rng.randint(10, 60)) for k in range(25)]
    couple = [person("a", 40, WOMAN, partner_id="b"), person("b", 30, partner_id="a")]
    instance = Instance(problem([*singles, *couple], hotels, beds))
    everyone = range(len(instance.problem.people))
    relaxed = FlowModel(instance, everyone, instance.capacity).solve(everyone, instance.capacity)
    household = [25, 26]
    prices = links._Prices(instance, {i: c for i, c in relaxed.assignment.items() if i not in household})
    rows = links._rows(instance, household)
    facilities, bounds = links._upper_bounds(instance, prices, rows)
    gains = dict(zip(facilities.tolist(), bounds.tolist(), strict=True))
    best_choice = {
        f: max(value - prices.of_beds(beds) for beds, value in choices)
        for f in range(len(hotels))
        if (choices := links._beds_in(instance, rows, f))
    }
    brute = {f: gain for f, gain in best_choice.items() if gain > -links.UNAVAILABLE // 2}  # beds to be had
    assert gains == brute
