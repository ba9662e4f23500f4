"""Placement problems for the solver bench: the Paris demo, Île-de-France and France.

Pure and deterministic: the same arguments give equal problems (the only randomness is a
`random.Random` seeded by the caller). Three scales:

    paris   the demo dataset (service.demo.dataset) as the solver would get it at PARIS_NOW:
            800 waiting referrals, every demo bed free, the consumption sites active then.
    idf     10,000 people, 50,000 places in 2,000 facilities around Paris and the Île-de-France
            suburbs (out-of-region places in the big cities of the other regions), the ten
            Paris sites plus ten synthetic suburban ones, 30 care centres.
    france  100,000 people, 200,000 places in 10,000 facilities clustered around 32 big cities
            and Île-de-France (the biggest cluster), a few sites and care centres per city.

Capacity is short in the synthetic scales the way it is in life: most places are taken.
Each facility gets a free rate drawn around FREE_PER_PERSON × people / places (uniformly
between a quarter and 1.75 times it, so some facilities are full and others half empty),
each place of a bed class is free with that probability, and the solver sees only the free
places: about 0.65 free place per person waiting, before any hard rule removes more. Dog-
friendly, accessible, women-only and couple places are scarcer than the people who need
them (20 % of people have a dog, ~15 % of places take one), so who gets which bed matters.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate

from service.demo.dataset import PARIS, SUBURBS, DemoDataset, demo_dataset
from solver.priority import priority_of
from solver.problem import (
    BedClass,
    Facility,
    Gender,
    GenderPolicy,
    Kind,
    Person,
    PlacementProblem,
    Point,
    Site,
)

PARIS_NOW = datetime(2026, 11, 1, tzinfo=UTC)
"""The day after the last demo referral can have been first met (FIRST_MET ends 2026-10-31)."""

FREE_PER_PERSON = 0.65  # free places per person waiting, on average, in the synthetic scales
MAX_DAYS_WAITING = 180


@dataclass(frozen=True, slots=True)
class Instance:
    name: str
    problem: PlacementProblem
    places: int
    """All places, free or taken (the problem holds only the free ones)."""


@dataclass(frozen=True, slots=True)
class Sizes:
    people: int
    facilities: int
    facilities_with_free: int
    places: int
    free_places: int
    bed_classes: int
    couples: int
    keep_apart_pairs: int
    sites: int
    care_anchors: int
    """Distinct anchor points among the people who have one."""


def sizes(instance: Instance) -> Sizes:
    problem = instance.problem
    with_free = {bed.facility_id for bed in problem.bed_classes}
    return Sizes(
        people=len(problem.people),
        facilities=len(problem.facilities),
        facilities_with_free=len(with_free),
        places=instance.places,
        free_places=sum(bed.capacity for bed in problem.bed_classes),
        bed_classes=len(problem.bed_classes),
        couples=sum(person.partner_id is not None for person in problem.people) // 2,
        keep_apart_pairs=sum(len(person.keep_apart_ids) for person in problem.people) // 2,
        sites=len(problem.sites),
        care_anchors=len({person.care_anchor for person in problem.people if person.care_anchor is not None}),
    )


# --- Paris: the demo dataset ------------------------------------------------------------------


def paris(now: datetime = PARIS_NOW, dataset: DemoDataset | None = None) -> Instance:
    """The demo dataset at `now`: open facilities with every bed free, active sites, all referrals."""
    data = dataset or demo_dataset()
    today = now.date()
    facilities, bed_classes = [], []
    for demo in data.facilities:
        if demo.opened_on > today or (demo.closed_on is not None and demo.closed_on <= today):
            continue
        facilities.append(
            Facility(id=demo.key, name=demo.name, kind=Kind(demo.kind), location=Point(demo.lat, demo.lon))
        )
        identical = Counter(
            (
                bed.gender_policy,
                bed.accessible,
                bed.couple_room,
                bed.dogs_allowed,
                bed.medical_level,
                bed.nightly_cost_cents,
            )
            for bed in demo.beds
        )  # insertion-ordered, so class numbers are stable
        for number, ((policy, accessible, couple, dogs, level, cost), capacity) in enumerate(identical.items(), 1):
            bed_classes.append(
                BedClass(
                    id=f"{demo.key}/{number}",
                    facility_id=demo.key,
                    capacity=capacity,
                    gender_policy=GenderPolicy(policy),
                    accessible=accessible,
                    couple_room=couple,
                    dogs_allowed=dogs,
                    medical_level=level,
                    nightly_cost_cents=cost,
                )
            )
    open_keys = {facility.id for facility in facilities}
    people = [
        Person(
            id=referral.reference,
            priority=priority_of(
                vulnerability=referral.vulnerability,
                court_ordered=referral.court_ordered,
                days_waiting=(today - referral.first_met_on).days,
                gender=Gender(referral.gender),
            ),
            gender=Gender(referral.gender),
            accessible=referral.accessible,
            dogs=referral.dogs,
            medical_level=referral.medical_level,
            acceptable_kinds=frozenset(Kind(kind) for kind in referral.acceptable_kinds),
            consents_out_of_region=referral.consents_out_of_region,
            excluded_facility_ids=frozenset(key for key in referral.excluded_facilities if key in open_keys),
            partner_id=referral.couple_partner,
            keep_apart_ids=frozenset(referral.keep_apart),
            care_anchor=Point(*referral.care_anchor) if referral.care_anchor else None,
        )
        for referral in data.referrals
    ]
    sites = [Site(name=site.name, location=Point(site.lat, site.lon)) for site in data.sites if site.is_active(now)]
    places = sum(len(demo.beds) for demo in data.facilities if demo.key in open_keys)
    return Instance(
        "Paris", PlacementProblem(people=people, facilities=facilities, bed_classes=bed_classes, sites=sites), places
    )


# --- Synthetic geography ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Area:
    """Somewhere facilities cluster: a centre and a spread (the standard deviation, km)."""

    name: str
    lat: float
    lon: float
    spread_km: float
    weight: float = 1.0


def _areas(places: dict, spread_km: float) -> list[Area]:
    return [Area(str(key), place.lat, place.lon, spread_km) for key, place in places.items()]


PARIS_AREAS = _areas(PARIS, 0.7)
PARIS_NORTH_EAST = [area for area in PARIS_AREAS if area.name in ("10", "11", "18", "19", "20")]
INNER_RING = _areas(SUBURBS, 1.2)  # the petite couronne: Hauts-de-Seine, Seine-Saint-Denis, Val-de-Marne
NORTH_INNER_RING = [area for area in INNER_RING if area.name in ("Saint-Denis", "Aubervilliers", "Pantin")]
OUTER_RING = [  # the grande couronne: Seine-et-Marne, Yvelines, Essonne, Val-d'Oise
    Area("Argenteuil", 48.9472, 2.2467, 2.0),
    Area("Cergy", 49.0364, 2.0761, 2.5),
    Area("Sarcelles", 48.9973, 2.3808, 1.5),
    Area("Sevran", 48.9386, 2.5275, 1.5),
    Area("Aulnay-sous-Bois", 48.9386, 2.4970, 1.5),
    Area("Versailles", 48.8049, 2.1204, 2.0),
    Area("Mantes-la-Jolie", 48.9908, 1.7167, 2.0),
    Area("Saint-Quentin-en-Yvelines", 48.7719, 2.0156, 2.5),
    Area("Évry-Courcouronnes", 48.6290, 2.4410, 2.0),
    Area("Massy", 48.7309, 2.2713, 1.5),
    Area("Corbeil-Essonnes", 48.6139, 2.4820, 1.5),
    Area("Meaux", 48.9601, 2.8788, 2.0),
    Area("Melun", 48.5421, 2.6554, 2.0),
    Area("Marne-la-Vallée", 48.8480, 2.6530, 2.5),
    Area("Chelles", 48.8811, 2.5905, 1.5),
]
# Big cities outside Île-de-France, weighted by metropolitan population (millions), spread in km.
CITIES = [
    Area("Lyon", 45.7640, 4.8357, 4.0, 2.3),
    Area("Marseille", 43.2965, 5.3698, 4.5, 1.9),
    Area("Lille", 50.6292, 3.0573, 4.0, 1.5),
    Area("Toulouse", 43.6047, 1.4442, 4.0, 1.5),
    Area("Bordeaux", 44.8378, -0.5792, 4.0, 1.4),
    Area("Nice", 43.7102, 7.2620, 3.0, 1.0),
    Area("Nantes", 47.2184, -1.5536, 3.5, 1.0),
    Area("Strasbourg", 48.5734, 7.7521, 3.0, 0.8),
    Area("Montpellier", 43.6108, 3.8767, 3.0, 0.8),
    Area("Rennes", 48.1173, -1.6778, 3.0, 0.75),
    Area("Grenoble", 45.1885, 5.7245, 3.0, 0.7),
    Area("Rouen", 49.4432, 1.0999, 3.0, 0.67),
    Area("Toulon", 43.1242, 5.9280, 3.0, 0.6),
    Area("Saint-Étienne", 45.4397, 4.3872, 2.5, 0.52),
    Area("Tours", 47.3941, 0.6848, 2.5, 0.5),
    Area("Clermont-Ferrand", 45.7772, 3.0870, 2.5, 0.5),
    Area("Orléans", 47.9030, 1.9093, 2.5, 0.45),
    Area("Nancy", 48.6921, 6.1844, 2.5, 0.43),
    Area("Angers", 47.4784, -0.5632, 2.5, 0.43),
    Area("Caen", 49.1829, -0.3707, 2.5, 0.42),
    Area("Metz", 49.1193, 6.1757, 2.5, 0.4),
    Area("Dijon", 47.3220, 5.0415, 2.5, 0.39),
    Area("Avignon", 43.9493, 4.8055, 2.5, 0.34),
    Area("Perpignan", 42.6887, 2.8948, 2.5, 0.33),
    Area("Brest", 48.3904, -4.4861, 2.5, 0.32),
    Area("Reims", 49.2583, 4.0317, 2.5, 0.3),
    Area("Le Havre", 49.4944, 0.1079, 2.5, 0.3),
    Area("Limoges", 45.8336, 1.2611, 2.5, 0.3),
    Area("Amiens", 49.8941, 2.2958, 2.5, 0.3),
    Area("Besançon", 47.2378, 6.0241, 2.5, 0.28),
    Area("Poitiers", 46.5802, 0.3404, 2.5, 0.26),
    Area("Pau", 43.2951, -0.3708, 2.5, 0.2),
]
IDF_WEIGHT = 12.3  # Île-de-France's population (millions) against the cities' weights above
IDF_SHARE = IDF_WEIGHT / (IDF_WEIGHT + sum(city.weight for city in CITIES))

# The ten consumption sites of DOMAIN.md (public landmarks, not exact scenes).
PARIS_SITES = [
    Site(name=name, location=Point(lat, lon))
    for name, lat, lon in (
        ("Stalingrad", 48.8843, 2.3699),
        ("Jardins d'Eole", 48.8878, 2.3651),
        ("Porte de la Chapelle", 48.8986, 2.3599),
        ("Gare du Nord", 48.8809, 2.3553),
        ("La Chapelle", 48.8844, 2.3604),
        ("Riquet", 48.8881, 2.3737),
        ("Rosa Parks", 48.8962, 2.3744),
        ("Canal de l'Ourcq quays", 48.8880, 2.3780),
        ("Les Halles", 48.8621, 2.3470),
        ("Bonne Nouvelle", 48.8705, 2.3486),
    )
]
# Synthetic suburban sites: near the centre of these communes, not real scenes.
SUBURBAN_SITE_AREAS = (
    "Saint-Denis",
    "Aubervilliers",
    "Pantin",
    "Saint-Ouen-sur-Seine",
    "Bobigny",
    "Montreuil",
    "Nanterre",
    "Ivry-sur-Seine",
    "Sevran",
    "Argenteuil",
)

KIND_SHARES = {  # share of facilities, and places per facility (a range, scaled to the total)
    Kind.ASSORE_HOTEL: (0.58, (10, 60)),
    Kind.SPECIALISED_UNIT: (0.20, (15, 40)),
    Kind.REST_SPACE: (0.05, (5, 30)),
    Kind.OUT_OF_REGION: (0.17, (10, 40)),
}


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    people: int
    places: int
    facilities: int
    france: bool  # the whole country, or Île-de-France with out-of-region places elsewhere


IDF = Scale("Île-de-France", 10_000, 50_000, 2_000, france=False)
FRANCE = Scale("France", 100_000, 200_000, 10_000, france=True)


def _near(rng: random.Random, area: Area, spread_km: float | None = None) -> Point:
    sigma = area.spread_km if spread_km is None else spread_km
    dlat = rng.gauss(0, sigma) / 111.2
    dlon = rng.gauss(0, sigma) / (111.2 * math.cos(math.radians(area.lat)))
    return Point(round(area.lat + dlat, 6), round(area.lon + dlon, 6))


def _pick(rng: random.Random, groups: list[tuple[list[Area], float]]) -> Area:
    """A group by weight, then an area of it by its own weight."""
    areas = rng.choices([group for group, _ in groups], [weight for _, weight in groups])[0]
    return rng.choices(areas, [area.weight for area in areas])[0]


def _idf_groups(kind: Kind) -> list[tuple[list[Area], float]]:
    return {
        Kind.ASSORE_HOTEL: [(PARIS_AREAS, 0.35), (INNER_RING, 0.45), (OUTER_RING, 0.20)],
        Kind.SPECIALISED_UNIT: [(PARIS_AREAS, 0.30), (INNER_RING, 0.40), (OUTER_RING, 0.30)],
        Kind.REST_SPACE: [(PARIS_NORTH_EAST, 0.7), (NORTH_INNER_RING, 0.3)],
        Kind.OUT_OF_REGION: [(CITIES, 1.0)],
    }[kind]


def _facility_area(rng: random.Random, scale: Scale, kind: Kind) -> tuple[Area, float | None]:
    """Where a facility of this kind goes, and a spread overriding the area's (None: the area's)."""
    if not scale.france:
        return _pick(rng, _idf_groups(kind)), (10.0 if kind is Kind.OUT_OF_REGION else None)
    if kind is Kind.OUT_OF_REGION:  # care far from the scenes: around any city, well out of town
        return _pick(rng, [(CITIES, 1.0 - IDF_SHARE), (OUTER_RING, IDF_SHARE)]), 15.0
    if rng.random() < IDF_SHARE:
        return _pick(rng, _idf_groups(kind)), None
    return _pick(rng, [(CITIES, 1.0)]), None


def _sites(rng: random.Random, scale: Scale) -> list[Site]:
    suburbs = {area.name: area for area in INNER_RING + OUTER_RING}
    sites = list(PARIS_SITES)
    sites += [Site(name=f"{name} (synthetic)", location=_near(rng, suburbs[name], 0.5)) for name in SUBURBAN_SITE_AREAS]
    if scale.france:
        for city in CITIES:
            for number in range(1, 2 + round(city.weight)):
                sites.append(Site(name=f"{city.name} {number} (synthetic)", location=_near(rng, city, 1.0)))
    return sites


def _care_centres(rng: random.Random, scale: Scale) -> list[tuple[Point, float]]:
    """Care centres (CSAPA, CAARUD) and how many people each follows, relatively."""
    centres = [(_near(rng, area, 0.4), 3.0) for area in PARIS_NORTH_EAST for _ in range(2)]
    centres += [(_near(rng, area, 0.4), 1.0) for area in rng.sample(PARIS_AREAS, 6)]
    centres += [(_near(rng, area, 0.6), 1.0) for area in rng.sample(INNER_RING, 8)]
    centres += [(_near(rng, area, 1.0), 0.5) for area in rng.sample(OUTER_RING, 6)]
    if scale.france:
        idf = sum(weight for _, weight in centres)
        centres = [(point, weight * IDF_WEIGHT / idf) for point, weight in centres]
        for city in CITIES:
            count = 1 + (city.weight >= 1)
            centres += [(_near(rng, city, 1.5), city.weight / count) for _ in range(count)]
    return [(Point(round(point.lat, 4), round(point.lon, 4)), weight) for point, weight in centres]


# --- Synthetic facilities and beds ------------------------------------------------------------


def _place_counts(rng: random.Random, kinds: list[Kind], total: int) -> list[int]:
    """Places per facility: a random size per kind, scaled so that they sum to exactly `total`."""
    weights = [rng.randint(*KIND_SHARES[kind][1]) for kind in kinds]
    scale = total / sum(weights)
    counts = [max(1, int(weight * scale)) for weight in weights]
    while (gap := total - sum(counts)) != 0:  # spread the rounding error, one place per facility a pass
        step = 1 if gap > 0 else -1
        for index in range(min(abs(gap), len(counts))):
            if counts[index] + step >= 1:
                counts[index] += step
    return counts


_MEDICAL = {  # kind -> (levels, weights) of a facility's standard beds
    Kind.ASSORE_HOTEL: ((0, 1), (0.85, 0.15)),
    Kind.SPECIALISED_UNIT: ((1, 2, 3), (0.4, 0.4, 0.2)),
    Kind.REST_SPACE: ((0, 1), (0.6, 0.4)),
    Kind.OUT_OF_REGION: ((1, 2), (0.6, 0.4)),
}
_COST_EUROS = {
    Kind.ASSORE_HOTEL: (30, 110),
    Kind.SPECIALISED_UNIT: (40, 90),
    Kind.REST_SPACE: (0, 20),
    Kind.OUT_OF_REGION: (30, 80),
}
_VARIANTS = ("accessible", "dogs", "couple", "women", "men", "medical")


def _bed_classes(rng: random.Random, facility: Facility, places: int, free_rate: float) -> list[BedClass]:
    """1 to 4 classes: the facility's standard beds, and variants differing by one attribute."""
    kind = facility.kind
    standard = {
        "gender_policy": rng.choices(list(GenderPolicy), (0.80, 0.12, 0.08))[0],
        "accessible": False,
        "couple_room": False,
        "dogs_allowed": rng.random() < 0.12,
        "medical_level": rng.choices(*_MEDICAL[kind])[0],
        "nightly_cost_cents": 100 * rng.randint(*_COST_EUROS[kind]),
    }
    count = 1 if places < 4 else rng.choices((1, 2, 3, 4), (0.35, 0.35, 0.2, 0.1))[0]
    weights = (0.10, 0.10, 0.15 if kind is Kind.ASSORE_HOTEL else 0.03, 0.06, 0.04, 0.05)
    variants: list[str] = []
    while len(variants) < count - 1:
        variant = rng.choices(_VARIANTS, weights)[0]
        if variant not in variants:
            variants.append(variant)
    shares = [rng.uniform(0.08, 0.25) for _ in variants]
    class_sizes = [max(1, round(places * share)) for share in shares]
    while sum(class_sizes) >= places and class_sizes:  # the standard class keeps at least one place
        class_sizes[class_sizes.index(max(class_sizes))] -= 1
        if min(class_sizes) == 0:
            class_sizes.remove(0)
            variants.pop()
    classes = [(standard, places - sum(class_sizes))]
    for variant, size in zip(variants, class_sizes, strict=True):
        attributes = dict(standard)
        if variant == "accessible":
            attributes |= {"accessible": True, "nightly_cost_cents": standard["nightly_cost_cents"] + 1000}
        elif variant == "dogs":
            attributes["dogs_allowed"] = not standard["dogs_allowed"]
        elif variant == "couple":
            attributes |= {"couple_room": True, "gender_policy": GenderPolicy.ANY}
        elif variant in ("women", "men"):
            attributes["gender_policy"] = GenderPolicy.WOMEN if variant == "women" else GenderPolicy.MEN
        else:
            attributes["medical_level"] = min(3, standard["medical_level"] + 1)
        classes.append((attributes, size))
    free: Counter[tuple] = Counter()  # identical classes (a variant equal to the standard) merge
    for attributes, size in classes:
        free[tuple(attributes.items())] += sum(rng.random() < free_rate for _ in range(size))
    return [
        BedClass(id=f"{facility.id}-{number}", facility_id=facility.id, capacity=capacity, **dict(attributes))
        for number, (attributes, capacity) in enumerate(free.items(), 1)
        if capacity > 0
    ]


