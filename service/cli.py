"""The `abri` command: serve, migrate, seed-demo, simulate, create-key, list-keys, revoke-key, purge,
openapi, access-matrix."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import UUID

import asyncpg
import msgspec
from litestar.exceptions import NotAuthorizedException

from contracts.common import Label, Role
from contracts.keys import ApiKey
from service.auth import authenticate
from service.db.embedded import embedded_server
from service.db.migrate import migrate
from service.demo.load import is_empty, load_demo
from service.demo.simulate import MAX_YEARS, SimulationRefused, Summary, simulate
from service.keys import queries as keys
from service.problems import ProblemError
from service.referrals.purge import purge
from service.settings import PROJECT_ROOT, Settings, load_settings

DEMO_ORGANISATION = "abri demo administrators"
MAX_PURGE_DAYS = 36_500  # a century: beyond it the cut-off leaves PostgreSQL's timestamp range


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    # SIGTERM ends the command like Ctrl-C does, so the embedded server is stopped cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        args.run(args, load_settings())
    except KeyboardInterrupt:
        sys.exit(130)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abri", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="serve the API (embedded PostgreSQL unless DATABASE_URL is set)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, choices=range(1, 65), metavar="N", help="worker processes")
    demo = serve.add_mutually_exclusive_group()
    demo.add_argument("--no-demo", action="store_true", help="do not load the Paris demo data")
    demo.add_argument("--demo", action="store_true", help="load the demo data into an empty DATABASE_URL database")
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply pending migrations").set_defaults(run=_migrate)
    commands.add_parser("seed-demo", help="load the Paris demo data into an empty database").set_defaults(
        run=_seed_demo
    )

    history = commands.add_parser(
        "simulate", help="fill the demo database with a simulated history of referrals, holds and stays"
    )
    history.add_argument("--years", required=True, type=_years, metavar="N", help=f"1 to {MAX_YEARS}")
    history.add_argument("--seed", type=int, default=1, help="the same seed gives the same history (default 1)")
    history.add_argument(
        "--until",
        type=_until,
        metavar="YYYY-MM-DD",
        help="the history ends as this day begins, local time (default: today in UTC)",
    )
    history.set_defaults(run=_simulate)

    key = commands.add_parser("create-key", help="create an API key and print it once")
    key.add_argument("--role", required=True, choices=[r.value for r in Role])
    key.add_argument("--org", required=True, help="organisation id, or name (created if new)")
    key.add_argument("--label", type=_label, help="what the key is for, one line (up to 64 characters)")
    key.add_argument(
        "--expires",
        type=_expiry,
        metavar="WHEN",
        help="refuse the key from then on: YYYY-MM-DD (midnight UTC) or an ISO 8601 time with a UTC offset",
    )
    key.set_defaults(run=_create_key)

    listing = commands.add_parser("list-keys", help="list API keys (never their secrets), tab-separated")
    listing.add_argument("--org", help="only this organisation's keys (id or name)")
    listing.set_defaults(run=_list_keys)

    revocation = commands.add_parser("revoke-key", help="refuse an API key from now on (again: no change)")
    revocation.add_argument("key_id", type=UUID, metavar="KEY_ID", help="the key's id, as list-keys shows it")
    revocation.set_defaults(run=_revoke_key)

    erase = commands.add_parser(
        "purge", help="erase the needs and reference of referrals that ended more than DAYS days ago"
    )
    erase.add_argument("--older-than", required=True, type=_days, metavar="DAYS", help="whole days, 1 or more")
    erase.set_defaults(run=_purge)

    spec = commands.add_parser("openapi", help="write the OpenAPI document")
    spec.add_argument("--output", type=Path, default=PROJECT_ROOT / "openapi" / "openapi.json")
    spec.set_defaults(run=_openapi)
    commands.add_parser("access-matrix", help="print the roles × routes table (Markdown)").set_defaults(
        run=_access_matrix
    )
    return parser


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """The URL to use: DATABASE_URL, or the embedded server for as long as the block runs."""
    if settings.database_url:
        with nullcontext(settings.database_url) as url:
            yield url
    else:
        with embedded_server(settings.data_dir) as url:
            yield url


async def _with_connection(url: str, work):
    conn = await asyncpg.connect(url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    # DATABASE_URL needs ABRI_REFERENCE_KEY; the embedded server makes its own, before any demo is loaded.
    reference_key = _reference_key(settings, "serve on DATABASE_URL")
    with _database(settings) as url:
        load = not args.no_demo and (settings.embedded or args.demo)
        asyncio.run(_with_connection(url, lambda conn: _prepare(conn, settings, load, reference_key)))
        os.environ["DATABASE_URL"] = url
        os.environ["ABRI_REFERENCE_KEY"] = reference_key  # for the server's workers
        from service.server import run  # the ASGI server is imported only to serve

        run(args.host, args.port, args.workers)


async def _prepare(conn: asyncpg.Connection, settings: Settings, load_demo_data: bool, reference_key: str) -> None:
    await migrate(conn)
    if load_demo_data and await is_empty(conn):
        counts = await load_demo(conn, reference_key)
        print(f"Loaded the Paris demo data: {counts}", flush=True)
    if settings.embedded:
        key_file = settings.data_dir / "demo-key"
        key = await _demo_key(conn, key_file)
        print(f"Admin API key (also in {key_file}):\n  {key}", flush=True)


def _reference_key(settings: Settings, purpose: str) -> str:
    """The HMAC secret for references: ABRI_REFERENCE_KEY, else the embedded server's own; exits if neither."""
    if settings.reference_key:
        return settings.reference_key
    if settings.embedded:
        return _embedded_reference_key(settings.data_dir / "reference-key")
    sys.exit(f"abri: set ABRI_REFERENCE_KEY (32+ characters) to {purpose}: it keys referral hashes")


