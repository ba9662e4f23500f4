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
- an anchor-free route reaches its classes through *blocks* of about √n classes (by
  facility), so that a group excluded from some facilities, for a type they have beds
  of, uses every block without an excluded class whole and goes straight only to the
  allowed classes of the other blocks and to those near its anchor (with their care
  points): √n arcs, not n. A group bound to a partner's facility goes straight to the
  classes there. No arc is dropped unless a hard rule forbids it.

Every person has a zero-value arc to the sink, so the flow is always feasible, and the
minimum cost is minus the maximum total value.
"""

from __future__ import annotations

import math
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

    def node(self, layer: int) -> int:
        self.layer.append(layer)
        return len(self.layer) - 1

    def arcs(self, tail: int, heads: np.ndarray | list[int], capacity: int, costs: int | np.ndarray | list[int]) -> int:
        """Arcs from one tail to each head, all of one capacity; the index of the first."""
        first = len(self.tails)
        heads = heads.tolist() if isinstance(heads, np.ndarray) else heads
        self.heads.extend(heads)
        self.tails.extend([tail] * len(heads))
        self.capacities.extend([capacity] * len(heads))
        if isinstance(costs, int):
            self.costs.extend([costs] * len(heads))
        else:
            self.costs.extend(costs.tolist() if isinstance(costs, np.ndarray) else costs)
        return first

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tails, heads, capacities, costs) of every arc, in the order added."""
        return (
            np.array(self.tails, dtype=np.int32),
            np.array(self.heads, dtype=np.int32),
            np.array(self.capacities, dtype=np.int64),
            np.array(self.costs, dtype=np.int64),
        )


PEOPLE, GROUP, ANCHORED_ROUTE, FREE_ROUTE, BLOCK, BED_CLASS = range(6)  # arcs only go to higher layers
MIN_BLOCK = 16


def assign_by_flow(instance: Instance, people: Sequence[int], capacity: np.ndarray) -> FlowResult:
    """Place the given people (indices into problem.people) in beds of the given capacity, optimally."""
    return FlowModel(instance, people, capacity).solve(people, capacity)


