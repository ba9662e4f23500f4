"""An independent reference for the solver: the hard rules and the value of a line, written
again from their plain-words definitions (not importing solver.rules or solver.scoring, so
that a bug there shows up as a disagreement), a plan checker, and two exact optimisers for
small instances: exhaustive search and a plain CP-SAT model.
"""

from __future__ import annotations

from math import asin, cos, radians, sin, sqrt

from ortools.sat.python import cp_model

from solver.problem import (
    BedClass,
    Facility,
    Gender,
    GenderPolicy,
    Kind,
    Person,
    PlacementPlan,
    PlacementProblem,
    Point,
)

EARTH_RADIUS_KM = 6371.0088
MAX_NIGHTLY_EUROS = 1000


def km(a: Point, b: Point) -> float:
    """Great-circle (haversine) distance on the mean Earth sphere."""
    h = (
        sin(radians(b.lat - a.lat) / 2) ** 2
        + cos(radians(a.lat)) * cos(radians(b.lat)) * sin(radians(b.lon - a.lon) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * asin(sqrt(min(h, 1.0)))


def nearest_site_km(problem: PlacementProblem, facility: Facility) -> float | None:
    if not problem.sites:
        return None
    return min(km(facility.location, s.location) for s in problem.sites)


def facility_of(problem: PlacementProblem, bed: BedClass) -> Facility:
    return next(f for f in problem.facilities if f.id == bed.facility_id)


def in_couple(person: Person) -> bool:
    return person.partner_id is not None or person.partner_facility_id is not None


def broken(problem: PlacementProblem, person: Person, bed: BedClass) -> list[str]:
    """Every hard rule the bed breaks for the person, by name, in the order explanations apply
    them; empty when the person may take it."""
    f = facility_of(problem, bed)
    out = []
    if f.kind not in person.acceptable_kinds:
        out.append("kind")
    if f.kind == Kind.OUT_OF_REGION and not person.consents_out_of_region:
        out.append("out_of_region_consent")
    d = nearest_site_km(problem, f)
    if d is not None and d < problem.parameters.min_distance_km.get(f.kind, 0.0):
        out.append("min_distance")
    if f.id in person.excluded_facility_ids:
        out.append("excluded_facility")
    if person.partner_facility_id is not None and f.id != person.partner_facility_id:
        out.append("partner_facility")
    allowed_policies = {GenderPolicy.ANY}
    if person.gender == Gender.WOMAN:
        allowed_policies.add(GenderPolicy.WOMEN)
    if person.gender == Gender.MAN:
        allowed_policies.add(GenderPolicy.MEN)
    if bed.gender_policy not in allowed_policies:
        out.append("gender")
    if person.accessible and not bed.accessible:
        out.append("accessible")
    if person.dogs and not bed.dogs_allowed:
        out.append("dogs")
    if bed.couple_room and not in_couple(person):
        out.append("couple_room")
    if bed.medical_level < person.medical_level:
        out.append("medical_level")
    return out


def may_use(problem: PlacementProblem, person: Person, bed: BedClass) -> bool:
    return not broken(problem, person, bed)


def weight(problem: PlacementProblem) -> int:
    p = problem.parameters
    return len(problem.people) * (p.distance_points + p.care_points + p.points_per_euro * MAX_NIGHTLY_EUROS) + 1


def terms(problem: PlacementProblem, person: Person, bed: BedClass) -> tuple[int, int, int, int]:
    """(priority, distance, care, cost) of placing the person in the bed."""
    p = problem.parameters
    f = facility_of(problem, bed)
    d = nearest_site_km(problem, f)
    if d is None:
        distance = p.distance_points
    else:
        distance = round(p.distance_points * min(d, p.distance_saturation_km) / p.distance_saturation_km)
    care = 0
    if person.care_anchor is not None:
        care = round(p.care_points * max(0.0, 1.0 - km(person.care_anchor, f.location) / p.care_radius_km))
    cost = p.points_per_euro * (bed.nightly_cost_cents // 100)
    return person.priority, distance, care, cost


def value(problem: PlacementProblem, person: Person, bed: BedClass, w: int | None = None) -> int:
    priority, distance, care, cost = terms(problem, person, bed)
    return priority * (weight(problem) if w is None else w) + distance + care - cost


def couples(problem: PlacementProblem) -> set[tuple[str, str]]:
    """Partner pairs (sorted ids) where both people are in the problem."""
    ids = {p.id for p in problem.people}
    return {
        (min(p.id, p.partner_id), max(p.id, p.partner_id))
        for p in problem.people
        if p.partner_id is not None and p.partner_id in ids and p.partner_id != p.id
    }


def apart_pairs(problem: PlacementProblem) -> set[tuple[str, str]]:
    """Keep-apart pairs (sorted ids) where both people are in the problem; either side may list the other."""
    ids = {p.id for p in problem.people}
    return {(min(p.id, q), max(p.id, q)) for p in problem.people for q in p.keep_apart_ids if q in ids and q != p.id}


def has_side_constraints(problem: PlacementProblem) -> bool:
    return bool(couples(problem) or apart_pairs(problem))


# Checking a plan ---------------------------------------------------------------------------


def violations(problem: PlacementProblem, plan: PlacementPlan) -> list[str]:
    """Everything wrong with the plan's feasibility; empty when it keeps every rule."""
    out: list[str] = []
    people = {p.id: p for p in problem.people}
    beds = {b.id: b for b in problem.bed_classes}
    facility_of_person: dict[str, str] = {}
    used: dict[str, int] = {}
    for line in plan.lines:
        person, bed = people.get(line.person_id), beds.get(line.bed_class_id)
        if person is None or bed is None:
            out.append(f"unknown person or bed class in {line}")
            continue
        if line.person_id in facility_of_person:
            out.append(f"{line.person_id} placed twice")
        facility_of_person[line.person_id] = bed.facility_id
        used[bed.id] = used.get(bed.id, 0) + 1
        if line.facility_id != bed.facility_id or line.kind != facility_of(problem, bed).kind:
            out.append(f"{line.person_id}: line facility/kind disagree with bed class {bed.id}")
        if rules := broken(problem, person, bed):
            out.append(f"{line.person_id} in {bed.id} breaks {rules}")
    for bed_id, n in used.items():
        if n > beds[bed_id].capacity:
            out.append(f"{bed_id}: {n} people for capacity {beds[bed_id].capacity}")
    for a, b in sorted(couples(problem)):
        if facility_of_person.get(a) != facility_of_person.get(b):
            out.append(f"couple {a}, {b} split: {facility_of_person.get(a)} / {facility_of_person.get(b)}")
    for a, b in sorted(apart_pairs(problem)):
        fa = facility_of_person.get(a)
        if fa is not None and fa == facility_of_person.get(b):
            out.append(f"keep-apart {a}, {b} both in {fa}")
    unplaced = [u.person_id for u in plan.unplaced]
    if len(set(unplaced)) != len(unplaced) or set(unplaced) & set(facility_of_person):
        out.append("a person is listed twice among lines and unplaced")
    if set(unplaced) | set(facility_of_person) != set(people):
        out.append("lines and unplaced do not cover exactly the people of the problem")
    return out


def score_errors(problem: PlacementProblem, plan: PlacementPlan) -> list[str]:
    """Where the plan's line scores, objective or weight differ from the reference's (distance_km to the metre)."""
    out: list[str] = []
    people = {p.id: p for p in problem.people}
    beds = {b.id: b for b in problem.bed_classes}
    w = weight(problem)
    if plan.statistics.placement_weight != w:
        out.append(f"placement_weight {plan.statistics.placement_weight} != {w}")
    total = 0
    for line in plan.lines:
        person, bed = people[line.person_id], beds[line.bed_class_id]
        expected = terms(problem, person, bed)
        s = line.scores
        if (s.priority, s.distance, s.care, s.cost) != expected:
            out.append(f"{line.person_id} in {bed.id}: scores {s} != reference {expected}")
        d = nearest_site_km(problem, facility_of(problem, bed))
        if (d is None) != (line.distance_km is None) or (d is not None and abs(d - line.distance_km) > 0.0005 + 1e-9):
            out.append(f"{line.person_id}: distance_km {line.distance_km} != reference {d}")
        total += s.priority * w + s.distance + s.care - s.cost
    if total != plan.statistics.objective:
        out.append(f"sum of line values {total} != objective {plan.statistics.objective}")
    if plan.statistics.placed != len(plan.lines):
        out.append(f"placed {plan.statistics.placed} != {len(plan.lines)} lines")
    if plan.statistics.priority_placed != sum(line.scores.priority for line in plan.lines):
        out.append("priority_placed is not the sum of the lines' priorities")
    return out


def maximality_errors(problem: PlacementProblem, plan: PlacementPlan) -> list[str]:
    """People free of couples and keep-apart left out while a bed class they may use has room:
    adding them would keep every rule and raise the objective, so no sensible plan does it."""
    linked = {i for pair in couples(problem) | apart_pairs(problem) for i in pair}
    used: dict[str, int] = {}
    for line in plan.lines:
        used[line.bed_class_id] = used.get(line.bed_class_id, 0) + 1
    people = {p.id: p for p in problem.people}
    return [
        f"{u.person_id} unplaced while {b.id} has room"
        for u in plan.unplaced
        if u.person_id not in linked
        for b in problem.bed_classes
        if used.get(b.id, 0) < b.capacity and may_use(problem, people[u.person_id], b)
    ]


def explanation_errors(problem: PlacementProblem, plan: PlacementPlan, *, by_rule: bool) -> list[str]:
    """Unplaced counts: free beds (all of them), eligible beds, and with by_rule the beds each
    rule removes when applied in order (a bed counts for the first rule it breaks)."""
    out: list[str] = []
    people = {p.id: p for p in problem.people}
    free = sum(b.capacity for b in problem.bed_classes)
    for u in plan.unplaced:
        person = people[u.person_id]
        removed: dict[str, int] = {}
        eligible = 0
        for b in problem.bed_classes:
            rules = broken(problem, person, b)
            if rules:
                removed[rules[0]] = removed.get(rules[0], 0) + b.capacity
            else:
                eligible += b.capacity
        if (u.free_beds, u.eligible_beds) != (free, eligible):
            out.append(f"{u.person_id}: free/eligible beds {u.free_beds}/{u.eligible_beds} != {free}/{eligible}")
        if (u.reason == "no_eligible_bed") != (eligible == 0):
            out.append(f"{u.person_id}: reason {u.reason} with {eligible} eligible beds")
        if by_rule:
            got = [(r.rule.value, r.beds) for r in u.beds_removed]
            expected = sorted(removed.items(), key=lambda kv: RULE_ORDER.index(kv[0]))
            if got != expected:
                out.append(f"{u.person_id}: beds_removed {got} != {expected}")
    return out


RULE_ORDER = [
    "kind",
    "out_of_region_consent",
    "min_distance",
    "excluded_facility",
    "partner_facility",
    "gender",
    "accessible",
    "dogs",
    "couple_room",
    "medical_level",
]


# Exact optimisers ---------------------------------------------------------------------------


def _options(problem: PlacementProblem) -> dict[str, list[tuple[int, str, int]]]:
    """For each person: (bed class index, facility id, value) of every bed class they may use."""
    w = weight(problem)
    return {
        p.id: [
            (i, b.facility_id, value(problem, p, b, w))
            for i, b in enumerate(problem.bed_classes)
            if may_use(problem, p, b)
        ]
        for p in problem.people
    }


def brute_force(problem: PlacementProblem) -> int:
    """The best objective over every assignment (each person: no bed, or a bed class with room left)."""
    people = [p.id for p in problem.people]
    assert len(people) <= 6 and sum(b.capacity for b in problem.bed_classes) <= 6, "too big for brute force"
    options = _options(problem)
    partner: dict[str, set[str]] = {}
    for a, b in couples(problem):
        partner.setdefault(a, set()).add(b)
        partner.setdefault(b, set()).add(a)
    apart: dict[str, set[str]] = {}
    for a, b in apart_pairs(problem):
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    best_after = [0] * (len(people) + 1)  # an optimistic bound for the people from i on
    for i in range(len(people) - 1, -1, -1):
        best_after[i] = best_after[i + 1] + max([0] + [v for _, _, v in options[people[i]]])
    remaining = [b.capacity for b in problem.bed_classes]
    where: dict[str, str | None] = {}
    best = 0

    def consistent(pid: str, facility: str | None) -> bool:
        for q in partner.get(pid, ()):
            if q in where and where[q] != facility:
                return False
        return facility is None or all(where.get(q) != facility for q in apart.get(pid, ()))

    def search(i: int, total: int) -> None:
        nonlocal best
        if total + best_after[i] <= best and i < len(people):
            return
        if i == len(people):
            best = max(best, total)
            return
        pid = people[i]
        for c, facility, v in options[pid]:
            if remaining[c] and consistent(pid, facility):
                remaining[c] -= 1
                where[pid] = facility
                search(i + 1, total + v)
                remaining[c] += 1
        if consistent(pid, None):
            where[pid] = None
            search(i + 1, total)
        where.pop(pid, None)

    search(0, 0)
    return best


def plain_cp_sat(problem: PlacementProblem, workers: int = 1) -> int:
    """The optimal objective of a plain CP-SAT model: one boolean per allowed (person, bed class)."""
    model = cp_model.CpModel()
    options = _options(problem)
    x: dict[tuple[str, int], cp_model.IntVar] = {}
    for pid, opts in options.items():
        for c, _, _ in opts:
            x[pid, c] = model.new_bool_var(f"x[{pid},{c}]")
        model.add(sum(x[pid, c] for c, _, _ in opts) <= 1)
    for c, bed in enumerate(problem.bed_classes):
        model.add(sum(x[pid, c] for pid in options if (pid, c) in x) <= bed.capacity)

    facilities = [f.id for f in problem.facilities]

    def in_facility(pid: str, facility: str) -> cp_model.LinearExprT:
        return sum(x[pid, c] for c, f, _ in options[pid] if f == facility)

    for a, b in couples(problem):
        for f in facilities:
            model.add(in_facility(a, f) == in_facility(b, f))
    for a, b in apart_pairs(problem):
        for f in facilities:
            model.add(in_facility(a, f) + in_facility(b, f) <= 1)
    model.maximize(sum(v * x[pid, c] for pid, opts in options.items() for c, _, v in opts))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.max_time_in_seconds = 60
    status = solver.solve(model)
    assert status == cp_model.OPTIMAL, solver.status_name(status)
    return round(solver.objective_value)
