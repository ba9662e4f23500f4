"""`GET /v1/occupancy` and `GET /v1/occupancy/series`: places in service, occupied, held,
out of service and free, by group, at one moment or over time; JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Request, Response, get
from litestar.params import QueryParameter

from contracts.common import Role, Timestamp
from contracts.reports import GroupBy, Occupancy, OccupancyPoint, OccupancyReport, OccupancySeries, Step
from service.auth import Actor, Caller, allow
from service.db.pool import Conn
from service.http import aware, query
from service.problems import ProblemError, problem_responses
from service.reports import disclosure
from service.reports.occupancy import Figures, local_midnights, occupancy_at

CSV = "text/csv"
READERS = (Role.ADMIN, Role.PLACEMENT_OFFICER, Role.MANAGER, Role.PARTNER)
MAX_POINTS = 3_700  # ten years of days
SCOPE_NOTE = (
    "Managers, placement officers and admins see every facility; partners their organisation's only. "
    f'Send `Accept: {CSV}` for CSV. For managers, counts of people from 1 to 4 read "<5" '
    "(and the free places and rate of that row are left out)."
)
GroupByParam = query(GroupBy, "How to group the places; default kind")


@get(
    "/occupancy",
    tags=["reports"],
    guards=[allow(*READERS)],
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
    guards=[allow(*READERS)],
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
    from_: Annotated[date, QueryParameter(name="from", description="First day, YYYY-MM-DD")],
    to: Annotated[date, QueryParameter(description="Last day, YYYY-MM-DD")],
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
    scope = caller.organisation_id if caller.role is Role.PARTNER else None
    figures = await occupancy_at(conn, moments, group_by, settings.timezone, scope)
    threshold = settings.small_count_threshold

    def shown(f: Figures) -> Occupancy:
        return disclosure.occupancy(f, caller.role, threshold)

    return [
        OccupancyPoint(at=at, groups=[shown(g) for g in groups], total=shown(Figures.total(groups)))
        for at, groups in zip(moments, figures, strict=True)
    ]


def _moments(first: date, last: date, step: Step, zone: ZoneInfo) -> list[datetime]:
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
    """One row per group and moment, then the moment's total (group and label empty, label "total")."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for point in points:
        for row in [*point.groups, point.total]:
            label = "total" if row is point.total else row.label
            values = (row.in_service, row.occupied, row.held, row.out_of_service, row.free, row.occupancy_rate)
            writer.writerow([point.at.isoformat(), row.group, label, *("" if v is None else v for v in values)])
    return Response(out.getvalue(), media_type=f"{CSV}; charset=utf-8")