class FlowModel:
    """The network for some people and beds, built once; solved again for any of those
    people and any capacity no larger, without building it again (the final flow at
    scale re-places the unlinked people in the beds the households left)."""

    def __init__(self, instance: Instance, people: Sequence[int], capacity: np.ndarray) -> None:
        network = _Network(len(people))
        self.bed_classes, bed_nodes, self.bed_arcs = _bed_class_nodes(instance, network, capacity)
        self.class_of_node = dict(zip(bed_nodes.tolist(), self.bed_classes.tolist(), strict=True))
        self.people_classes = _people_classes(instance, people)
        self.people_arcs = np.zeros(len(self.people_classes), dtype=np.int64)
        self.people_nodes = np.zeros(len(self.people_classes), dtype=np.int32)
        group_node: dict[int, int] = {}
        for k, ((g, priority), members) in enumerate(self.people_classes.items()):
            node = self.people_nodes[k] = network.node(PEOPLE)
            if g not in group_node:
                group_node[g] = network.node(GROUP)
            # two arcs: into the group (placed), then straight to the sink (left unplaced)
            self.people_arcs[k] = network.arcs(node, [group_node[g], 0], len(members), [-priority * instance.weight, 0])
        node_of_class = np.full(len(capacity), -1, dtype=np.int32)
        node_of_class[self.bed_classes] = bed_nodes
        routes = _Routes(instance, network, capacity, node_of_class)
        for g, node in group_node.items():
            _connect_group(instance, network, routes, g, node, node_of_class)
        self.layer = np.array(network.layer, dtype=np.int8)
        self.tails, self.heads, self.capacities, self.costs = network.arrays()
        largest = int(np.abs(self.costs).max()) if len(self.costs) else 0
        if largest * (len(self.layer) + 1) >= SAFE_SCALED_COST:
            raise ValueError("problem too large for exact integer costs: lower the weights or split it")

    def solve(self, people: Sequence[int], capacity: np.ndarray) -> FlowResult:
        """Optimal placement of these people (all among the model's) in these beds."""
        chosen = set(people)
        members = [[i for i in m if i in chosen] for m in self.people_classes.values()]
        counts = np.array([len(m) for m in members], dtype=np.int64)
        supply = np.zeros(len(self.layer), dtype=np.int64)
        supply[0] = -len(chosen)
        supply[self.people_nodes] = counts
        capacities = self.capacities.copy()
        capacities[self.people_arcs] = counts
        capacities[self.people_arcs + 1] = counts
        capacities[self.bed_arcs] = capacity[self.bed_classes]
        flows, cost = self._min_cost_flow(supply, capacities)
        tokens = {int(node): deque(m) for node, m in zip(self.people_nodes, members, strict=True)}
        assignment = self._decompose(flows, tokens)
        return FlowResult(assignment, -cost, len(self.layer), len(self.tails), len(self.people_classes))

    def _min_cost_flow(self, supply: np.ndarray, capacities: np.ndarray) -> tuple[np.ndarray, int]:
        solver = min_cost_flow.SimpleMinCostFlow()
        arcs = solver.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, capacities, self.costs)
        solver.set_nodes_supplies(np.arange(len(supply), dtype=np.int32), supply)
        status = solver.solve()
        if status != solver.OPTIMAL:
            raise RuntimeError(f"min-cost flow ended with status {status}")
        return solver.flows(arcs), solver.optimal_cost()

    def _decompose(self, flows: np.ndarray, tokens: dict[int, deque[int]]) -> dict[int, int]:
        """Follow the flow layer by layer, handing people on: any split is valid, because
        everyone reaching a node may use every class beyond it."""
        used = np.flatnonzero(flows > 0)
        used = used[self.heads[used] != 0]  # flows into the sink: beds used, or people left out
        used = used[np.lexsort((used, self.layer[self.tails[used]]))]
        assignment: dict[int, int] = {}
        arcs = zip(self.tails[used].tolist(), self.heads[used].tolist(), flows[used].tolist(), strict=True)
        for tail, head, flow in arcs:
            queue = tokens[tail]
            moved = [queue.popleft() for _ in range(flow)]
            if head in self.class_of_node:
                assignment.update(dict.fromkeys(moved, self.class_of_node[head]))
            else:
                tokens.setdefault(head, deque()).extend(moved)
        return assignment


