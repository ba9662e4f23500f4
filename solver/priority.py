"""Who is placed first: an integer priority from the referral's priority inputs."""

from __future__ import annotations

from solver.problem import Gender

VULNERABILITY_POINTS = 10  # per level, 1 to 5
COURT_ORDERED_POINTS = 25
DAYS_PER_POINT = 3  # one point per 3 days waiting...
MAX_WAITING_POINTS = 30  # ...up to 90 days
EXPOSED_GENDER_POINTS = 10  # women and other genders are far more exposed on the street


def priority_of(*, vulnerability: int, court_ordered: bool, days_waiting: int, gender: Gender) -> int:
    """10 per vulnerability level + 25 if court-ordered + 1 per 3 days waiting (max 30)
    + 10 for a woman or another gender than man: 10 to 115."""
    return (
        VULNERABILITY_POINTS * vulnerability
        + (COURT_ORDERED_POINTS if court_ordered else 0)
        + min(max(days_waiting, 0) // DAYS_PER_POINT, MAX_WAITING_POINTS)
        + (EXPOSED_GENDER_POINTS if gender is not Gender.MAN else 0)
    )
