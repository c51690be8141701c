"""Every place where SQLite and PostgreSQL need different SQL, each written once.

Nothing outside this module asks which database it is on.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, assert_never

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    Connection,
    String,
    Table,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from server.db.types import UtcDateTime


class Dialect(enum.Enum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @classmethod
    def of(cls, conn: Connection | Session) -> Dialect:
        bind = conn.get_bind() if isinstance(conn, Session) else conn
        return cls(bind.dialect.name)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, replacing the `update` columns of rows whose `key` already exists.

    This is the ingestion hot path, so it skips SQLAlchemy's per-row parameter processing
    (a third of the writer's time when measured): the statement is compiled once per table
    and dialect, values are converted by one function per column, and the driver's
    executemany gets plain tuples (psycopg pipelines them).
    """
    if not rows:
        return
    dialect = Dialect.of(conn)
    sql, columns, converters = _upsert_plan(dialect, table, tuple(key), tuple(update))
    params = [
        tuple(convert(row[name]) for name, convert in zip(columns, converters, strict=True))
        for row in rows
    ]
    conn.exec_driver_sql(sql, params)


_Converter = Callable[[Any], Any]


@functools.cache
def _upsert_plan(
    dialect: Dialect, table: Table, key: tuple[str, ...], update: tuple[str, ...]
) -> tuple[str, list[str], list[_Converter]]:
    columns = [c.name for c in table.columns]
    converters = [_converter(dialect, column.type) for column in table.columns]
    quoted = ", ".join(f'"{name}"' for name in columns)
    assignments = ", ".join(f'"{name}" = excluded."{name}"' for name in update)
    conflict = ", ".join(f'"{name}"' for name in key)
    if dialect is Dialect.SQLITE:
        placeholders = ", ".join("?" for _ in columns)
    elif dialect is Dialect.POSTGRESQL:
        placeholders = ", ".join(
            "CAST(%s AS jsonb)" if _is_json(column.type) else "%s" for column in table.columns
        )
    else:
        assert_never(dialect)
    sql = (
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders}) '
        f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    )
    return sql, columns, converters


def _is_json(column_type: TypeEngine[Any]) -> bool:
    return isinstance(column_type, JSON)


def _converter(dialect: Dialect, column_type: TypeEngine[Any]) -> _Converter:
    if _is_json(column_type):
        return _json_text
    if isinstance(column_type, UtcDateTime):
        if dialect is Dialect.SQLITE:
            return _sqlite_datetime
        return _utc
    return _same


def _same(value: Any) -> Any:
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """The text form SQLAlchemy's SQLite DATETIME reads and writes (naive UTC, microseconds)."""
    moment = _utc(value)
    if moment is None:
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )


def lock_keys(conn: Connection, keys: Iterable[str]) -> None:
    """Serialise writers touching the same entities until the transaction ends.

    Postgres: transaction-scoped advisory locks, taken in sorted order so two replicas never
    deadlock. SQLite: nothing to do, the write transaction began IMMEDIATE and holds the
    database's single write lock.
    """
    dialect = Dialect.of(conn)
    if dialect is Dialect.SQLITE:
        return
    if dialect is Dialect.POSTGRESQL:
        ids = sorted({_lock_id(k) for k in keys})
        if ids:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k"),
                {"ids": ids},
            )
        return
    assert_never(dialect)


def refresh_statistics(conn: Connection, table: Table) -> None:
    """Let the planner see how big a table has become.

    Postgres plans from statistics that autovacuum refreshes at most once a minute. While a
    table grows from empty, the stale figures make the writer's lookup of existing rows scan
    the whole project (measured: 20 ms instead of 1 ms per 500 ids at 28k rows, and falling
    further behind as the table grows). SQLite picks the primary key for that lookup anyway.
    """
    dialect = Dialect.of(conn)
    if dialect is Dialect.SQLITE:
        # Without statistics SQLite can pick a time index over a far more selective one
        # (measured: 27 s instead of 68 ms for prompt scores, 190 ms instead of 0.1 ms for a
        # session's users, at 1M observations). A sampled ANALYZE (analysis_limit) misjudges
        # rows per project and keeps the bad plan; a full one of 100k traces takes 60 ms, of
        # 1M observations about a second, and runs only each time a table doubles.
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        return
    if dialect is Dialect.POSTGRESQL:
        conn.exec_driver_sql(f'ANALYZE "{table.name}"')
        return
    assert_never(dialect)


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


