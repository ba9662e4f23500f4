"""Rate limiting per API key: a burst over the limit gets 429 with Retry-After, other keys carry on."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from contracts.common import Role
from service.app import create_app
from service.rate_limit import TokenBuckets

RATE, BURST = 2, 3


@pytest.fixture(scope="module")
def settings(settings):
    return msgspec.structs.replace(settings, rate_limit=RATE, rate_burst=BURST)


async def test_a_burst_over_the_limit_waits_and_other_keys_are_unaffected(client, keys):
    manager = keys.header(Role.MANAGER)
    passed = [await client.get("/v1/facilities", headers=manager) for _ in range(BURST)]
    assert [r.status_code for r in passed] == [200] * BURST
    assert [r.headers["ratelimit-remaining"] for r in passed] == ["2", "1", "0"]
    assert passed[0].headers["ratelimit-limit"] == str(BURST)

    refused = await client.get("/v1/facilities", headers=manager)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["status"] == 429 and "retry after 1 s" in refused.json()["detail"]
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == 1 and refused.headers["ratelimit-remaining"] == "0"

    assert (await client.get("/v1/facilities", headers=keys.header(Role.ADMIN))).status_code == 200
    for path in ("/health/live", "/health/ready", "/schema/openapi.json"):
        assert (await client.get(path, headers=manager)).status_code == 200, "only /v1 is limited"

    await asyncio.sleep(retry_after)
    assert (await client.get("/v1/facilities", headers=manager)).status_code == 200


async def test_a_rate_of_zero_turns_the_limiter_off(settings, keys):
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, rate_limit=0))) as unlimited:
        answers = [await unlimited.get("/v1/facilities", headers=keys.header(Role.REFERRER)) for _ in range(BURST + 2)]
    assert [r.status_code for r in answers] == [200] * (BURST + 2)
    assert "ratelimit-limit" not in answers[0].headers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_at_the_rate_up_to_the_burst():
    clock, key = Clock(), uuid.uuid4()
    buckets = TokenBuckets(rate=4, burst=2, clock=clock)
    assert [buckets.take(key) for _ in range(3)] == [1, 0, -1]
    assert buckets.retry_after(-1) == 1
    clock.now = 0.125  # half a token back
    assert buckets.take(key) == -0.5
    clock.now = 0.25
    assert buckets.take(key) == 0
    clock.now = 100
    assert buckets.take(key) == 1, "never more than the burst"
    assert buckets.headers(1) == {"RateLimit-Limit": "2", "RateLimit-Remaining": "1", "RateLimit-Reset": "1"}


def test_a_slow_rate_asks_for_a_longer_wait():
    buckets = TokenBuckets(rate=0.1, burst=1, clock=Clock())
    key = uuid.uuid4()
    assert buckets.take(key) == 0 and buckets.take(key) == -1
    assert buckets.retry_after(-1) == 10
