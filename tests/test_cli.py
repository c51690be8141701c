from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from server.cli import main
from tests.conftest import fresh_database_url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli_env(dialect: str, tmp_path: Path) -> dict[str, str]:
    return {
        "SPYGLASS_DATA_DIR": str(tmp_path / "data"),
        "SPYGLASS_DATABASE_URL": fresh_database_url(dialect, tmp_path, "cli"),
    }


@contextmanager
def serving(cli_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`spyglass serve` in a subprocess, as a user runs it; yields (base URL, what it printed)."""
    port = free_port()
    env = {**os.environ, **cli_env, "SPYGLASS_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(
            "Uvicorn running" in line or "Application startup complete" in line for line in lines
        ):
            line = proc.stdout.readline()
            assert line, "server exited: " + "".join(lines)
            lines.append(line)
        yield base, "".join(lines)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_serve_prints_the_url_and_first_keys_and_they_work(cli_env: dict[str, str]) -> None:
    with serving(cli_env) as (base, out):
        assert f"Open {base}" in out
        public = re.search(r"LANGFUSE_PUBLIC_KEY=(pk-lf-\S+)", out)
        secret = re.search(r"LANGFUSE_SECRET_KEY=(sk-lf-\S+)", out)
        assert public and secret, out
        auth = (public[1], secret[1])
        projects = httpx.get(f"{base}/api/public/projects", auth=auth).json()
        assert projects["data"][0]["name"] == "default"
        batch = {
            "batch": [
                {
                    "id": "e1",
                    "type": "trace-create",
                    "timestamp": "2026-11-28T10:00:00Z",
                    "body": {"id": "t1", "name": "first trace"},
                }
            ]
        }
        assert httpx.post(f"{base}/api/public/ingestion", json=batch, auth=auth).status_code == 207
        assert httpx.get(f"{base}/api/public/traces/t1", auth=auth).json()["name"] == "first trace"
        email = re.search(r"email: +(\S+)", out)
        password = re.search(r"password: +(\S+)", out)
        assert email and password, out
        assert f"sign in at {base}/login" in out
        with httpx.Client(base_url=base) as browser:
            assert browser.get("/").headers["location"].startswith("/login")
            form = browser.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert csrf
            signed = browser.post(
                "/login",
                data={"email": email[1], "password": password[1], "csrf_token": csrf[1]},
            )
            assert signed.status_code == 303
            landing = browser.get("/")
            assert landing.status_code == 303
            assert re.fullmatch(r"/project/[0-9a-f-]+/traces", landing.headers["location"])
    with serving(cli_env) as (_, second):
        # Keys and the first password are printed once, at the first start.
        assert "LANGFUSE_SECRET_KEY" not in second and "password:" not in second


def test_a_project_name_is_unique(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=cli_env).exit_code == 0
    first = runner.invoke(main, ["projects", "create", "shop"], env=cli_env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["projects", "create", "shop"], env=cli_env)
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_projects_and_keys_commands(cli_env: dict[str, str]) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["projects", "create", "shop"], env=cli_env)
    assert created.exit_code == 0, created.output
    listed = runner.invoke(main, ["projects", "list"], env=cli_env)
    assert "shop" in listed.output

    made = runner.invoke(main, ["keys", "create", "--project", "shop", "--note", "ci"], env=cli_env)
    assert made.exit_code == 0, made.output
    public_key = re.search(r"public key: (\S+)", made.output)[1]  # type: ignore[index]
    secret = re.search(r"secret key: (\S+)", made.output)[1]  # type: ignore[index]
    keys = runner.invoke(main, ["keys", "list", "--project", "shop"], env=cli_env).output
    assert public_key in keys and "active" in keys and secret not in keys
    assert secret[-4:] in keys

    revoked = runner.invoke(main, ["keys", "revoke", public_key], env=cli_env)
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(main, ["keys", "list"], env=cli_env).output
    missing = runner.invoke(main, ["keys", "create", "--project", "nope"], env=cli_env)
    assert missing.exit_code != 0 and "no project named" in missing.output


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["projects"],
        ["projects", "create"],
        ["projects", "list"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["users"],
        ["users", "create"],
        ["users", "list"],
        ["users", "set-password"],
        ["costs"],
        ["costs", "recompute"],
        ["metrics"],
        ["metrics", "rebuild"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SPYGLASS_PORT": "not-a-port"}, "SPYGLASS_PORT"),
        ({"SPYGLASS_DATABASE_URL": "mysql://x"}, "SPYGLASS_DATABASE_URL"),
        ({"SPYGLASS_INIT_PROJECT": "p", "SPYGLASS_INIT_PUBLIC_KEY": "pk-lf-1"}, "go together"),
    ],
)
def test_invalid_settings_fail_with_one_line(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    full_env = {**os.environ, "SPYGLASS_DATA_DIR": str(tmp_path), **env}
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_fails_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "SPYGLASS_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = subprocess.run(
        [sys.executable, "-m", "server", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot use the database" in result.stderr


def test_init_settings_create_the_project_and_key_headlessly(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "SPYGLASS_INIT_PROJECT": "ci",
        "SPYGLASS_INIT_PUBLIC_KEY": "pk-lf-ci",
        "SPYGLASS_INIT_SECRET_KEY": "sk-lf-ci-secret",
    }
    from server.bootstrap import prepare_database
    from server.config import load_settings
    from server.db.engine import make_engine

    settings = load_settings(**{k.removeprefix("SPYGLASS_").lower(): v for k, v in env.items()})
    engine = make_engine(settings.resolved_database_url)
    try:
        assert prepare_database(engine, settings).keys is None  # nothing to print: keys given
        assert prepare_database(engine, settings).keys is None  # idempotent
    finally:
        engine.dispose()
    listed = CliRunner().invoke(main, ["keys", "list", "--project", "ci"], env=env).output
    assert listed.count("pk-lf-ci") == 1


class TestUsersCommands:
    def test_create_prints_a_generated_password_once_and_the_user_can_sign_in(
        self, cli_env: dict[str, str]
    ) -> None:
        runner = CliRunner()
        assert runner.invoke(main, ["projects", "create", "shop"], env=cli_env).exit_code == 0
        made = runner.invoke(
            main,
            [
                "users",
                "create",
                "--email",
                "Ada@Example.com",
                "--project",
                "shop",
                "--role",
                "viewer",
            ],
            env=cli_env,
        )
        assert made.exit_code == 0, made.output
        assert "viewer of: shop" in made.output
        password = re.search(r"password: (\S+)", made.output)
        assert password
        listed = runner.invoke(main, ["users", "list"], env=cli_env).output
        assert "ada@example.com" in listed and "shop (viewer)" in listed
        assert password[1] not in listed

        from sqlalchemy.orm import Session

        from server.config import load_settings
        from server.db.engine import make_engine
        from server.users import queries as users

        settings = load_settings(
            **{k.removeprefix("SPYGLASS_").lower(): v for k, v in cli_env.items()}
        )
        engine = make_engine(settings.resolved_database_url)
        try:
            with Session(engine) as session:
                assert users.authenticate(session, "ada@example.com", password[1]) is not None
                assert users.authenticate(session, "ada@example.com", "wrong password") is None
        finally:
            engine.dispose()

    def test_a_duplicate_email_a_short_password_and_an_unknown_project_are_refused(
        self, cli_env: dict[str, str]
    ) -> None:
        runner = CliRunner()
        ok = runner.invoke(
            main, ["users", "create", "--email", "a@b.io", "--password", "12345678"], env=cli_env
        )
        assert ok.exit_code == 0, ok.output
        again = runner.invoke(main, ["users", "create", "--email", "A@B.io"], env=cli_env)
        assert again.exit_code != 0 and "already exists" in again.output
        short = runner.invoke(
            main, ["users", "create", "--email", "c@b.io", "--password", "short"], env=cli_env
        )
        assert short.exit_code != 0 and "at least 8" in short.output
        nowhere = runner.invoke(
            main, ["users", "create", "--email", "d@b.io", "--project", "nope"], env=cli_env
        )
        assert nowhere.exit_code != 0 and "no project named" in nowhere.output
        bad = runner.invoke(main, ["users", "create", "--email", "not-an-email"], env=cli_env)
        assert bad.exit_code != 0 and "not an email" in bad.output

    def test_set_password_replaces_the_old_one(self, cli_env: dict[str, str]) -> None:
        runner = CliRunner()
        runner.invoke(
            main, ["users", "create", "--email", "e@b.io", "--password", "first-pass"], env=cli_env
        )
        changed = runner.invoke(
            main,
            ["users", "set-password", "e@b.io"],
            input="second-pass\nsecond-pass\n",
            env=cli_env,
        )
        assert changed.exit_code == 0, changed.output
        missing = runner.invoke(
            main, ["users", "set-password", "x@b.io", "--password", "whatever1"], env=cli_env
        )
        assert missing.exit_code != 0 and "no user" in missing.output

    def test_init_user_settings_create_the_first_user_headlessly(
        self, cli_env: dict[str, str]
    ) -> None:
        env = {
            **cli_env,
            "SPYGLASS_INIT_USER_EMAIL": "ops@corp.io",
            "SPYGLASS_INIT_USER_PASSWORD": "s3cret-pass",
        }
        with serving(env) as (_, out):
            assert "password:" not in out  # it was given, so nothing secret is printed
        listed = CliRunner().invoke(main, ["users", "list"], env=env).output
        assert "ops@corp.io" in listed and "default (owner)" in listed
        assert "admin@spyglass.local" not in listed

    def test_a_project_created_later_is_owned_by_the_first_user(
        self, cli_env: dict[str, str]
    ) -> None:
        runner = CliRunner()
        runner.invoke(
            main,
            ["users", "create", "--email", "first@b.io", "--password", "12345678"],
            env=cli_env,
        )
        runner.invoke(
            main,
            ["users", "create", "--email", "second@b.io", "--password", "12345678"],
            env=cli_env,
        )
        runner.invoke(main, ["projects", "create", "late", "--owner", "second@b.io"], env=cli_env)
        runner.invoke(main, ["projects", "create", "later"], env=cli_env)
        listed = runner.invoke(main, ["users", "list"], env=cli_env).output
        second = next(line for line in listed.splitlines() if line.startswith("second@b.io"))
        first = next(line for line in listed.splitlines() if line.startswith("first@b.io"))
        assert "late (owner)" in second and "later" not in second
        assert "later (owner)" in first


def test_metrics_rebuild_builds_the_closed_hours_and_then_has_nothing_to_do(
    cli_env: dict[str, str],
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from server.config import load_settings
    from server.db.engine import make_engine
    from server.db.models import metric_hours
    from server.metrics.rollups import dirty_table, mark

    runner = CliRunner()
    assert runner.invoke(main, ["projects", "create", "shop"], env=cli_env).exit_code == 0
    settings = load_settings(**{k.removeprefix("SPYGLASS_").lower(): v for k, v in cli_env.items()})
    engine = make_engine(settings.resolved_database_url)
    try:
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
        with engine.begin() as conn:
            mark(conn, [("no-such-project", hour)])
        built = runner.invoke(main, ["metrics", "rebuild"], env=cli_env)
        assert built.exit_code == 0, built.output
        assert "rebuilding 1 hours" in built.output and "1 hours rebuilt" in built.output
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(dirty_table())) == 0
            assert session.scalar(select(func.count()).select_from(metric_hours)) == 0
        again = runner.invoke(main, ["metrics", "rebuild"], env=cli_env)
        assert "every closed hour is up to date" in again.output
    finally:
        engine.dispose()
