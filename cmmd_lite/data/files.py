"""Find dataset files: read-only data dirs first, then the cache, then a verified download.

Every file is checked against its official md5. Nothing in a data dir is ever written or
deleted; a cached file is never deleted automatically (errors say how to fix it instead).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

from .. import paths

T = TypeVar("T")
PathLike = str | os.PathLike[str]

_CHUNK = 1 << 20
_DOWNLOAD_TIMEOUT_S = 60


class DataFileError(Exception):
    """Base class of the errors raised while finding or reading dataset files."""


class MissingDataError(DataFileError, FileNotFoundError):
    """A dataset file is in no data dir, not in the cache, and could not be downloaded."""


class ChecksumError(DataFileError, ValueError):
    """A dataset file's md5 is not the official one."""

    def __init__(self, path: PathLike | str, expected: str, actual: str, fix: str) -> None:
        self.path, self.expected, self.actual = str(path), expected, actual
        super().__init__(f"md5 mismatch for {path}: expected {expected}, got {actual}. {fix}")


class CorruptDataError(DataFileError, ValueError):
    """A dataset file's content cannot be parsed."""


@dataclass(frozen=True)
class RemoteFile:
    """A dataset file: its name, official md5, download urls (tried in order) and the
    relative folders it may sit in inside a data dir or the cache (first one: download target)."""

    name: str
    md5: str
    urls: tuple[str, ...]
    subdirs: tuple[str, ...] = ("",)

    def candidates(self, root: Path) -> list[Path]:
        """The paths where this file may sit under ``root``."""
        return [root / subdir / self.name for subdir in self.subdirs]


def md5sum(path: PathLike) -> str:
    """The md5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# (resolved path, size, mtime_ns) -> md5, so a file is hashed once per process.
_md5_memo: dict[tuple[str, int, int], str] = {}


def _file_identity(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _file_md5(path: Path) -> str:
    """md5 of a file, memoized in-process by (path, size, mtime)."""
    key = _file_identity(path)
    if key not in _md5_memo:
        _md5_memo[key] = md5sum(path)
    return _md5_memo[key]


def _check_found(path: Path, remote: RemoteFile, *, in_cache: bool) -> Path:
    # hashed in every process that uses the file (about 0.3 s per 100 MB): a stamp beside a cached
    # file would let bytes changed in place with their size and mtime kept pass unnoticed
    actual = _file_md5(path)
    if actual != remote.md5:
        if in_cache:
            fix = f"Delete that cached copy (rm '{path}') so it is downloaded again, or replace it with the official file."
        else:
            fix = ("That copy is in a read-only data dir (CMMD_DATA_DIR), which cmmd_lite never modifies: "
                   "replace it with the official file or remove it.")
        raise ChecksumError(path, remote.md5, actual, fix)
    return path


def _download(url: str, target: Path, remote: RemoteFile) -> None:
    """Download ``url`` to ``target`` via a temporary file, verify its md5, then rename.

    On any failure no partial file is left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=remote.name, leave=False) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        actual = digest.hexdigest()
        if actual != remote.md5:
            raise ChecksumError(url, remote.md5, actual, "The download was discarded.")
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _md5_memo[_file_identity(target)] = actual


def locate(
    remote: RemoteFile,
    *,
    data_dirs: Sequence[PathLike] | None = None,
    cache: PathLike | None = None,
    download: bool | None = None,
) -> Path:
    """Path of a verified copy of ``remote``.

    Looks in each data dir (default ``paths.data_dirs()``) then the cache (default
    ``paths.cache_dir("data")``), under each of ``remote.subdirs``; else downloads into
    ``cache/<first subdir>/<name>`` unless ``download`` is False (default: not
    ``paths.offline()``). Raises ChecksumError for a copy with the wrong md5 and
    MissingDataError when nothing works.
    """
    explicit_dirs = data_dirs is not None
    dirs = [Path(d).expanduser() for d in data_dirs] if explicit_dirs else paths.data_dirs()
    cache_root = Path(cache).expanduser() if cache is not None else paths.cache_dir("data")

    looked: list[Path] = []
    for in_cache, roots in ((False, dirs), (True, [cache_root])):
        for root in roots:
            for path in remote.candidates(root):
                looked.append(path)
                if path.is_file():
                    return _check_found(path, remote, in_cache=in_cache)

    target = remote.candidates(cache_root)[0]
    failures: list[str] = []
    if download is None:
        download = not paths.offline()
        disabled_reason = f"downloads are disabled by {paths.ENV_OFFLINE}={os.environ.get(paths.ENV_OFFLINE)}"
    else:
        disabled_reason = "downloads are disabled (download=False)"
    if download:
        for url in remote.urls:
            try:
                _download(url, target, remote)
                return target
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                failures.append(f"{url}: {type(error).__name__}: {error}")
    raise MissingDataError(
        _missing_message(remote, looked, failures, None if download else disabled_reason, dirs, explicit_dirs, target)
    )


def _missing_message(
    remote: RemoteFile,
    looked: list[Path],
    failures: list[str],
    disabled_reason: str | None,
    dirs: list[Path],
    explicit_dirs: bool,
    target: Path,
) -> str:
    lines = [f"Dataset file {remote.name!r} (md5 {remote.md5}) was not found.", "Looked at:"]
    if not dirs:
        lines.append("  (no data dirs: " + ("data_dirs is empty)" if explicit_dirs else f"{paths.ENV_DATA_DIR} is not set)"))
    lines += [f"  {path}" for path in dict.fromkeys(looked)]
    if disabled_reason:
        lines.append(f"Not downloaded: {disabled_reason}.")
    else:
        lines.append("Downloads tried:" if failures else "No download urls are known for this file.")
        lines += [f"  {failure}" for failure in failures]
    relative = Path(remote.subdirs[0]) / remote.name
    lines += [
        "To fix, do one of:",
        f"  - set {paths.ENV_DATA_DIR} to a folder holding {relative.as_posix()} (e.g. {paths.ENV_DATA_DIR}=../shared/data);",
        f"  - put the official file at {target};",
        f"  - go online (and unset {paths.ENV_OFFLINE}) so it is downloaded.",
    ]
    return "\n".join(lines)


# --- helpers shared by the dataset loaders ---------------------------------------------

def split_entry(table: Mapping[str, T], split: str, dataset: str) -> T:
    """``table[split]``, or a ValueError naming the allowed splits."""
    try:
        return table[split]
    except KeyError:
        raise ValueError(f"unknown {dataset} split {split!r}; expected one of {sorted(table)}") from None


def memoized(memo: dict[tuple, tuple[np.ndarray, ...]], files: Sequence[Path],
             load: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """``load()``, remembered in ``memo`` for as long as ``files`` are unchanged.

    The arrays are made read-only, since every caller shares them."""
    key = tuple(_file_identity(path) for path in files)
    if key not in memo:
        arrays = load()
        for array in arrays:
            array.flags.writeable = False
        memo[key] = arrays
    return memo[key]
