"""Create, read, update and list for the plain resource tables.

Resources whose columns match their response Struct's fields share this code; table
and column names come from our own code, never from a request. Queries with real
logic (availability, occupancy) are written out in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from contracts.common import Page
from service.audit.record import record
from service.auth import Caller
from service.http import etag
from service.pagination import decode_cursor, encode_cursor
from service.problems import ProblemError

_SERVER_SET = ("id", "version", "created_at", "updated_at")


@dataclass(frozen=True)
class Table:
    name: str
    read: type[msgspec.Struct]
    what: str  # singular noun for messages: "facility"
    subject: str  # audit subject type: "facility"
    _types: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def columns(self) -> str:
        return ", ".join(self.read.__struct_fields__)

    def to_struct(self, row: asyncpg.Record) -> Any:
        return msgspec.convert(dict(row), self.read, from_attributes=False)

    async def insert(self, conn: asyncpg.Connection, actor: Caller, values: dict[str, Any]) -> Any:
        (created,) = await self.insert_many(conn, actor, [values])
        return created

    async def insert_many(self, conn: asyncpg.Connection, actor: Caller, rows: list[dict[str, Any]]) -> list[Any]:
        """Insert rows of identical keys in one statement (unnest of arrays), audited, all or none."""
        names = list(rows[0])
        types = await self._column_types(conn)
        arrays = ", ".join(f"${i}::{types[n]}[]" for i, n in enumerate(names, start=1))
        async with conn.transaction():
            records = await conn.fetch(
                f"INSERT INTO {self.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) RETURNING {self.columns}",
                *([r[n] for r in rows] for n in names),
            )
            await record(conn, actor, "created", self.subject, [r["id"] for r in records], rows)
        return [self.to_struct(r) for r in records]

    async def _column_types(self, conn: asyncpg.Connection) -> dict[str, str]:
        """The table's column types, read from the catalog once per process (they change
        only with a migration, which restarts the service)."""
        if not self._types:
            rows = await conn.fetch(
                "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                self.name,
            )
            self._types.update((r["attname"], r["type"]) for r in rows)
        return self._types

    async def get(self, conn: asyncpg.Connection, id_: UUID) -> Any:
        row = await conn.fetchrow(f"SELECT {self.columns} FROM {self.name} WHERE id = $1", id_)
        if row is None:
            raise ProblemError(404, f"No such {self.what}", detail=f"No {self.what} has id {id_}.")
        return self.to_struct(row)

    async def update(
        self,
        conn: asyncpg.Connection,
        actor: Caller,
        id_: UUID,
        changes: dict[str, Any],
        if_versions: list[int] | None,
    ) -> Any:
        """Apply `changes` if the stored version is one of `if_versions` (any when None).

        The version check is in the UPDATE itself, so two writers cannot both pass it.
        An empty change is a no-op: the version does not move.
        """
        if any(name in _SERVER_SET for name in changes):
            raise ValueError(f"server-set columns cannot be changed: {sorted(changes)}")
        assignments = [f"{name} = ${i}" for i, name in enumerate(changes, start=3)]
        async with conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE {self.name} SET {', '.join([*assignments, 'version = version + 1', 'updated_at = now()'])} "
                f"WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2)) RETURNING {self.columns}"
                if changes
                else f"SELECT {self.columns} FROM {self.name} WHERE id = $1 AND ($2::int[] IS NULL OR version = ANY($2))",  # noqa: E501
                id_,
                if_versions,
                *changes.values(),
            )
            if row is not None and changes:
                await record(conn, actor, "updated", self.subject, [id_], [changes])
        if row is None:
            current = await self.get(conn, id_)  # 404 when it does not exist
            raise ProblemError(
                412,
                "Precondition failed",
                detail=f"The {self.what} has changed since you read it; fetch it again.",
                headers={"ETag": etag(current.version)},
            )
        return self.to_struct(row)

    async def page(
        self, conn: asyncpg.Connection, filters: dict[str, Any], cursor: str | None, limit: int
    ) -> Page[Any]:
        """A page in id order (uuidv7: creation order). `filters` maps a column, or an
        expression with `{}` for the value, to a value; None values are ignored."""
        conditions, args = [], []
        for expression, value in filters.items():
            if value is None:
                continue
            args.append(value)
            placeholder = f"${len(args)}"
            conditions.append(expression.format(placeholder) if "{}" in expression else f"{expression} = {placeholder}")
        if cursor is not None:
            (after,) = decode_cursor(cursor, tuple[UUID])
            args.append(after)
            conditions.append(f"id > ${len(args)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        args.append(limit + 1)
        rows = await conn.fetch(f"SELECT {self.columns} FROM {self.name} {where} ORDER BY id LIMIT ${len(args)}", *args)
        items = [self.to_struct(r) for r in rows[:limit]]
        next_cursor = encode_cursor(str(items[-1].id)) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)
