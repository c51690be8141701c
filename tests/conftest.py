"""Every database test runs on SQLite and on PostgreSQL (`--db` picks one).

Each test gets a project of its own (all data is project-scoped), so tests share one migrated
database per dialect and one app, and never see each other's rows.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session

from server.app import create_app
from server.bootstrap import prepare_database
from server.config import Settings, load_settings
from server.db.engine import make_engine
from server.projects import queries

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/spyglass_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql", "all"],
        default=os.environ.get("SPYGLASS_TEST_DB", "all"),
        help="which database the tests run on (default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        dialects = ["sqlite", "postgresql"] if choice == "all" else [choice]
        metafunc.parametrize("dialect", dialects, scope="session")


def postgres_url(suffix: str = "") -> str:
    base = os.environ.get("SPYGLASS_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    url = make_url(base)
    return url.set(database=f"{url.database}{suffix}").render_as_string(hide_password=False)


def recreate_postgres_database(url: str) -> None:
    """Drop and create the test database, so migrations always start from empty."""
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {parsed.host}:{parsed.port} ({exc}). Start it, set "
            "SPYGLASS_TEST_POSTGRES_URL, or run with --db sqlite.",
            returncode=3,
        )


def fresh_database_url(dialect: str, tmp_dir: Any, name: str) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_dir / (name + '.db')}"
    url = postgres_url(f"_{name}")
    recreate_postgres_database(url)
    return url


@pytest.fixture(scope="session")
def settings(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp(f"data-{dialect}")
    url = fresh_database_url(dialect, data_dir, "main")
    return load_settings(data_dir=data_dir, database_url=url, max_body_bytes=1024 * 1024)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url, pool_size=2)
    prepare_database(engine, settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class ProjectKeys:
    id: str
    name: str
    public_key: str
    secret_key: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.public_key, self.secret_key)

    @property
    def headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def make_project(engine: Engine, name: str | None = None) -> ProjectKeys:
    with Session(engine) as session:
        project = queries.create_project(session, name or f"p-{uuid.uuid4().hex[:12]}")
        key, secret = queries.create_key(session, project)
        session.commit()
        return ProjectKeys(project.id, project.name, key.public_key, secret)


@pytest.fixture
def project(engine: Engine) -> ProjectKeys:
    return make_project(engine)


@pytest.fixture
def other_project(engine: Engine) -> ProjectKeys:
    return make_project(engine)
