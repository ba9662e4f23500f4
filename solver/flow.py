"""The core problem as an exact min-cost flow over classes of people and of beds.

Network, one unit of flow per person:

    people class ──(−priority×W)──▶ group ──▶ route (anchor, bed type) ──(−care)──▶ bed class ──(−bed value)──▶ sink
         └──────────────(0: left unplaced)────────────────────────────────────────────────────────────────────▶ sink

- a *people class* is the people of one group with one priority; a *group* shares needs,
  care anchor and facility restrictions, so its people may use exactly the same beds;
- a *route* (anchor, type, partner's needs) leads to every bed class of a type a group
  may use, in facilities where a partner still to be placed fits too; the care
  term depends only on the anchor and the facility. Anchored routes reach the classes
  within the care radius directly and all others through the anchor-free route of the
  same type, at zero care: the graph grows with anchors × nearby classes, not with
  people × beds. Going the long way to a nearby class is never optimal (it forgoes the
  care points on the same capacity), so the plan's values equal the flow's cost;
- groups with facility restrictions (exclusions, a partner's facility) go straight to
  their allowed classes for the types their restrictions touch, and through routes for
  the rest. No arc is dropped unless a hard rule forbids it.

Every person has a zero-value arc to the sink, so the flow is always feasible, and the
minimum cost is minus the maximum total value.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.instance import Instance
from solver.problem import Point
from solver.rules import Needs

SAFE_SCALED_COST = 2**62  # OR-Tools scales costs by the number of nodes


@dataclass(frozen=True, slots=True)
class FlowResult:
    assignment: dict[int, int]
    """Person index → bed class index, for the people placed."""
    objective: int
    nodes: int
    arcs: int
    people_classes: int


class _Network:
    """Arcs as parallel lists, nodes numbered as they are met; the sink is node 0.

    Only people's supplies and bed classes' arcs to the sink limit the flow: every arc
    in between gets `unbounded` (all the people), as a capacity there would only repeat
    one of those."""

    def __init__(self, people: int) -> None:
        self.unbounded = people
        self.tails: list[int] = []
        self.heads: list[int] = []
        self.capacities: list[int] = []
        self.costs: list[int] = []
        self.layer: list[int] = [99]
        self.supply: list[int] = [0]

    def node(self, layer: int, supply: int = 0) -> int:
        self.layer.append(layer)
        self.supply.append(supply)
        return len(self.layer) - 1

    def arc(self, tail: int, head: int, capacity: int, cost: int) -> None:
        self.tails.append(tail)
        self.heads.append(head)
        self.capacities.append(capacity)
        self.costs.append(cost)


PEOPLE, GROUP, ANCHORED_ROUTE, FREE_ROUTE, BED_CLASS = range(5)


def assign_by_flow(instance: Instance, people: Sequence[int], capacity: np.ndarray) -> FlowResult:
    """Place the given people (indices into problem.people) in beds of the given capacity, optimally."""
    network = _Network(len(people))
    network.supply[0] = -len(people)
    class_node = _bed_class_nodes(instance, network, capacity)
    people_classes = _people_classes(instance, people)
    group_node: dict[int, int] = {}
    tokens: dict[int, deque[int]] = {}
    for (g, priority), members in people_classes.items():
        node = network.node(PEOPLE, supply=len(members))
        tokens[node] = deque(members)
        if g not in group_node:
            group_node[g] = network.node(GROUP)
        network.arc(node, group_node[g], len(members), -priority * instance.weight)
        network.arc(node, 0, len(members), 0)
    routes = _Routes(instance, network, capacity, class_node)
    for g, node in group_node.items():
        _connect_group(instance, network, routes, g, node, class_node)
    flows, cost = _solve(network)
    assignment = _decompose(network, flows, tokens, class_node)
    return FlowResult(assignment, -cost, len(network.layer), len(network.tails), len(people_classes))


def _bed_class_nodes(instance: Instance, network: _Network, capacity: np.ndarray) -> dict[int, int]:
    nodes = {}
    for c in np.flatnonzero(capacity > 0):
        nodes[int(c)] = network.node(BED_CLASS)
        network.arc(nodes[int(c)], 0, int(capacity[c]), -int(instance.bed_value[c]))
    return nodes


def _people_classes(instance: Instance, people: Sequence[int]) -> dict[tuple[int, int], list[int]]:
    """People of one group and one priority, in input order."""
    classes: dict[tuple[int, int], list[int]] = {}
    for i in sorted(people):
        classes.setdefault((instance.group_of[i], instance.problem.people[i].priority), []).append(i)
    return classes


class _Routes:
    """Route nodes, created on first use: (anchor, type, partner's needs) → bed classes of
    that type, in facilities with a bed for the partner too when there is one."""

    def __init__(self, instance: Instance, network: _Network, capacity: np.ndarray, class_node: dict[int, int]) -> None:
        self.instance, self.network, self.capacity, self.class_node = instance, network, capacity, class_node
        self.nodes: dict[tuple[Point | None, int, Needs | None], int] = {}
        self.room: dict[Needs | None, np.ndarray] = {}

    def __call__(self, anchor: Point | None, t: int, partner: Needs | None) -> int:
        key = (anchor, t, partner)
        if key not in self.nodes:
            self.nodes[key] = self._build(anchor, t, partner)
        return self.nodes[key]

    def open_classes(self, candidates: np.ndarray, partner: Needs | None) -> np.ndarray:
        """The candidates with free beds, in facilities where the partner could also be placed."""
        candidates = candidates[self.capacity[candidates] > 0]
        if partner is None:
            return candidates
        if partner not in self.room:
            eligible = np.zeros(len(self.instance.types), dtype=bool)
            eligible[self.instance.eligible_types(partner)] = True
            open_for_partner = eligible[self.instance.class_type] & (self.capacity > 0)
            room = np.zeros(len(self.instance.problem.facilities), dtype=bool)
            room[self.instance.class_facility[open_for_partner]] = True
            self.room[partner] = room
        return candidates[self.room[partner][self.instance.class_facility[candidates]]]

    def _build(self, anchor: Point | None, t: int, partner: Needs | None) -> int:
        instance, network = self.instance, self.network
        classes = self.open_classes(instance.classes_of_type[t], partner)
        if anchor is None:
            node = network.node(FREE_ROUTE)
            for c in classes.tolist():
                network.arc(node, self.class_node[c], self.network.unbounded, 0)
            return node
        node = network.node(ANCHORED_ROUTE)
        care = instance.care_row(anchor)[instance.class_facility[classes]]
        for c, points in zip(classes.tolist(), care.tolist(), strict=True):
            if points > 0:
                network.arc(node, self.class_node[c], self.network.unbounded, -points)
        network.arc(node, self(None, t, partner), self.network.unbounded, 0)
        return node


def _connect_group(
    instance: Instance,
    network: _Network,
    routes: _Routes,
    g: int,
    node: int,
    class_node: dict[int, int],
) -> None:
    group = instance.groups[g]
    types = instance.eligible_types(group.needs)
    if not group.restricted:
        for t in types:
            network.arc(node, routes(group.anchor, t, group.partner_needs), network.unbounded, 0)
        return
    allowed = instance.group_mask(g)
    touched = _touched_types(instance, group.excluded_facility_ids, group.partner_facility_id)
    for t in types:
        if touched is not None and t not in touched:
            network.arc(node, routes(group.anchor, t, group.partner_needs), network.unbounded, 0)
    if touched is not None:
        allowed = allowed & np.isin(instance.class_type, list(touched))
    direct = routes.open_classes(np.flatnonzero(allowed), group.partner_needs)
    care = instance.care_row(group.anchor)[instance.class_facility[direct]]
    for c, points in zip(direct.tolist(), care.tolist(), strict=True):
        network.arc(node, class_node[c], network.unbounded, -points)


def _touched_types(instance: Instance, excluded: frozenset[str], partner_facility: str | None) -> set[int] | None:
    """Types with a class in an excluded facility; None (all) when bound to a partner's facility."""
    if partner_facility is not None:
        return None
    touched: set[int] = set()
    for facility_id in excluded:
        classes = instance.classes_of_facility.get(facility_id)
        if classes is not None:
            touched.update(int(t) for t in instance.class_type[classes])
    return touched


def _solve(network: _Network) -> tuple[np.ndarray, int]:
    costs = np.array(network.costs, dtype=np.int64)
    largest = int(np.abs(costs).max()) if len(costs) else 0
    if largest * (len(network.layer) + 1) >= SAFE_SCALED_COST:
        raise ValueError("problem too large for exact integer costs: lower the weights or split it")
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        np.array(network.tails, dtype=np.int32),
        np.array(network.heads, dtype=np.int32),
        np.array(network.capacities, dtype=np.int64),
        costs,
    )
    solver.set_nodes_supplies(np.arange(len(network.supply), dtype=np.int32), np.array(network.supply, dtype=np.int64))
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    return solver.flows(arcs), solver.optimal_cost()


def _decompose(
    network: _Network, flows: np.ndarray, tokens: dict[int, deque[int]], class_node: dict[int, int]
) -> dict[int, int]:
    """Follow the flow layer by layer, handing people on: any split is valid, because
    everyone reaching a node may use every class beyond it."""
    bed_class_of = {node: c for c, node in class_node.items()}
    layer = network.layer
    used = [a for a in np.flatnonzero(flows > 0).tolist() if network.heads[a] != 0 or layer[network.tails[a]] != PEOPLE]
    used.sort(key=lambda a: (layer[network.tails[a]], a))
    assignment: dict[int, int] = {}
    for a in used:
        tail, head = network.tails[a], network.heads[a]
        if head == 0:
            continue  # a bed class's flow to the sink: already handed on
        queue = tokens[tail]
        moved = [queue.popleft() for _ in range(int(flows[a]))]
        if head in bed_class_of:
            for person in moved:
                assignment[person] = bed_class_of[head]
        else:
            tokens.setdefault(head, deque()).extend(moved)
    return assignment
