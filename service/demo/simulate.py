"""A simulated history for the demo inventory, for `abri simulate --years N`.

Occupancy reports, demos and benchmarks need years of placements, not an inventory that
nobody ever slept in. `generate` draws that history with pure code from one seeded
`random.Random`, so the same seed, years and `until` give the same rows; `simulate`
reads the inventory, generates, and writes everything with COPY in one transaction.

The model, a discrete-event simulation over local days (`ABRI_TIMEZONE`):
- The records begin `years` before `until`, with an empty inventory: the people housed
  then are entered as new referrals over the first two weeks. The history ends at
  local midnight starting `until`; stays going on then are left open.
- Each day brings a Poisson number of new referrals per kind and household size
  (single people; couples for couple rooms), at a rate proportional to the places of
  that kind in service that day, a little above what the places can take. Needs are
  drawn with the demo dataset's shares (`service.demo.dataset`), redrawn until some
  place of the kind could take them: nobody is referred to a kind that never fits.
- Every morning the placement team goes through the waiting households by vulnerability
  and holds, for each, the free place that fits it with the least waste (an accessible
  room for someone who needs it, a women-only bed for a woman...), by the API's own hard
  rules (`solver.rules.broken_by_type`). A place is free from its beds' `in_service_from`
  while its facility is open, when no hold, stay or out-of-service period covers it.
- Most holds are confirmed within four hours (the stay begins); some expire, some are
  cancelled with a coded reason (a bed found unusable goes out of service). Stays end
  as a no-show within two days, an exit with a coded reason after a length drawn per
  kind and reason, or a transfer to another facility (a new stay pointing to the old).
  A transfer that finds no bed does not happen: the person stays on.
- A freed place is let again after a delay (the room is checked, the next person
  found), sometimes after an out-of-service period; that delay is what keeps
  occupancy below full, at about 85 % of hotel places.
- Statuses follow the API's status machine: a no-show puts the referral back to
  waiting; households not placed within their patience are withdrawn (contact lost).

Rest spaces are not simulated: they are used per night, and a night per stay would
mean about 75,000 one-night stays over five years, each with its referral and exit,
swamping every flow. Couples are simulated, placed together in the two beds of a couple
room, leaving together with one outcome and never transferred. Every referral is the
demo outreach team's, with no excluded facility and nobody to keep apart. The run is
audited as one `history.simulated` event, not one event per change. Stay lengths, delays
and the shares of outcomes and exit reasons are illustrative: the seeds give none.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, partial
from math import exp, log
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg

from service.audit.record import record
from service.demo import dataset as demo
from service.placements.fit import bed_type
from service.referrals.queries import reference_hmac
from solver.problem import Gender, GenderPolicy, Kind
from solver.rules import BedType, Needs, broken_by_type

COMMAND = "abri simulate"
MAX_YEARS = 10


@dataclass(frozen=True, slots=True)
class KindModel:
    """How people come and go in one kind of capacity."""

    stay_median_days: float  # of a stay that ends in an exit, before the exit reason's factor
    stay_sigma: float  # of the stay length's logarithm
    relet_days: tuple[float, float]  # before a freed place is held again: a minimum, plus an exponential mean
    no_show: float  # share of stays the person never arrives at
    transfer: float  # share of single people's stays ending in a transfer
    transfer_to: dict[Kind, int]  # where transfers go: kind -> weight
    exits: dict[str, int]  # exit reason -> weight
    medical_levels: dict[int, int]  # of the people referred to this kind: level -> weight


# Exits end stays of different lengths: exclusions come early, moves to housing late.
STAY_FACTOR = {
    "exclusion": 0.6,
    "left_on_own_accord": 0.7,
    "hospital": 0.9,
    "prison": 0.9,
    "death": 1.0,
    "other": 1.0,
    "cure_or_post_cure": 1.2,
    "therapeutic_community": 1.4,
    "independent_housing": 1.8,
}
KINDS: dict[Kind, KindModel] = {
    # Hotels: weeks to months, often ended by the person or an exclusion.
    Kind.ASSORE_HOTEL: KindModel(
        stay_median_days=55,
        stay_sigma=0.9,
        relet_days=(2, 9),
        no_show=0.07,
        transfer=0.08,
        transfer_to={Kind.ASSORE_HOTEL: 45, Kind.SPECIALISED_UNIT: 40, Kind.OUT_OF_REGION: 15},
        exits={
            "left_on_own_accord": 30,
            "exclusion": 13,
            "hospital": 10,
            "cure_or_post_cure": 11,
            "independent_housing": 9,
            "prison": 7,
            "therapeutic_community": 5,
            "death": 2,
            "other": 13,
        },
        medical_levels=demo.MEDICAL_LEVELS,
    ),
    # Specialised units: months, with more moves on to care and housing.
    Kind.SPECIALISED_UNIT: KindModel(
        stay_median_days=150,
        stay_sigma=0.6,
        relet_days=(5, 16),
        no_show=0.04,
        transfer=0.05,
        transfer_to={Kind.ASSORE_HOTEL: 50, Kind.OUT_OF_REGION: 50},
        exits={
            "independent_housing": 20,
            "left_on_own_accord": 20,
            "cure_or_post_cure": 15,
            "therapeutic_community": 12,
            "hospital": 10,
            "exclusion": 8,
            "prison": 4,
            "death": 2,
            "other": 9,
        },
        medical_levels={1: 25, 2: 50, 3: 25},
    ),
    # Out of region: long stays in care far from the scenes, after a long lead time.
    Kind.OUT_OF_REGION: KindModel(
        stay_median_days=210,
        stay_sigma=0.5,
        relet_days=(10, 25),
        no_show=0.03,
        transfer=0.0,
        transfer_to={},
        exits={
            "cure_or_post_cure": 25,
            "therapeutic_community": 20,
            "left_on_own_accord": 20,
            "independent_housing": 15,
            "hospital": 6,
            "exclusion": 5,
            "prison": 2,
            "death": 1,
            "other": 6,
        },
        medical_levels=demo.MEDICAL_LEVELS,
    ),
}

DEMAND = 1.05  # referrals per place that frees up: a few more people than places, as in Paris
STARTING_SHARE = 0.9  # of the places in service when the records begin, filled over STARTING_DAYS
STARTING_DAYS = 14
ARRIVALS = (timedelta(hours=7), timedelta(hours=21))  # outreach teams refer people during the day
ROUND = (timedelta(hours=10), timedelta(hours=14))  # the placement team's daily round, local time
ROUND_STEP = (timedelta(minutes=1), timedelta(minutes=4))  # between two holds of a round
HOLD_EXPIRY = timedelta(hours=4)  # the API's default hold
HOLD_OUTCOMES = {"confirmed": 85, "expired": 6, "cancelled": 9}
CONFIRMED_AFTER = (timedelta(minutes=20), timedelta(minutes=230))
CANCELLED_AFTER = (timedelta(minutes=15), timedelta(hours=3))
CANCEL_REASONS = {
    "declined_by_person": 45,
    "declined_by_facility": 20,
    "bed_unavailable": 10,
    "referral_withdrawn": 10,
    "superseded": 5,
    "other": 10,
}
FIRST_TRY_AFTER = (timedelta(0), timedelta(days=7))  # the team assesses the person before a first hold
RETRY_AFTER = (timedelta(days=1), timedelta(days=3))  # a household whose hold failed is tried again
CHECK_IN_AFTER = (timedelta(minutes=10), timedelta(hours=3))
NO_SHOW_AFTER = (timedelta(hours=6), timedelta(days=2))  # the stay is ended as a no-show
NO_SHOW_RETRY_AFTER = (timedelta(days=1), timedelta(days=7))
NO_SHOW_RELET_AFTER = (timedelta(hours=8), timedelta(days=1, hours=12))
NO_SHOW_PATIENCE = timedelta(days=14)
PATIENCE_MEDIAN_DAYS = 60  # waiting longer than one's patience (lognormal) ends in withdrawal
PATIENCE_SIGMA = 0.7
FIRST_MET_BEFORE = (timedelta(0), timedelta(days=180))  # outreach met the person before the referral
OTHER_GENDER_SHARE = demo.OTHER_GENDER / demo.REFERRALS
COURT_SOURCE_SHARE = 0.8  # of court-ordered people referred by the court itself, as in the demo
OUT_OF_SERVICE_SHARE = 0.06  # of freed places going out of service before they are let again
OUT_OF_SERVICE_AFTER = {"exclusion": 0.3}  # a room left after an exclusion is often damaged
OUT_OF_SERVICE_FROM = (timedelta(0), timedelta(hours=6))  # after the stay ends
OUT_OF_SERVICE = {  # reason -> (weight, shortest, longest)
    "cleaning": (30, timedelta(days=1), timedelta(days=3)),
    "maintenance": (25, timedelta(days=3), timedelta(days=20)),
    "damage": (15, timedelta(days=5), timedelta(days=30)),
    "pest_control": (15, timedelta(days=7), timedelta(days=21)),
    "safety": (5, timedelta(days=1), timedelta(days=7)),
    "staffing": (5, timedelta(days=3), timedelta(days=14)),
    "other": (5, timedelta(days=1), timedelta(days=10)),
}
SHARED_BY_COUPLES = ("dogs", "acceptable_kinds", "consents_out_of_region", "care_anchor", "first_met_on")
MAX_DRAWS = 100  # redraws of a person's needs before giving up on that arrival
ENDED = frozenset({"exited", "withdrawn"})

T = TypeVar("T")


# Inventory and history -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryBed:
    """A bed as the simulation sees it; beds are referred to by their index in the inventory."""

    facility: int  # index of the facility, in the inventory's order
    label: str
    type: BedType
    in_service_from: datetime  # the later of the bed's own date and its facility's opening
    closes_at: datetime | None  # its facility's closing, if any


@dataclass(slots=True)
class SimReferral:
    number: int  # the reference is "sim-<number>", stored only as its keyed hash
    created_at: datetime
    source: str
    gender: str
    accessible: bool
    dogs: bool
    medical_level: int
    acceptable_kinds: tuple[str, ...]
    consents_out_of_region: bool
    care_anchor: tuple[float, float] | None
    vulnerability: int
    court_ordered: bool
    first_met_on: date
    updated_at: datetime
    partner: int | None = None  # index of the partner's referral
    status: str = "waiting"
    ended_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class SimHold:
    referral: int
    bed: int
    held_from: datetime
    ended_at: datetime  # confirmed, cancelled, or its expiry
    status: str
    cancel_reason: str | None


@dataclass(slots=True)
class SimStay:
    referral: int
    bed: int
    started_at: datetime
    hold: int | None
    transferred_from: int | None
    checked_in_at: datetime | None
    ended_at: datetime | None = None  # None: still going on at the horizon
    ended_as: str | None = None
    exit_reason: str | None = None

    @property
    def version(self) -> int:
        return 1 + (self.checked_in_at is not None) + (self.ended_at is not None)

    @property
    def updated_at(self) -> datetime:
        return self.ended_at or self.checked_in_at or self.started_at


@dataclass(frozen=True, slots=True)
class SimUnavailability:
    bed: int
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class History:
    referrals: list[SimReferral]
    holds: list[SimHold]
    stays: list[SimStay]
    unavailability: list[SimUnavailability]

    def counts(self) -> dict[str, Any]:
        """What the history holds, in numbers only: for the summary line and the audit event."""
        ended = Counter(stay.ended_as for stay in self.stays)
        return {
            "referrals": len(self.referrals),
            "statuses": dict(sorted(Counter(r.status for r in self.referrals).items())),
            "holds": len(self.holds),
            "stays": len(self.stays),
            "open_stays": ended[None],
            "exits": ended["exit"],
            "exit_reasons": dict(Counter(s.exit_reason for s in self.stays if s.exit_reason).most_common()),
            "no_shows": ended["no_show"],
            "transfers": ended["transfer"],
            "unavailability_periods": len(self.unavailability),
        }


# Generation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unit:
    """What is given at once: one bed, or the two beds of a couple room."""

    beds: tuple[int, ...]
    types: tuple[BedType, ...]
    facility: int
    opens_at: datetime
    closes_at: datetime | None

    @property
    def stream(self) -> tuple[Kind, int]:
        """Who the unit is for: its kind, and households of one person or two."""
        return self.types[0].kind, len(self.beds)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a stay will end, unless the horizon comes first."""

    length: timedelta
    ended_as: str
    exit_reason: str | None


