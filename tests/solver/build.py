"""Short builders for hand-written solver tests."""

from __future__ import annotations

from typing import Any

from solver.problem import BedClass, Facility, Gender, Kind, Parameters, Person, PlacementProblem, Point, Site

STALINGRAD = Point(lat=48.8843, lon=2.3699)
FAR_FROM_SITES = Point(lat=48.8300, lon=2.2700)  # about 8 km south-west of Stalingrad


def person(pid: str, priority: int = 10, gender: Gender = Gender.MAN, **fields: Any) -> Person:
    return Person(id=pid, priority=priority, gender=gender, **fields)


def facility(fid: str, kind: Kind = Kind.ASSORE_HOTEL, location: Point = FAR_FROM_SITES) -> Facility:
    return Facility(id=fid, name=fid, kind=kind, location=location)


def bed(bid: str, fid: str, capacity: int = 1, **fields: Any) -> BedClass:
    return BedClass(id=bid, facility_id=fid, capacity=capacity, **fields)


def problem(
    people: list[Person],
    facilities: list[Facility],
    bed_classes: list[BedClass],
    sites: list[Site] | None = None,
    parameters: Parameters | None = None,
) -> PlacementProblem:
    return PlacementProblem(
        people=people,
        facilities=facilities,
        bed_classes=bed_classes,
        sites=[Site(name="Stalingrad", location=STALINGRAD)] if sites is None else sites,
        parameters=parameters or Parameters(),
    )
