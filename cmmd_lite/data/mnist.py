"""MNIST from the official gzip-compressed idx files."""
from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .files import CorruptDataError, PathLike, RemoteFile, locate, memoized, split_entry

_URL_BASES = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_SUBDIRS = ("MNIST/raw", "MNIST", "")


def _mnist_file(name: str, md5: str) -> RemoteFile:
    return RemoteFile(name, md5, tuple(base + name for base in _URL_BASES), _SUBDIRS)


#: split -> (images file, labels file), with the official md5s.
MNIST_FILES: dict[str, tuple[RemoteFile, RemoteFile]] = {
    "train": (
        _mnist_file("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        _mnist_file("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    ),
    "test": (
        _mnist_file("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        _mnist_file("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
}

# idx type code -> big-endian numpy dtype
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_IMAGE_SHAPE = (28, 28)

_memo: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def read_idx(path: PathLike) -> np.ndarray:
    """The array stored in an idx file (gzip-compressed or plain), in native byte order.

    Raises CorruptDataError naming the file and the problem (bad gzip, bad magic, unknown
    type code, truncated, extra bytes)."""
    def corrupt(problem: str) -> CorruptDataError:
        return CorruptDataError(f"{path}: {problem}; replace it with the official file")

    raw = Path(path).read_bytes()
    if raw.startswith(_GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise corrupt(f"bad gzip data ({error})") from error
    if len(raw) < 4:
        raise corrupt(f"truncated: {len(raw)} bytes, shorter than the 4-byte idx magic number")
    if raw[:2] != b"\x00\x00":
        raise corrupt(f"bad idx magic number 0x{raw[:4].hex()} (must start with 0x0000)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise corrupt(f"unknown idx type code 0x{type_code:02x} (known: {[hex(c) for c in _IDX_DTYPES]})")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise corrupt(f"truncated header: {len(raw)} bytes, {ndim} dims need {header_size}")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise corrupt(f"truncated: {len(raw)} bytes, header shape {shape} of {dtype} needs {expected}")
    if len(raw) > expected:
        raise corrupt(f"{len(raw) - expected} extra bytes after the {expected} bytes that header shape {shape} needs")
    array = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an idx file (gzip-compressed if ``path`` ends with .gz)."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes or array.ndim > 255:
        raise ValueError(f"cannot store dtype {array.dtype} with {array.ndim} dims in an idx file")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, _IDX_DTYPES[code]).tobytes()
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(payload)


def _read_mnist_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
        raise CorruptDataError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise CorruptDataError(f"{labels_path}: expected uint8 labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise CorruptDataError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise CorruptDataError(f"{labels_path}: label {labels.max()} is outside 0..9")
    return images, labels


def load_mnist(
    split: str,
    *,
    data_dirs: Sequence[PathLike] | None = None,
    cache: PathLike | None = None,
    download: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ("train" or "test") as read-only uint8 images (N, 28, 28) and labels (N,).

    Files are found by :func:`cmmd_lite.data.files.locate` (same keyword arguments) and
    read once per process; ``.copy()`` the arrays to modify them."""
    remotes = split_entry(MNIST_FILES, split, "MNIST")
    files = [locate(remote, data_dirs=data_dirs, cache=cache, download=download) for remote in remotes]
    return memoized(_memo, files, lambda: _read_mnist_pair(*files))
