"""The Paris demo dataset: operators, facilities with their beds, consumption sites, referrals.

Pure and deterministic: no I/O, and the only randomness (jitter around centroids, hotel
room attributes, the people waiting) comes from a `random.Random` seeded with a constant,
so every call returns equal data. Figures follow DOMAIN.md and the seeds: 610 ASSORE
hotel places grown 60 → 120 → 200 → 400 → 610, 68 UHS places, 26 Phase places in three
flats, the Porte de la Chapelle (26) and Sleep-in (15) rest spaces, out-of-region places
in 11 regions, the ten named consumption sites, and 800 people waiting for a bed (the
700 to 800 people who use crack on the streets of Paris, about one in ten a woman).
Names and street addresses are generic; nightly costs are illustrative, the seeds give
none; references are synthetic ("DEMO-0001"), and the loader stores only their keyed hash.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from math import cos, radians, sin, sqrt

SEED = 20231129  # the day of the 2023 review of the plan crack (001)
REGION_IDF = "Île-de-France"
JITTER_M = 250  # stays inside even the smallest arrondissement or commune used below
METRES_PER_DEGREE_LAT = 111_195.0

AURORE = "Aurore (ASSORE)"
UHS_OPERATOR = "Opérateur UHS Île-de-France"
PHASE = "Phase – bailleur social partenaire"
REST_SPACE_OPERATOR = "Association de réduction des risques du nord-est parisien"
ARS_COORDINATION = "Coordination ARS hors région"
MARAUDE = "Maraude nord-est (démo)"  # the outreach team that refers the demo's people


@dataclass(frozen=True, slots=True)
class DemoOrganisation:
    name: str


@dataclass(frozen=True, slots=True)
class DemoBed:
    label: str
    gender_policy: str  # "any", "women" or "men"
    accessible: bool
    couple_room: bool
    dogs_allowed: bool
    medical_level: int
    nightly_cost_cents: int


@dataclass(frozen=True, slots=True)
class DemoFacility:
    key: str  # stable identifier within the dataset, e.g. "hotel-07"
    organisation: str  # name of its DemoOrganisation
    kind: str
    name: str
    address: str
    postcode: str | None
    commune: str
    arrondissement: int | None
    department: str
    region: str
    lat: float
    lon: float
    opened_on: date
    closed_on: date | None
    beds: tuple[DemoBed, ...]


@dataclass(frozen=True, slots=True)
class DemoSite:
    name: str
    lat: float
    lon: float
    radius_m: int
    intensity: int
    active_from: datetime
    active_until: datetime | None

    def is_active(self, at: datetime) -> bool:
        """Whether the scene is active at `at` (the period is half-open, like tstzrange)."""
        return self.active_from <= at and (self.active_until is None or at < self.active_until)


@dataclass(frozen=True, slots=True)
class DemoReferral:
    """A person waiting for a bed: the least placement needs, under a synthetic reference."""

    reference: str  # "DEMO-0001"...; the loader stores only its keyed hash
    organisation: str  # name of its DemoOrganisation
    source: str
    gender: str  # "woman", "man" or "other"
    accessible: bool
    dogs: bool
    couple_partner: str | None  # the partner's reference; partners point at each other
    medical_level: int
    acceptable_kinds: tuple[str, ...]
    consents_out_of_region: bool
    excluded_facilities: tuple[str, ...]  # DemoFacility keys
    keep_apart: tuple[str, ...]  # references of people not to share a facility with
    care_anchor: tuple[float, float] | None  # (lat, lon) rounded to 0.01°
    vulnerability: int
    court_ordered: bool
    first_met_on: date


@dataclass(frozen=True, slots=True)
class DemoDataset:
    organisations: tuple[DemoOrganisation, ...]
    facilities: tuple[DemoFacility, ...]
    sites: tuple[DemoSite, ...]
    referrals: tuple[DemoReferral, ...]


@dataclass(frozen=True, slots=True)
class Place:
    """Where a facility is: a Paris arrondissement or a commune, with its centroid."""

    commune: str
    arrondissement: int | None
    postcode: str
    department: str
    lat: float
    lon: float


def _paris(arrondissement: int, lat: float, lon: float) -> Place:
    return Place("Paris", arrondissement, f"750{arrondissement:02d}", "75", lat, lon)


# Centroids of the built-up part of each arrondissement (the 12th and 16th without their woods).
PARIS = {
    place.arrondissement: place
    for place in (
        _paris(1, 48.8625, 2.3364),
        _paris(2, 48.8683, 2.3428),
        _paris(3, 48.8630, 2.3600),
        _paris(4, 48.8543, 2.3576),
        _paris(5, 48.8445, 2.3497),
        _paris(6, 48.8491, 2.3328),
        _paris(7, 48.8562, 2.3121),
        _paris(8, 48.8727, 2.3125),
        _paris(9, 48.8770, 2.3375),
        _paris(10, 48.8761, 2.3607),
        _paris(11, 48.8591, 2.3800),
        _paris(12, 48.8396, 2.3876),
        _paris(13, 48.8283, 2.3623),
        _paris(14, 48.8292, 2.3265),
        _paris(15, 48.8401, 2.2929),
        _paris(16, 48.8580, 2.2760),
        _paris(17, 48.8873, 2.3067),
        _paris(18, 48.8925, 2.3484),
        _paris(19, 48.8871, 2.3848),
        _paris(20, 48.8634, 2.4012),
    )
}

# Inner-suburb communes (Hauts-de-Seine 92, Seine-Saint-Denis 93, Val-de-Marne 94) and their centres.
SUBURBS = {
    place.commune: place
    for place in (
        Place("Boulogne-Billancourt", None, "92100", "92", 48.8352, 2.2410),
        Place("Issy-les-Moulineaux", None, "92130", "92", 48.8240, 2.2700),
        Place("Montrouge", None, "92120", "92", 48.8163, 2.3167),
        Place("Malakoff", None, "92240", "92", 48.8169, 2.2967),
        Place("Clichy", None, "92110", "92", 48.9041, 2.3056),
        Place("Levallois-Perret", None, "92300", "92", 48.8950, 2.2873),
        Place("Asnières-sur-Seine", None, "92600", "92", 48.9145, 2.2880),
        Place("Colombes", None, "92700", "92", 48.9226, 2.2522),
        Place("Nanterre", None, "92000", "92", 48.8924, 2.2069),
        Place("Montreuil", None, "93100", "93", 48.8638, 2.4485),
        Place("Bagnolet", None, "93170", "93", 48.8692, 2.4181),
        Place("Les Lilas", None, "93260", "93", 48.8798, 2.4189),
        Place("Romainville", None, "93230", "93", 48.8846, 2.4351),
        Place("Noisy-le-Sec", None, "93130", "93", 48.8914, 2.4597),
        Place("Pantin", None, "93500", "93", 48.8944, 2.4093),
        Place("Bobigny", None, "93000", "93", 48.9077, 2.4393),
        Place("Aubervilliers", None, "93300", "93", 48.9146, 2.3821),
        Place("Saint-Denis", None, "93200", "93", 48.9362, 2.3574),
        Place("Saint-Ouen-sur-Seine", None, "93400", "93", 48.9118, 2.3340),
        Place("Vincennes", None, "94300", "94", 48.8474, 2.4394),
        Place("Fontenay-sous-Bois", None, "94120", "94", 48.8514, 2.4772),
        Place("Saint-Maur-des-Fossés", None, "94100", "94", 48.7939, 2.4936),
        Place("Charenton-le-Pont", None, "94220", "94", 48.8222, 2.4153),
        Place("Maisons-Alfort", None, "94700", "94", 48.8058, 2.4378),
        Place("Créteil", None, "94000", "94", 48.7904, 2.4556),
        Place("Ivry-sur-Seine", None, "94200", "94", 48.8130, 2.3871),
        Place("Vitry-sur-Seine", None, "94400", "94", 48.7875, 2.3928),
        Place("Villejuif", None, "94800", "94", 48.7922, 2.3634),
        Place("Le Kremlin-Bicêtre", None, "94270", "94", 48.8100, 2.3578),
    )
}


def _place(where: int | str) -> Place:
    return PARIS[where] if isinstance(where, int) else SUBURBS[where]


# ASSORE hotels: (name, address, arrondissement or commune, places, opened on).
# Grouped by the programme's growth: 60 places in 2018, 120 by end 2019, 200 in early
# 2020, 400 stabilised by end 2020, 610 in 2023 (002, 001). Rooms are chosen away from
# the scenes (003); the five in the 1st, 2nd, 10th and 19th are the exceptions.
HOTELS: tuple[tuple[str, str, int | str, int, date], ...] = (
    ("Hôtel des Lilas", "12 rue des Acacias", 10, 12, date(2018, 3, 5)),
    ("Hôtel du Parc", "48 rue de la Convention", 15, 14, date(2018, 5, 14)),
    ("Hôtel de l'Avenir", "7 rue des Pyrénées", 20, 10, date(2018, 7, 2)),
    ("Hôtel du Midi", "23 rue de Paris", "Montreuil", 12, date(2018, 9, 17)),
    ("Hôtel des Tilleuls", "31 rue de Charenton", 12, 12, date(2018, 11, 5)),
    ("Hôtel de la Paix", "15 rue d'Alésia", 14, 14, date(2019, 2, 4)),
    ("Hôtel du Centre", "4 rue de la République", "Saint-Denis", 10, date(2019, 4, 15)),
    ("Hôtel des Voyageurs", "62 rue de la Roquette", 11, 12, date(2019, 6, 3)),
    ("Hôtel de la Poste", "19 avenue Jean-Jaurès", "Ivry-sur-Seine", 12, date(2019, 9, 9)),
    ("Hôtel du Commerce", "9 rue de Crimée", 19, 12, date(2019, 11, 18)),
    ("Hôtel des Platanes", "27 avenue d'Italie", 13, 14, date(2020, 1, 6)),
    ("Hôtel Bellevue", "88 avenue Jean-Baptiste-Clément", "Boulogne-Billancourt", 12, date(2020, 1, 20)),
    ("Hôtel du Square", "5 rue du Moutier", "Aubervilliers", 16, date(2020, 2, 3)),
    ("Hôtel de l'Étoile", "36 rue Legendre", 17, 12, date(2020, 2, 17)),
    ("Hôtel des Roses", "14 rue de Fontenay", "Vincennes", 14, date(2020, 3, 2)),
    ("Hôtel du Marché", "3 rue de Cléry", 2, 12, date(2020, 3, 16)),
    ("Hôtel des Fleurs", "52 rue de Passy", 16, 14, date(2020, 4, 6)),
    ("Hôtel de la Fontaine", "21 avenue Jean-Lolive", "Pantin", 12, date(2020, 4, 20)),
    ("Hôtel du Levant", "10 rue du Général-Leclerc", "Créteil", 10, date(2020, 5, 4)),
    ("Hôtel des Sources", "45 avenue Joliot-Curie", "Nanterre", 16, date(2020, 5, 18)),
    ("Hôtel de la Vallée", "18 rue Monge", 5, 12, date(2020, 6, 2)),
    ("Hôtel du Printemps", "6 rue Sadi-Carnot", "Bagnolet", 14, date(2020, 6, 15)),
    ("Hôtel des Jardins", "73 avenue du Général-de-Gaulle", "Maisons-Alfort", 12, date(2020, 7, 6)),
    ("Hôtel de la Terrasse", "11 boulevard Jean-Jaurès", "Clichy", 10, date(2020, 7, 20)),
    ("Hôtel du Moulin", "40 rue Ordener", 18, 14, date(2020, 8, 17)),
    ("Hôtel des Cèdres", "25 avenue Paul-Vaillant-Couturier", "Vitry-sur-Seine", 12, date(2020, 9, 7)),
    ("Hôtel de l'Univers", "8 rue Ernest-Renan", "Issy-les-Moulineaux", 16, date(2020, 9, 21)),
    ("Hôtel du Soleil", "57 avenue Jean-Jaurès", "Bobigny", 12, date(2020, 10, 5)),
    ("Hôtel des Peupliers", "16 rue de Grenelle", 7, 10, date(2020, 10, 19)),
    ("Hôtel de la Place", "29 rue Jean-Jaurès", "Villejuif", 14, date(2020, 11, 9)),
    ("Hôtel du Théâtre", "13 avenue de la République", "Montrouge", 12, date(2020, 11, 23)),
    ("Hôtel des Marronniers", "70 avenue Daumesnil", 12, 10, date(2020, 12, 7)),
    ("Hôtel de la Tour", "2 rue Montorgueil", 1, 12, date(2021, 2, 1)),
    ("Hôtel du Lac", "34 rue Saint-Denis", "Colombes", 10, date(2021, 3, 15)),
    ("Hôtel des Glycines", "20 rue Jean-Jaurès", "Noisy-le-Sec", 14, date(2021, 4, 12)),
    ("Hôtel de la Croix Blanche", "47 avenue Foch", "Saint-Maur-des-Fossés", 12, date(2021, 6, 7)),
    ("Hôtel du Pont", "92 rue de Vaugirard", 15, 12, date(2021, 9, 6)),
    ("Hôtel des Arts", "5 rue Voltaire", "Levallois-Perret", 10, date(2021, 11, 8)),
    ("Hôtel de l'Espérance", "38 avenue Gabriel-Péri", "Saint-Ouen-sur-Seine", 14, date(2022, 1, 10)),
    ("Hôtel du Progrès", "17 rue de Paris", "Charenton-le-Pont", 12, date(2022, 3, 7)),
    ("Hôtel des Iris", "24 rue du Faubourg-Saint-Denis", 10, 10, date(2022, 5, 2)),
    ("Hôtel du Rond-Point", "9 avenue Pierre-Larousse", "Malakoff", 12, date(2022, 6, 20)),
    ("Hôtel des Saules", "66 rue des Pyrénées", 20, 14, date(2022, 9, 5)),
    ("Hôtel de la Forêt", "12 rue Paul-de-Kock", "Romainville", 10, date(2022, 10, 17)),
    ("Hôtel du Château", "31 avenue de la République", "Fontenay-sous-Bois", 12, date(2023, 1, 9)),
    ("Hôtel des Mimosas", "3 rue des Bourguignons", "Asnières-sur-Seine", 10, date(2023, 3, 6)),
    ("Hôtel du Globe", "54 rue Raymond-Losserand", 14, 12, date(2023, 5, 15)),
    ("Hôtel de la Source", "7 avenue Eugène-Thomas", "Le Kremlin-Bicêtre", 14, date(2023, 7, 3)),
    ("Hôtel des Charmes", "22 rue de Paris", "Les Lilas", 10, date(2023, 9, 11)),
    ("Hôtel du Bon Accueil", "41 rue des Martyrs", 9, 10, date(2023, 10, 23)),
)

# UHS: 68 places in units of 20 to 25 (the first call for tenders, July 2019, was for 25).
# (key, name, address, where, places, medical level, women-only places, dogs allowed, opened on)
SPECIALISED_UNITS: tuple[tuple[str, str, str, int | str, int, int, int, bool, date], ...] = (
    (
        "uhs-1",
        "Unité d'hébergement spécialisée – Paris 14e",
        "18 rue des Plantes",
        14,
        25,
        2,
        0,
        False,
        date(2020, 10, 1),
    ),
    (
        "uhs-2",
        "Unité d'hébergement spécialisée – Ivry-sur-Seine",
        "30 rue Marat",
        "Ivry-sur-Seine",
        23,
        3,
        5,
        False,
        date(2021, 9, 1),
    ),
    ("uhs-3", "Unité d'hébergement spécialisée – Paris 12e", "9 rue de Picpus", 12, 20, 2, 0, True, date(2022, 6, 1)),
)

# Phase: 26 places in two four-room flats (municipal social housing) and one
# three-room flat (Paris Habitat), taken on in 2019 (002).
PHASE_FLATS: tuple[tuple[str, str, str, int, int, date], ...] = (
    ("phase-t4-a", "Phase – appartement T4 (Paris 13e)", "44 rue de Tolbiac", 13, 10, date(2019, 3, 1)),
    ("phase-t4-b", "Phase – appartement T4 (Paris 20e)", "15 rue des Orteaux", 20, 10, date(2019, 6, 1)),
    ("phase-t3", "Phase – appartement T3 (Paris 15e)", "61 rue de la Croix-Nivert", 15, 6, date(2019, 10, 1)),
)

# Out-of-region placements coordinated by the ARS since late 2022: 71 people admitted in
# 11 regions by 31 Oct 2023 (001). (region, department, city, postcode, lat, lon, places, opened on)
OUT_OF_REGION: tuple[tuple[str, str, str, str, float, float, int, date], ...] = (
    ("Hauts-de-France", "59", "Lille", "59000", 50.6292, 3.0573, 8, date(2022, 10, 3)),
    ("Normandie", "76", "Rouen", "76000", 49.4431, 1.0993, 7, date(2022, 11, 7)),
    ("Bretagne", "35", "Rennes", "35000", 48.1173, -1.6778, 7, date(2022, 12, 5)),
    ("Pays de la Loire", "44", "Nantes", "44000", 47.2184, -1.5536, 8, date(2023, 1, 9)),
    ("Centre-Val de Loire", "37", "Tours", "37000", 47.3941, 0.6848, 6, date(2023, 2, 6)),
    ("Bourgogne-Franche-Comté", "21", "Dijon", "21000", 47.3220, 5.0415, 7, date(2023, 3, 6)),
    ("Grand Est", "67", "Strasbourg", "67000", 48.5734, 7.7521, 9, date(2023, 4, 3)),
    ("Auvergne-Rhône-Alpes", "38", "Grenoble", "38000", 45.1885, 5.7245, 7, date(2023, 5, 2)),
    ("Nouvelle-Aquitaine", "33", "Bordeaux", "33000", 44.8378, -0.5792, 8, date(2023, 6, 5)),
    ("Occitanie", "31", "Toulouse", "31000", 43.6047, 1.4442, 6, date(2023, 7, 3)),
    ("Provence-Alpes-Côte d'Azur", "84", "Avignon", "84000", 43.9493, 4.8055, 7, date(2023, 9, 4)),
)


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


# The ten scenes named in the seeds, at public landmarks (DOMAIN.md). The "colline du
# crack" at Porte de la Chapelle was cleared in late 2019 and the Jardins d'Eole scene
# lasted the summer of 2021; the others are still policed as active in 2023 (001).
SITES = (
    DemoSite("Stalingrad", 48.8843, 2.3699, 400, 5, _utc(2018, 1, 1), None),
    DemoSite("Jardins d'Eole", 48.8878, 2.3651, 300, 5, _utc(2021, 5, 17), _utc(2021, 9, 24)),
    DemoSite("Porte de la Chapelle", 48.8986, 2.3599, 400, 5, _utc(2018, 1, 1), _utc(2019, 11, 27)),
    DemoSite("Gare du Nord", 48.8809, 2.3553, 250, 3, _utc(2019, 1, 1), None),
    DemoSite("La Chapelle", 48.8844, 2.3604, 250, 3, _utc(2018, 6, 1), None),
    DemoSite("Riquet", 48.8881, 2.3737, 200, 3, _utc(2019, 6, 1), None),
    DemoSite("Rosa Parks", 48.8962, 2.3744, 300, 4, _utc(2020, 1, 1), None),
    DemoSite("Canal de l'Ourcq quays", 48.8880, 2.3780, 350, 3, _utc(2021, 10, 1), None),
    DemoSite("Les Halles", 48.8621, 2.3470, 200, 2, _utc(2019, 1, 1), None),
    DemoSite("Bonne Nouvelle", 48.8705, 2.3486, 150, 2, _utc(2020, 9, 1), None),
)

# The people waiting: 800, the top of the 700 to 800 people who use crack on the streets
# of Paris (000). About one in ten is a woman: 380 of the 3,565 people seen at the Porte
# de la Chapelle rest space in 2023 (001). The other shares are illustrative.
REFERRALS = 800
WOMEN_SHARE = 0.11
OTHER_GENDER = 8
COUPLES = 20  # pairs, a woman and a man, each referral pointing at the other
KEEP_APART_PAIRS = 5
DOGS_SHARE = 0.15
ACCESSIBLE_SHARE = 0.05
COURT_ORDERED_SHARE = 0.08  # "injonction thérapeutique"
OUT_OF_REGION_SHARE = 0.05  # consent to leave Île-de-France: the regional scheme needs it
CARE_ANCHOR_SHARE = 0.5
EXCLUDED_SHARE = 0.03  # excluded from one hotel after an incident
REST_SPACE_SHARE = 0.2  # would also take a rest-space place
MEDICAL_LEVELS = {0: 45, 1: 35, 2: 15, 3: 5}  # level: weight
VULNERABILITY = {1: 5, 2: 15, 3: 35, 4: 30, 5: 15}
SOURCES = {"outreach_team": 75, "hospital": 10, "self_referral": 10, "other": 5}  # when not court-ordered
FIRST_MET = (date(2023, 1, 1), date(2026, 10, 31))
# Where follow-up happens, coarsely (0.01°, about 1 km): around the harm-reduction and
# addiction-care centres (CAARUD, CSAPA) of the 18th and 19th arrondissements.
CARE_CENTRES = ((48.89, 2.36), (48.89, 2.35), (48.88, 2.36), (48.88, 2.37), (48.89, 2.37), (48.90, 2.36))
NUDGES = (-0.01, 0.0, 0.0, 0.01)  # an anchor is a centre or a neighbouring 0.01° cell


def _jittered(place: Place, rng: random.Random) -> tuple[float, float]:
    """A point drawn uniformly within JITTER_M of the place's centroid, rounded to ~0.1 m."""
    distance = JITTER_M * sqrt(rng.random())
    bearing = rng.uniform(0, 360)
    dlat = distance * cos(radians(bearing)) / METRES_PER_DEGREE_LAT
    dlon = distance * sin(radians(bearing)) / (METRES_PER_DEGREE_LAT * cos(radians(place.lat)))
    return round(place.lat + dlat, 6), round(place.lon + dlon, 6)


