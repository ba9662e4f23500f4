"""A PlacementProblem indexed for solving: facility distances, bed types, people groups.

People with identical needs, care anchor and facility restrictions form a group;
the flow sends a group's people through one node, so the network grows with groups,
not individuals. Bed classes too close to a site are dropped here, once, for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from solver.problem import BedClass, Facility, Parameters, PlacementProblem, Point, Rule
from solver.rules import BedType, Needs, bed_type, broken_by_type, far_enough, needs_of
from solver.scoring import (
    Nearest,
    care_points,
    coordinates,
    cost_points,
    distance_points,
    km_matrix,
    nearest_sites,
    placement_weight,
)


@dataclass(frozen=True, slots=True)
class Group:
    needs: Needs
    anchor: Point | None
    excluded_facility_ids: frozenset[str]
    partner_facility_id: str | None
    partner_needs: Needs | None
    """The needs of a partner still to be placed: both must get beds in one facility."""

    @property
    def restricted(self) -> bool:
        return bool(self.excluded_facility_ids) or self.partner_facility_id is not None


@dataclass
class Instance:
    problem: PlacementProblem
    facility_index: dict[str, int] = field(init=False)
    nearest: list[Nearest] = field(init=False)
    types: list[BedType] = field(init=False)
    class_type: np.ndarray = field(init=False)
    """Type index of each bed class."""
    class_facility: np.ndarray = field(init=False)
    capacity: np.ndarray = field(init=False)
    """Free beds per class; 0 for classes too close to a site, so nothing can use them."""
    too_close: np.ndarray = field(init=False)
    bed_value: np.ndarray = field(init=False)
    """distance − cost of each class: the bed's side of a line's value."""
    groups: list[Group] = field(init=False)
    group_of: list[int] = field(init=False)
    weight: int = field(init=False)
    _type_rules: dict[tuple[Needs, int], Rule | None] = field(init=False, default_factory=dict)
    _care_rows: dict[Point, np.ndarray] = field(init=False, default_factory=dict)
    _masks: dict[int, np.ndarray] = field(init=False, default_factory=dict)
    _eligible_types: dict[Needs, list[int]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        problem, parameters = self.problem, self.problem.parameters
        facilities = problem.facilities
        self.facility_index = {f.id: i for i, f in enumerate(facilities)}
        self.nearest = nearest_sites(facilities, problem.sites)
        type_index: dict[BedType, int] = {}
        class_type, class_facility, capacity, too_close, bed_value = [], [], [], [], []
        for bed in problem.bed_classes:
            f = self.facility_index[bed.facility_id]
            facility = facilities[f]
            close = not far_enough(facility, self.nearest[f].km, parameters)
            class_type.append(type_index.setdefault(bed_type(bed, facility), len(type_index)))
            class_facility.append(f)
            capacity.append(0 if close else bed.capacity)
            too_close.append(close)
            bed_value.append(distance_points(self.nearest[f].km, parameters) - cost_points(bed, parameters))
        self.types = list(type_index)
        self.class_type = np.array(class_type, dtype=np.int64)
        self.class_facility = np.array(class_facility, dtype=np.int64)
        self.capacity = np.array(capacity, dtype=np.int64)
        self.too_close = np.array(too_close, dtype=bool)
        self.bed_value = np.array(bed_value, dtype=np.int64)
        by_id = {p.id: p for p in problem.people}
        group_index: dict[Group, int] = {}
        self.group_of = [
            group_index.setdefault(
                Group(
                    needs_of(p),
                    p.care_anchor,
                    p.excluded_facility_ids,
                    p.partner_facility_id,
                    needs_of(by_id[p.partner_id]) if p.partner_id in by_id and p.partner_id != p.id else None,
                ),
                len(group_index),
            )
            for p in problem.people
        ]
        self.groups = list(group_index)
        self.weight = placement_weight(len(problem.people), parameters)

    @cached_property
    def flow_priority(self) -> list[int]:
        """Each person's priority in the flow: partners share theirs equally (the higher
        gives the lower half the difference, rounded down). Partners are placed together
        or not at all, so no plan's value moves and the flow still bounds every plan, but
        more tightly: it can no longer gain by placing the higher partner alone."""
        people = self.problem.people
        index = {p.id: i for i, p in enumerate(people)}
        priority = [p.priority for p in people]
        for i, p in enumerate(people):
            j = index.get(p.partner_id) if p.partner_id is not None else None
            if j is not None and j != i and priority[i] > priority[j] and people[j].partner_id == p.id:
                share = (priority[i] - priority[j]) // 2
                priority[i], priority[j] = priority[i] - share, priority[j] + share
        return priority

    @property
    def parameters(self) -> Parameters:
        return self.problem.parameters

    def bed(self, c: int) -> BedClass:
        return self.problem.bed_classes[c]

    def facility(self, c: int) -> Facility:
        return self.problem.facilities[int(self.class_facility[c])]

    def type_rule(self, needs: Needs, t: int) -> Rule | None:
        key = (needs, t)
        if key not in self._type_rules:
            self._type_rules[key] = broken_by_type(needs, self.types[t])
        return self._type_rules[key]

    def eligible_types(self, needs: Needs) -> list[int]:
        if needs not in self._eligible_types:
            self._eligible_types[needs] = [t for t in range(len(self.types)) if self.type_rule(needs, t) is None]
        return self._eligible_types[needs]

    @cached_property
    def classes_of_type(self) -> list[np.ndarray]:
        order = np.argsort(self.class_type, kind="stable")
        bounds = np.searchsorted(self.class_type[order], np.arange(len(self.types) + 1))
        return [order[bounds[t] : bounds[t + 1]] for t in range(len(self.types))]

    @cached_property
    def classes_of_facility(self) -> dict[str, np.ndarray]:
        order = np.argsort(self.class_facility, kind="stable")
        found: dict[str, list[int]] = {}
        for c in order:
            found.setdefault(self.problem.bed_classes[c].facility_id, []).append(int(c))
        return {f: np.array(cs, dtype=np.int64) for f, cs in found.items()}

    @cached_property
    def facility_slices(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, order): classes sorted by facility, and where each facility's run starts,
        for np.maximum.reduceat over facilities."""
        order = np.argsort(self.class_facility, kind="stable")
        sorted_facilities = self.class_facility[order]
        starts = np.flatnonzero(np.r_[True, sorted_facilities[1:] != sorted_facilities[:-1]])
        return starts, order

    @cached_property
    def facility_segment(self) -> np.ndarray:
        """For each class in facility_slices' order, the index of its facility's run."""
        starts, order = self.facility_slices
        return np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(order)]))

    def care_row(self, anchor: Point | None) -> np.ndarray:
        """Care points of every facility for this anchor (zeros without one)."""
        if anchor is None:
            return np.zeros(len(self.problem.facilities), dtype=np.int64)
        if anchor not in self._care_rows:
            lat, lon = coordinates([f.location for f in self.problem.facilities])
            km = km_matrix(np.array([anchor.lat]), np.array([anchor.lon]), lat, lon)[0]
            self._care_rows[anchor] = care_points(km, self.parameters)
        return self._care_rows[anchor]

    def group_mask(self, g: int) -> np.ndarray:
        """Bed classes the group's people may use (capacity aside). Read-only: it is shared."""
        if g not in self._masks:
            self._masks[g] = self._group_mask(g)
            self._masks[g].flags.writeable = False
        return self._masks[g]

    def _group_mask(self, g: int) -> np.ndarray:
        group = self.groups[g]
        allowed_type = np.zeros(len(self.types), dtype=bool)
        allowed_type[self.eligible_types(group.needs)] = True
        mask = allowed_type[self.class_type] & ~self.too_close if len(self.types) else np.zeros(0, dtype=bool)
        return mask & self.facility_rules_allow(group)

    def facility_rules_allow(self, group: Group) -> np.ndarray:
        """Classes the group's facility restrictions allow: rules.broken_by_facility, vectorised."""
        allowed = np.ones(len(self.class_type), dtype=bool)
        if group.partner_facility_id is not None:
            allowed[:] = False
            allowed[self.classes_of_facility.get(group.partner_facility_id, [])] = True
        for facility_id in group.excluded_facility_ids:
            allowed[self.classes_of_facility.get(facility_id, [])] = False
        return allowed

    def value_row(self, person: int) -> np.ndarray:
        """value(person, c) for every class c."""
        p = self.problem.people[person]
        return p.priority * self.weight + self.bed_value + self.care_row(p.care_anchor)[self.class_facility]

    def value(self, person: int, c: int) -> int:
        """priority × W + distance − cost + care of placing the person in the class."""
        p = self.problem.people[person]
        care = int(self.care_row(p.care_anchor)[self.class_facility[c]])
        return p.priority * self.weight + int(self.bed_value[c]) + care
