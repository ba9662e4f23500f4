"""`GET /v1/occupancy` and `GET /v1/occupancy/series`: places in service, occupied, held,
out of service and free, by group, at one moment or over time; JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
from asyncpg import Record
from litestar import Request, Response, get
from litestar.params import QueryParameter

from contracts.common import FacilityKind, Role, Timestamp
from contracts.placements import ExitReason
from contracts.reports import (
    AgeBand,
    DistanceBand,
    DistanceReport,
    Flow,
    FlowsReport,
    GroupBy,
    KindDistance,
    Occupancy,
    OccupancyPoint,
    OccupancyReport,
    OccupancySeries,
    Step,
    TimeToPlacement,
    WaitingReport,
)
from service.auth import Actor, Caller
from service.db.pool import Conn
from service.http import PLAUSIBLE_YEARS, aware, query
from service.problems import ProblemError, problem_responses
from service.reports import disclosure, history
from service.reports.occupancy import Figures, local_midnights, next_step, occupancy_at
from solver.problem import Parameters

CSV = "text/csv"
MAX_POINTS = 3_700  # ten years of days
SCOPE_NOTE = (
    "Managers, placement officers and admins see every facility; partners their organisation's only. "
    f'Send `Accept: {CSV}` for CSV. For managers, counts of people from 1 to 4 read "<5" '
    "(and the free places and rate of that row are left out)."
)
GroupByParam = query(GroupBy, "How to group the places; default kind")
FromDay = Annotated[
    date | None, QueryParameter(name="from", description="First day, YYYY-MM-DD; default 365 days before `to`")
]
ToDay = Annotated[date | None, QueryParameter(description="Last day, YYYY-MM-DD, included; default today")]


@get(
    "/occupancy",
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
    description=f"Occupancy at `at` (default now), any past moment included. {SCOPE_NOTE}",
)
async def occupancy(
    conn: Conn,
    request: Request,
    caller: Actor,
    at: query(Timestamp, "The moment, ISO 8601 with offset; default now") = None,
    group_by: GroupByParam = None,
) -> OccupancyReport:
    at = aware(at, "at") or datetime.now(UTC)
    group_by = group_by or GroupBy.KIND
    [point] = await _points(conn, request, caller, [at], group_by)
    report = OccupancyReport(at=at, group_by=group_by, groups=point.groups, total=point.total)
    return _csv([point]) if _wants_csv(request) else report


@get(
    "/occupancy/series",
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
    description=(
        "Occupancy at local midnight (ABRI_TIMEZONE) at the start of each day, week (Monday) or month "
        f"from `from` to `to`, both included; at most {MAX_POINTS:,} points. {SCOPE_NOTE}"
    ),
)
async def occupancy_series(
    conn: Conn,
    request: Request,
    caller: Actor,
    from_: FromDay = None,
    to: ToDay = None,
    step: query(Step, "day, week or month; default day") = None,
    group_by: GroupByParam = None,
) -> OccupancySeries:
    step, group_by = step or Step.DAY, group_by or GroupBy.KIND
    moments = _moments(from_, to, step, ZoneInfo(request.app.state.settings.timezone))
    points = await _points(conn, request, caller, moments, group_by)
    return _csv(points) if _wants_csv(request) else OccupancySeries(step=step, group_by=group_by, points=points)


async def _points(
    conn: Conn, request: Request, caller: Caller, moments: list[datetime], group_by: GroupBy
) -> list[OccupancyPoint]:
    settings = request.app.state.settings
    figures = await occupancy_at(conn, moments, group_by, settings.timezone, _operator(caller))
    viewer = _viewer(request, caller)

    def shown(f: Figures) -> Occupancy:
        return disclosure.occupancy(f, viewer)

    return [
        OccupancyPoint(at=at, groups=[shown(g) for g in groups], total=shown(Figures.total(groups)))
        for at, groups in zip(moments, figures, strict=True)
    ]


def _window(start: datetime | None, start_name: str, end: datetime | None, end_name: str) -> tuple[datetime, datetime]:
    """A window of moments: the end defaults to now, the start to 365 days before it."""
    end = aware(end, end_name) or datetime.now(UTC)
    start = aware(start, start_name) or end - timedelta(days=365)
    if start >= end:
        raise ProblemError(400, "Bad Request", detail=f"`{start_name}` must come before `{end_name}`.")
    return start, end


def _operator(caller: Caller) -> UUID | None:
    """Partners count their own organisation's facilities only."""
    return caller.organisation_id if caller.role is Role.PARTNER else None


