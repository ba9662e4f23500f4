"""Priority from the referral's inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from solver.priority import priority_of
from solver.problem import Gender


def test_lowest_and_highest() -> None:
    assert priority_of(vulnerability=1, court_ordered=False, days_waiting=0, gender=Gender.MAN) == 10
    assert priority_of(vulnerability=5, court_ordered=True, days_waiting=365, gender=Gender.WOMAN) == 115


def test_each_input_on_its_own() -> None:
    base = priority_of(vulnerability=2, court_ordered=False, days_waiting=0, gender=Gender.MAN)
    assert base == 20
    assert priority_of(vulnerability=3, court_ordered=False, days_waiting=0, gender=Gender.MAN) == base + 10
    assert priority_of(vulnerability=2, court_ordered=True, days_waiting=0, gender=Gender.MAN) == base + 25
    assert priority_of(vulnerability=2, court_ordered=False, days_waiting=0, gender=Gender.WOMAN) == base + 10
    assert priority_of(vulnerability=2, court_ordered=False, days_waiting=0, gender=Gender.OTHER) == base + 10


@pytest.mark.parametrize(("days", "points"), [(-5, 0), (0, 0), (2, 0), (3, 1), (5, 1), (6, 2), (89, 29), (90, 30)])
def test_one_point_per_three_days_waiting(days: int, points: int) -> None:
    base = priority_of(vulnerability=1, court_ordered=False, days_waiting=0, gender=Gender.MAN)
    assert priority_of(vulnerability=1, court_ordered=False, days_waiting=days, gender=Gender.MAN) == base + points


def test_waiting_points_stop_at_thirty() -> None:
    assert priority_of(vulnerability=1, court_ordered=False, days_waiting=10_000, gender=Gender.MAN) == 10 + 30


@given(
    vulnerability=st.integers(1, 5),
    court_ordered=st.booleans(),
    days=st.integers(-100, 10_000),
    gender=st.sampled_from(list(Gender)),
)
def test_within_the_priority_range_and_monotone_in_waiting(
    vulnerability: int, court_ordered: bool, days: int, gender: Gender
) -> None:
    now = priority_of(vulnerability=vulnerability, court_ordered=court_ordered, days_waiting=days, gender=gender)
    later = priority_of(vulnerability=vulnerability, court_ordered=court_ordered, days_waiting=days + 1, gender=gender)
    assert 10 <= now <= 115  # within Person.priority's 1..1000
    assert now <= later <= now + 1