@dataclass(slots=True, eq=False)
class _Household:
    """One person, or a couple placed together: what waits and is placed."""

    number: int  # in order of arrival
    people: tuple[int, ...]  # indices of their referrals
    needs: tuple[Needs, ...]
    vulnerability: int
    kind: Kind  # where the team refers them, then where they are
    next_try: datetime
    status: str = "waiting"
    wait: int = 0  # counts the times it started waiting, so that a stale give-up is ignored
    unit: int = -1  # the unit it holds or occupies
    stays: tuple[int, ...] = ()

    @property
    def priority(self) -> tuple[int, int]:
        return -self.vulnerability, self.number


def generate(beds: tuple[InventoryBed, ...], *, years: int, seed: int, until: date, timezone: ZoneInfo) -> History:
    """The history from `until` minus `years` to local midnight starting `until`; equal for equal arguments."""
    first_day = _years_before(until, years)
    simulation = _Simulation(beds, _midnight(first_day, timezone), _midnight(until, timezone), random.Random(seed))
    simulation.run([first_day + timedelta(days=n) for n in range((until - first_day).days)], timezone)
    return simulation.history()


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _midnight(day: date, timezone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone).astimezone(UTC)


def _units(beds: tuple[InventoryBed, ...]) -> list[_Unit]:
    """Single beds one by one; each facility's couple-room beds two by two in label order (R106-1, R106-2)."""
    groups: dict[tuple[int, bool], list[int]] = {}
    for index, bed in enumerate(beds):
        if bed.type.kind in KINDS:
            groups.setdefault((bed.facility, bed.type.couple_room), []).append(index)
    units = []
    for (facility, couple), members in groups.items():
        if couple:
            members.sort(key=lambda index: beds[index].label)
            sets = [(members[i], members[i + 1]) for i in range(0, len(members) - 1, 2)]
        else:
            sets = [(index,) for index in members]
        for unit_beds in sets:
            closings = [beds[i].closes_at for i in unit_beds if beds[i].closes_at is not None]
            units.append(
                _Unit(
                    beds=unit_beds,
                    types=tuple(beds[i].type for i in unit_beds),
                    facility=facility,
                    opens_at=max(beds[i].in_service_from for i in unit_beds),
                    closes_at=min(closings, default=None),
                )
            )
    return units


