"""Every referral, hold, stay, proposal and audit route, for every role: who is turned away at the door.

A role "may" call a route when the guard lets it through; what happens next (404 for the
made-up ids used here, 409, 422) is other tests' business. Organisation scoping (referrers
see their own referrals, partners act on their own beds) is tested with the routes.
"""

import uuid

import pytest

from contracts.common import Role

ADMIN, OFFICER, PARTNER, REFERRER, MANAGER = Role
SOME = str(uuid.UUID(int=7))
REFERRAL = {
    "reference": "ROLE-WALK-1",
    "source": "other",
    "needs": {"gender": "man"},
    "acceptable_kinds": ["assore_hotel"],
    "vulnerability": 2,
}
# (method, path, body, roles that may call it)
ROUTES = [
    ("POST", "/v1/referrals", REFERRAL, {ADMIN, OFFICER, REFERRER}),
    ("GET", "/v1/referrals", None, {ADMIN, OFFICER, REFERRER}),
    ("GET", f"/v1/referrals/{SOME}", None, {ADMIN, OFFICER, REFERRER}),
    ("PATCH", f"/v1/referrals/{SOME}", {"vulnerability": 3}, {ADMIN, OFFICER, REFERRER}),
    ("POST", f"/v1/referrals/{SOME}/withdraw", {"reason": "other"}, {ADMIN, OFFICER, REFERRER}),
    ("POST", "/v1/holds", {"referral_id": SOME, "bed_id": SOME}, {ADMIN, OFFICER}),
    ("GET", f"/v1/holds/{SOME}", None, {ADMIN, OFFICER}),
    ("POST", f"/v1/holds/{SOME}/confirm", None, {ADMIN, OFFICER}),
    ("POST", f"/v1/holds/{SOME}/cancel", {"reason": "other"}, {ADMIN, OFFICER}),
    ("POST", "/v1/stays", {"referral_id": SOME, "bed_id": SOME}, {ADMIN, OFFICER}),
    ("GET", f"/v1/stays/{SOME}", None, {ADMIN, OFFICER, PARTNER}),
    ("POST", f"/v1/stays/{SOME}/check-in", None, {ADMIN, OFFICER, PARTNER}),
    ("POST", f"/v1/stays/{SOME}/no-show", None, {ADMIN, OFFICER, PARTNER}),
    ("POST", f"/v1/stays/{SOME}/transfer", {"bed_id": SOME}, {ADMIN, OFFICER}),
    ("POST", f"/v1/stays/{SOME}/exit", {"reason": "other"}, {ADMIN, OFFICER, PARTNER}),
    ("POST", "/v1/proposals", {"referral_ids": [SOME]}, {ADMIN, OFFICER}),
    ("GET", "/v1/proposals", None, {ADMIN, OFFICER}),
    ("GET", f"/v1/proposals/{SOME}", None, {ADMIN, OFFICER}),
    ("GET", f"/v1/proposals/{SOME}/lines/{SOME}", None, {ADMIN, OFFICER}),
    ("POST", f"/v1/proposals/{SOME}/lines/{SOME}/accept", None, {ADMIN, OFFICER}),
    ("POST", f"/v1/proposals/{SOME}/lines/{SOME}/decline", {"reason": "other"}, {ADMIN, OFFICER}),
    ("GET", "/v1/audit", None, {ADMIN}),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
async def test_role_may_or_may_not_call(client, keys, role, method, path, body, allowed):
    r = await client.request(method, path, json=body, headers=keys.header(role) | {"If-Match": '"1"'})
    if role in allowed:
        assert r.status_code not in (401, 403), r.text
    else:
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
