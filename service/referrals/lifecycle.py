"""The referral status machine, and the problem an illegal move gets."""

from __future__ import annotations

from contracts.referrals import ReferralStatus as S
from service.problems import ProblemError

# status -> statuses it may move to. waiting -> placed: placed at once, with no hold;
# held -> waiting: the hold was cancelled or expired; placed -> waiting: a no-show freed
# the bed. A transfer keeps a referral placed.
TRANSITIONS: dict[S, frozenset[S]] = {
    S.WAITING: frozenset({S.HELD, S.PLACED, S.WITHDRAWN}),
    S.HELD: frozenset({S.PLACED, S.WAITING, S.WITHDRAWN}),
    S.PLACED: frozenset({S.EXITED, S.WAITING}),
    S.EXITED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
ACTIVE = frozenset({S.WAITING, S.HELD, S.PLACED})


def check_transition(current: S, wanted: S) -> None:
    """409 with the current status when `current` cannot move to `wanted`."""
    if wanted not in TRANSITIONS[current]:
        raise ProblemError(
            409,
            "Illegal status change",
            detail=f"A {current} referral cannot become {wanted}.",
            current_status=current.value,
            allowed=sorted(s.value for s in TRANSITIONS[current]),
        )