def _embedded_reference_key(path: Path) -> str:
    """The embedded database's HMAC secret for references: made once, kept beside the data."""
    if not path.exists() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


async def _demo_key(conn: asyncpg.Connection, key_file: Path) -> str:
    """The admin key of the embedded demo: reused while it is valid, else made anew."""
    if key_file.exists():
        key = key_file.read_text().strip()
        with suppress(NotAuthorizedException):
            if (await authenticate(conn, key)).role is Role.ADMIN:
                return key
    organisation_id = await _organisation(conn, DEMO_ORGANISATION)
    key = (await keys.create(conn, None, Role.ADMIN, organisation_id, "demo key of abri serve", None)).key
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(key + "\n")
    return key


async def _organisation(conn: asyncpg.Connection, id_or_name: str, *, create: bool = True) -> UUID:
    """The organisation's id; a new name is created, or refused (exits) when `create` is false."""
    try:
        organisation_id = UUID(id_or_name)
    except ValueError:
        if create:
            return await conn.fetchval(
                "INSERT INTO organisations (name) VALUES ($1) "
                "ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                id_or_name,
            )
        organisation_id = await conn.fetchval("SELECT id FROM organisations WHERE name = $1", id_or_name)
        if organisation_id is None:
            sys.exit(f"abri: no organisation is named {id_or_name!r}")
        return organisation_id
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM organisations WHERE id = $1)", organisation_id):
        sys.exit(f"abri: no organisation has id {organisation_id}")
    return organisation_id


def _migrate(_: argparse.Namespace, settings: Settings) -> None:
    with _database(settings) as url:
        applied = asyncio.run(_with_connection(url, migrate))
    print(f"Applied migrations: {applied}" if applied else "The schema is up to date.")


def _seed_demo(_: argparse.Namespace, settings: Settings) -> None:
    reference_key = _reference_key(settings, "load the demo's referrals into DATABASE_URL")

    async def seed(conn: asyncpg.Connection) -> dict[str, int] | None:
        await migrate(conn)
        return await load_demo(conn, reference_key) if await is_empty(conn) else None

    with _database(settings) as url:
        counts = asyncio.run(_with_connection(url, seed))
    if counts is None:
        sys.exit("abri: the database already holds an inventory; the demo data loads into an empty one only")
    print(f"Loaded the Paris demo data: {counts}")


