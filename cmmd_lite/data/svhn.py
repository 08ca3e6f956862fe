"""SVHN (cropped digits) from the official MATLAB v5 files ``{train,test}_32x32.mat``."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.io

from .files import CorruptDataError, PathLike, RemoteFile, locate, memoized, split_entry

_URL_BASE = "http://ufldl.stanford.edu/housenumbers/"
_SUBDIRS = ("SVHN", "svhn", "")


def _svhn_file(name: str, md5: str) -> RemoteFile:
    return RemoteFile(name, md5, (_URL_BASE + name,), _SUBDIRS)


#: split -> the official file, with its md5.
SVHN_FILES: dict[str, RemoteFile] = {
    "train": _svhn_file("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": _svhn_file("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
}

_PIXELS_SHAPE = (32, 32, 3)  # X is (height, width, channel, N) in the official files
_ZERO_LABEL = 10  # the official files store digit 0 as 10

_memo: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def read_svhn_mat(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 3, 32, 32), channels first, and labels uint8 (N,) in 0..9 from an
    official-format SVHN .mat file (label 10 becomes 0).

    Raises CorruptDataError naming the file and the problem."""
    def corrupt(problem: str) -> CorruptDataError:
        return CorruptDataError(f"{path}: {problem}; replace it with the official SVHN file")

    try:
        content = scipy.io.loadmat(path)
    except Exception as error:  # noqa: BLE001 - scipy raises many types for unreadable files
        raise corrupt(f"not a readable MATLAB v5 file ({type(error).__name__}: {error})") from error
    missing = [key for key in ("X", "y") if key not in content]
    if missing:
        raise corrupt(f"missing variable(s) {missing} (found {sorted(k for k in content if not k.startswith('__'))})")
    pixels, y = content["X"], content["y"]
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[:3] != _PIXELS_SHAPE:
        raise corrupt(f"X must be uint8 of shape (32, 32, 3, N), got {pixels.dtype} {pixels.shape}")
    count = pixels.shape[3]
    if y.shape != (count, 1) or not np.issubdtype(y.dtype, np.integer):
        raise corrupt(f"y must be integers of shape ({count}, 1) to match X, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 1 or y.max() > _ZERO_LABEL):
        raise corrupt(f"labels must be in 1..10, found {y.min()}..{y.max()}")
    images = np.ascontiguousarray(pixels.transpose(3, 2, 0, 1))
    labels = (y[:, 0] % _ZERO_LABEL).astype(np.uint8)
    return images, labels


def write_svhn_mat(path: PathLike, images: np.ndarray, labels: np.ndarray, *, compress: bool = True) -> None:
    """Write images uint8 (N, 3, 32, 32) and labels 0..9 in the official SVHN format:
    X uint8 (32, 32, 3, N), y uint8 (N, 1) with 0 stored as 10, MATLAB v5 (compressed, as the
    official files, unless ``compress=False``: same format, faster to write)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"images must be uint8 of shape (N, 3, 32, 32), got {images.dtype} {images.shape}")
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},) to match images, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"labels must be in 0..9, found {labels.min()}..{labels.max()}")
    pixels = np.ascontiguousarray(images.transpose(2, 3, 1, 0))
    y = np.where(labels == 0, _ZERO_LABEL, labels).astype(np.uint8).reshape(-1, 1)
    scipy.io.savemat(path, {"X": pixels, "y": y}, format="5", do_compression=compress)


def load_svhn_real(
    split: str,
    *,
    data_dirs: Sequence[PathLike] | None = None,
    cache: PathLike | None = None,
    download: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The real SVHN ``split`` ("train" or "test") as read-only uint8 images (N, 3, 32, 32)
    and labels (N,) in 0..9.

    Files are found by :func:`cmmd_lite.data.files.locate` (same keyword arguments) and
    read once per process; ``.copy()`` the arrays to modify them."""
    path = locate(split_entry(SVHN_FILES, split, "SVHN"), data_dirs=data_dirs, cache=cache, download=download)
    return memoized(_memo, [path], lambda: read_svhn_mat(path))
