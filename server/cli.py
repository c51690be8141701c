"""The `spyglass` command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

import server
from server.config import Settings, SettingsError, load_settings
from server.db.engine import make_engine
from server.db.migrate import upgrade_to_head
from server.projects import queries

F = TypeVar("F", bound=Callable[..., Any])


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """An engine on a migrated database; database errors become one-line messages."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, pool_size=2)
    try:
        yield engine
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise click.ClickException(
            f"cannot use the database ({_safe_url(settings)}): {reason}"
        ) from None
    finally:
        engine.dispose()


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine.url import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(server.__version__, prog_name="spyglass")
def main() -> None:
    """Spyglass: self-hosted LLM observability with a Langfuse-compatible API."""


@main.command()
@click.option("--host", help="Bind address (default: SPYGLASS_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: SPYGLASS_PORT or 3000).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database, create a first project and key if there is none, and serve."""
    import uvicorn

    from server.app import create_app
    from server.bootstrap import prepare_database

    settings = _settings(host=host, port=port)
    with _database(settings) as engine:
        first = prepare_database(engine, settings)
    click.echo(f"Spyglass {server.__version__} on {_safe_url(settings)}")
    click.echo(
        f"Open {settings.base_url}  (API: {settings.base_url}/api/public, docs: {settings.base_url}/docs)"
    )
    if first is not None:
        click.echo("")
        click.echo(
            f"Created project {first.project_name!r} with its first API key (shown only this once):"
        )
        click.echo(f"  LANGFUSE_BASE_URL={settings.base_url}")
        click.echo(f"  LANGFUSE_PUBLIC_KEY={first.public_key}")
        click.echo(f"  LANGFUSE_SECRET_KEY={first.secret_key}")
        click.echo("")
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", proxy_headers=True)


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (serve does this too)."""
    settings = _settings()
    with _database(settings) as engine:
        upgrade_to_head(engine)
    click.echo(f"database at {_safe_url(settings)} is up to date")


@contextmanager
def _session() -> Iterator[Session]:
    settings = _settings()
    with _database(settings) as engine:
        upgrade_to_head(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()


@main.group()
def projects() -> None:
    """Create and list projects."""


@projects.command("create")
@click.argument("name")
def projects_create(name: str) -> None:
    """Create project NAME and print its first key pair."""
    with _session() as session:
        try:
            project = queries.create_project(session, name)
        except queries.ProjectExists as exc:
            raise click.ClickException(str(exc)) from None
        key, secret = queries.create_key(session, project, note="created with the project")
    click.echo(f"project {name!r} created ({project.id})")
    click.echo(f"  public key: {key.public_key}")
    click.echo(f"  secret key: {secret}   (shown only this once)")


@projects.command("list")
def projects_list() -> None:
    """List projects."""
    with _session() as session:
        for project in queries.list_projects(session):
            click.echo(f"{project.name}\t{project.id}\tcreated {project.created_at:%Y-%m-%d %H:%M}")


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--project", "project_name", required=True, help="Project name.")
@click.option("--note", help="What the key is for.")
def keys_create(project_name: str, note: str | None) -> None:
    """Create a key pair for a project; the secret is shown only once."""
    with _session() as session:
        project = queries.get_project_by_name(session, project_name)
        if project is None:
            raise click.ClickException(
                f"no project named {project_name!r} (spyglass projects list)"
            )
        key, secret = queries.create_key(session, project, note=note)
    click.echo(f"public key: {key.public_key}")
    click.echo(f"secret key: {secret}   (shown only this once)")


@keys.command("list")
@click.option("--project", "project_name", help="Only this project's keys.")
def keys_list(project_name: str | None) -> None:
    """List keys (public key, secret hint, state)."""
    with _session() as session:
        project = None
        if project_name:
            project = queries.get_project_by_name(session, project_name)
            if project is None:
                raise click.ClickException(f"no project named {project_name!r}")
        names = {p.id: p.name for p in queries.list_projects(session)}
        for key in queries.list_keys(session, project):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(
                f"{key.public_key}\tsecret {key.secret_hint}\t{names.get(key.project_id)}\t{state}\t{key.note or ''}"
            )


@keys.command("revoke")
@click.argument("public_key")
def keys_revoke(public_key: str) -> None:
    """Revoke a key at once: requests with it get 401."""
    with _session() as session:
        key = queries.revoke_key(session, public_key)
        if key is None:
            raise click.ClickException(f"no key {public_key!r}")
    click.echo(f"revoked {public_key}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
