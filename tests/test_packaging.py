from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_migrations_templates_and_static_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("spyglass_server-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert migrations
    for name in migrations:
        assert f"server/migrations/versions/{name}" in names
    assert "server/migrations/env.py" in names
    assert "web/templates/base.html" in names
    assert "web/templates/login.html" in names
    assert "web/static/app.css" in names
    assert "web/static/vendor/htmx-2.0.11/htmx.min.js" in names
    assert "web/static/vendor/htmx-2.0.11/LICENSE" in names
    assert "web/static/vendor/uplot-1.6.32/uPlot.iife.min.js" in names
    assert "server/pricing/builtin_models.json" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
