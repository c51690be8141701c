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
        home = httpx.get(base + "/")
        assert home.status_code == 200 and "Spyglass" in home.text
    with serving(cli_env) as (_, second):
        assert "LANGFUSE_SECRET_KEY" not in second  # keys are printed once, at the first start


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
