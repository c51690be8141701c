from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import server.db.models  # noqa: F401
from server.db.base import metadata
from server.db.engine import make_engine
from server.db.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    include_name,
    upgrade_to_head,
)
from tests.conftest import fresh_database_url


def test_migrations_build_the_schema_from_empty_and_match_the_models(
    dialect: str, tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url(dialect, tmp_path, "migrations"))
    try:
        assert current_revision(engine) is None
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"projects", "api_keys", "traces", "observations", "scores"} <= tables
        with engine.connect() as conn:
            drift = compare_metadata(
                MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_name": include_name}
                ),
                metadata,
            )
        assert drift == []
    finally:
        engine.dispose()


def test_migrations_downgrade_to_empty_and_upgrade_again(dialect: str, tmp_path: Path) -> None:
    engine = make_engine(fresh_database_url(dialect, tmp_path, "roundtrip"))
    try:
        upgrade_to_head(engine)
        command.downgrade(alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_to_head(engine)
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    finally:
        engine.dispose()
