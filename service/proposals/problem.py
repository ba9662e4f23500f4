"""From a database snapshot to the solver's PlacementProblem, and the bed ids behind each class.

Pure code, run in the solver's worker process (service/proposals/worker.py):
`queries.snapshot` reads the rows in one statement, as JSON; this turns them into people,
facilities, bed classes and sites as `solver.problem` defines them, and trims what saving
the plan needs down to the plan's lines (`Booking`), the only part that goes back.

- People: the waiting referrals in scope. A couple is two referrals naming each other
  (or one naming the other, who names no one). A couple with both partners waiting is
  linked by `partner_id`; a person whose partner already has a bed (active hold or
  open stay) may only join them there (`partner_facility_id`). Keep-apart links count
  both ways: among the people of the problem they are `keep_apart_ids`; a keep-apart
  person who already has a bed excludes that facility. Declined (referral, facility)
  pairs are excluded too, unless the request includes them.
- Bed classes: beds free for the whole hold, grouped by facility and attributes; the
  class id maps to its bed ids in id order, the order lines take them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import msgspec

from contracts.proposals import ProposalParameters
from solver.priority import priority_of
from solver.problem import (
    BedClass,
    Facility,
    Gender,
    GenderPolicy,
    Kind,
    Line,
    Parameters,
    Person,
    PlacementProblem,
    Point,
    Site,
)


class PersonRow(msgspec.Struct, kw_only=True):
    id: str
    gender: Gender
    accessible: bool
    dogs: bool
    medical_level: int
    acceptable_kinds: list[Kind]
    consents_out_of_region: bool
    excluded_facility_ids: list[str]
    keep_apart_ids: list[str]
    couple_partner_id: str | None
    care_anchor_lat: float | None
    care_anchor_lon: float | None
    vulnerability: int
    court_ordered: bool
    days_waiting: int


class PlacedRow(msgspec.Struct, kw_only=True):
    """A referral linked to someone in scope, with a bed now in `facility_id`."""

    id: str
    couple_partner_id: str | None
    keep_apart_ids: list[str]
    facility_id: str


class ListedRow(msgspec.Struct, kw_only=True):
    id: UUID
    status: str


class DeclineRow(msgspec.Struct, kw_only=True):
    referral_id: str
    facility_id: str


class ClassRow(msgspec.Struct, kw_only=True):
    facility_id: str
    gender_policy: GenderPolicy
    accessible: bool
    couple_room: bool
    dogs_allowed: bool
    medical_level: int
    nightly_cost_cents: int
    bed_ids: list[UUID]


class FacilityRow(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: Kind
    lat: float
    lon: float


class SiteRow(msgspec.Struct, kw_only=True):
    name: str
    lat: float
    lon: float


class Snapshot(msgspec.Struct, kw_only=True):
    """Everything a problem is built from, as of one moment (one statement, one snapshot)."""

    people: list[PersonRow]
    placed: list[PlacedRow]
    declines: list[DeclineRow]
    classes: list[ClassRow]
    facilities: list[FacilityRow]
    sites: list[SiteRow]


class Ask(msgspec.Struct, kw_only=True):
    """What the solver's process builds the problem from."""

    snapshot: bytes
    """A `Snapshot` as JSON, as the database wrote it: decoding it is the process's work, not the API's."""
    listed: list[UUID] | None
    parameters: ProposalParameters


@dataclass(frozen=True)
class Built:
    problem: PlacementProblem
    beds: dict[str, list[UUID]]
    """Bed class id → its free beds, in the order lines take them."""
    facilities: dict[str, FacilityRow]
    apart: dict[str, frozenset[str]]
    """Everyone each person must be kept apart from, in the problem or not, both ways."""


def solver_parameters(p: ProposalParameters) -> Parameters:
    return Parameters(
        min_distance_km={Kind(kind): getattr(p.min_distance_km, kind) for kind in p.min_distance_km.__struct_fields__},
        distance_points=p.distance_points,
        distance_saturation_km=p.distance_saturation_km,
        care_points=p.care_points,
        care_radius_km=p.care_radius_km,
        points_per_euro=p.points_per_euro,
        time_limit_s=p.time_limit_s,
    )


def couples(people: list[PersonRow]) -> dict[str, str]:
    """Partner of each person whose partner is in `people` too, both ways.

    A couple is two people naming each other, or one naming the other who names no one;
    the first claim on a person (in id order) wins over a conflicting one.
    """
    by_id = {p.id: p for p in people}
    partner: dict[str, str] = {}
    for person in sorted(people, key=lambda p: p.id):
        other = by_id.get(person.couple_partner_id or "")
        if (
            other is not None
            and other.id != person.id
            and other.couple_partner_id in (person.id, None)
            and person.id not in partner
            and other.id not in partner
        ):
            partner[person.id], partner[other.id] = other.id, person.id
    return partner