def _hotel_rooms(places: int, rng: random.Random) -> tuple[DemoBed, ...]:
    """`places` beds in numbered rooms, six a floor: mostly singles, some couple rooms (two beds)."""
    base_cost = rng.randrange(3200, 4001, 100)
    takes_dogs = rng.random() < 0.4  # a hotel-wide policy: some hotels accept dogs, others none
    beds: list[DemoBed] = []
    room = 0
    while len(beds) < places:
        number = 100 * (room // 6 + 1) + room % 6 + 1
        room += 1
        accessible = room <= 6 and rng.random() < 0.15  # only first-floor rooms, reached by the lift
        dogs = takes_dogs and rng.random() < 0.5
        if places - len(beds) >= 2 and rng.random() < 0.05:
            beds += [DemoBed(f"R{number}-{bed}", "any", accessible, True, dogs, 1, base_cost) for bed in (1, 2)]
        else:
            gender = "women" if rng.random() < 0.10 else "any"
            beds.append(DemoBed(f"R{number}", gender, accessible, False, dogs, 1, base_cost + 300 * accessible))
    return tuple(beds)


def _numbered_places(
    prefix: str,
    count: int,
    *,
    medical_level: int,
    cost_cents: int,
    women: int = 0,
    accessible: int = 0,
    couple_pairs: int = 0,
    dogs: bool = False,
) -> tuple[DemoBed, ...]:
    """Places labelled `prefix`01, 02...: first the women-only ones, then the accessible ones; couple pairs last."""
    return tuple(
        DemoBed(
            label=f"{prefix}{index + 1:02d}",
            gender_policy="women" if index < women else "any",
            accessible=women <= index < women + accessible,
            couple_room=index >= count - 2 * couple_pairs,
            dogs_allowed=dogs,
            medical_level=medical_level,
            nightly_cost_cents=cost_cents,
        )
        for index in range(count)
    )


def _in_idf(
    key: str,
    organisation: str,
    kind: str,
    name: str,
    address: str,
    place: Place,
    lat: float,
    lon: float,
    opened_on: date,
    beds: tuple[DemoBed, ...],
) -> DemoFacility:
    return DemoFacility(
        key,
        organisation,
        kind,
        name,
        address,
        place.postcode,
        place.commune,
        place.arrondissement,
        place.department,
        REGION_IDF,
        lat,
        lon,
        opened_on,
        None,
        beds,
    )


def _referrals(rng: random.Random, facilities: list[DemoFacility]) -> tuple[DemoReferral, ...]:
    """REFERRALS people waiting, with the shares above drawn exactly, then couples made alike."""
    count = REFERRALS
    order = rng.sample(range(count), count)
    women_count = round(WOMEN_SHARE * count)
    women, others = order[:women_count], order[women_count : women_count + OTHER_GENDER]
    men = order[women_count + OTHER_GENDER :]
    gender = {index: "woman" for index in women} | {index: "other" for index in others}
    partner = dict(zip(women[:COUPLES], men[:COUPLES], strict=True))
    partner |= {man: woman for woman, man in partner.items()}
    apart = rng.sample([index for index in range(count) if index not in partner], 2 * KEEP_APART_PAIRS)
    keep_apart = dict(zip(apart[::2], apart[1::2], strict=True))
    keep_apart |= {b: a for a, b in keep_apart.items()}

    def drawn(share: float) -> set[int]:
        return set(rng.sample(range(count), round(share * count)))

    dogs, accessible, court_ordered = drawn(DOGS_SHARE), drawn(ACCESSIBLE_SHARE), drawn(COURT_ORDERED_SHARE)
    away, anchored, excluded = drawn(OUT_OF_REGION_SHARE), drawn(CARE_ANCHOR_SHARE), drawn(EXCLUDED_SHARE)
    hotels = [facility.key for facility in facilities if facility.kind == "assore_hotel"]
    first_met_days = (FIRST_MET[1] - FIRST_MET[0]).days

    people: list[dict[str, object]] = []
    for index in range(count):
        if index in court_ordered:
            source = "court_ordered_treatment" if rng.random() < 0.8 else rng.choice(("outreach_team", "hospital"))
        else:
            source = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0]
        kinds = ["assore_hotel", "specialised_unit"]
        if rng.random() < REST_SPACE_SHARE:
            kinds.append("rest_space")
        if index in away:
            kinds.append("out_of_region")
        anchor = None
        if index in anchored:
            lat, lon = rng.choice(CARE_CENTRES)
            anchor = (round(lat + rng.choice(NUDGES), 2), round(lon + rng.choice(NUDGES), 2))
        people.append(
            {
                "reference": f"DEMO-{index + 1:04d}",
                "organisation": MARAUDE,
                "source": source,
                "gender": gender.get(index, "man"),
                "accessible": index in accessible,
                "dogs": index in dogs,
                "couple_partner": None,
                "medical_level": rng.choices(list(MEDICAL_LEVELS), weights=list(MEDICAL_LEVELS.values()))[0],
                "acceptable_kinds": tuple(kinds),
                "consents_out_of_region": index in away,
                "excluded_facilities": (rng.choice(hotels),) if index in excluded else (),
                "keep_apart": (),
                "care_anchor": anchor,
                "vulnerability": rng.choices(list(VULNERABILITY), weights=list(VULNERABILITY.values()))[0],
                "court_ordered": index in court_ordered,
                "first_met_on": FIRST_MET[0] + timedelta(days=rng.randrange(first_met_days + 1)),
            }
        )
    for index, other in keep_apart.items():
        people[index]["keep_apart"] = (people[other]["reference"],)
    # A couple is placed together: the second partner takes the first's dog, kinds, consent and anchor.
    for index, other in partner.items():
        people[index]["couple_partner"] = people[other]["reference"]
        if other < index:
            shared = ("dogs", "acceptable_kinds", "consents_out_of_region", "care_anchor", "first_met_on")
            people[index] |= {field: people[other][field] for field in shared}
    return tuple(DemoReferral(**person) for person in people)


