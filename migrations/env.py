from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import server.db.models  # noqa: F401  (fills the metadata)
from server.config import load_settings
from server.db.base import metadata
from server.db.engine import make_engine
from server.db.migrate import include_name

config = context.config


def _engine() -> Engine:
    given = config.attributes.get("engine")
    if isinstance(given, Engine):
        return given
    return make_engine(load_settings().resolved_database_url)


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