def in_scope(snapshot: Snapshot, listed: list[UUID] | None) -> list[PersonRow]:
    """Every waiting referral, or the listed ones and their waiting couple partners."""
    if listed is None:
        return snapshot.people
    wanted = {str(i) for i in listed}
    partner = couples(snapshot.people)
    return [p for p in snapshot.people if p.id in wanted or partner.get(p.id) in wanted]


def build(snapshot: Snapshot, listed: list[UUID] | None, parameters: ProposalParameters) -> Built:
    people = in_scope(snapshot, listed)
    by_id = {p.id: p for p in people}
    ids = set(by_id)
    partner = couples(people)
    placed = {r.id: r for r in snapshot.placed}
    excluded: dict[str, set[str]] = {p.id: set(p.excluded_facility_ids) for p in people}
    apart: dict[str, set[str]] = {p.id: set() for p in people}
    for p in snapshot.people:  # out of scope too: they may get a bed while this one is solved
        for other in p.keep_apart_ids:
            if other != p.id:
                if p.id in ids:
                    apart[p.id].add(other)
                if other in ids:
                    apart[other].add(p.id)
    for r in snapshot.placed:
        for other in r.keep_apart_ids:
            if other in ids:
                apart[other].add(r.id)
    for p in people:
        excluded[p.id] |= {placed[other].facility_id for other in apart[p.id] if other in placed}
    for d in snapshot.declines:
        if d.referral_id in ids:
            excluded[d.referral_id].add(d.facility_id)
    # A partner already in a bed: the person may only join them there.
    joins: dict[str, str] = {}
    for r in snapshot.placed:
        person = by_id.get(r.couple_partner_id or "")
        if person is not None and person.couple_partner_id in (r.id, None):
            joins[person.id] = r.facility_id
    for p in people:
        if p.id not in partner and p.couple_partner_id in placed:
            r = placed[p.couple_partner_id]
            if r.couple_partner_id in (p.id, None):
                joins[p.id] = r.facility_id

    classes = [c for c in snapshot.classes if c.bed_ids]
    used_facilities = {c.facility_id for c in classes}
    facilities = {f.id: f for f in snapshot.facilities if f.id in used_facilities}
    problem = PlacementProblem(
        people=[
            Person(
                id=p.id,
                priority=priority_of(
                    vulnerability=p.vulnerability,
                    court_ordered=p.court_ordered,
                    days_waiting=p.days_waiting,
                    gender=p.gender,
                ),
                gender=p.gender,
                accessible=p.accessible,
                dogs=p.dogs,
                medical_level=p.medical_level,
                acceptable_kinds=frozenset(p.acceptable_kinds),
                consents_out_of_region=p.consents_out_of_region,
                excluded_facility_ids=frozenset(excluded[p.id]),
                partner_id=partner.get(p.id),
                partner_facility_id=None if p.id in partner else joins.get(p.id),
                keep_apart_ids=frozenset(apart[p.id] & ids),
                care_anchor=None if p.care_anchor_lat is None else Point(p.care_anchor_lat, p.care_anchor_lon),
            )
            for p in people
        ],
        facilities=[
            Facility(id=f.id, name=f.name, kind=f.kind, location=Point(f.lat, f.lon)) for f in facilities.values()
        ],
        bed_classes=[
            BedClass(
                id=f"c{i}",
                facility_id=c.facility_id,
                capacity=len(c.bed_ids),
                gender_policy=c.gender_policy,
                accessible=c.accessible,
                couple_room=c.couple_room,
                dogs_allowed=c.dogs_allowed,
                medical_level=c.medical_level,
                nightly_cost_cents=c.nightly_cost_cents,
            )
            for i, c in enumerate(classes)
        ],
        sites=[Site(name=s.name, location=Point(s.lat, s.lon)) for s in snapshot.sites],
        parameters=solver_parameters(parameters),
    )
    beds = {f"c{i}": c.bed_ids for i, c in enumerate(classes)}
    return Built(problem=problem, beds=beds, facilities=facilities, apart={p: frozenset(o) for p, o in apart.items()})


class Booking(msgspec.Struct, kw_only=True):
    """What holding a plan's beds needs of its problem, for the plan's lines only."""

    people: int
    """People in the problem."""
    partners: dict[str, str]
    """Couple partner of each person with a line and a partner."""
    beds: dict[str, list[UUID]]
    """The lines' bed classes → their free beds, in the order lines take them."""
    facilities: dict[str, FacilityRow]
    """The lines' facilities."""
    apart: dict[str, frozenset[str]]
    """Everyone each person with a line must be kept apart from, in the problem or not, both ways."""


def booking(built: Built, lines: list[Line]) -> Booking:
    """Of the problem, what saving these lines needs: a few lines' worth, however big the problem."""
    people = {line.person_id for line in lines}
    partners = {p.id: p.partner_id for p in built.problem.people if p.id in people and p.partner_id is not None}
    return Booking(
        people=len(built.problem.people),
        partners=partners,
        beds={line.bed_class_id: built.beds[line.bed_class_id] for line in lines},
        facilities={line.facility_id: built.facilities[line.facility_id] for line in lines},
        apart={person: built.apart[person] for person in people},
    )
