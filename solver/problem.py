"""The solver's input and output: a PlacementProblem in, a PlacementPlan out.

Plain msgspec Structs, so a problem crosses a process boundary as msgpack and a plan
can be stored as JSON. Identifiers are opaque strings: the solver never looks inside.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from contracts.availability import PersonGender as Gender
from contracts.common import FacilityKind as Kind
from contracts.common import GenderPolicy
from contracts.proposals import HardRule as Rule
from contracts.proposals import UnplacedReason

__all__ = ["Gender", "GenderPolicy", "Kind", "Rule", "UnplacedReason"]  # the wire enums, re-exported

Km = Annotated[float, Meta(ge=0, le=1000)]
Points = Annotated[int, Meta(ge=0, le=1000)]
Priority = Annotated[int, Meta(ge=1, le=1000, description="Higher is placed first; see solver.priority")]


class Point(msgspec.Struct, frozen=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]


class Person(msgspec.Struct, frozen=True, kw_only=True):
    """A referral to place: its needs, its priority, and the links flow cannot express."""

    id: str
    priority: Priority
    gender: Gender
    accessible: bool = False
    dogs: bool = False
    medical_level: Annotated[int, Meta(ge=0, le=3)] = 0
    acceptable_kinds: frozenset[Kind] = frozenset(Kind)
    consents_out_of_region: bool = False
    excluded_facility_ids: frozenset[str] = frozenset()
    partner_id: str | None = None
    """Couple partner in the same problem: both are placed in one facility, or neither."""
    partner_facility_id: str | None = None
    """Facility where the partner already has a bed: the person can only join them there."""
    keep_apart_ids: frozenset[str] = frozenset()
    """People in the same problem who must not share a facility with this one."""
    care_anchor: Point | None = None


class Facility(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: Kind
    location: Point


class BedClass(msgspec.Struct, frozen=True, kw_only=True):
    """Interchangeable free beds of one facility: same attributes, same cost."""

    id: str
    facility_id: str
    capacity: Annotated[int, Meta(ge=1)]
    gender_policy: GenderPolicy = GenderPolicy.ANY
    accessible: bool = False
    couple_room: bool = False
    dogs_allowed: bool = False
    medical_level: Annotated[int, Meta(ge=0, le=3)] = 0
    nightly_cost_cents: Annotated[int, Meta(ge=0, le=100_000)] = 0


class Site(msgspec.Struct, frozen=True, kw_only=True):
    """A consumption site active at the time of the proposal."""

    name: str
    location: Point


def _default_min_distance() -> dict[Kind, float]:
    return {Kind.ASSORE_HOTEL: 1.0, Kind.SPECIALISED_UNIT: 1.0, Kind.REST_SPACE: 0.0, Kind.OUT_OF_REGION: 0.0}


class Parameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Rules and weights a request may tune, each within bounds."""

    min_distance_km: dict[Kind, Annotated[float, Meta(ge=0, le=50)]] = msgspec.field(
        default_factory=_default_min_distance
    )
    """Hard minimum great-circle distance from the nearest active site, per facility kind."""
    distance_points: Points = 600
    """Reward for a bed at `distance_saturation_km` or more from the nearest site."""
    distance_saturation_km: Annotated[float, Meta(ge=0.5, le=1000)] = 8.0
    care_points: Points = 300
    """Reward for a bed at the person's care anchor, falling to 0 at `care_radius_km`."""
    care_radius_km: Annotated[float, Meta(ge=1, le=1000)] = 15.0
    points_per_euro: Annotated[int, Meta(ge=0, le=10)] = 1
    """Penalty per euro of nightly cost."""
    time_limit_s: Annotated[float, Meta(ge=0.1, le=120)] = 10.0
    """CP-SAT's deterministic budgets are shares of it (solver/optimise.py); the flow
    itself is exact and needs no limit."""
    candidate_facilities: Annotated[int, Meta(ge=1, le=200)] = 12
    """At scale, how many of its best facilities CP-SAT may choose from for each household."""
    exact_below: Annotated[int, Meta(ge=0, le=1_000_000)] = 30_000
    """When the households' plan falls short of the flow's bound, CP-SAT goes on over the
    whole problem (exact) if it has at most this many person–bed-class pairs."""


class PlacementProblem(msgspec.Struct, frozen=True, kw_only=True):
    people: list[Person]
    facilities: list[Facility]
    bed_classes: list[BedClass]
    sites: list[Site]
    parameters: Parameters = Parameters()


class Scores(msgspec.Struct, frozen=True, kw_only=True):
    """A line's terms; its value is `priority * placement_weight + distance + care - cost`."""

    priority: int
    distance: int
    care: int
    cost: int


class Line(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    facility_id: str
    bed_class_id: str
    kind: Kind
    distance_km: float | None
    """To the nearest active site; null when no site is active."""
    nearest_site: str | None
    scores: Scores


class RuleCount(msgspec.Struct, frozen=True):
    rule: Rule
    beds: int


class Unplaced(msgspec.Struct, frozen=True, kw_only=True):
    person_id: str
    reason: UnplacedReason
    explanation: str
    free_beds: int
    beds_removed: list[RuleCount]
    """How many of the free beds each rule removed, applied in order."""
    eligible_beds: int


class Method(StrEnum):
    FLOW = "min_cost_flow"
    FLOW_AND_CP_SAT = "min_cost_flow+cp_sat"
    GREEDY = "greedy_first_fit"


class Statistics(msgspec.Struct, frozen=True, kw_only=True):
    method: Method
    objective: int
    """Sum over lines of `priority * placement_weight + distance + care - cost`."""
    bound: int
    """No plan can score more (from the flow relaxation, or CP-SAT's proof)."""
    gap: float
    """(bound - objective) / bound, 0 when proven optimal."""
    placement_weight: int
    """Large enough that one more point of priority outweighs every other term together."""
    people: int
    placed: int
    priority_placed: int
    people_classes: int
    bed_classes: int
    nodes: int
    arcs: int
    side_people: int
    """People under couple or keep-apart constraints, handled by CP-SAT."""
    cp_sat_status: str | None
    seconds: float


class PlacementPlan(msgspec.Struct, frozen=True, kw_only=True):
    lines: list[Line]
    unplaced: list[Unplaced]
    statistics: Statistics
