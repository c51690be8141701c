from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.url import make_url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        # The ingest writer runs in its own thread; requests read from the threadpool.
        connect_args={"check_same_thread": False},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from pysqlite (which defers it to the first DML statement) so a
        # transaction starts when SQLAlchemy says so, and writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer and the writer never blocks readers, which is
        # what lets the dashboard read while ingestion commits.
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when we answer 2xx. With WAL and grouped writes this costs
        # one fsync per write transaction, not per span.
        cursor.execute("PRAGMA synchronous=FULL")
        # Another process (the CLI, a second server) may hold the write lock for a moment;
        # wait for it instead of failing with "database is locked".
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so the writer's read-merge-write cycle cannot
        # interleave with another process's writes (SQLite's stand-in for row locks).
        if conn.get_execution_options().get("write_lock"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine
