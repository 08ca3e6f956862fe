"""The first code cell of every chapter (written by scripts/sync_chapter_setup.py) sets up Colab,
and only Colab: it installs cmmd_lite when it is missing and, when the reader switches it on,
mounts Google Drive as the cache. Anywhere else it changes nothing."""
import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
DRIVE_CACHE = "/content/drive/MyDrive/cmmd_lite_cache"


def load_sync_script():
    spec = importlib.util.spec_from_file_location("sync_chapter_setup", ROOT / "scripts" / "sync_chapter_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNC = load_sync_script()


def install_cell(notebook: Path) -> str:
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    return "".join(cells[0]["source"])


def run_cell(notebook: Path, *, drive_cache: bool = False) -> None:
    source = install_cell(notebook)
    if drive_cache:
        assert source.count("USE_DRIVE_CACHE = False") == 1
        source = source.replace("USE_DRIVE_CACHE = False", "USE_DRIVE_CACHE = True")
    exec(compile(source, str(notebook), "exec"), {})


@pytest.fixture
def runtime(monkeypatch):
    """Simulates the runtime: ``runtime(on_colab, installed)``; records pip calls and Drive mounts.

    CMMD_CACHE_DIR starts unset and os.environ is restored afterwards (setenv then delenv makes
    monkeypatch remember the original state, so a value the cell sets is removed too)."""
    monkeypatch.setenv("CMMD_CACHE_DIR", "placeholder")
    monkeypatch.delenv("CMMD_CACHE_DIR")
    record = types.SimpleNamespace(pip=[], mounts=[])

    def setup(on_colab: bool, installed: bool, pip_fails: bool = False):
        def fake_run(args, **kwargs):
            record.pip.append(args)
            if pip_fails:
                raise subprocess.CalledProcessError(1, args)

        monkeypatch.setattr(subprocess, "run", fake_run)
        real_find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: (object() if installed else None) if name == "cmmd_lite"
                            else real_find_spec(name, *a))
        if on_colab:
            colab = types.ModuleType("google.colab")
            drive = types.ModuleType("google.colab.drive")
            drive.mount = lambda mountpoint, **kw: record.mounts.append(mountpoint)
            colab.drive = drive
            monkeypatch.setitem(sys.modules, "google.colab", colab)
            monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
        else:
            monkeypatch.delitem(sys.modules, "google.colab", raising=False)
            monkeypatch.delitem(sys.modules, "google.colab.drive", raising=False)
        return record

    return setup


@pytest.mark.parametrize("on_colab,installed,expect_install", [
    (False, False, False),  # a local Jupyter: scripts/setup.sh installed it into .venv
    (True, True, False),    # Colab, second run of the cell: nothing to do
    (True, False, True),    # Colab, fresh runtime: pip install from the book's repository
])
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_first_cell_installs_only_on_a_colab_runtime_without_the_package(
        notebook, on_colab, installed, expect_install, runtime):
    environ = dict(os.environ)
    record = runtime(on_colab, installed)
    run_cell(notebook)
    assert bool(record.pip) == expect_install
    assert record.mounts == [] and dict(os.environ) == environ  # the Drive cache is off by default
    if expect_install:
        assert record.pip == [[sys.executable, "-m", "pip", "install", "-q", SYNC.install_spec()]]


def test_the_install_spec_is_the_repository_url_of_the_book_config_at_the_pin():
    url = SYNC.repository_url()
    assert url == "https://github.com/cmmd-lite/cmmd_lite"  # _config.yml's repository: url:
    assert SYNC.PIN == "v0.1.0"
    assert SYNC.install_spec() == f"cmmd-lite @ git+{url}@{SYNC.PIN}"
    for notebook in CHAPTERS:
        assert f'url, pin = "{url}", "{SYNC.PIN}"' in install_cell(notebook), notebook.name


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_a_failing_pip_says_what_to_publish_and_how_to_install_from_a_clone(notebook, runtime):
    runtime(on_colab=True, installed=False, pip_fails=True)
    with pytest.raises(RuntimeError) as raised:
        run_cell(notebook)
    message = str(raised.value)
    assert f"The install of {SYNC.install_spec()!r} failed" in message
    assert f"published at {SYNC.repository_url()} with the tag {SYNC.PIN}" in message
    assert "README's Colab section" in message
    assert "local clone" in message and "pip install" in message
    assert isinstance(raised.value.__cause__, subprocess.CalledProcessError)


@pytest.mark.parametrize("on_colab,drive_cache,expect_mount", [
    (True, False, False),   # the default: nothing on Drive
    (True, True, True),     # the reader switched the Drive cache on
    (False, True, False),   # not on Colab: the switch does nothing
])
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_drive_cache_is_mounted_only_when_switched_on_on_colab(
        notebook, on_colab, drive_cache, expect_mount, runtime):
    record = runtime(on_colab, installed=True)
    run_cell(notebook, drive_cache=drive_cache)
    assert record.pip == []
    assert record.mounts == (["/content/drive"] if expect_mount else [])
    assert os.environ.get("CMMD_CACHE_DIR") == (DRIVE_CACHE if expect_mount else None)


def test_the_drive_cache_keeps_a_cache_dir_the_reader_set(runtime, monkeypatch):
    monkeypatch.setenv("CMMD_CACHE_DIR", "/content/my_cache")
    record = runtime(on_colab=True, installed=True)
    run_cell(CHAPTERS[0], drive_cache=True)
    assert record.mounts == ["/content/drive"]
    assert os.environ["CMMD_CACHE_DIR"] == "/content/my_cache"


def test_every_chapter_has_the_current_setup_cell(capsys):
    assert SYNC.main(["--check"]) == 0, capsys.readouterr().err
    assert sorted(SYNC.CHAPTERS) == [p.stem for p in CHAPTERS]  # every chapter says what it trains


def test_the_check_names_a_chapter_whose_cell_differs(tmp_path, capsys):
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    for notebook in CHAPTERS[:2]:
        (tmp_path / "book" / notebook.name).write_text(notebook.read_text())
    stale = tmp_path / "book" / CHAPTERS[1].name
    content = json.loads(stale.read_text())
    next(c for c in content["cells"] if c["cell_type"] == "code")["source"] = ["import sys\n"]
    stale.write_text(json.dumps(content, sort_keys=True, indent=1, ensure_ascii=False) + "\n")
    assert SYNC.sync(check=True, root=tmp_path) == [stale]
    assert SYNC.sync(root=tmp_path) == [stale]  # rewrites it ...
    assert SYNC.sync(check=True, root=tmp_path) == []  # ... to the template
    assert stale.read_text() == CHAPTERS[1].read_text()


def test_every_chapter_is_covered():
    assert len(CHAPTERS) >= 8
