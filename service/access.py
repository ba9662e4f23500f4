"""Who may call what: one table of roles × routes, enforced by one guard on every /v1 route.

A route missing from `ACCESS` is refused to everyone at run time and stops the app from
being built (`check_access`), so a new route cannot ship without a decision about it.
Organisation scoping (`own`) is enforced by the routes themselves, where the owning
organisation of the resource is known; the table records it so that the README and the
access-matrix test show it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from contracts.common import Role

ADMIN, OFFICER, PARTNER, REFERRER, MANAGER = Role


class Rule(msgspec.Struct, frozen=True):
    """The roles that may call a route; those in `own` act on their organisation's data only.

    A `public` route needs no key at all (health checks, for load balancers).
    """

    roles: frozenset[Role]
    own: frozenset[Role] = frozenset()
    public: bool = False


def rule(*roles: Role, own: Iterable[Role] = ()) -> Rule:
    return Rule(frozenset(roles), frozenset(own))


PUBLIC = Rule(frozenset(Role), public=True)
EVERYONE = rule(*Role)
ADMINS = rule(ADMIN)
INVENTORY_WRITERS = rule(ADMIN, PARTNER, own=[PARTNER])
OFFICERS = rule(ADMIN, OFFICER)
ON_SITE = rule(ADMIN, OFFICER, PARTNER, own=[PARTNER])
REFERRAL_DESK = rule(ADMIN, OFFICER, REFERRER, own=[REFERRER])
CAPACITY_READERS = rule(ADMIN, OFFICER, MANAGER, PARTNER, own=[PARTNER])
# Managers see bed and capacity events only (never a person's); see event_visible in SQL.
EVENT_READERS = rule(*Role, own=[PARTNER, REFERRER])
WEBHOOK_OWNERS = rule(*Role, own=[OFFICER, MANAGER, PARTNER, REFERRER])
# Partners manage their organisation's partner keys only (no other role: no escalation).
KEY_MANAGERS = rule(ADMIN, PARTNER, own=[PARTNER])

# "METHOD /path", paths as in the OpenAPI document.
ACCESS: dict[str, Rule] = {
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /v1/organisations": EVERYONE,
    "POST /v1/organisations": ADMINS,
    "GET /v1/organisations/{organisation_id}": EVERYONE,
    "PATCH /v1/organisations/{organisation_id}": ADMINS,
    "GET /v1/facilities": EVERYONE,
    "POST /v1/facilities": INVENTORY_WRITERS,
    "GET /v1/facilities/{facility_id}": EVERYONE,
    "PATCH /v1/facilities/{facility_id}": INVENTORY_WRITERS,
    "GET /v1/beds": EVERYONE,
    "POST /v1/beds": INVENTORY_WRITERS,
    "POST /v1/beds/bulk": INVENTORY_WRITERS,
    "GET /v1/beds/{bed_id}": EVERYONE,
    "PATCH /v1/beds/{bed_id}": INVENTORY_WRITERS,
    "GET /v1/beds/{bed_id}/unavailability": EVERYONE,
    "POST /v1/beds/{bed_id}/unavailability": INVENTORY_WRITERS,
    "GET /v1/unavailability/{period_id}": EVERYONE,
    "PATCH /v1/unavailability/{period_id}": INVENTORY_WRITERS,
    "GET /v1/sites": EVERYONE,
    "POST /v1/sites": ADMINS,
    "GET /v1/sites/{site_id}": EVERYONE,
    "PATCH /v1/sites/{site_id}": ADMINS,
    "GET /v1/availability": CAPACITY_READERS,
    "GET /v1/audit": ADMINS,
    "GET /v1/referrals": REFERRAL_DESK,
    "POST /v1/referrals": REFERRAL_DESK,
    "GET /v1/referrals/{referral_id}": REFERRAL_DESK,
    "PATCH /v1/referrals/{referral_id}": REFERRAL_DESK,
    "POST /v1/referrals/{referral_id}/withdraw": REFERRAL_DESK,
    "POST /v1/holds": OFFICERS,
    "GET /v1/holds/{hold_id}": OFFICERS,
    "POST /v1/holds/{hold_id}/confirm": OFFICERS,
    "POST /v1/holds/{hold_id}/cancel": OFFICERS,
    "POST /v1/stays": OFFICERS,
    "GET /v1/stays/{stay_id}": ON_SITE,
    "POST /v1/stays/{stay_id}/check-in": ON_SITE,
    "POST /v1/stays/{stay_id}/no-show": ON_SITE,
    "POST /v1/stays/{stay_id}/transfer": OFFICERS,
    "POST /v1/stays/{stay_id}/exit": ON_SITE,
    "GET /v1/proposals": OFFICERS,
    "POST /v1/proposals": OFFICERS,
    "GET /v1/proposals/{proposal_id}": OFFICERS,
    "GET /v1/proposals/{proposal_id}/lines/{line_id}": OFFICERS,
    "POST /v1/proposals/{proposal_id}/lines/{line_id}/accept": OFFICERS,
    "POST /v1/proposals/{proposal_id}/lines/{line_id}/decline": OFFICERS,
    "GET /v1/occupancy": CAPACITY_READERS,
    "GET /v1/occupancy/series": CAPACITY_READERS,
    "GET /v1/reports/flows": CAPACITY_READERS,
    "GET /v1/reports/waiting": rule(ADMIN, OFFICER, MANAGER),
    "GET /v1/reports/distance": CAPACITY_READERS,
    "GET /v1/export/hsds": CAPACITY_READERS,
    "GET /v1/keys": KEY_MANAGERS,
    "POST /v1/keys": KEY_MANAGERS,
    "GET /v1/keys/{key_id}": KEY_MANAGERS,
    "POST /v1/keys/{key_id}/revoke": KEY_MANAGERS,
    "GET /v1/events": EVENT_READERS,
    "GET /v1/webhooks": WEBHOOK_OWNERS,
    "POST /v1/webhooks": WEBHOOK_OWNERS,
    "GET /v1/webhooks/{webhook_id}": WEBHOOK_OWNERS,
    "DELETE /v1/webhooks/{webhook_id}": WEBHOOK_OWNERS,
    "POST /v1/webhooks/{webhook_id}/replay": WEBHOOK_OWNERS,
    "GET /v1/webhooks/{webhook_id}/dead-letters": WEBHOOK_OWNERS,
}
# OPTIONS only lists a path's methods; HEAD is not served.
UNGUARDED_METHODS = frozenset({"OPTIONS", "HEAD"})
_TYPED_PARAMETER = re.compile(r"\{(\w+):\w+\}")


def route_key(method: str, path_template: str) -> str:
    """`GET /v1/beds/{bed_id:uuid}` → `GET /v1/beds/{bed_id}`, the OpenAPI spelling."""
    return method + " " + _TYPED_PARAMETER.sub(r"{\1}", path_template)


async def authorise(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of the /v1 router: the caller's role must be in the route's rule.

    Async although it never waits: Litestar runs a sync guard in a worker thread, a thread
    hop on every request for a dictionary look-up.
    """
    method = connection.scope["method"]
    if method in UNGUARDED_METHODS:
        return
    found = ACCESS.get(route_key(method, connection.scope["path_template"]))
    if found is None or connection.user.role not in found.roles:
        raise PermissionDeniedException(f"The {connection.user.role} role may not do this.")


def check_access(routes: Iterable[tuple[str, str]]) -> None:
    """Raise unless `ACCESS` names exactly the served (method, path template) pairs."""
    served = {route_key(m, p) for m, p in routes if m not in UNGUARDED_METHODS}
    if missing := served - ACCESS.keys():
        raise RuntimeError(f"Routes without an access rule in service/access.py: {sorted(missing)}")
    if stale := ACCESS.keys() - served:
        raise RuntimeError(f"Access rules for routes that do not exist: {sorted(stale)}")


_ROLE_HEADINGS = {
    ADMIN: "admin",
    OFFICER: "placement officer",
    MANAGER: "manager",
    PARTNER: "partner",
    REFERRER: "referrer",
}


def markdown_table() -> str:
    """The access matrix as the README shows it: ✓ allowed, "own" own organisation only, · refused,
    "public" without a key."""
    roles = list(_ROLE_HEADINGS)
    lines = [
        "| route | " + " | ".join(_ROLE_HEADINGS[r] for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for key, found in ACCESS.items():
        cells = (
            "public" if found.public else "own" if r in found.own else "✓" if r in found.roles else "·" for r in roles
        )
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