def _years(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_YEARS:
        raise argparse.ArgumentTypeError(f"expected whole years from 1 to {MAX_YEARS}, got {value!r}")
    return int(value)


def _until(value: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None
    if day > _today():
        raise argparse.ArgumentTypeError(f"expected a day not after today, got {value}")
    return day


def _today() -> date:
    return datetime.now(UTC).date()


def _simulate(args: argparse.Namespace, settings: Settings) -> None:
    reference_key = _reference_key(settings, "simulate referrals into DATABASE_URL")
    until = args.until or _today()

    async def run(conn: asyncpg.Connection) -> Summary:
        await migrate(conn)
        summary = await simulate(
            conn, reference_key, years=args.years, seed=args.seed, until=until, timezone=settings.timezone
        )
        # Years of rows at once: fresh statistics now, or the server plans the availability
        # search on guesses until autovacuum gets round to it (10× slower for some filters).
        await conn.execute("VACUUM (ANALYZE)")
        return summary

    with _database(settings) as url:
        try:
            summary = asyncio.run(_with_connection(url, run))
        except SimulationRefused as refused:
            sys.exit(f"abri: {refused}")
    print(summary.line())


def _label(value: str) -> str:
    try:
        return msgspec.convert(value, Label)
    except msgspec.ValidationError as exc:
        raise argparse.ArgumentTypeError(f"expected one line of 1 to 64 characters ({exc})") from None


def _expiry(value: str) -> datetime:
    try:
        when = datetime.combine(date.fromisoformat(value), time(), UTC)
    except ValueError:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO 8601 time with a UTC offset, got {value!r}")
    if when <= datetime.now(UTC):
        raise argparse.ArgumentTypeError(f"expected a time in the future, got {value}")
    return when


def _create_key(args: argparse.Namespace, settings: Settings) -> None:
    async def create(conn: asyncpg.Connection) -> str:
        await migrate(conn)
        organisation_id = await _organisation(conn, args.org)
        return (await keys.create(conn, None, Role(args.role), organisation_id, args.label, args.expires)).key

    with _database(settings) as url:
        key = asyncio.run(_with_connection(url, create))
    print(key)


_KEY_COLUMNS = ("id", "role", "organisation_id", "label", "created_at", "expires_at", "last_used_at", "revoked_at")


def _list_keys(args: argparse.Namespace, settings: Settings) -> None:
    async def every_key(conn: asyncpg.Connection) -> list[ApiKey]:
        await migrate(conn)
        filters = {"organisation_id": args.org and await _organisation(conn, args.org, create=False)}
        found, cursor = [], None
        while True:
            page = await keys.KEYS.page(conn, filters, cursor, 500)
            found += page.items
            if (cursor := page.next_cursor) is None:
                return found

    with _database(settings) as url:
        found = asyncio.run(_with_connection(url, every_key))
    print("\t".join(_KEY_COLUMNS))
    for key in found:
        print("\t".join(_cell(getattr(key, column)) for column in _KEY_COLUMNS))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def _revoke_key(args: argparse.Namespace, settings: Settings) -> None:
    async def revoke(conn: asyncpg.Connection) -> ApiKey:
        await migrate(conn)
        return await keys.revoke(conn, None, args.key_id)

    with _database(settings) as url:
        try:
            key = asyncio.run(_with_connection(url, revoke))
        except ProblemError as refused:
            sys.exit(f"abri: {refused.detail}")
    print(f"Key {key.id} is revoked since {_cell(key.revoked_at)}.")


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_PURGE_DAYS:
        raise argparse.ArgumentTypeError(f"expected whole days from 1 to {MAX_PURGE_DAYS}, got {value!r}")
    return days


def _purge(args: argparse.Namespace, settings: Settings) -> None:
    days = args.older_than

    async def run(conn: asyncpg.Connection) -> int:
        await migrate(conn)
        return await purge(conn, timedelta(days=days))

    with _database(settings) as url:
        count = asyncio.run(_with_connection(url, run))
    print(
        f"Purged {count} referral{'' if count == 1 else 's'} ended more than {days} day{'' if days == 1 else 's'} ago."
    )


def _openapi(args: argparse.Namespace, _: Settings) -> None:
    from service.openapi import write_schema

    write_schema(args.output)
    print(f"Wrote {args.output}")


def _access_matrix(_: argparse.Namespace, __: Settings) -> None:
    from service.access import markdown_table

    print(markdown_table(), end="")