def _viewer(request: Request, caller: Caller) -> disclosure.Viewer:
    return disclosure.Viewer(caller.role, request.app.state.settings.small_count_threshold)


def _moments(first: date | None, last: date | None, step: Step, zone: ZoneInfo) -> list[datetime]:
    """The series' points: local midnights from `first` (default 365 days before `last`) to
    `last` (default today), at most MAX_POINTS of them."""
    last = last or datetime.now(zone).date()
    if not all(d is None or PLAUSIBLE_YEARS[0] <= d.year <= PLAUSIBLE_YEARS[1] for d in (first, last)):
        detail = f"`from` and `to` must fall between the years {PLAUSIBLE_YEARS[0]} and {PLAUSIBLE_YEARS[1]}."
        raise ProblemError(400, "Bad Request", detail=detail)
    first = first or last - timedelta(days=365)  # checked first: year 1 minus a year overflows
    if last < first:
        raise ProblemError(400, "Bad Request", detail="`to` comes before `from`.")
    moments = local_midnights(first, last, step, zone, MAX_POINTS + 1)
    if len(moments) > MAX_POINTS:
        detail = f"At most {MAX_POINTS:,} points: shorten the span or lengthen the step."
        raise ProblemError(400, "Bad Request", detail=detail)
    return moments


def _wants_csv(request: Request) -> bool:
    return request.accept.best_match(["application/json", CSV], default="application/json") == CSV


CSV_COLUMNS = ("at", "group", "label", "in_service", "occupied", "held", "out_of_service", "free", "occupancy_rate")


def _csv(points: list[OccupancyPoint]) -> Response[str]:
    """One row per group and moment, then the moment's total (group empty, label "total")."""
    rows = [
        (
            point.at,
            row.group,
            "total" if row is point.total else row.label,
            row.in_service,
            row.occupied,
            row.held,
            row.out_of_service,
            row.free,
            row.occupancy_rate,
        )
        for point in points
        for row in [*point.groups, point.total]
    ]
    return csv_response(CSV_COLUMNS, rows)