def _needs(person: SimReferral, in_couple: bool) -> Needs:
    return Needs(
        Gender(person.gender),
        person.accessible,
        person.dogs,
        person.medical_level,
        frozenset(Kind(kind) for kind in person.acceptable_kinds),
        person.consents_out_of_region,
        in_couple,
    )


@cache  # few distinct (types, needs) pairs, asked about at every round
def _waste(types: tuple[BedType, ...], needs: tuple[Needs, ...]) -> int | None:
    """None if a bed breaks a hard rule for its person; else how much the beds offer that nobody needs.

    Giving the least-wasted place first keeps accessible rooms, dog-friendly rooms,
    women-only beds and medical support for the people who need them.
    """
    waste = 0
    for bed, person in zip(types, needs, strict=True):
        if broken_by_type(person, bed) is not None:
            return None
        waste += 4 * (bed.accessible and not person.accessible) + (bed.dogs_allowed and not person.dogs)
        waste += 2 * (bed.gender_policy is GenderPolicy.ANY and person.gender is Gender.WOMAN)
        waste += bed.medical_level - person.medical_level
    return waste


def _weighted(rng: random.Random, weights: dict[T, int]) -> T:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the few arrivals a day drawn here."""
    limit, count, product = exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _turnover_days(model: KindModel) -> float:
    """About how many days a place serves each person: the mean stay plus the mean re-letting delay."""
    reasons = model.exits.items()
    mean_factor = sum(STAY_FACTOR[reason] * weight for reason, weight in reasons) / sum(model.exits.values())
    stay = exp(log(model.stay_median_days) + model.stay_sigma**2 / 2) * mean_factor
    no_show = (NO_SHOW_AFTER[0] + NO_SHOW_AFTER[1]) / 2 / timedelta(days=1)
    return (1 - model.no_show) * stay + model.no_show * no_show + sum(model.relet_days)


class _Simulation:
    """The simulation's state and its event handlers; events run in (time, order of scheduling) order."""

    def __init__(self, beds: tuple[InventoryBed, ...], start: datetime, horizon: datetime, rng: random.Random) -> None:
        self.start, self.horizon, self.now = start, horizon, start
        self.rng = rng
        self.units = _units(beds)
        self.streams = sorted({unit.stream for unit in self.units})
        of = {stream: [unit for unit in self.units if unit.stream == stream] for stream in self.streams}
        self.types = {stream: list(dict.fromkeys(unit.types for unit in units)) for stream, units in of.items()}
        self.opening = {stream: sorted(unit.opens_at for unit in units) for stream, units in of.items()}
        self.closing = {stream: sorted(u.closes_at for u in units if u.closes_at) for stream, units in of.items()}
        # stream -> bed types -> free units of those types (dicts, for a deterministic order)
        self.free: dict[tuple[Kind, int], dict[tuple[BedType, ...], dict[int, None]]] = {s: {} for s in self.streams}
        self.turnover = {kind: _turnover_days(model) for kind, model in KINDS.items()}
        self.events: list[tuple[datetime, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.arrivals = itertools.count()
        self.waiting: dict[int, _Household] = {}
        self.referrals: list[SimReferral] = []
        self.holds: list[SimHold] = []
        self.stays: list[SimStay] = []
        self.unavailability: list[SimUnavailability] = []

    def history(self) -> History:
        return History(self.referrals, self.holds, self.stays, self.unavailability)

    # The clock ---------------------------------------------------------------

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        """Run `action` at `when`; what would happen at or after the horizon never does."""
        if when < self.horizon:
            heapq.heappush(self.events, (when, next(self.order), action))

    def run(self, days: list[date], timezone: ZoneInfo) -> None:
        for index, unit in enumerate(self.units):
            self.at(max(unit.opens_at, self.start), partial(self._ready, index))
        for stream in self.streams:
            for _ in range(round(STARTING_SHARE * self._in_service(stream, self.start))):
                day = timedelta(days=self.rng.randrange(STARTING_DAYS))
                self.at(self.start + day + self._between(ARRIVALS), partial(self._arrive, stream))
        for day in days:
            midnight = _midnight(day, timezone)
            self._arrivals(midnight)
            self.at(midnight + ROUND[0], partial(self._round, midnight + ROUND[1]))
            self._run_until(_midnight(day + timedelta(days=1), timezone))

    def _run_until(self, until: datetime) -> None:
        while self.events and self.events[0][0] < until:
            self.now, _, action = heapq.heappop(self.events)
            action()

    def _between(self, bounds: tuple[timedelta, timedelta]) -> timedelta:
        """A duration drawn uniformly between the bounds, in whole seconds."""
        low, high = bounds
        return timedelta(seconds=round(self.rng.uniform(low.total_seconds(), high.total_seconds())))

    # Arrivals ----------------------------------------------------------------

    def _in_service(self, stream: tuple[Kind, int], at: datetime) -> int:
        return bisect_right(self.opening[stream], at) - bisect_right(self.closing[stream], at)

    def _arrivals(self, midnight: datetime) -> None:
        for stream in self.streams:
            mean = DEMAND * self._in_service(stream, midnight) / self.turnover[stream[0]]
            for _ in range(_poisson(self.rng, mean)):
                self.at(midnight + self._between(ARRIVALS), partial(self._arrive, stream))

    def _arrive(self, stream: tuple[Kind, int]) -> None:
        kind, size = stream
        people = self._people(kind, size)
        if people is None:
            return
        first = len(self.referrals)
        self.referrals += people
        if size == 2:
            people[0].partner, people[1].partner = first + 1, first
        household = _Household(
            number=next(self.arrivals),
            people=tuple(range(first, first + size)),
            needs=tuple(_needs(person, size == 2) for person in people),
            vulnerability=max(person.vulnerability for person in people),
            kind=kind,
            next_try=self.now,
        )
        self._start_waiting(household, self.now + self._between(FIRST_TRY_AFTER), self._patience())

    def _people(self, kind: Kind, size: int) -> list[SimReferral] | None:
        """New referrals for a place of `kind`, drawn again until some place of the kind could take them."""
        numbers = range(len(self.referrals) + 1, len(self.referrals) + size + 1)
        genders = ("woman", "man") if size == 2 else (None,)
        for _ in range(MAX_DRAWS):
            people = [self._person(kind, gender, number) for gender, number in zip(genders, numbers, strict=True)]
            for name in SHARED_BY_COUPLES if size == 2 else ():  # as in the demo, a couple shares these
                setattr(people[1], name, getattr(people[0], name))
            needs = tuple(_needs(person, size == 2) for person in people)
            if any(_waste(types, needs) is not None for types in self.types[kind, size]):
                return people
        return None

    def _person(self, kind: Kind, gender: str | None, number: int) -> SimReferral:
        """One person referred to `kind`: the demo dataset's shares of needs, the kind's medical levels."""
        rng = self.rng
        if gender is None:
            draw = rng.random() - demo.WOMEN_SHARE
            gender = "woman" if draw < 0 else "other" if draw < OTHER_GENDER_SHARE else "man"
        court_ordered = rng.random() < demo.COURT_ORDERED_SHARE
        if not court_ordered:
            source = _weighted(rng, demo.SOURCES)
        elif rng.random() < COURT_SOURCE_SHARE:
            source = "court_ordered_treatment"
        else:
            source = rng.choice(("outreach_team", "hospital"))
        consents = kind is Kind.OUT_OF_REGION or rng.random() < demo.OUT_OF_REGION_SHARE
        kinds = [Kind.ASSORE_HOTEL.value, Kind.SPECIALISED_UNIT.value]
        if rng.random() < demo.REST_SPACE_SHARE:
            kinds.append(Kind.REST_SPACE.value)
        if consents:
            kinds.append(Kind.OUT_OF_REGION.value)
        anchor = None
        if rng.random() < demo.CARE_ANCHOR_SHARE:
            lat, lon = rng.choice(demo.CARE_CENTRES)
            anchor = (round(lat + rng.choice(demo.NUDGES), 2), round(lon + rng.choice(demo.NUDGES), 2))
        return SimReferral(
            number=number,
            created_at=self.now,
            source=source,
            gender=gender,
            accessible=rng.random() < demo.ACCESSIBLE_SHARE,
            dogs=rng.random() < demo.DOGS_SHARE,
            medical_level=_weighted(rng, KINDS[kind].medical_levels),
            acceptable_kinds=tuple(kinds),
            consents_out_of_region=consents,
            care_anchor=anchor,
            vulnerability=_weighted(rng, demo.VULNERABILITY),
            court_ordered=court_ordered,
            first_met_on=(self.now - self._between(FIRST_MET_BEFORE)).date(),
            updated_at=self.now,
        )

    def _patience(self) -> timedelta:
        return timedelta(days=self.rng.lognormvariate(log(PATIENCE_MEDIAN_DAYS), PATIENCE_SIGMA))

    # Waiting -----------------------------------------------------------------

    def _move(self, household: _Household, status: str, at: datetime) -> None:
        """A status change of everyone in the household, counted as the API counts versions."""
        household.status = status
        for index in household.people:
            referral = self.referrals[index]
            referral.status, referral.updated_at, referral.version = status, at, referral.version + 1
            if status in ENDED:
                referral.ended_at = at

    def _start_waiting(self, household: _Household, next_try: datetime, patience: timedelta) -> None:
        household.next_try = next_try
        household.wait += 1
        self.waiting[household.number] = household
        self.at(self.now + patience, partial(self._give_up, household, household.wait))

    def _wait_again(self, household: _Household, retry_after: tuple[timedelta, timedelta], patience: timedelta) -> None:
        self._move(household, "waiting", self.now)
        self._start_waiting(household, self.now + self._between(retry_after), patience)

    def _give_up(self, household: _Household, wait: int) -> None:
        """Contact is lost with a household still waiting since `wait` began: it is withdrawn."""
        if household.status == "waiting" and household.wait == wait:
            del self.waiting[household.number]
            self._move(household, "withdrawn", self.now)

    # Holds -------------------------------------------------------------------

    def _round(self, ends: datetime) -> None:
        """The morning round: by priority, each waiting household gets a hold on its best free place, until `ends`.

        Holds last at most HOLD_EXPIRY, so every hold has ended before the day does.
        """
        unplaceable: set[tuple[Kind, tuple[Needs, ...]]] = set()  # needs that found no place this round
        at = self.now
        for household in sorted(self.waiting.values(), key=lambda h: h.priority):
            needs = (household.kind, household.needs)
            if household.next_try > self.now or needs in unplaceable:
                continue
            at += self._between(ROUND_STEP)
            if at >= ends:
                return
            best = self._best_free(household, household.kind)
            if best:
                plan = self._plan(household.kind, transfer=len(household.people) == 1, no_show=True)
                unit = self._take(best, at + HOLD_EXPIRY + plan.length)
                if unit is not None:
                    self._hold(household, unit, at, plan)
                    continue
            unplaceable.add(needs)

    def _best_free(self, household: _Household, kind: Kind, away_from: int = -1) -> list[int]:
        """The free units of `kind` that fit the household with the least waste (none in facility `away_from`)."""
        best: list[int] = []
        least = None
        for types, free in self.free.get((kind, len(household.people)), {}).items():
            waste = _waste(types, household.needs)
            if waste is None or (least is not None and waste > least):
                continue
            fits = [index for index in free if self.units[index].facility != away_from]
            if fits:
                best = best + fits if waste == least else fits
                least = waste
        return best

    def _take(self, units: list[int], end: datetime) -> int | None:
        """One of `units`, at random among those whose facility is still open at `end`, no longer free."""
        units = [u for u in units if self.units[u].closes_at is None or end <= self.units[u].closes_at]
        if not units:
            return None
        unit = self.rng.choice(units)
        del self.free[self.units[unit].stream][self.units[unit].types][unit]
        return unit

    def _hold(self, household: _Household, unit: int, at: datetime, plan: _Plan) -> None:
        """Hold the unit from `at`; the hold ends confirmed, expired or cancelled, within HOLD_EXPIRY."""
        del self.waiting[household.number]
        status = _weighted(self.rng, HOLD_OUTCOMES)
        reason = _weighted(self.rng, CANCEL_REASONS) if status == "cancelled" else None
        if status == "confirmed":
            ends = at + self._between(CONFIRMED_AFTER)
        elif status == "expired":
            ends = at + HOLD_EXPIRY
        else:
            ends = at + self._between(CANCELLED_AFTER)
        first = len(self.holds)
        self.holds += [
            SimHold(person, bed, at, ends, status, reason)
            for person, bed in zip(household.people, self.units[unit].beds, strict=True)
        ]
        self._move(household, "held", at)
        self.at(ends, partial(self._end_hold, household, unit, tuple(range(first, len(self.holds))), plan))

    def _end_hold(self, household: _Household, unit: int, holds: tuple[int, ...], plan: _Plan) -> None:
        hold = self.holds[holds[0]]
        if hold.status == "confirmed":
            self._move(household, "placed", self.now)
            self._start_stays(household, unit, plan, holds=holds, transferred_from=None)
            return
        if hold.cancel_reason == "referral_withdrawn":
            self._move(household, "withdrawn", self.now)
        else:
            self._wait_again(household, RETRY_AFTER, self._patience())
        if hold.cancel_reason == "bed_unavailable":
            self.at(self._out_of_service(unit, self.now), partial(self._ready, unit))
        else:
            self._ready(unit)

    # Stays -------------------------------------------------------------------

    def _plan(self, kind: Kind, *, transfer: bool, no_show: bool) -> _Plan:
        """How a stay in `kind` will end: a no-show or a transfer (where allowed), else an exit."""
        model = KINDS[kind]
        if no_show and self.rng.random() < model.no_show:
            return _Plan(self._between(NO_SHOW_AFTER), "no_show", None)
        if transfer and self.rng.random() < model.transfer:
            ended_as, reason, factor = "transfer", None, 1.0
        else:
            reason = _weighted(self.rng, model.exits)
            ended_as, factor = "exit", STAY_FACTOR[reason]
        days = max(1.0, factor * self.rng.lognormvariate(log(model.stay_median_days), model.stay_sigma))
        return _Plan(timedelta(seconds=round(days * 86_400)), ended_as, reason)

    def _start_stays(
        self,
        household: _Household,
        unit: int,
        plan: _Plan,
        *,
        holds: tuple[int, ...] | None,
        transferred_from: tuple[int, ...] | None,
    ) -> None:
        first = len(self.stays)
        for n, (person, bed) in enumerate(zip(household.people, self.units[unit].beds, strict=True)):
            checked_in = None if plan.ended_as == "no_show" else self.now + self._between(CHECK_IN_AFTER)
            self.stays.append(
                SimStay(
                    referral=person,
                    bed=bed,
                    started_at=self.now,
                    hold=None if holds is None else holds[n],
                    transferred_from=None if transferred_from is None else transferred_from[n],
                    checked_in_at=checked_in if checked_in and checked_in < self.horizon else None,
                )
            )
        household.unit, household.stays = unit, tuple(range(first, len(self.stays)))
        self.at(self.now + plan.length, partial(self._end_stays, household, plan))

    def _end_stays(self, household: _Household, plan: _Plan) -> None:
        if plan.ended_as == "transfer":
            if not self._transfer(household):  # no bed to go to: the person stays on, until an exit
                stay_on = self._plan(household.kind, transfer=False, no_show=False)
                self.at(self.now + stay_on.length, partial(self._end_stays, household, stay_on))
            return
        self._close_stays(household, plan.ended_as, plan.exit_reason)
        if plan.ended_as == "no_show":  # the API puts the referral back to waiting
            self._wait_again(household, NO_SHOW_RETRY_AFTER, NO_SHOW_PATIENCE)
            self.at(self.now + self._between(NO_SHOW_RELET_AFTER), partial(self._ready, household.unit))
        else:
            self._move(household, "exited", self.now)
            self._relet(household.unit, household.kind, plan.exit_reason)

    def _close_stays(self, household: _Household, ended_as: str, exit_reason: str | None) -> None:
        for index in household.stays:
            stay = self.stays[index]
            stay.ended_at, stay.ended_as, stay.exit_reason = self.now, ended_as, exit_reason

    def _transfer(self, household: _Household) -> bool:
        """Move the person now to a bed in another facility, if one fits; False if none does."""
        acceptable = {Kind(kind) for kind in self.referrals[household.people[0]].acceptable_kinds}
        targets = {kind: weight for kind, weight in KINDS[household.kind].transfer_to.items() if kind in acceptable}
        if not targets:
            return False
        kind = _weighted(self.rng, targets)
        best = self._best_free(household, kind, away_from=self.units[household.unit].facility)
        plan = self._plan(kind, transfer=False, no_show=False)
        unit = self._take(best, self.now + plan.length)
        if unit is None:
            return False
        self._close_stays(household, "transfer", None)
        self._relet(household.unit, household.kind, None)
        household.kind = kind
        self._start_stays(household, unit, plan, holds=None, transferred_from=household.stays)
        return True

    # Places ------------------------------------------------------------------

    def _ready(self, unit: int) -> None:
        """The unit can be held again, unless its facility has closed."""
        place = self.units[unit]
        if place.closes_at is None or self.now < place.closes_at:
            self.free[place.stream].setdefault(place.types, {})[unit] = None

    def _relet(self, unit: int, kind: Kind, exit_reason: str | None) -> None:
        """After a stay the place is let again after a delay, sometimes after an out-of-service period."""
        shortest, mean = KINDS[kind].relet_days
        ready = self.now + timedelta(days=shortest + self.rng.expovariate(1 / mean))
        if self.rng.random() < OUT_OF_SERVICE_AFTER.get(exit_reason or "", OUT_OF_SERVICE_SHARE):
            ready = max(ready, self._out_of_service(unit, self.now + self._between(OUT_OF_SERVICE_FROM)))
        self.at(ready, partial(self._ready, unit))

    def _out_of_service(self, unit: int, starts: datetime) -> datetime:
        """Take one of the unit's beds out of service from `starts`, for a coded reason; returns the end."""
        if starts >= self.horizon:
            return starts
        reason = _weighted(self.rng, {reason: weight for reason, (weight, _, _) in OUT_OF_SERVICE.items()})
        _, shortest, longest = OUT_OF_SERVICE[reason]
        ends = starts + self._between((shortest, longest))
        self.unavailability.append(SimUnavailability(self.rng.choice(self.units[unit].beds), starts, ends, reason))
        return ends


# Writing it ------------------------------------------------------------------------


class SimulationRefused(Exception):
    """The database cannot take a simulated history; the message says why. Nothing was written."""


@dataclass(frozen=True, slots=True)
class Summary:
    years: int
    seed: int
    until: date
    counts: dict[str, Any]
    seconds: float

    def line(self) -> str:
        """One line for the terminal: counts and codes only."""
        c = self.counts
        statuses = ", ".join(f"{status} {n:,}" for status, n in c["statuses"].items())
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in c["exit_reasons"].items())
        return (
            f"Simulated {self.years} year{'s' * (self.years > 1)} up to {self.until} (seed {self.seed}): "
            f"{c['referrals']:,} referrals ({statuses}), {c['holds']:,} holds, {c['stays']:,} stays "
            f"({c['open_stays']:,} open; {c['exits']:,} exits: {reasons}; {c['no_shows']:,} no-shows; "
            f"{c['transfers']:,} transfers), {c['unavailability_periods']:,} out-of-service periods, "
            f"in {self.seconds:.1f} s."
        )


REFERRAL_COLUMNS = (
    "id",
    "organisation_id",
    "reference_hmac",
    "source",
    "status",
    "gender",
    "accessible",
    "dogs",
    "couple_partner_id",
    "medical_level",
    "acceptable_kinds",
    "consents_out_of_region",
    "excluded_facility_ids",
    "keep_apart_ids",
    "care_anchor_lat",
    "care_anchor_lon",
    "vulnerability",
    "court_ordered",
    "first_met_on",
    "ended_at",
    "version",
    "created_at",
    "updated_at",
)
HOLD_COLUMNS = (
    "id",
    "bed_id",
    "referral_id",
    "period",
    "status",
    "cancel_reason",
    "version",
    "created_at",
    "updated_at",
)
STAY_COLUMNS = (
    "id",
    "bed_id",
    "referral_id",
    "hold_id",
    "transferred_from",
    "period",
    "checked_in_at",
    "ended_as",
    "exit_reason",
    "version",
    "created_at",
    "updated_at",
)
UNAVAILABILITY_COLUMNS = ("id", "bed_id", "starts_at", "ends_at", "reason", "created_at", "updated_at")


async def simulate(
    conn: asyncpg.Connection, reference_key: str, *, years: int, seed: int, until: date, timezone: str
) -> Summary:
    """Generate the history and write it in one transaction, with one audit event for the run.

    Raises SimulationRefused, writing nothing, unless the demo inventory is there, no hold
    or stay is (the history is made to fit beds nobody has used) and some place was in
    service in those years. Every bed is locked first, as a booking locks its bed, so no
    hold or stay can slip in meanwhile.
    """
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("SELECT FROM beds ORDER BY id FOR UPDATE")
        organisation_id = await _referrer(conn)
        bed_ids, beds = await _inventory(conn, timezone)
        history = generate(beds, years=years, seed=seed, until=until, timezone=ZoneInfo(timezone))
        if not history.referrals:
            raise SimulationRefused(f"no place of the inventory is in service in the {years} years before {until}")
        await _write(conn, history, bed_ids, organisation_id, reference_key)
        counts = history.counts()
        facts = {"command": COMMAND, "years": years, "seed": seed, "until": until.isoformat(), **counts}
        await record(conn, None, "history.simulated", "history", [await conn.fetchval("SELECT uuidv7()")], [facts])
    return Summary(years, seed, until, counts, time.perf_counter() - started)


async def _referrer(conn: asyncpg.Connection) -> UUID:
    """The demo's outreach team, which refers the simulated people; refuses unless the history is empty."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT id FROM organisations WHERE name = $1) AS organisation_id,
               EXISTS (SELECT FROM facilities) AS inventory,
               (SELECT count(*) FROM holds) AS holds,
               (SELECT count(*) FROM stays) AS stays
        """,
        demo.MARAUDE,
    )
    if not row["inventory"] or row["organisation_id"] is None:
        raise SimulationRefused("no demo inventory in the database: load it first with `abri seed-demo`")
    if row["holds"] or row["stays"]:
        raise SimulationRefused(
            f"the database already holds a history (stays: {row['stays']:,}, holds: {row['holds']:,}); "
            "a history is simulated only into a demo database where no bed was ever held or occupied"
        )
    return row["organisation_id"]