def _bed_class_nodes(
    instance: Instance, network: _Network, capacity: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes with free beds, their nodes, each node's arc to the sink)."""
    classes = np.flatnonzero(capacity > 0)
    nodes, arcs = [], []
    for c in classes.tolist():
        nodes.append(network.node(BED_CLASS))
        arcs.append(network.arcs(nodes[-1], [0], int(capacity[c]), -int(instance.bed_value[c])))
    return classes, np.array(nodes, dtype=np.int32), np.array(arcs, dtype=np.int64)


def _people_classes(instance: Instance, people: Sequence[int]) -> dict[tuple[int, int], list[int]]:
    """People of one group and one priority (partners' shared: Instance.flow_priority), in input order."""
    classes: dict[tuple[int, int], list[int]] = {}
    for i in sorted(people):
        classes.setdefault((instance.group_of[i], instance.flow_priority[i]), []).append(i)
    return classes


class _Routes:
    """Route nodes, created on first use: (anchor, type, partner's needs) → bed classes of
    that type, in facilities with a bed for the partner too when there is one.

    Routes reaching the same classes at the same care points are one node, whatever key
    led to them: many partners' needs leave the same classes open (at France, 124 needs
    gave 7,547 anchor-free routes over only 372 distinct sets of classes)."""

    def __init__(self, instance: Instance, network: _Network, capacity: np.ndarray, class_node: np.ndarray) -> None:
        self.instance, self.network, self.capacity, self.class_node = instance, network, capacity, class_node
        self.nodes: dict[tuple[Point | None, int, Needs | None], int] = {}
        self.room: dict[Needs | None, np.ndarray] = {}
        self.shared: dict[tuple[Point | None, bytes, int], int] = {}
        """(anchor, near classes, anchor-free route) or (None, classes, −1) → node."""
        self.blocks_of_node: dict[int, _Blocks] = {}
        self.classes: dict[tuple[int, Needs | None], np.ndarray] = {}

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

    def free_blocks(self, t: int, partner: Needs | None) -> _Blocks:
        return self.blocks_of_node[self(None, t, partner)]

    def _build(self, anchor: Point | None, t: int, partner: Needs | None) -> int:
        instance, network = self.instance, self.network
        if (t, partner) not in self.classes:
            self.classes[t, partner] = self.open_classes(instance.classes_of_type[t], partner)
        classes = self.classes[t, partner]
        if anchor is None:
            return self._shared((None, classes.tobytes(), -1), lambda node: self._to_blocks(node, classes), FREE_ROUTE)
        free = self(None, t, partner)
        care = instance.care_row(anchor)[instance.class_facility[classes]]
        near = care > 0

        def arcs(node: int) -> None:
            network.arcs(node, self.class_node[classes[near]], network.unbounded, -care[near])
            network.arcs(node, [free], network.unbounded, 0)

        return self._shared((anchor, classes[near].tobytes(), free), arcs, ANCHORED_ROUTE)

    def _shared(self, key: tuple[Point | None, bytes, int], arcs, layer: int) -> int:
        """The node for this key, made with its arcs on first use."""
        if key not in self.shared:
            self.shared[key] = node = self.network.node(layer)
            arcs(node)
        return self.shared[key]

    def _to_blocks(self, node: int, classes: np.ndarray) -> None:
        blocks = self.blocks_of_node[node] = _Blocks.of(self.instance, self.network, classes, self.class_node)
        self.network.arcs(node, blocks.nodes, self.network.unbounded, 0)


def _connect_group(
    instance: Instance,
    network: _Network,
    routes: _Routes,
    g: int,
    node: int,
    class_node: np.ndarray,
) -> None:
    group = instance.groups[g]
    types = instance.eligible_types(group.needs)
    if not group.restricted:
        network.arcs(node, [routes(group.anchor, t, group.partner_needs) for t in types], network.unbounded, 0)
        return
    allowed = instance.group_mask(g)
    touched = _touched_types(instance, group.excluded_facility_ids, group.partner_facility_id)
    if touched is None:  # bound to the partner's facility: its few classes, straight
        direct = routes.open_classes(np.flatnonzero(allowed), group.partner_needs)
        care = instance.care_row(group.anchor)[instance.class_facility[direct]]
        network.arcs(node, class_node[direct], network.unbounded, -care)
        return
    for t in types:
        if t not in touched:
            network.arcs(node, [routes(group.anchor, t, group.partner_needs)], network.unbounded, 0)
            continue
        blocks = routes.free_blocks(t, group.partner_needs)
        excluded = ~allowed[blocks.classes]
        spoiled = np.bincount(blocks.block_of, weights=excluded, minlength=len(blocks.nodes)) > 0
        network.arcs(node, blocks.nodes[~spoiled], network.unbounded, 0)
        care = instance.care_row(group.anchor)[instance.class_facility[blocks.classes]]
        direct = ~excluded & (spoiled[blocks.block_of] | (care > 0))
        network.arcs(node, class_node[blocks.classes[direct]], network.unbounded, -care[direct])


@dataclass(frozen=True, slots=True)
class _Blocks:
    """An anchor-free route's classes, by facility, in blocks of about √n, each a node."""

    classes: np.ndarray
    block_of: np.ndarray
    """Block index of each class."""
    nodes: np.ndarray

    @staticmethod
    def of(instance: Instance, network: _Network, classes: np.ndarray, class_node: np.ndarray) -> _Blocks:
        classes = classes[np.argsort(instance.class_facility[classes], kind="stable")]
        size = max(MIN_BLOCK, math.isqrt(len(classes)))
        block_of = np.arange(len(classes)) // size
        nodes = np.array([network.node(BLOCK) for _ in range(-(-len(classes) // size))], dtype=np.int32)
        for k, node in enumerate(nodes.tolist()):
            network.arcs(node, class_node[classes[k * size : (k + 1) * size]], network.unbounded, 0)
        return _Blocks(classes, block_of, nodes)


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
