"""The greedy baseline on hand-built problems."""

from __future__ import annotations

from solver.greedy import greedy
from solver.problem import Gender, Kind, Method, PlacementPlan, UnplacedReason
from tests.solver.build import STALINGRAD, bed, facility, person, problem
from tests.solver.reference import score_errors, violations


def placed(plan: PlacementPlan) -> dict[str, str]:
    return {line.person_id: line.bed_class_id for line in plan.lines}


def reasons(plan: PlacementPlan) -> dict[str, UnplacedReason]:
    return {u.person_id: u.reason for u in plan.unplaced}


def test_first_fit_in_input_order_even_when_a_later_bed_scores_better() -> None:
    p = problem(
        [person("a")],
        [facility("f0"), facility("f1")],
        [bed("pricey", "f0", nightly_cost_cents=90_000), bed("free", "f1")],
    )
    assert placed(greedy(p)) == {"a": "pricey"}


def test_highest_priority_first_then_input_order() -> None:
    p = problem(
        [person("low", 1), person("tie1", 5), person("high", 9), person("tie2", 5)],
        [facility("f0")],
        [bed("b0", "f0"), bed("b1", "f0")],
    )
    plan = greedy(p)
    assert placed(plan) == {"high": "b0", "tie1": "b1"}
    assert reasons(plan) == {"low": UnplacedReason.OUTRANKED, "tie2": UnplacedReason.OUTRANKED}
    assert [line.person_id for line in plan.lines] == ["tie1", "high"]  # lines in input order


def test_skips_beds_that_break_a_hard_rule() -> None:
    p = problem(
        [person("dog owner", dogs=True, accessible=True)],
        [facility("f0")],
        [
            bed("no dogs", "f0", accessible=True),
            bed("no lift", "f0", dogs_allowed=True),
            bed("ok", "f0", dogs_allowed=True, accessible=True),
        ],
    )
    assert placed(greedy(p)) == {"dog owner": "ok"}


def test_no_eligible_bed_versus_outranked() -> None:
    p = problem(
        [person("woman", 9, Gender.WOMAN), person("man", 1), person("picky", 5, acceptable_kinds=frozenset())],
        [facility("f0")],
        [bed("b0", "f0", capacity=1)],
    )
    plan = greedy(p)
    assert placed(plan) == {"woman": "b0"}
    by_id = {u.person_id: u for u in plan.unplaced}
    assert by_id["man"].reason is UnplacedReason.OUTRANKED and by_id["man"].eligible_beds == 1
    assert by_id["picky"].reason is UnplacedReason.NO_ELIGIBLE_BED and by_id["picky"].eligible_beds == 0
    assert by_id["man"].free_beds == 1


def test_min_distance_from_sites_is_a_hard_rule() -> None:
    p = problem(
        [person("a")],
        [facility("next to the scene", location=STALINGRAD), facility("rest", Kind.REST_SPACE, location=STALINGRAD)],
        [bed("hotel", "next to the scene"), bed("sleep-in", "rest")],
    )
    line = greedy(p).lines[0]
    assert line.bed_class_id == "sleep-in"
    assert line.distance_km == 0 and line.nearest_site == "Stalingrad" and line.scores.distance == 0


def test_couple_is_placed_together_in_the_first_facility_with_a_bed_for_each() -> None:
    p = problem(
        [person("single", 1), person("a", 9, partner_id="b"), person("b", 2, partner_id="a")],
        [facility("f0"), facility("f1")],
        [bed("f0 one", "f0"), bed("f1 x", "f1"), bed("f1 y", "f1")],
    )
    plan = greedy(p)
    assert placed(plan) == {"a": "f1 x", "b": "f1 y", "single": "f0 one"}
    assert violations(p, plan) == []


def test_couple_in_one_class_needs_two_beds_of_it() -> None:
    one = problem(
        [person("a", 9, partner_id="b"), person("b", 9, partner_id="a")],
        [facility("f0")],
        [bed("double", "f0", capacity=1, couple_room=True)],
    )
    assert placed(greedy(one)) == {}
    two = problem(one.people, one.facilities, [bed("double", "f0", capacity=2, couple_room=True)])
    assert placed(greedy(two)) == {"a": "double", "b": "double"}


