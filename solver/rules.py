"""Hard rules: whether a person may take a bed of a class, and which rule says no.

Rules split in two: those that depend only on the bed's type (kind and attributes),
checked once per (needs, type) pair, and those that depend on the facility (distance,
exclusions, a partner's facility). A broken rule is a missing arc in the flow network.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from solver.problem import BedClass, Facility, Gender, GenderPolicy, Kind, Parameters, Person, Rule


class BedType(NamedTuple):
    """What the type-level rules look at; beds of one type are interchangeable to them."""

    kind: Kind
    gender_policy: GenderPolicy
    accessible: bool
    couple_room: bool
    dogs_allowed: bool
    medical_level: int


class Needs(NamedTuple):
    """What the type-level rules look at on the person's side."""

    gender: Gender
    accessible: bool
    dogs: bool
    medical_level: int
    acceptable_kinds: frozenset[Kind]
    consents_out_of_region: bool
    in_couple: bool


def bed_type(bed: BedClass, facility: Facility) -> BedType:
    return BedType(
        facility.kind, bed.gender_policy, bed.accessible, bed.couple_room, bed.dogs_allowed, bed.medical_level
    )


def needs_of(person: Person) -> Needs:
    return Needs(
        person.gender,
        person.accessible,
        person.dogs,
        person.medical_level,
        person.acceptable_kinds,
        person.consents_out_of_region,
        person.partner_id is not None or person.partner_facility_id is not None,
    )


_POLICY_FOR = {Gender.WOMAN: GenderPolicy.WOMEN, Gender.MAN: GenderPolicy.MEN, Gender.OTHER: None}


def broken_by_type(needs: Needs, bed: BedType) -> Rule | None:
    """The first type-level rule the bed breaks for these needs, or None."""
    if bed.kind not in needs.acceptable_kinds:
        return Rule.KIND
    if bed.kind is Kind.OUT_OF_REGION and not needs.consents_out_of_region:
        return Rule.CONSENT
    if bed.gender_policy is not GenderPolicy.ANY and bed.gender_policy is not _POLICY_FOR[needs.gender]:
        return Rule.GENDER
    if needs.accessible and not bed.accessible:
        return Rule.ACCESSIBLE
    if needs.dogs and not bed.dogs_allowed:
        return Rule.DOGS
    if bed.couple_room and not needs.in_couple:
        return Rule.COUPLE_ROOM  # couple rooms are kept for couples
    if bed.medical_level < needs.medical_level:
        return Rule.MEDICAL
    return None


def far_enough(facility: Facility, distance_km: float | None, parameters: Parameters) -> bool:
    """The facility is at least its kind's minimum from the nearest active site (or none is active)."""
    return distance_km is None or distance_km >= parameters.min_distance_km.get(facility.kind, 0.0)


class Restrictions(Protocol):
    """A person, or a group of people with the same facility restrictions."""

    @property
    def excluded_facility_ids(self) -> frozenset[str]: ...
    @property
    def partner_facility_id(self) -> str | None: ...


def broken_by_facility(who: Restrictions, facility_id: str) -> Rule | None:
    """The person-specific facility rules: exclusions and joining a partner already placed."""
    if facility_id in who.excluded_facility_ids:
        return Rule.EXCLUDED
    if who.partner_facility_id is not None and facility_id != who.partner_facility_id:
        return Rule.PARTNER_FACILITY
    return None