def _facilities(rng: random.Random, scale: Scale) -> tuple[list[Facility], list[BedClass]]:
    kinds = [kind for kind, (share, _) in KIND_SHARES.items() for _ in range(round(scale.facilities * share))]
    kinds = kinds[: scale.facilities] + [Kind.ASSORE_HOTEL] * (scale.facilities - len(kinds))
    rng.shuffle(kinds)
    mean_rate = FREE_PER_PERSON * scale.people / scale.places
    facilities, bed_classes = [], []
    for number, (kind, places) in enumerate(zip(kinds, _place_counts(rng, kinds, scale.places), strict=True), 1):
        area, spread = _facility_area(rng, scale, kind)
        facility = Facility(
            id=f"f{number:05d}", name=f"{kind.value} {area.name} {number}", kind=kind, location=_near(rng, area, spread)
        )
        facilities.append(facility)
        bed_classes += _bed_classes(rng, facility, places, min(1.0, mean_rate * rng.uniform(0.25, 1.75)))
    return facilities, bed_classes


# --- Synthetic people -------------------------------------------------------------------------

VULNERABILITY = {1: 10, 2: 20, 3: 35, 4: 25, 5: 10}
MEDICAL_NEEDS = {0: 75, 1: 15, 2: 7, 3: 3}
KIND_CHOICES = (  # acceptable kinds (out-of-region added on consent), weight
    (frozenset({Kind.ASSORE_HOTEL, Kind.SPECIALISED_UNIT}), 0.55),
    (frozenset({Kind.ASSORE_HOTEL, Kind.SPECIALISED_UNIT, Kind.REST_SPACE}), 0.25),
    (frozenset({Kind.ASSORE_HOTEL}), 0.12),
    (frozenset({Kind.SPECIALISED_UNIT, Kind.REST_SPACE}), 0.08),
)


