"""A connection lost under a request is a 503 with Retry-After, however asyncpg reports the loss.

When PostgreSQL ends a connection (a shutdown, pg_terminate_backend), a query in flight
fails with a connection error, already a 503. But asyncpg has other ways to say it, each
a 500 until now (bench/outage.py and repeated pg_terminate_backend under load met them):
a transaction block cannot roll back on the dead connection (`InterfaceError`: the
underlying connection is closed); a query sent after the pool saw the connection close
finds it taken back (`InterfaceError`: released back to the pool); a query sent between
the server's farewell and the socket's close finds the protocol out of step
(`InternalClientError`, MagicStack/asyncpg#1069).
"""

import asyncio

import asyncpg

from contracts.common import Role
from service.availability import routes as availability_routes
from service.referrals import routes as referral_routes

PROBLEM = "application/problem+json"
REFERRAL = {
    "reference": "LOST-CONNECTION-1",
    "source": "outreach_team",
    "needs": {"gender": "man"},
    "acceptable_kinds": ["assore_hotel"],
    "vulnerability": 2,
}


def assert_retryable(answer) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert int(answer.headers["retry-after"]) >= 1


async def test_a_connection_ended_inside_a_transaction_is_a_503(client, keys, conn, monkeypatch):
    async def ended_by_the_server(request_conn, *_args, **_kwargs):
        await request_conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(referral_routes, "record", ended_by_the_server)
    assert_retryable(await client.post("/v1/referrals", json=REFERRAL, headers=keys.header(Role.ADMIN)))
    monkeypatch.undo()
    assert await conn.fetchval("SELECT count(*) FROM referrals WHERE source = 'outreach_team'") == 0
    again = await client.post("/v1/referrals", json=REFERRAL, headers=keys.header(Role.ADMIN))
    assert again.status_code == 201, "the pool replaces the lost connection by itself"


async def test_a_connection_ended_between_two_queries_is_a_503(client, keys, settings, monkeypatch):
    free_beds = availability_routes.free_beds

    async def after_a_loss(request_conn, *args, **kwargs):
        backend = await request_conn.fetchval("SELECT pg_backend_pid()")
        other = await asyncpg.connect(settings.database_url)  # on the app's event loop, unlike `conn`
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1, 5000)", backend)  # waits for its end
        finally:
            await other.close()
        await asyncio.sleep(0.1)  # the pool sees the socket close and takes the connection back
        return await free_beds(request_conn, *args, **kwargs)

    monkeypatch.setattr(availability_routes, "free_beds", after_a_loss)
    assert_retryable(await client.get("/v1/availability", headers=keys.header(Role.ADMIN)))


async def test_asyncpg_out_of_step_with_a_closing_connection_is_a_503(client, keys, monkeypatch):
    async def out_of_step(*_args, **_kwargs):
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")

    monkeypatch.setattr(availability_routes, "free_beds", out_of_step)
    assert_retryable(await client.get("/v1/availability", headers=keys.header(Role.ADMIN)))


async def test_other_misuse_of_a_connection_stays_a_500(client, keys, monkeypatch):
    async def misused(*_args, **_kwargs):
        raise asyncpg.InterfaceError("cannot perform operation: another operation is in progress")

    monkeypatch.setattr(availability_routes, "free_beds", misused)
    answer = await client.get("/v1/availability", headers=keys.header(Role.ADMIN))
    assert answer.status_code == 500, "a misused connection is a bug, not an outage to retry"