async def _inventory(conn: asyncpg.Connection, timezone: str) -> tuple[list[UUID], tuple[InventoryBed, ...]]:
    """Every bed, ordered by what it is (never by id), so the same inventory gives the same history."""
    rows = await conn.fetch(
        """
        SELECT b.id, b.facility_id, b.label, f.kind, b.gender_policy, b.accessible AS bed_accessible,
               b.couple_room, b.dogs_allowed, b.medical_level AS bed_medical_level,
               greatest(b.in_service_from, f.opened_on::timestamp AT TIME ZONE $1) AS in_service_from,
               f.closed_on::timestamp AT TIME ZONE $1 AS closes_at
        FROM beds b JOIN facilities f ON f.id = b.facility_id
        ORDER BY f.opened_on, f.name, f.address, b.label
        """,
        timezone,
    )
    facilities: dict[UUID, int] = {}
    beds = tuple(
        InventoryBed(
            facility=facilities.setdefault(row["facility_id"], len(facilities)),
            label=row["label"],
            type=bed_type(row),
            in_service_from=row["in_service_from"],
            closes_at=row["closes_at"],
        )
        for row in rows
    )
    return [row["id"] for row in rows], beds


async def _ids(conn: asyncpg.Connection, created: Iterable[datetime]) -> list[UUID]:
    """The database's uuidv7s, stamped with each row's creation time, so that ids sort as the history ran."""
    rows = await conn.fetch(
        """
        SELECT uuidv7(at - clock_timestamp()) AS id
        FROM unnest($1::timestamptz[]) WITH ORDINALITY AS t(at, n)
        ORDER BY n
        """,
        list(created),
    )
    return [row["id"] for row in rows]


