"""The real `langfuse` 2.x SDK, the last line that speaks batch ingestion, against a live server.

The test environment pins langfuse 5.x (OTLP), so 2.x is installed into a folder of its own
(cached by pytest) and the flow runs in a subprocess that imports it from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import Settings
from tests.conftest import ProjectKeys
from tests.live import live_server

LANGFUSE2 = "langfuse==2.60.10"
FLOW = Path(__file__).parent / "compat" / "langfuse2_flow.py"


@pytest.fixture(scope="session")
def langfuse2_path(request: pytest.FixtureRequest) -> Path:
    target = request.config.cache.mkdir("langfuse2") / LANGFUSE2.replace("==", "-")
    if not (target / "langfuse").is_dir():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                LANGFUSE2,
            ],
            check=True,
            timeout=300,
        )
    return target


@pytest.fixture(scope="module")
def base_url(settings: Settings, engine: object) -> Iterator[str]:
    with live_server(settings) as url:
        yield url


def test_a_trace_written_by_the_v2_sdk_reads_back_through_its_strict_models(
    langfuse2_path: Path, base_url: str, project: ProjectKeys
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(langfuse2_path), str(Path(__file__).parent.parent)]),
    }
    completed = subprocess.run(
        [sys.executable, str(FLOW), base_url, project.public_key, project.secret_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    assert result["sdk_version"].startswith("2.")
    assert result["auth_check"] is True
    trace = result["trace"]
    assert (trace["name"], trace["user_id"], trace["session_id"]) == (
        "checkout",
        "user-7",
        "sess-1",
    )
    assert trace["tags"] == ["eu", "prod"]
    assert trace["metadata"] == {"plan": "pro", "region": "eu"}
    assert trace["input"] == {"cart": 3} and trace["output"] == "ordered"
    obs = result["observations"]
    assert set(obs) == {"retrieve", "answer"}
    assert obs["answer"]["type"] == "GENERATION"
    assert obs["answer"]["parent"] == obs["retrieve"]["id"]
    assert obs["answer"]["model"] == "gpt-4o-mini"
    assert obs["answer"]["usage"] == [42, 17]
    assert obs["answer"]["output"] == {"role": "assistant", "content": "These."}
    assert obs["retrieve"]["ended"] is True
    assert result["scores"]["helpfulness"] == {
        "value": 0.75,
        "comment": "good",
        "observation_id": None,
    }
    assert result["scores"]["correct"]["observation_id"] == obs["answer"]["id"]
    assert result["listed"] == [trace["id"]]
    assert result["generations"] == [obs["answer"]["id"]]
    assert result["sessions"] == ["sess-1"]
