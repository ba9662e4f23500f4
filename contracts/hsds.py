"""Open Referral HSDS 3.1 objects for the capacity export: a page of fully nested services.

Only the fields abri can fill are declared; every one is always present (HSDS types them
as plain strings or numbers, so null would be invalid). Field names are HSDS's; class names
start with Hsds so that, in the OpenAPI document, HsdsOrganization is not read as abri's
own Organisation.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from contracts.common import Latitude, Longitude, Timestamp, whole

Count = Annotated[int, Meta(ge=0)]
CountryCode = Annotated[str, Meta(pattern=whole("[A-Z]{2}"), description="ISO 3166-1 alpha-2")]


class HsdsServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    """Not open yet."""
    DEFUNCT = "defunct"
    """Closed."""


class HsdsOrganization(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    description: str


class HsdsAddress(msgspec.Struct, kw_only=True):
    id: UUID
    location_id: UUID
    address_1: str
    city: str
    state_province: str
    postal_code: str
    country: CountryCode
    address_type: Literal["physical"] = "physical"


class HsdsLocation(msgspec.Struct, kw_only=True):
    id: UUID
    location_type: Literal["physical"] = "physical"
    organization_id: UUID
    name: str
    latitude: Latitude
    longitude: Longitude
    addresses: list[HsdsAddress]
    """Empty when the facility has no postcode (HSDS requires one in an address)."""


class HsdsServiceAtLocation(msgspec.Struct, kw_only=True):
    id: UUID
    service_id: UUID
    location_id: UUID
    location: HsdsLocation


class HsdsUnit(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    identifier: str


class HsdsServiceCapacity(msgspec.Struct, kw_only=True):
    id: UUID
    service_id: UUID
    unit: HsdsUnit
    available: Count
    """Beds free now, as `/v1/availability` counts them."""
    maximum: Count
    """Beds in service now: facility open, no out-of-service period."""
    description: str
    updated: Timestamp
    """The latest change to what is counted (see the route's description)."""


class HsdsService(msgspec.Struct, kw_only=True):
    id: UUID
    organization_id: UUID
    name: str
    description: str
    status: HsdsServiceStatus
    last_modified: Timestamp
    organization: HsdsOrganization
    service_at_locations: list[HsdsServiceAtLocation]
    capacities: list[HsdsServiceCapacity]


class HsdsServicePage(msgspec.Struct, kw_only=True):
    """A page in the HSDS API's `Page` shape, plus `next_cursor` (null on the last page):
    pass it back as `cursor` for the next one."""

    total_items: Count
    total_pages: Count
    page_number: Annotated[int, Meta(ge=1)]
    size: Count
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[HsdsService]
    next_cursor: str | None
