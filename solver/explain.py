"""Why someone was left unplaced: how many free beds each hard rule removed, in words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from solver.instance import Instance
from solver.problem import Gender, Kind, Rule, RuleCount, Unplaced, UnplacedReason
from solver.rules import Needs

RULES = list(Rule)
_FIRST = (Rule.KIND, Rule.CONSENT)  # checked before distance and facility rules
ELIGIBLE = len(RULES)

_NOUN = {Gender.WOMAN: "a woman", Gender.MAN: "a man", Gender.OTHER: "a person of another gender"}
_KIND_WORDS = {
    Kind.ASSORE_HOTEL: "hotel rooms",
    Kind.SPECIALISED_UNIT: "specialised units",
    Kind.REST_SPACE: "rest spaces",
    Kind.OUT_OF_REGION: "out-of-region places",
}


class _GroupBeds(NamedTuple):
    removed: list[RuleCount]
    eligible_beds: int
    left: int
    """Of the eligible beds, how many the plan left free."""
    lowest: int
    """The lowest priority placed in an eligible class."""


class Explainer:
    """Explains the unplaced people of one plan; work is shared by people with the same
    needs and facility restrictions (what decides which rule removes which bed)."""

    def __init__(self, instance: Instance, assignment: Mapping[int, int]) -> None:
        self.instance = instance
        self.capacity = np.array([b.capacity for b in instance.problem.bed_classes], dtype=np.int64)
        self.free_beds = int(self.capacity.sum())
        used = np.bincount(list(assignment.values()), minlength=len(self.capacity)) if assignment else 0
        self.left = self.capacity - used
        self.lowest_priority = np.full(len(self.capacity), np.iinfo(np.int64).max)
        for person, c in assignment.items():
            self.lowest_priority[c] = min(self.lowest_priority[c], instance.problem.people[person].priority)
        self._by_rules: dict[tuple[Needs, frozenset[str], str | None], _GroupBeds] = {}
        self._by_needs: dict[Needs, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, person: int, reason_hint: UnplacedReason | None) -> Unplaced:
        p = self.instance.problem.people[person]
        removed, eligible_beds, left, lowest = self._group(self.instance.group_of[person])
        if eligible_beds == 0:
            reason, words = UnplacedReason.NO_ELIGIBLE_BED, self._no_bed(person, removed)
        elif reason_hint is not None and left > 0:
            reason = reason_hint
            words = (
                f"{eligible_beds} free beds fit, but no facility had one for each partner"
                if reason_hint is UnplacedReason.COUPLE
                else f"the {eligible_beds} free beds that fit are in facilities of people to keep apart from"
            )
        else:
            reason, words = UnplacedReason.OUTRANKED, _outranked(p.priority, lowest, eligible_beds)
        return Unplaced(
            person_id=p.id,
            reason=reason,
            explanation=words,
            free_beds=self.free_beds,
            beds_removed=removed,
            eligible_beds=eligible_beds,
        )

    def _group(self, g: int) -> _GroupBeds:
        group = self.instance.groups[g]
        key = (group.needs, group.excluded_facility_ids, group.partner_facility_id)
        if key not in self._by_rules:
            rules = self._first_broken(g)
            beds = np.bincount(rules, weights=self.capacity, minlength=ELIGIBLE + 1).astype(np.int64)
            removed = [RuleCount(rule, int(beds[k])) for k, rule in enumerate(RULES) if beds[k] > 0]
            eligible = rules == ELIGIBLE
            lowest = int(self.lowest_priority[eligible].min()) if eligible.any() else 0
            self._by_rules[key] = _GroupBeds(removed, int(beds[ELIGIBLE]), int(self.left[eligible].sum()), lowest)
        return self._by_rules[key]

    def _type_rules(self, needs: Needs) -> tuple[np.ndarray, np.ndarray]:
        """Each class's first broken type rule for these needs, and whether that rule comes
        before the distance and facility rules."""
        if needs not in self._by_needs:
            types = self.instance.types
            broken = [self.instance.type_rule(needs, t) for t in range(len(types))]
            by_type = np.array([ELIGIBLE if r is None else RULES.index(r) for r in broken] + [ELIGIBLE])
            rules = by_type[self.instance.class_type]
            self._by_needs[needs] = rules, np.isin(rules, [RULES.index(r) for r in _FIRST])
        return self._by_needs[needs]

    def _first_broken(self, g: int) -> np.ndarray:
        """Each class's first broken rule (as an index into RULES), or ELIGIBLE."""
        instance, group = self.instance, self.instance.groups[g]
        rules, early = self._type_rules(group.needs)
        later = rules.copy()
        later[~instance.facility_rules_allow(group)] = RULES.index(
            Rule.PARTNER_FACILITY if group.partner_facility_id else Rule.EXCLUDED
        )
        for facility_id in group.excluded_facility_ids:
            later[instance.classes_of_facility.get(facility_id, [])] = RULES.index(Rule.EXCLUDED)
        later[instance.too_close] = RULES.index(Rule.MIN_DISTANCE)
        return np.where(early, rules, later)

    def _no_bed(self, person: int, removed: list[RuleCount]) -> str:
        p, parameters = self.instance.problem.people[person], self.instance.parameters
        rules = {r.rule for r in removed}
        words = [f"no free bed for {_NOUN[p.gender]}"]
        if Rule.DOGS in rules:
            words.append("with a dog")
        if Rule.ACCESSIBLE in rules:
            words.append("needing an accessible bed")
        if Rule.MEDICAL in rules:
            words.append(f"needing medical support of level {p.medical_level} or more")
        if Rule.KIND in rules:
            words.append("in " + " or ".join(_KIND_WORDS[k] for k in sorted(p.acceptable_kinds)))
        if Rule.CONSENT in rules:
            words.append("without consent to leave the region")
        if Rule.MIN_DISTANCE in rules:
            minima = sorted({km for k, km in parameters.min_distance_km.items() if km > 0 and k in p.acceptable_kinds})
            words.append(
                f"at {minima[0]:g} km or more from a site" if len(minima) == 1 else "far enough from every site"
            )
        if Rule.EXCLUDED in rules:
            words.append("outside the facilities they are excluded from")
        if Rule.PARTNER_FACILITY in rules:
            words.append("in their partner's facility")
        if Rule.COUPLE_ROOM in rules and len(rules) == 1:
            words.append("outside couple rooms")
        return " ".join(words)


def _outranked(priority: int, lowest: int, eligible_beds: int) -> str:
    """`lowest`: the lowest priority placed in a class that fits."""
    if lowest >= priority:
        return (
            f"all {eligible_beds} free beds that fit went to people of priority {lowest} or more (this one: {priority})"
        )
    return f"all {eligible_beds} free beds that fit went to others, to place more people in priority order"
