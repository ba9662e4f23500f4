"""The wire types themselves: what decodes, and what each constraint refuses.

Plain msgspec, no database: every case is JSON text decoded into a contracts type.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from contracts.availability import AvailabilityPage
from contracts.common import Cursor, PageLimit
from contracts.derive import changes
from contracts.inventory import (
    Bed,
    BedCreate,
    BedsBulkCreate,
    BedUpdate,
    Facility,
    FacilityCreate,
    FacilityUpdate,
    Organisation,
    OrganisationCreate,
    OrganisationUpdate,
    Site,
    SiteCreate,
    SiteUpdate,
    Unavailability,
    UnavailabilityCreate,
    UnavailabilityUpdate,
)

ID = "0190a4c2-7c1e-7000-8000-000000000001"

ORGANISATION = {"name": "Aurore"}
FACILITY = {
    "organisation_id": ID,
    "kind": "assore_hotel",
    "name": "Hôtel des Lilas",
    "address": "12 rue des Lilas",
    "postcode": "75020",
    "commune": "Paris",
    "arrondissement": 20,
    "department": "75",
    "region": "Île-de-France",
    "lat": 48.8712,
    "lon": 2.4031,
    "opened_on": "2020-01-01",
}
BED = {"facility_id": ID, "label": "A1"}
BULK = {"facility_id": ID, "beds": [{"label": "A1"}, {"label": "A2", "medical_level": 3}]}
UNAVAILABILITY = {"reason": "maintenance", "starts_at": "2026-01-10T08:00:00Z"}
SITE = {"name": "Stalingrad", "lat": 48.8843, "lon": 2.3699, "intensity": 4, "active_from": "2024-01-01T00:00:00Z"}
SERVER_SET = {"id": ID, "version": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00+01:00"}

MISSING = object()
"""A field value meaning: leave the field out."""


class Raw(str):
    """JSON text written into the document as is, for numbers json.dumps cannot write (1e400)."""


def doc(base: dict[str, Any] | None = None, **fields: Any) -> bytes:
    """`base` with `fields` replaced (or removed, with MISSING), as JSON bytes."""
    merged = {k: v for k, v in {**(base or {}), **fields}.items() if v is not MISSING}
    raws = {f"@raw:{k}@": v for k, v in merged.items() if isinstance(v, Raw)}
    text = json.dumps({k: f"@raw:{k}@" if isinstance(v, Raw) else v for k, v in merged.items()})
    for token, raw in raws.items():
        text = text.replace(json.dumps(token), raw)
    return text.encode()


# --- valid examples -----------------------------------------------------------------

VALID = [
    pytest.param(OrganisationCreate, doc(ORGANISATION), id="organisation"),
    pytest.param(OrganisationCreate, doc(name="x" * 200), id="name-200-chars"),
    pytest.param(OrganisationCreate, doc(name="Œuvre d'Écoute 🏠"), id="name-unicode"),
    pytest.param(FacilityCreate, doc(FACILITY), id="facility"),
    pytest.param(
        FacilityCreate,
        doc(FACILITY, postcode=MISSING, arrondissement=MISSING, closed_on=MISSING),
        id="facility-optional-left-out",
    ),
    pytest.param(FacilityCreate, doc(FACILITY, postcode=None, arrondissement=None), id="facility-nulls"),
    pytest.param(FacilityCreate, doc(FACILITY, closed_on="2020-01-02"), id="facility-closed-next-day"),
    pytest.param(FacilityCreate, doc(FACILITY, arrondissement=1), id="arrondissement-1"),
    *(
        pytest.param(FacilityCreate, doc(FACILITY, department=code), id=f"department-{code}")
        for code in ("01", "19", "2A", "2B", "21", "75", "93", "95", "971", "974", "976")
    ),
    pytest.param(FacilityCreate, doc(FACILITY, lat=-90, lon=-180), id="lat-lon-min"),
    pytest.param(FacilityCreate, doc(FACILITY, lat=90, lon=180), id="lat-lon-max"),
    *(pytest.param(FacilityCreate, doc(FACILITY, kind=k), id=f"kind-{k}") for k in ("rest_space", "out_of_region")),
    pytest.param(BedCreate, doc(BED), id="bed"),
    pytest.param(
        BedCreate,
        doc(BED, gender_policy="women", accessible=True, medical_level=3, nightly_cost_cents=100_000),
        id="bed-max",
    ),
    pytest.param(BedCreate, doc(BED, medical_level=0, nightly_cost_cents=0), id="bed-min"),
    pytest.param(BedsBulkCreate, doc(BULK), id="bulk"),
    pytest.param(BedsBulkCreate, doc(BULK, beds=[{"label": f"B{i}"} for i in range(2000)]), id="bulk-2000"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY), id="unavailability-open-ended"),
    pytest.param(
        UnavailabilityCreate,
        doc(UNAVAILABILITY, starts_at="2026-01-10T08:00:00+01:00", ends_at="2026-01-10T07:00:01Z"),
        id="unavailability-offsets",
    ),
    pytest.param(SiteCreate, doc(SITE), id="site"),
    pytest.param(SiteCreate, doc(SITE, radius_m=0, intensity=1), id="site-min"),
    pytest.param(SiteCreate, doc(SITE, radius_m=5000, intensity=5), id="site-max"),
    pytest.param(SiteCreate, doc(SITE, active_until="2024-06-01T00:00:00-02:00"), id="site-bounded"),
    pytest.param(
        AvailabilityPage, doc(at="2026-01-01T00:00:00+01:00", items=[], next_cursor=None), id="availability-page"
    ),
    pytest.param(Cursor, b'"abc-_XYZ019"', id="cursor"),
    pytest.param(PageLimit, b"500", id="limit-500"),
]


@pytest.mark.parametrize(("type_", "raw"), VALID)
def test_valid_examples_decode(type_: Any, raw: bytes) -> None:
    msgspec.json.decode(raw, type=type_)


# --- every constraint refused ---------------------------------------------------------

INVALID = [
    # names and other strings: length, NUL, control characters, type
    pytest.param(OrganisationCreate, doc(name=""), id="name-empty"),
    pytest.param(OrganisationCreate, doc(name="x" * 201), id="name-201-chars"),
    pytest.param(OrganisationCreate, doc(name="x" * 1_000_000), id="name-1MB"),
    pytest.param(OrganisationCreate, doc(name="a\x00b"), id="name-NUL"),
    pytest.param(OrganisationCreate, doc(name="a\x01b"), id="name-SOH"),
    pytest.param(OrganisationCreate, doc(name="a\x1b[31m"), id="name-ESC"),
    pytest.param(OrganisationCreate, doc(name="a\rb"), id="name-CR"),
    pytest.param(OrganisationCreate, doc(name="a\x7fb"), id="name-DEL"),
    pytest.param(OrganisationCreate, doc(name="a\x9b31m"), id="name-C1-CSI"),
    pytest.param(OrganisationCreate, doc(name="a\x85b"), id="name-C1-NEL"),
    pytest.param(OrganisationCreate, doc(name="Tab\tin a name"), id="name-tab"),
    pytest.param(OrganisationCreate, doc(name="two\nlines"), id="name-newline"),
    pytest.param(OrganisationCreate, doc(name="trailing newline\n"), id="name-trailing-newline"),
    pytest.param(OrganisationCreate, doc(name=None), id="name-null"),
    pytest.param(OrganisationCreate, doc(name=42), id="name-number"),
    pytest.param(OrganisationCreate, doc(), id="name-missing"),
    pytest.param(FacilityCreate, doc(FACILITY, address="x" * 301), id="address-301-chars"),
    pytest.param(FacilityCreate, doc(FACILITY, commune="Paris\x00"), id="commune-NUL"),
    pytest.param(BedCreate, doc(BED, label="x" * 65), id="label-65-chars"),
    pytest.param(BedCreate, doc(BED, label=""), id="label-empty"),
    # coordinates
    pytest.param(FacilityCreate, doc(FACILITY, lat=90.000001), id="lat-above-90"),
    pytest.param(FacilityCreate, doc(FACILITY, lat=-90.000001), id="lat-below-minus-90"),
    pytest.param(FacilityCreate, doc(FACILITY, lon=180.000001), id="lon-above-180"),
    pytest.param(FacilityCreate, doc(FACILITY, lon=-180.000001), id="lon-below-minus-180"),
    pytest.param(FacilityCreate, doc(FACILITY, lat="48.87"), id="lat-string"),
    pytest.param(SiteCreate, doc(SITE, lat=Raw("1e400")), id="lat-1e400"),
    # French administrative codes
    pytest.param(FacilityCreate, doc(FACILITY, arrondissement=0), id="arrondissement-0"),
    pytest.param(FacilityCreate, doc(FACILITY, arrondissement=21), id="arrondissement-21"),
    pytest.param(FacilityCreate, doc(FACILITY, arrondissement=1.5), id="arrondissement-float"),
    *(
        pytest.param(FacilityCreate, doc(FACILITY, department=code), id=f"department-{code!r}")
        for code in ("", "0", "00", "96", "99", "2C", "2a", "970", "977", "075", "750", " 75", "75 ", "75\n")
    ),
    # Corsica has been 2A and 2B since 1976; there is no department 20.
    pytest.param(FacilityCreate, doc(FACILITY, department="20"), id="department-20"),
    *(
        pytest.param(FacilityCreate, doc(FACILITY, postcode=code), id=f"postcode-{code!r}")
        for code in ("", "7502", "750200", "75O20", "75 020", "75020\n", 75020)
    ),
    pytest.param(FacilityCreate, doc(FACILITY, kind="hostel"), id="kind-unknown"),
    pytest.param(FacilityCreate, doc(FACILITY, kind="ASSORE_HOTEL"), id="kind-wrong-case"),
    pytest.param(FacilityCreate, doc(FACILITY, organisation_id="not-a-uuid"), id="organisation-id-not-uuid"),
    # dates and their order
    pytest.param(FacilityCreate, doc(FACILITY, opened_on="2024-02-30"), id="date-feb-30"),
    pytest.param(FacilityCreate, doc(FACILITY, opened_on="yesterday"), id="date-yesterday"),
    pytest.param(FacilityCreate, doc(FACILITY, opened_on="2020-01-01T00:00:00Z"), id="date-given-datetime"),
    pytest.param(FacilityCreate, doc(FACILITY, closed_on="2020-01-01"), id="closed-on-opened-day"),
    pytest.param(FacilityCreate, doc(FACILITY, closed_on="2019-12-31"), id="closed-before-opened"),
    # beds
    pytest.param(BedCreate, doc(BED, medical_level=-1), id="medical-level-minus-1"),
    pytest.param(BedCreate, doc(BED, medical_level=4), id="medical-level-4"),
    pytest.param(BedCreate, doc(BED, nightly_cost_cents=-1), id="cost-negative"),
    pytest.param(BedCreate, doc(BED, nightly_cost_cents=100_001), id="cost-above-1000-euros"),
    pytest.param(BedCreate, doc(BED, gender_policy="mixed"), id="gender-policy-unknown"),
    pytest.param(BedCreate, doc(BED, accessible="yes"), id="bool-string"),
    pytest.param(BedCreate, doc(BED, accessible=1), id="bool-number"),
    pytest.param(BedCreate, doc(BED, facility_id=MISSING), id="bed-facility-missing"),
    pytest.param(BedsBulkCreate, doc(BULK, beds=[]), id="bulk-empty"),
    pytest.param(BedsBulkCreate, doc(BULK, beds=[{"label": f"B{i}"} for i in range(2001)]), id="bulk-2001"),
    pytest.param(BedsBulkCreate, doc(BULK, beds=[{"label": "A1", "medical_level": 9}]), id="bulk-item-invalid"),
    pytest.param(BedsBulkCreate, doc(BULK, beds=[{"label": "A1", "facility_id": ID}]), id="bulk-item-unknown-field"),
    # out-of-service periods
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, reason="vacation"), id="reason-unknown"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, starts_at="2026-01-10T08:00:00"), id="starts-no-offset"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, starts_at="2026-01-10"), id="starts-date-only"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, ends_at="2026-01-11T08:00:00"), id="ends-no-offset"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, ends_at="2026-01-10T08:00:00Z"), id="ends-equals-starts"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, ends_at="2026-01-10T07:59:59Z"), id="ends-before-starts"),
    pytest.param(
        UnavailabilityCreate,
        doc(UNAVAILABILITY, ends_at="2026-01-10T08:30:00+01:00"),  # 07:30Z
        id="ends-before-starts-other-offset",
    ),
    # consumption sites
    pytest.param(SiteCreate, doc(SITE, intensity=0), id="intensity-0"),
    pytest.param(SiteCreate, doc(SITE, intensity=6), id="intensity-6"),
    pytest.param(SiteCreate, doc(SITE, radius_m=-1), id="radius-negative"),
    pytest.param(SiteCreate, doc(SITE, radius_m=5001), id="radius-5001"),
    pytest.param(SiteCreate, doc(SITE, active_from="2024-01-01T00:00:00"), id="active-from-no-offset"),
    pytest.param(SiteCreate, doc(SITE, active_until="2024-01-01T00:00:00Z"), id="active-until-equals-from"),
    pytest.param(SiteCreate, doc(SITE, active_until="2023-12-31T23:59:59Z"), id="active-until-before-from"),
    pytest.param(SiteCreate, doc(SITE, intensity=MISSING), id="intensity-missing"),
    # unknown fields, everywhere
    pytest.param(OrganisationCreate, doc(ORGANISATION, id=ID), id="organisation-unknown-field"),
    pytest.param(FacilityCreate, doc(FACILITY, capacity=10), id="facility-unknown-field"),
    pytest.param(BedCreate, doc(BED, version=1), id="bed-unknown-field"),
    pytest.param(BedsBulkCreate, doc(BULK, extra=True), id="bulk-unknown-field"),
    pytest.param(UnavailabilityCreate, doc(UNAVAILABILITY, bed_id=ID), id="unavailability-unknown-field"),
    pytest.param(SiteCreate, doc(SITE, geometry=None), id="site-unknown-field"),
    # responses and query scalars
    pytest.param(
        AvailabilityPage, doc(at="2026-01-01T00:00:00", items=[], next_cursor=None), id="availability-at-no-offset"
    ),
    pytest.param(Cursor, b'"not a cursor"', id="cursor-space"),
    pytest.param(Cursor, json.dumps("a" * 513).encode(), id="cursor-513"),
    pytest.param(PageLimit, b"0", id="limit-0"),
    pytest.param(PageLimit, b"501", id="limit-501"),
]


@pytest.mark.parametrize(("type_", "raw"), INVALID)
def test_invalid_examples_are_refused(type_: Any, raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=type_)


# --- integers beyond 64 bits and floats beyond double --------------------------------

HUGE = [2**64, 2**70, -(2**70), 10**100]
NUMERIC_FIELDS = [
    (FacilityCreate, FACILITY, "arrondissement"),
    (FacilityCreate, FACILITY, "lat"),
    (BedCreate, BED, "medical_level"),
    (BedCreate, BED, "nightly_cost_cents"),
    (SiteCreate, SITE, "intensity"),
    (SiteCreate, SITE, "radius_m"),
    (SiteCreate, SITE, "lon"),
]


@pytest.mark.parametrize("number", [*(str(n) for n in HUGE), "1e400", "-1e400"])
@pytest.mark.parametrize(
    ("type_", "base", "field"), [pytest.param(*f, id=f"{f[0].__name__}.{f[2]}") for f in NUMERIC_FIELDS]
)
def test_numbers_beyond_machine_range_are_refused_cleanly(type_: Any, base: dict, field: str, number: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc(base, **{field: Raw(number)}), type=type_)


@pytest.mark.parametrize("number", [2**70, -(2**70)])
def test_huge_integers_are_refused_where_a_uuid_or_string_is_expected(number: int) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc(BED, facility_id=number), type=BedCreate)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc(name=number), type=OrganisationCreate)


# --- malformed JSON -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b'{"name": "Aur', id="truncated"),
        pytest.param(b'{"name": "Aurore"} x', id="trailing-garbage"),
        pytest.param(b'{"name": "\xff\xfe"}', id="not-utf8"),
        pytest.param(b"{'name': 'Aurore'}", id="single-quotes"),
        pytest.param(b'[{"name": "Aurore"}]', id="array"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"name": "Aurore",}', id="trailing-comma"),
    ],
)
def test_malformed_json_is_refused_cleanly(raw: bytes) -> None:
    # ValidationError is a DecodeError; msgspec reports bytes that are not UTF-8 as
    # UnicodeDecodeError (a ValueError), so callers must catch that too.
    with pytest.raises((msgspec.DecodeError, UnicodeDecodeError)):
        msgspec.json.decode(raw, type=OrganisationCreate)


# --- patch_of: the Update types -------------------------------------------------------

UPDATES = [OrganisationUpdate, FacilityUpdate, BedUpdate, UnavailabilityUpdate, SiteUpdate]


@pytest.mark.parametrize("update", UPDATES, ids=lambda t: t.__name__)
def test_empty_patch_is_valid_and_changes_nothing(update: Any) -> None:
    assert changes(msgspec.json.decode(b"{}", type=update)) == {}


@pytest.mark.parametrize(
    ("update", "raw", "expected"),
    [
        pytest.param(OrganisationUpdate, doc(name="Aurore"), {"name": "Aurore"}, id="organisation"),
        pytest.param(
            FacilityUpdate,
            doc(name="Hôtel", closed_on=None, arrondissement=None),
            {"name": "Hôtel", "closed_on": None, "arrondissement": None},
            id="facility-nulls-kept",
        ),
        pytest.param(
            BedUpdate, doc(medical_level=3, accessible=False), {"medical_level": 3, "accessible": False}, id="bed"
        ),
        pytest.param(SiteUpdate, doc(active_until=None), {"active_until": None}, id="site-reopened"),
    ],
)
def test_patch_returns_exactly_the_given_fields(update: Any, raw: bytes, expected: dict) -> None:
    assert changes(msgspec.json.decode(raw, type=update)) == expected


def test_patch_decodes_values_to_their_types() -> None:
    patch = msgspec.json.decode(doc(kind="rest_space", opened_on="2021-03-04"), type=FacilityUpdate)
    assert {k: type(v).__name__ for k, v in changes(patch).items()} == {"kind": "FacilityKind", "opened_on": "date"}
    period = msgspec.json.decode(doc(ends_at="2026-01-10T09:00:00+01:00"), type=UnavailabilityUpdate)
    assert changes(period)["ends_at"].utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(
    ("update", "raw"),
    [
        # constraints still apply
        pytest.param(OrganisationUpdate, doc(name=""), id="name-empty"),
        pytest.param(OrganisationUpdate, doc(name="a\x00"), id="name-NUL"),
        pytest.param(FacilityUpdate, doc(lat=91), id="lat"),
        pytest.param(FacilityUpdate, doc(arrondissement=21), id="arrondissement"),
        pytest.param(FacilityUpdate, doc(department="00"), id="department"),
        pytest.param(FacilityUpdate, doc(postcode="7502"), id="postcode"),
        pytest.param(FacilityUpdate, doc(kind="hostel"), id="kind"),
        pytest.param(FacilityUpdate, doc(opened_on="2024-02-30"), id="date"),
        pytest.param(BedUpdate, doc(medical_level=4), id="medical-level"),
        pytest.param(BedUpdate, doc(nightly_cost_cents=2**70), id="cost-huge"),
        pytest.param(UnavailabilityUpdate, doc(starts_at="2026-01-10T08:00:00"), id="starts-no-offset"),
        pytest.param(UnavailabilityUpdate, doc(reason="vacation"), id="reason"),
        pytest.param(SiteUpdate, doc(intensity=6), id="intensity"),
        pytest.param(SiteUpdate, doc(radius_m=5001), id="radius"),
        # non-nullable fields cannot be set to null
        pytest.param(OrganisationUpdate, doc(name=None), id="null-name"),
        pytest.param(FacilityUpdate, doc(kind=None), id="null-kind"),
        pytest.param(FacilityUpdate, doc(lat=None), id="null-lat"),
        pytest.param(FacilityUpdate, doc(opened_on=None), id="null-opened-on"),
        pytest.param(BedUpdate, doc(label=None), id="null-label"),
        pytest.param(BedUpdate, doc(medical_level=None), id="null-medical-level"),
        pytest.param(BedUpdate, doc(accessible=None), id="null-accessible"),
        pytest.param(UnavailabilityUpdate, doc(starts_at=None), id="null-starts-at"),
        pytest.param(UnavailabilityUpdate, doc(reason=None), id="null-reason"),
        pytest.param(SiteUpdate, doc(active_from=None), id="null-active-from"),
        # what may not be changed, and what does not exist
        pytest.param(FacilityUpdate, doc(organisation_id=ID), id="facility-organisation-id"),
        pytest.param(BedUpdate, doc(facility_id=ID), id="bed-facility-id"),
        pytest.param(FacilityUpdate, doc(id=ID), id="facility-id"),
        pytest.param(SiteUpdate, doc(version=2), id="site-version"),
        pytest.param(UnavailabilityUpdate, doc(bed_id=ID), id="unavailability-bed-id"),
        # not an object
        pytest.param(OrganisationUpdate, b"[]", id="array"),
        pytest.param(OrganisationUpdate, b"null", id="null-body"),
    ],
)
def test_patch_is_refused(update: Any, raw: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(raw, type=update)


def test_facility_update_has_no_organisation_id() -> None:
    assert "organisation_id" not in FacilityUpdate.__struct_fields__
    assert set(FacilityUpdate.__struct_fields__) == set(FacilityCreate.__struct_fields__) - {"organisation_id"}


# --- stored: the read types -----------------------------------------------------------

STORED = [
    pytest.param(Organisation, OrganisationCreate, ORGANISATION, {}, id="organisation"),
    pytest.param(Facility, FacilityCreate, FACILITY, {}, id="facility"),
    pytest.param(Bed, BedCreate, BED, {}, id="bed"),
    pytest.param(Unavailability, UnavailabilityCreate, UNAVAILABILITY, {"bed_id": ID}, id="unavailability"),
    pytest.param(Site, SiteCreate, SITE, {}, id="site"),
]


@pytest.mark.parametrize(("read", "create", "example", "extra"), STORED)
def test_read_type_is_create_plus_server_fields(read: Any, create: Any, example: dict, extra: dict) -> None:
    assert set(read.__struct_fields__) == set(create.__struct_fields__) | set(SERVER_SET) | set(extra)
    decoded = msgspec.json.decode(doc(example, **SERVER_SET, **extra), type=read)
    assert (decoded.version, str(decoded.id)) == (1, ID)
    assert decoded.updated_at.utcoffset().total_seconds() == 3600


@pytest.mark.parametrize(("read", "create", "example", "extra"), STORED)
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"created_at": "2026-01-01T00:00:00"}, id="created-at-no-offset"),
        pytest.param({"id": "not-a-uuid"}, id="id-not-uuid"),
        pytest.param({"version": MISSING}, id="version-missing"),
    ],
)
def test_read_type_refuses_bad_server_fields(read: Any, create: Any, example: dict, extra: dict, bad: dict) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc(example, **(SERVER_SET | extra | bad)), type=read)


def test_read_type_keeps_create_checks() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(doc(FACILITY, **SERVER_SET, closed_on="2019-01-01"), type=Facility)
