"""Every place where SQLite and PostgreSQL need different SQL, each written once.

Nothing outside this module asks which database it is on.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, assert_never

from sqlalchemy import Connection, Table, text
from sqlalchemy.dialects import postgresql, sqlite


class Dialect(enum.Enum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @classmethod
    def of(cls, conn: Connection) -> Dialect:
        return cls(conn.dialect.name)


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, replacing the `update` columns of rows whose `key` already exists.

    Rows are sent as one executemany; callers merge field by field beforehand.
    """
    if not rows:
        return
    dialect = Dialect.of(conn)
    if dialect is Dialect.SQLITE:
        sqlite_stmt = sqlite.insert(table)
        stmt: Any = sqlite_stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={name: sqlite_stmt.excluded[name] for name in update},
        )
    elif dialect is Dialect.POSTGRESQL:
        pg_stmt = postgresql.insert(table)
        stmt = pg_stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={name: pg_stmt.excluded[name] for name in update},
        )
    else:
        assert_never(dialect)
    conn.execute(stmt, list(rows))


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


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
