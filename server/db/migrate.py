from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import server


def migrations_dir() -> Path:
    """The alembic scripts: inside the installed wheel, or at the top of a checkout."""
    packaged = Path(server.__file__).parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(server.__file__).parent.parent / "migrations"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave out of model comparison what migrations build by hand: the search indexes."""
    if name is None:
        return True
    if type_ == "table":
        return "_fts" not in name
    return not (type_ == "index" and name.endswith("_search"))


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