def demo_dataset() -> DemoDataset:
    """The whole demo dataset; equal on every call."""
    rng = random.Random(SEED)
    facilities: list[DemoFacility] = []

    for number, (name, address, where, places, opened_on) in enumerate(HOTELS, start=1):
        place = _place(where)
        lat, lon = _jittered(place, rng)
        facilities.append(
            _in_idf(
                f"hotel-{number:02d}",
                AURORE,
                "assore_hotel",
                name,
                address,
                place,
                lat,
                lon,
                opened_on,
                _hotel_rooms(places, rng),
            )
        )

    for key, name, address, where, places, level, women, dogs, opened_on in SPECIALISED_UNITS:
        place = _place(where)
        lat, lon = _jittered(place, rng)
        beds = _numbered_places(
            "L",
            places,
            medical_level=level,
            cost_cents=6500,
            women=women,
            accessible=3,
            couple_pairs=1,
            dogs=dogs,
        )
        facilities.append(
            _in_idf(key, UHS_OPERATOR, "specialised_unit", name, address, place, lat, lon, opened_on, beds)
        )

    for key, name, address, where, places, opened_on in PHASE_FLATS:
        place = _place(where)
        lat, lon = _jittered(place, rng)
        beds = _numbered_places("P", places, medical_level=2, cost_cents=2500)
        facilities.append(_in_idf(key, PHASE, "specialised_unit", name, address, place, lat, lon, opened_on, beds))

    # Rest spaces sit next to the scenes by design, so they get exact points, not jitter.
    facilities.append(
        _in_idf(
            "rest-porte-de-la-chapelle",
            REST_SPACE_OPERATOR,
            "rest_space",
            "Espace de repos de la Porte de la Chapelle",
            "Porte de la Chapelle",
            PARIS[18],
            48.8975,
            2.3588,
            date(2020, 1, 15),
            _numbered_places("P", 26, medical_level=1, cost_cents=1500, women=3, accessible=2),
        )
    )
    facilities.append(
        _in_idf(
            "rest-sleep-in",
            AURORE,
            "rest_space",
            "Sleep-in",
            "Rue Pajol",
            PARIS[18],
            48.8872,
            2.3618,
            date(2019, 9, 2),
            _numbered_places("P", 15, medical_level=1, cost_cents=1500, women=2, accessible=1),
        )
    )

    for region, department, city, postcode, lat, lon, places, opened_on in OUT_OF_REGION:
        facilities.append(
            DemoFacility(
                f"oor-{department}",
                ARS_COORDINATION,
                "out_of_region",
                f"Structure de soins – {city}",
                "1 rue de l'Hôpital",
                postcode,
                city,
                None,
                department,
                region,
                lat,
                lon,
                opened_on,
                None,
                _numbered_places("P", places, medical_level=2, cost_cents=5500, accessible=1),
            )
        )

    organisations = (AURORE, UHS_OPERATOR, PHASE, REST_SPACE_OPERATOR, ARS_COORDINATION, MARAUDE)
    return DemoDataset(
        organisations=tuple(DemoOrganisation(name) for name in organisations),
        facilities=tuple(facilities),
        sites=SITES,
        referrals=_referrals(rng, facilities),
    )