def test_couple_leader_gives_way_when_only_that_order_fits() -> None:
    # a may use both classes, b only the first: a must take the second.
    p = problem(
        [person("a", 9, partner_id="b"), person("b", 9, partner_id="a", dogs=True)],
        [facility("f0")],
        [bed("dogs", "f0", dogs_allowed=True), bed("plain", "f0")],
    )
    assert placed(greedy(p)) == {"a": "plain", "b": "dogs"}


def test_couple_not_placed_at_all_leaves_the_beds_to_others() -> None:
    p = problem(
        [person("a", 9, partner_id="b"), person("b", 9, partner_id="a", medical_level=3), person("c", 1)],
        [facility("f0"), facility("f1")],
        [bed("f0", "f0"), bed("f1", "f1")],
    )
    plan = greedy(p)
    assert placed(plan) == {"c": "f0"}
    assert reasons(plan) == {"a": UnplacedReason.COUPLE, "b": UnplacedReason.NO_ELIGIBLE_BED}


def test_partner_outside_the_problem_is_a_single_who_may_use_couple_rooms() -> None:
    p = problem(
        [person("a", partner_id="not here")],
        [facility("f0")],
        [bed("double", "f0", couple_room=True)],
    )
    plan = greedy(p)
    assert placed(plan) == {"a": "double"}
    assert plan.statistics.side_people == 0


def test_partner_links_chaining_three_people_place_all_three_together_or_none() -> None:
    chain = [person("a", 5, partner_id="b"), person("b", 4, partner_id="c"), person("c", 3, partner_id="b")]
    two_beds = problem(chain, [facility("f0")], [bed("b0", "f0", capacity=2)])
    plan = greedy(two_beds)
    assert placed(plan) == {}
    assert set(reasons(plan).values()) == {UnplacedReason.COUPLE}
    three_beds = problem(chain, [facility("f0"), facility("f1")], [bed("b0", "f0", capacity=2), bed("b1", "f1", 3)])
    assert placed(greedy(three_beds)) == {"a": "b1", "b": "b1", "c": "b1"}


def test_joining_a_partner_already_placed() -> None:
    p = problem(
        [person("a", partner_facility_id="f1")],
        [facility("f0"), facility("f1")],
        [bed("b0", "f0"), bed("b1", "f1")],
    )
    assert placed(greedy(p)) == {"a": "b1"}


def test_keep_apart_sends_the_second_elsewhere_or_nowhere() -> None:
    people = [person("a", 9, keep_apart_ids=frozenset({"b"})), person("b", 5), person("c", 1)]
    two = problem(people, [facility("f0"), facility("f1")], [bed("b0", "f0", capacity=2), bed("b1", "f1")])
    assert placed(greedy(two)) == {"a": "b0", "b": "b1", "c": "b0"}
    one = problem(people, [facility("f0")], [bed("b0", "f0", capacity=3)])
    plan = greedy(one)
    assert placed(plan) == {"a": "b0", "c": "b0"}
    assert reasons(plan) == {"b": UnplacedReason.KEEP_APART}


def test_keep_apart_listed_on_the_later_side_only() -> None:
    people = [person("a", 9), person("b", 5, keep_apart_ids=frozenset({"a"}))]
    plan = greedy(problem(people, [facility("f0")], [bed("b0", "f0", capacity=2)]))
    assert placed(plan) == {"a": "b0"}


def test_statistics_and_scores() -> None:
    p = problem(
        [person("a", 7, care_anchor=facility("x").location), person("b", 3)],
        [facility("f0"), facility("f1", Kind.SPECIALISED_UNIT)],
        [bed("b0", "f0", nightly_cost_cents=4599), bed("b1", "f1")],
    )
    plan = greedy(p)
    s = plan.statistics
    assert s.method is Method.GREEDY and s.cp_sat_status is None
    assert (s.people, s.placed, s.priority_placed, s.bed_classes, s.nodes, s.arcs) == (2, 2, 10, 2, 0, 0)
    assert s.bound == s.objective and s.gap == 0.0
    assert plan.lines[0].scores.cost == 45 and plan.lines[0].scores.care == 300
    assert score_errors(p, plan) == []


def test_empty_problem() -> None:
    plan = greedy(problem([], [], []))
    assert plan.lines == [] and plan.unplaced == [] and plan.statistics.objective == 0