async def _write(
    conn: asyncpg.Connection, history: History, bed_ids: list[UUID], organisation_id: UUID, reference_key: str
) -> None:
    referral_ids = await _ids(conn, (r.created_at for r in history.referrals))
    hold_ids = await _ids(conn, (h.held_from for h in history.holds))
    stay_ids = await _ids(conn, (s.started_at for s in history.stays))
    unavailability_ids = await _ids(conn, (u.starts_at for u in history.unavailability))
    referrals = [
        (
            referral_ids[n],
            organisation_id,
            reference_hmac(reference_key, f"sim-{r.number}"),
            r.source,
            r.status,
            r.gender,
            r.accessible,
            r.dogs,
            None if r.partner is None else referral_ids[r.partner],
            r.medical_level,
            list(r.acceptable_kinds),
            r.consents_out_of_region,
            [],
            [],
            *(r.care_anchor or (None, None)),
            r.vulnerability,
            r.court_ordered,
            r.first_met_on,
            r.ended_at,
            r.version,
            r.created_at,
            r.updated_at,
        )
        for n, r in enumerate(history.referrals)
    ]
    holds = [
        (
            hold_ids[n],
            bed_ids[h.bed],
            referral_ids[h.referral],
            asyncpg.Range(h.held_from, h.ended_at),
            h.status,
            h.cancel_reason,
            2,  # made, then ended
            h.held_from,
            h.ended_at,
        )
        for n, h in enumerate(history.holds)
    ]
    stays = [
        (
            stay_ids[n],
            bed_ids[s.bed],
            referral_ids[s.referral],
            None if s.hold is None else hold_ids[s.hold],
            None if s.transferred_from is None else stay_ids[s.transferred_from],
            asyncpg.Range(s.started_at, s.ended_at),
            s.checked_in_at,
            s.ended_as,
            s.exit_reason,
            s.version,
            s.started_at,
            s.updated_at,
        )
        for n, s in enumerate(history.stays)
    ]
    unavailability = [
        (unavailability_ids[n], bed_ids[u.bed], u.starts_at, u.ends_at, u.reason, u.starts_at, u.starts_at)
        for n, u in enumerate(history.unavailability)
    ]
    await conn.copy_records_to_table("referrals", records=referrals, columns=REFERRAL_COLUMNS)
    await conn.copy_records_to_table("holds", records=holds, columns=HOLD_COLUMNS)
    await conn.copy_records_to_table("stays", records=stays, columns=STAY_COLUMNS)
    await conn.copy_records_to_table("bed_unavailability", records=unavailability, columns=UNAVAILABILITY_COLUMNS)