def csv_response(header: tuple[str, ...], rows: list[tuple]) -> Response[str]:
    """RFC 4180 CSV, a header line first; None as an empty field, moments in ISO 8601."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else v for v in row])
    return Response(out.getvalue(), media_type=f"{CSV}; charset=utf-8")


@get(
    "/reports/flows",
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
    description=(
        "Per period (local days, weeks from Monday, or months) and kind of capacity, and for all kinds: "
        "entries (stays begun, transfers excepted), exits by coded reason, transfers, no-shows, the median "
        "and 90th percentile length of the stays that ended by exit or transfer, and turnover (stays "
        f"ended per place in service at the period's start). {SCOPE_NOTE}"
    ),
)
async def flows(
    conn: Conn,
    request: Request,
    caller: Actor,
    from_: FromDay = None,
    to: ToDay = None,
    step: query(Step, "day, week or month; default month") = None,
) -> FlowsReport:
    step = step or Step.MONTH
    zone = ZoneInfo(request.app.state.settings.timezone)
    starts = _moments(from_, to, step, zone)
    boundaries = [*starts, datetime.combine(next_step(starts[-1].date(), step), time(), tzinfo=zone)]
    operator = _operator(caller)
    counts: dict[int, list[Record]] = defaultdict(list)
    for row in await history.flow_counts(conn, boundaries, operator):
        counts[row["k"]].append(row)
    lengths = {(row["k"], row["kind"]): row for row in await history.flow_lengths(conn, boundaries, operator)}
    places = await occupancy_at(conn, starts, GroupBy.KIND, request.app.state.settings.timezone, operator)
    viewer = _viewer(request, caller)
    periods = []
    for k, start in enumerate(starts, start=1):
        in_service = {f.key: f.in_service for f in places[k - 1]}
        for kind in [*FacilityKind, None]:
            mine = [r for r in counts[k] if kind is None or r["kind"] == kind]
            periods.append(_flow(start, kind, mine, lengths.get((k, kind)), in_service, viewer))
    report = FlowsReport(step=step, periods=periods)
    return _flows_csv(report) if _wants_csv(request) else report


def _flow(
    start: datetime,
    kind: FacilityKind | None,
    counts: list,
    lengths: Record | None,
    in_service: dict[str | None, int],
    viewer: disclosure.Viewer,
) -> Flow:
    """One period's flow for one kind (None: all), from its rows of (event, reason, n)."""
    total: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for row in counts:
        total[row["event"]] += row["n"]
        if row["event"] == "exit":
            reasons[row["reason"]] += row["n"]
    places = sum(in_service.values()) if kind is None else in_service.get(kind, 0)
    ended = total["exit"] + total["transfer"] + total["no_show"]
    n = lengths["n"] if lengths else 0
    return Flow(
        period_start=start,
        kind=kind,
        entries=viewer.people(total["entry"]),
        exits=viewer.people(total["exit"]),
        exits_by_reason={ExitReason(r): viewer.people(c) for r, c in sorted(reasons.items())},
        transfers=viewer.people(total["transfer"]),
        no_shows=viewer.people(total["no_show"]),
        stay_days_median=viewer.over(n, lengths["median"] if lengths else None),
        stay_days_p90=viewer.over(n, lengths["p90"] if lengths else None),
        turnover=viewer.over(ended, ended / places if places else None, 4),
    )


FLOW_COLUMNS = (
    "period_start",
    "kind",
    "entries",
    "exits",
    "transfers",
    "no_shows",
    "stay_days_median",
    "stay_days_p90",
    "turnover",
    *(f"exits_{reason.value}" for reason in ExitReason),
)


def _flows_csv(report: FlowsReport) -> Response[str]:
    rows = [
        (
            f.period_start,
            f.kind or "all",
            f.entries,
            f.exits,
            f.transfers,
            f.no_shows,
            f.stay_days_median,
            f.stay_days_p90,
            f.turnover,
            *(f.exits_by_reason.get(reason, 0) for reason in ExitReason),
        )
        for f in report.periods
    ]
    return csv_response(FLOW_COLUMNS, rows)


AGE_BANDS = (0, 7, 30, 90, 180)  # days: [0, 7), [7, 30), [30, 90), [90, 180), 180 and more


@get(
    "/reports/waiting",
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
    description=(
        "People waiting at `at` (default now) by age of their referral, and the days from referral to "
        "first stay (median, 90th percentile) by source and gender, for the referrals first placed from "
        "`placed_from` (default a year before `at`) to `at`. A referral waits from its creation until "
        "it ends, while no stay has begun and no hold covers the moment. Not for partners: waiting "
        f"people belong to no facility. Send `Accept: {CSV}` for CSV (the age bands, then the times)."
    ),
)
async def waiting(
    conn: Conn,
    request: Request,
    caller: Actor,
    at: query(Timestamp, "The moment, ISO 8601 with offset; default now") = None,
    placed_from: query(Timestamp, "Start of the placements window; default a year before `at`") = None,
) -> WaitingReport:
    placed_from, at = _window(placed_from, "placed_from", at, "at")
    viewer = _viewer(request, caller)
    ages = await history.waiting_by_age(conn, at, [float(d) for d in AGE_BANDS])
    bands = [
        AgeBand(from_days=low, to_days=high, people=viewer.people(ages.get(k, 0)))
        for k, (low, high) in enumerate(zip(AGE_BANDS, [*AGE_BANDS[1:], None], strict=True), start=1)
    ]
    times = [
        TimeToPlacement(
            source=row["source"],
            gender=row["gender"],
            placed=viewer.people(row["n"]),
            median_days=viewer.over(row["n"], row["median"]),
            p90_days=viewer.over(row["n"], row["p90"]),
        )
        for row in await history.time_to_placement(conn, placed_from, at)
    ]
    report = WaitingReport(
        at=at,
        waiting=viewer.people(sum(ages.values())),
        by_age=bands,
        placed_from=placed_from,
        placed_to=at,
        to_placement=times,
    )
    return _waiting_csv(report) if _wants_csv(request) else report


