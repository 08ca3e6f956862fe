"""Where cmmd_lite reads data and writes its caches.

Three environment variables, read when a function is called (never at import):

* ``CMMD_DATA_DIR``: read-only folders (``os.pathsep``-separated) holding dataset files,
  e.g. ``../shared/data``. Nothing is ever written there.
* ``CMMD_CACHE_DIR``: where downloads, derived data and checkpoints go. Default: the
  ignored ``.cache/`` folder of a source checkout, else ``~/.cache/cmmd_lite``.
* ``CMMD_OFFLINE``: set to ``1`` to never try a download.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "CMMD_DATA_DIR"
ENV_CACHE_DIR = "CMMD_CACHE_DIR"
ENV_OFFLINE = "CMMD_OFFLINE"

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str) -> Path:
    """The cache folder, or a subfolder of it (created if missing and possible: a read-only cache
    is returned as it is, so that finished artefacts in it still load; writing there then fails
    with :class:`cmmd_lite.store.StorageError`)."""
    root = os.environ.get(ENV_CACHE_DIR)
    if root:
        base = Path(root).expanduser()
    elif (_CHECKOUT_ROOT / "pyproject.toml").is_file() and (_CHECKOUT_ROOT / ".git").exists():
        base = _CHECKOUT_ROOT / ".cache"
    else:
        base = Path.home() / ".cache" / "cmmd_lite"
    path = base.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


def data_dirs() -> list[Path]:
    """The read-only data folders named by ``CMMD_DATA_DIR`` (may be empty)."""
    raw = os.environ.get(ENV_DATA_DIR, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def offline() -> bool:
    """True when ``CMMD_OFFLINE`` forbids downloads."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}
