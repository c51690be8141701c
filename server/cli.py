"""The `spyglass` command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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
from server.users import queries as user_queries

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
        created = prepare_database(engine, settings)
    click.echo(f"Spyglass {server.__version__} on {_safe_url(settings)}")
    click.echo(
        f"Open {settings.base_url}  (API: {settings.base_url}/api/public, docs: {settings.base_url}/docs)"
    )
    if (first := created.keys) is not None:
        click.echo("")
        click.echo(
            f"Created project {first.project_name!r} with its first API key (shown only this once):"
        )
        click.echo(f"  LANGFUSE_BASE_URL={settings.base_url}")
        click.echo(f"  LANGFUSE_PUBLIC_KEY={first.public_key}")
        click.echo(f"  LANGFUSE_SECRET_KEY={first.secret_key}")
    if (user := created.user) is not None:
        click.echo("")
        click.echo("Created the first dashboard user (password shown only this once):")
        click.echo(f"  sign in at {settings.base_url}/login")
        click.echo(f"  email:    {user.email}")
        click.echo(f"  password: {user.password}")
        click.echo("  (change it under Account; add people with: spyglass users create)")
    if created.keys or created.user:
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
@click.option("--owner", help="Email of the dashboard user who owns it (default: the first user).")
def projects_create(name: str, owner: str | None) -> None:
    """Create project NAME and print its first key pair."""
    with _session() as session:
        owner_user = None
        if owner:
            owner_user = user_queries.get_user_by_email(session, owner)
            if owner_user is None:
                raise click.ClickException(f"no user {owner!r} (spyglass users list)")
        try:
            project = queries.create_project(session, name)
        except queries.ProjectExists as exc:
            raise click.ClickException(str(exc)) from None
        owner_user = owner_user or next(
            iter(user_queries.list_users(session, oldest_first=True)), None
        )
        if owner_user is not None:
            user_queries.add_member(session, project, owner_user, user_queries.Role.OWNER)
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


@main.group()
def costs() -> None:
    """Recompute costs after model prices changed."""


@costs.command("recompute")
@click.option("--project", "project_name", required=True, help="Project name.")
@click.option(
    "--from", "start", type=click.DateTime(), help="Start of the range (UTC), e.g. 2026-11-01."
)
@click.option("--to", "end", type=click.DateTime(), help="End of the range (UTC, exclusive).")
def costs_recompute(project_name: str, start: datetime | None, end: datetime | None) -> None:
    """Price observations again with the model definitions in force now.

    Costs that clients sent are never changed. Safe to run while the server ingests.
    """
    from server.pricing.recompute import count_to_recompute, recompute_costs

    start_at = start.replace(tzinfo=UTC) if start else None
    end_at = end.replace(tzinfo=UTC) if end else None
    settings = _settings()
    with _database(settings) as engine:
        upgrade_to_head(engine)
        with Session(engine) as session:
            project = queries.get_project_by_name(session, project_name)
            if project is None:
                raise click.ClickException(f"no project named {project_name!r}")
            project_id = project.id
        total = count_to_recompute(engine, project_id, start_at, end_at)
        if total == 0:
            click.echo("nothing to recompute in that range")
            return
        with click.progressbar(
            length=total, label=f"recomputing {total:,} observations", show_eta=True, show_pos=True
        ) as bar:
            result = recompute_costs(engine, project_id, start_at, end_at, on_batch=bar.update)
    click.echo(
        f"{result.examined:,} observations examined, {result.changed:,} changed; "
        f"{result.priced:,} priced, {result.unpriced:,} unpriced"
    )


@main.group()
def metrics() -> None:
    """Hourly metric rollups behind the metrics page."""


@metrics.command("rebuild")
def metrics_rebuild() -> None:
    """Build the rollups of every closed hour that changed (after an upgrade or a backfill).

    The server also does this lazily after a metrics page read an hour raw; this command
    does all of it now, with a progress bar, so the first long-range page is fast.
    """
    from sqlalchemy import select

    from server.metrics.rollups import HOUR, dirty_table, hour_of, refresh_hours

    settings = _settings()
    with _database(settings) as engine:
        upgrade_to_head(engine)
        d = dirty_table().c
        with engine.connect() as conn:
            cutoff = hour_of(datetime.now(UTC)) - HOUR
            due = [
                (project_id, hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour)
                for project_id, hour in conn.execute(
                    select(d.project_id, d.hour).where(d.hour <= cutoff).order_by(d.hour.desc())
                )
            ]
            conn.rollback()
        if not due:
            click.echo("every closed hour is up to date")
            return
        done = 0
        with click.progressbar(due, label=f"rebuilding {len(due):,} hours", show_pos=True) as bar:
            for item in bar:
                done += refresh_hours(engine, [item])
    click.echo(f"{done:,} hours rebuilt")


@main.group()
def users() -> None:
    """Create dashboard users and give them access to projects."""


@users.command("create")
@click.option("--email", required=True, help="The address they sign in with.")
@click.option("--name", help="Display name.")
@click.option(
    "--password",
    help="Their password (at least 8 characters); a random one is generated and printed if omitted.",
)
@click.option(
    "--project",
    "project_names",
    multiple=True,
    help="Project to give them access to (repeatable; default: every project).",
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in user_queries.Role]),
    default="member",
    show_default=True,
    help="Their role in those projects.",
)
def users_create(
    email: str, name: str | None, password: str | None, project_names: tuple[str, ...], role: str
) -> None:
    """Create a dashboard user and add them to projects."""
    generated = password is None
    password = password or user_queries.new_password()
    with _session() as session:
        chosen = []
        for project_name in project_names:
            project = queries.get_project_by_name(session, project_name)
            if project is None:
                raise click.ClickException(f"no project named {project_name!r}")
            chosen.append(project)
        try:
            user = user_queries.create_user(session, email, password, name=name)
        except user_queries.UserError as exc:
            raise click.ClickException(str(exc)) from None
        for project in chosen or queries.list_projects(session):
            user_queries.add_member(session, project, user, user_queries.Role(role))
        names = [p.name for p in (chosen or queries.list_projects(session))]
    click.echo(f"user {user.email} created, {role} of: {', '.join(names) or '(no project)'}")
    if generated:
        click.echo(f"  password: {password}   (shown only this once)")


@users.command("list")
def users_list() -> None:
    """List dashboard users and their projects."""
    with _session() as session:
        for user in user_queries.list_users(session):
            memberships = ", ".join(
                f"{p.name} ({role})" for p, role in user_queries.projects_of(session, user.id)
            )
            click.echo(f"{user.email}\t{user.name or ''}\t{memberships or '(no project)'}")


@users.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def users_set_password(email: str, password: str) -> None:
    """Set a user's password (signs them out everywhere)."""
    with _session() as session:
        user = user_queries.get_user_by_email(session, email)
        if user is None:
            raise click.ClickException(f"no user {email!r}")
        try:
            user_queries.set_password(session, user, password)
        except user_queries.UserError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"password of {user.email} changed")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