def _people(rng: random.Random, count: int, care_centres: list[tuple[Point, float]], hotels: list[str]) -> list[Person]:
    order = rng.sample(range(count), count)
    women_count, other_count = round(0.11 * count), round(0.01 * count)
    women = order[:women_count]
    others = order[women_count : women_count + other_count]
    men = order[women_count + other_count :]
    gender = dict.fromkeys(range(count), Gender.MAN) | dict.fromkeys(women, Gender.WOMAN)
    gender |= dict.fromkeys(others, Gender.OTHER)
    pairs = round(0.025 * count)  # 5 % of people in couples: mostly a woman and a man, some two men
    mixed = min(pairs, women_count // 2)
    partner = dict(zip(women[:mixed], men[:mixed], strict=True))
    partner |= dict(
        zip(men[mixed : mixed + 2 * (pairs - mixed) : 2], men[mixed + 1 : mixed + 2 * (pairs - mixed) : 2], strict=True)
    )
    partner |= {b: a for a, b in partner.items()}
    singles = [index for index in range(count) if index not in partner]
    apart = rng.sample(singles, 2 * round(0.0025 * count))
    keep_apart = dict(zip(apart[::2], apart[1::2], strict=True))
    keep_apart |= {b: a for a, b in keep_apart.items()}

    def drawn(share: float) -> set[int]:
        return set(rng.sample(range(count), round(share * count)))

    dogs, accessible, consent = drawn(0.20), drawn(0.05), drawn(0.15)
    anchored, excluded, court = drawn(0.30), drawn(0.01), drawn(0.05)
    points = [point for point, _ in care_centres]
    points_cum = list(accumulate(weight for _, weight in care_centres))
    kind_sets, kind_weights = zip(*KIND_CHOICES, strict=True)
    kinds_cum, medical_cum = list(accumulate(kind_weights)), list(accumulate(MEDICAL_NEEDS.values()))
    vulnerability_cum = list(accumulate(VULNERABILITY.values()))
    drawn_people: list[dict] = []
    for index in range(count):
        kinds = rng.choices(kind_sets, cum_weights=kinds_cum)[0]
        if index in consent:
            kinds |= {Kind.OUT_OF_REGION}
        drawn_people.append(
            {
                "gender": gender[index],
                "accessible": index in accessible,
                "dogs": index in dogs,
                "medical_level": rng.choices(list(MEDICAL_NEEDS), cum_weights=medical_cum)[0],
                "acceptable_kinds": kinds,
                "consents_out_of_region": index in consent,
                "excluded_facility_ids": (
                    frozenset(rng.sample(hotels, rng.randint(1, 2))) if index in excluded else frozenset()
                ),
                "care_anchor": rng.choices(points, cum_weights=points_cum)[0] if index in anchored else None,
                "vulnerability": rng.choices(list(VULNERABILITY), cum_weights=vulnerability_cum)[0],
                "court_ordered": index in court,
                "days_waiting": rng.randint(0, MAX_DAYS_WAITING),
            }
        )
    # A couple is referred together: the second partner shares the first's dog, kinds, consent, anchor and wait.
    shared = ("dogs", "acceptable_kinds", "consents_out_of_region", "care_anchor", "days_waiting")
    for index, other in partner.items():
        if other < index:
            drawn_people[index] |= {field: drawn_people[other][field] for field in shared}
    ids = [f"p{index + 1:06d}" for index in range(count)]
    people = []
    for index, fields in enumerate(drawn_people):
        priority = priority_of(
            vulnerability=fields.pop("vulnerability"),
            court_ordered=fields.pop("court_ordered"),
            days_waiting=fields.pop("days_waiting"),
            gender=fields["gender"],
        )
        people.append(
            Person(
                id=ids[index],
                priority=priority,
                partner_id=ids[partner[index]] if index in partner else None,
                keep_apart_ids=frozenset({ids[keep_apart[index]]}) if index in keep_apart else frozenset(),
                **fields,
            )
        )
    return people


def synthetic(scale: Scale, seed: int) -> Instance:
    rng = random.Random(f"{scale.name}-{seed}")
    sites = _sites(rng, scale)
    care_centres = _care_centres(rng, scale)
    facilities, bed_classes = _facilities(rng, scale)
    hotels = [facility.id for facility in facilities if facility.kind is Kind.ASSORE_HOTEL]
    people = _people(rng, scale.people, care_centres, hotels)
    problem = PlacementProblem(people=people, facilities=facilities, bed_classes=bed_classes, sites=sites)
    return Instance(scale.name, problem, scale.places)


SCALES = {"paris": "Paris", "idf": IDF.name, "france": FRANCE.name}


def build(scale: str, seed: int) -> Instance:
    """One of SCALES by its short name."""
    if scale == "paris":
        return paris()
    return synthetic({"idf": IDF, "france": FRANCE}[scale], seed)
