"""The first code cell of every chapter installs cmmd_lite on Colab, and only there, only when missing."""
import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def install_cell(notebook: Path) -> str:
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    return "".join(cells[0]["source"])


def repository_url() -> str:
    for line in (ROOT / "_config.yml").read_text().splitlines():
        if line.strip().startswith("url:") and "github.com" in line:
            return line.split("url:", 1)[1].strip()
    raise AssertionError("_config.yml names no repository url")


@pytest.mark.parametrize("on_colab,installed,expect_install", [
    (False, False, False),  # a local Jupyter: scripts/setup.sh installed it into .venv
    (True, True, False),    # Colab, second run of the cell: nothing to do
    (True, False, True),    # Colab, fresh runtime: pip install from the book's repository
])
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_first_cell_installs_only_on_a_colab_runtime_without_the_package(
        notebook, on_colab, installed, expect_install, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(args))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (object() if installed else None) if name == "cmmd_lite"
                        else real_find_spec(name, *a))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(install_cell(notebook), str(notebook), "exec"), {})
    assert bool(calls) == expect_install
    if expect_install:
        assert calls[0][:4] == [sys.executable, "-m", "pip", "install"]
        assert any(repository_url() in arg for arg in calls[0])


def test_every_chapter_is_covered():
    assert len(CHAPTERS) >= 8