# Leading characters of each trace input and output that search covers; the indexes built by
# migration 0004 use the same number. Only traces are indexed: indexing every observation's
# text cost 800 µs per span at ingest on SQLite (bench/ingest.py), 4x the rest of the write path.
SEARCH_CHARS = 2000
# Trigram indexes cannot look up anything shorter; shorter terms scan instead.
_MIN_INDEXED_TERM = 3
# Words as SQLite's unicode61 tokenizer sees them: runs of letters and digits.
_WORD = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: a word index cannot find text inside them.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


def search_condition(dialect: Dialect, table: Table, term: str) -> ColumnElement[bool]:
    """Rows of `traces` whose input or output contains `term`, in any case.

    Postgres: ILIKE on the expression that the pg_trgm GIN index covers, written out literally
    so the planner can match it to the index: any substring, in any script.
    SQLite: the FTS5 word index kept by triggers (migration 0004), every word of the term as a
    word or word beginning, in any order (accents and case ignored). A trigram index, which
    finds any substring, cost 2.3 ms per trace at ingest on SQLite against 0.4 ms for words.
    Text in scripts without spaces (Chinese, Japanese, Thai, …) has no words to look up, so
    such terms, and terms of 1–2 characters on Postgres, scan instead (bounded by the page).
    """
    name = table.name
    words = _WORD.findall(term)
    scan = (
        len(term) < _MIN_INDEXED_TERM
        if dialect is Dialect.POSTGRESQL
        else (not words or _UNSPACED.search(term) is not None)
    )
    if scan:
        pattern = "%" + escape_like(term) + "%"
        return or_(
            table.c.input.ilike(pattern, escape="\\"), table.c.output.ilike(pattern, escape="\\")
        )
    if dialect is Dialect.SQLITE:
        # FTS5 query syntax: each word a quoted prefix token ("weath"* finds "weather").
        query = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
        matches: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(text(f"{name}_fts"))
            .where(literal_column(f"{name}_fts").op("MATCH")(literal(query, String)))
        )
        return literal_column(f"{name}.rowid").in_(matches)
    if dialect is Dialect.POSTGRESQL:
        body: ColumnElement[str] = literal_column(
            f"substr(coalesce({name}.input, ''), 1, {SEARCH_CHARS}) || ' ' || "
            f"substr(coalesce({name}.output, ''), 1, {SEARCH_CHARS})"
        )
        return body.ilike("%" + escape_like(term) + "%", escape="\\")
    assert_never(dialect)


def escape_like(term: str) -> str:
    """`term` as literal text inside a LIKE pattern (escape character: backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def json_array_has_any(
    dialect: Dialect, column: ColumnElement[Any], values: Sequence[str]
) -> ColumnElement[bool]:
    """The JSON array in `column` holds at least one of `values` (exact strings).

    Postgres: the `?|` operator, which the GIN index on traces.tags serves. SQLite: json_each.
    """
    if dialect is Dialect.POSTGRESQL:
        return column.op("?|")(cast(list(values), ARRAY(String)))
    if dialect is Dialect.SQLITE:
        element = table_valued_each(column)
        return exists(select(literal(1)).select_from(element).where(element.c.value.in_(values)))
    assert_never(dialect)


def table_valued_each(column: ColumnElement[Any]) -> Any:
    return func.json_each(column).table_valued("value")


def json_object_entries(dialect: Dialect, column: Any) -> tuple[Any, ColumnElement[bool]]:
    """The (key, value) pairs of the JSON object in `column`, as a table to join per row, and
    the condition the rows must meet first: a JSON `null` or array (SQLAlchemy writes Python
    None as JSON null) would make Postgres's function fail. `value` is text on Postgres, the
    JSON value on SQLite: cast it."""
    if dialect is Dialect.POSTGRESQL:
        entries = func.jsonb_each_text(column).table_valued("key", "value")
        return entries, func.jsonb_typeof(column) == "object"
    if dialect is Dialect.SQLITE:
        entries = func.json_each(column).table_valued("key", "value")
        return entries, func.json_type(column) == "object"
    assert_never(dialect)