def _waiting_csv(report: WaitingReport) -> Response[str]:
    rows = [
        ("waiting", f"{b.from_days}-{'' if b.to_days is None else b.to_days} days", "", b.people, "", "")
        for b in report.by_age
    ]
    rows += [("to_placement", t.source, t.gender, t.placed, t.median_days, t.p90_days) for t in report.to_placement]
    return csv_response(("table", "band_or_source", "gender", "people", "median_days", "p90_days"), rows)


DISTANCE_BANDS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)  # km; the last band is open
THRESHOLDS = {kind.value: km for kind, km in Parameters().min_distance_km.items() if km > 0}
"""Each kind's minimum distance, the solver's default; kinds exempt from it are left out."""
THRESHOLDS_JSON = msgspec.json.encode(THRESHOLDS).decode()


@get(
    "/reports/distance",
    tags=["reports"],
    responses=problem_responses(400, 401, 403),
    description=(
        "The distribution of placements' great-circle distance from their facility to the nearest "
        "consumption site active at the time, by kind: `current`, the stays covering `to` (default now) "
        "at `to`; `begun`, the stays begun from `started_from` (default a year before `to`) to `to`, "
        "each when it began. With each kind's minimum distance (the solver's default) and the share "
        f"of placements below it. {SCOPE_NOTE}"
    ),
)
async def distance(
    conn: Conn,
    request: Request,
    caller: Actor,
    to: query(Timestamp, "End of the window and moment of `current`; default now") = None,
    started_from: query(Timestamp, "Start of the window; default a year before `to`") = None,
) -> DistanceReport:
    started_from, to = _window(started_from, "started_from", to, "to")
    rows = await history.distances(conn, started_from, to, _operator(caller), list(DISTANCE_BANDS), THRESHOLDS_JSON)
    viewer = _viewer(request, caller)
    sections = {
        which: [
            _kind_distance(kind, [r for r in rows if r["which"] == which and r["kind"] == kind], THRESHOLDS, viewer)
            for kind in FacilityKind
        ]
        for which in ("current", "begun")
    }
    report = DistanceReport(started_from=started_from, to=to, current=sections["current"], begun=sections["begun"])
    return _distance_csv(report) if _wants_csv(request) else report


def _kind_distance(
    kind: FacilityKind, rows: list, thresholds: dict[str, float], viewer: disclosure.Viewer
) -> KindDistance:
    by_band = {row["band"]: row["n"] for row in rows}
    measured = sum(n for band, n in by_band.items() if band is not None)
    below = sum(row["below"] for row in rows)
    threshold = thresholds.get(kind.value)
    return KindDistance(
        kind=kind,
        placements=viewer.people(sum(by_band.values())),
        no_active_site=viewer.people(by_band.get(None, 0)),
        bands=[
            DistanceBand(from_km=low, to_km=high, placements=viewer.people(by_band.get(k, 0)))
            for k, (low, high) in enumerate(zip(DISTANCE_BANDS, [*DISTANCE_BANDS[1:], None], strict=True), start=1)
        ],
        threshold_km=threshold,
        below_threshold=None if threshold is None else viewer.people(below),
        share_below=None if threshold is None else viewer.over(measured, below / measured if measured else None, 4),
    )


def _distance_csv(report: DistanceReport) -> Response[str]:
    rows = [
        (which, d.kind, band.from_km, band.to_km, band.placements, d.threshold_km, d.share_below)
        for which, section in (("current", report.current), ("begun", report.begun))
        for d in section
        for band in d.bands
    ]
    return csv_response(("placements", "kind", "from_km", "to_km", "count", "threshold_km", "share_below"), rows)
