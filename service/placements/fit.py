"""Does a bed fit a referral's needs? The solver's hard rules, applied to one hold or placement.

Manual holds, placements and transfers are checked against the rules about the bed and
the person (kind, out-of-region consent, gender, accessibility, dogs, couple rooms,
medical level) and the referral's excluded facilities. The distance minimum is not
applied: an officer may deliberately place someone near a site. Nor is a partner's
facility: that constrains proposals, which place couples together.
"""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

import asyncpg

from service.problems import ProblemError
from solver.problem import Gender, GenderPolicy, Kind, Rule
from solver.rules import BedType, Needs, broken_by_facility, broken_by_type


class _Restrictions(NamedTuple):
    excluded_facility_ids: frozenset[str]
    partner_facility_id: None = None


_PERSON = {Gender.WOMAN: "a woman", Gender.MAN: "a man", Gender.OTHER: "of another gender"}
_BED_FOR = {GenderPolicy.WOMEN: "women", GenderPolicy.MEN: "men"}


def bed_type(row: asyncpg.Record) -> BedType:
    """The bed's attributes from a row with kind, gender_policy, bed_accessible, couple_room,
    dogs_allowed and bed_medical_level."""
    return BedType(
        Kind(row["kind"]),
        GenderPolicy(row["gender_policy"]),
        row["bed_accessible"],
        row["couple_room"],
        row["dogs_allowed"],
        row["bed_medical_level"],
    )


def needs_and_bed(row: asyncpg.Record) -> tuple[Needs, BedType]:
    """The rule inputs from a row with the referral's needs and the bed's attributes (as below)."""
    needs = Needs(
        Gender(row["gender"]),
        row["accessible"],
        row["dogs"],
        row["medical_level"],
        frozenset(Kind(k) for k in row["acceptable_kinds"]),
        row["consents_out_of_region"],
        row["in_couple"],
    )
    return needs, bed_type(row)


async def check_fit(conn: asyncpg.Connection, referral_id: UUID, bed_id: UUID) -> None:
    """409 naming the broken rule when the bed does not fit the referral."""
    row = await conn.fetchrow(
        """
        SELECT r.gender, r.accessible, r.dogs, r.medical_level, r.acceptable_kinds, r.consents_out_of_region,
               r.couple_partner_id IS NOT NULL AS in_couple, r.excluded_facility_ids, b.facility_id,
               f.kind, b.gender_policy, b.accessible AS bed_accessible, b.couple_room, b.dogs_allowed,
               b.medical_level AS bed_medical_level
        FROM referrals r, beds b JOIN facilities f ON f.id = b.facility_id
        WHERE r.id = $1 AND b.id = $2
        """,
        referral_id,
        bed_id,
    )
    if row is None or row["gender"] is None:  # no such bed or referral (checked elsewhere), or purged
        return
    needs, bed = needs_and_bed(row)
    restrictions = _Restrictions(frozenset(str(f) for f in row["excluded_facility_ids"]))
    rule = broken_by_type(needs, bed) or broken_by_facility(restrictions, str(row["facility_id"]))
    if rule is not None:
        raise ProblemError(
            409,
            "Bed does not fit the referral",
            detail=_why(rule, needs, bed),
            rule=rule.value,
            bed_id=str(bed_id),
        )


def _why(rule: Rule, needs: Needs, bed: BedType) -> str:
    match rule:
        case Rule.KIND:
            kinds = ", ".join(sorted(k.value for k in needs.acceptable_kinds))
            return f"bed is in a {bed.kind.value} facility; the referral accepts {kinds}"
        case Rule.CONSENT:
            return "bed is outside the region; the referral has not consented to leave it"
        case Rule.GENDER:
            return f"bed is for {_BED_FOR[bed.gender_policy]}; the referral is {_PERSON[needs.gender]}"
        case Rule.ACCESSIBLE:
            return "the referral needs an accessible bed; this bed is not accessible"
        case Rule.DOGS:
            return "the referral comes with a dog; this bed does not allow dogs"
        case Rule.COUPLE_ROOM:
            return "bed is in a couple room, kept for couples; the referral is not in a couple"
        case Rule.MEDICAL:
            return f"bed offers medical support level {bed.medical_level}; the referral needs {needs.medical_level}"
        case _:
            return "the referral is excluded from this facility"
