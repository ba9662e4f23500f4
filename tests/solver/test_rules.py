"""Hard rules one by one, and against the independent reference on random problems."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from solver.problem import Gender, GenderPolicy, Kind, Parameters, PlacementProblem, Rule
from solver.rules import bed_type, broken_by_facility, broken_by_type, far_enough, needs_of
from solver.scoring import nearest_sites
from tests.solver.build import bed, facility, person
from tests.solver.reference import RULE_ORDER, broken
from tests.solver.strategies import small_problems


def rule(p_fields: dict | None = None, b_fields: dict | None = None, kind: Kind = Kind.ASSORE_HOTEL) -> Rule | None:
    p = person("p", **(p_fields or {}))
    return broken_by_type(needs_of(p), bed_type(bed("b", "f", **(b_fields or {})), facility("f", kind)))


def test_a_plain_bed_suits_a_plain_person() -> None:
    assert rule() is None


def test_kind() -> None:
    only_units = {"acceptable_kinds": frozenset({Kind.SPECIALISED_UNIT})}
    assert rule(only_units, kind=Kind.ASSORE_HOTEL) is Rule.KIND
    assert rule(only_units, kind=Kind.SPECIALISED_UNIT) is None
    assert rule({"acceptable_kinds": frozenset()}) is Rule.KIND


def test_out_of_region_needs_consent() -> None:
    assert rule(kind=Kind.OUT_OF_REGION) is Rule.CONSENT
    assert rule({"consents_out_of_region": True}, kind=Kind.OUT_OF_REGION) is None
    assert rule({"consents_out_of_region": False}, kind=Kind.REST_SPACE) is None


@pytest.mark.parametrize(
    ("gender", "policy", "ok"),
    [
        (Gender.WOMAN, GenderPolicy.WOMEN, True),
        (Gender.WOMAN, GenderPolicy.MEN, False),
        (Gender.MAN, GenderPolicy.MEN, True),
        (Gender.MAN, GenderPolicy.WOMEN, False),
        (Gender.OTHER, GenderPolicy.WOMEN, False),
        (Gender.OTHER, GenderPolicy.MEN, False),
        (Gender.OTHER, GenderPolicy.ANY, True),
        (Gender.WOMAN, GenderPolicy.ANY, True),
        (Gender.MAN, GenderPolicy.ANY, True),
    ],
)
def test_gender(gender: Gender, policy: GenderPolicy, ok: bool) -> None:
    assert rule({"gender": gender}, {"gender_policy": policy}) is (None if ok else Rule.GENDER)


def test_accessible() -> None:
    assert rule({"accessible": True}) is Rule.ACCESSIBLE
    assert rule({"accessible": True}, {"accessible": True}) is None
    assert rule({}, {"accessible": True}) is None  # anyone may take an accessible bed


def test_dogs() -> None:
    assert rule({"dogs": True}) is Rule.DOGS
    assert rule({"dogs": True}, {"dogs_allowed": True}) is None
    assert rule({}, {"dogs_allowed": True}) is None


def test_couple_rooms_are_kept_for_couples() -> None:
    assert rule({}, {"couple_room": True}) is Rule.COUPLE_ROOM
    assert rule({"partner_id": "q"}, {"couple_room": True}) is None
    assert rule({"partner_facility_id": "f"}, {"couple_room": True}) is None
    assert rule({"partner_id": "q"}) is None  # couples may use ordinary beds


def test_medical_level() -> None:
    assert rule({"medical_level": 2}, {"medical_level": 1}) is Rule.MEDICAL
    assert rule({"medical_level": 2}, {"medical_level": 2}) is None
    assert rule({"medical_level": 0}, {"medical_level": 3}) is None


def test_the_first_broken_rule_in_order_is_reported() -> None:
    everything_wrong = {
        "acceptable_kinds": frozenset({Kind.REST_SPACE}),
        "dogs": True,
        "accessible": True,
        "medical_level": 3,
    }
    assert rule(everything_wrong, {"gender_policy": GenderPolicy.WOMEN}) is Rule.KIND
    del everything_wrong["acceptable_kinds"]
    assert rule(everything_wrong, {"gender_policy": GenderPolicy.WOMEN}) is Rule.GENDER
    assert rule(everything_wrong) is Rule.ACCESSIBLE
    assert rule(everything_wrong, {"accessible": True}) is Rule.DOGS
    assert rule(everything_wrong, {"accessible": True, "dogs_allowed": True}) is Rule.MEDICAL


def test_far_enough() -> None:
    parameters = Parameters(min_distance_km={Kind.ASSORE_HOTEL: 1.0})
    hotel, rest = facility("h"), facility("r", Kind.REST_SPACE)
    assert far_enough(hotel, None, parameters)  # no active site
    assert not far_enough(hotel, 0.999, parameters)
    assert far_enough(hotel, 1.0, parameters)
    assert far_enough(rest, 0.0, parameters)  # a kind without a minimum
    assert not far_enough(facility("u", Kind.SPECIALISED_UNIT), 0.5, Parameters())  # default: 1 km


def test_facility_rules() -> None:
    assert broken_by_facility(person("p"), "f") is None
    assert broken_by_facility(person("p", excluded_facility_ids=frozenset({"f"})), "f") is Rule.EXCLUDED
    joining = person("p", partner_facility_id="g")
    assert broken_by_facility(joining, "f") is Rule.PARTNER_FACILITY
    assert broken_by_facility(joining, "g") is None
    both = person("p", partner_facility_id="g", excluded_facility_ids=frozenset({"g"}))
    assert broken_by_facility(both, "g") is Rule.EXCLUDED


@settings(max_examples=100, deadline=None)
@given(problem=small_problems)
def test_rules_agree_with_the_reference(problem: PlacementProblem) -> None:
    facilities = {f.id: f for f in problem.facilities}
    nearest = dict(zip(facilities, nearest_sites(problem.facilities, problem.sites), strict=True))
    for p in problem.people:
        for b in problem.bed_classes:
            f = facilities[b.facility_id]
            found = []
            if (r := broken_by_type(needs_of(p), bed_type(b, f))) is not None:
                found.append(r.value)
            if not far_enough(f, nearest[f.id].km, problem.parameters):
                found.append(Rule.MIN_DISTANCE.value)
            if (r := broken_by_facility(p, f.id)) is not None:
                found.append(r.value)
            expected = broken(problem, p, b)
            assert bool(found) == bool(expected), (p, b, found, expected)
            if found:  # each family reports its first rule; the overall first is the earliest of them
                assert min(found, key=RULE_ORDER.index) == expected[0]
