"""The public surface is exactly what `spyglass.__all__` lists, sorted; everything else is `_private`."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import spyglass

PUBLIC = [
    "ChatPrompt",
    "Observation",
    "Spyglass",
    "TextPrompt",
    "__version__",
    "bind_context",
    "current_observation_id",
    "current_trace_id",
    "get_client",
    "get_prompt",
    "observe",
    "score",
    "start_observation",
    "update_current_observation",
    "update_current_trace",
]


def test_all_is_pinned_and_sorted() -> None:
    assert spyglass.__all__ == PUBLIC
    assert spyglass.__all__ == sorted(spyglass.__all__)


def test_every_export_exists_and_nothing_else_is_public() -> None:
    for name in PUBLIC:
        assert hasattr(spyglass, name), name
    public_attributes = {
        name
        for name in vars(spyglass)
        if not name.startswith("_") and not isinstance(getattr(spyglass, name), type(spyglass))
    }
    assert public_attributes == {n for n in PUBLIC if not n.startswith("_")}


def test_modules_are_private() -> None:
    package = pathlib.Path(spyglass.__file__).parent
    # `spyglass.openai` is the one public submodule (the OpenAI wrapper).
    modules = {p.name for p in package.glob("*.py")} - {"__init__.py", "openai.py"}
    assert modules, "no modules found"
    assert all(name.startswith("_") for name in modules), modules


def test_package_is_typed() -> None:
    assert (pathlib.Path(spyglass.__file__).parent / "py.typed").exists()


def test_import_is_cheap_and_does_not_import_httpx() -> None:
    code = "import sys, spyglass; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
