"""The artefact store: how cmmd_lite writes, verifies, locks and keys everything it keeps on disk.

Model checkpoints, coherence classifiers, pairings and the SVHN stand-in all go through these
few functions, so each guarantee holds everywhere:

* **Keys over what determines an artefact**: :func:`fingerprint` of a JSON-able description
  (the config *and* a digest of the data, :func:`tensor_digest`), so other data never loads a
  model trained on something else.
* **Atomic writes with unique temporary names**: :func:`write_bytes` writes a fresh
  ``mkstemp`` file beside the target, syncs it and renames it over the target; a crash or a full
  disk leaves the old file (or none), never half of one, and two writers never share a temporary.
* **Integrity**: :func:`save_tensors` prefixes torch's bytes with a magic line and their SHA-256;
  :func:`load_tensors` verifies it before ``torch.load(weights_only=True)`` sees a byte.
  (Files written before this format -- plain ``torch.save`` output -- still load, unverified.)
* **One writer per artefact**: :func:`locked` holds an exclusive ``flock`` on ``<folder>/.lock``;
  a second run of the same config waits, then finds the finished artefact instead of training it
  again. A folder that cannot be written (a read-only cache) is used without a lock, read only.
* **Clear storage errors**: a full or read-only disk raises :class:`StorageError`, which names
  the path, the cause and the fix, after removing the temporary file.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

_MAGIC = b"CMMD-LITE-ARTEFACT v1 sha256="
_DIGEST_HEX = 64


class ArtefactError(ValueError):
    """An artefact cannot be used: corrupted, from another config or data, or unreadable."""


class StorageError(OSError):
    """The store cannot write: the disk is full, or the folder is read-only or not permitted."""


def fingerprint(description: Any, length: int = 12) -> str:
    """A short SHA-256 of ``description`` as canonical JSON (sorted keys)."""
    text = json.dumps(description, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# id(tensor) -> (its version counter when hashed, digest); an entry leaves with its tensor
_TENSOR_DIGESTS: dict[int, tuple[int, str]] = {}


def tensor_digest(tensors: Iterable[torch.Tensor]) -> str:
    """SHA-256 over the dtype, shape and bytes of each tensor, in order. Each tensor's own digest
    is remembered while it lives and is not modified in place (its version counter), so the base
    images shared by several splits are hashed once."""
    total = hashlib.sha256()
    for tensor in tensors:
        remembered = _TENSOR_DIGESTS.get(id(tensor))
        if remembered is not None and remembered[0] == tensor._version:
            own = remembered[1]
        else:
            part = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            data = tensor.detach().cpu().contiguous()
            part.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
            own = part.hexdigest()
            if remembered is None:
                weakref.finalize(tensor, _TENSOR_DIGESTS.pop, id(tensor), None)
            _TENSOR_DIGESTS[id(tensor)] = (tensor._version, own)
        total.update(own.encode())
    return total.hexdigest()


# --- writing ----------------------------------------------------------------------------------

def _storage_error(path: Path, error: OSError) -> StorageError:
    if error.errno == errno.ENOSPC or error.errno == errno.EDQUOT:
        cause = "the disk is full"
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        cause = "the folder is read-only or not writable by this user"
    else:
        cause = f"{type(error).__name__}: {error}"
    return StorageError(error.errno or 0,
                        f"cannot write {path}: {cause}. Nothing was left half-written. Free some space, or "
                        "point CMMD_CACHE_DIR at a writable folder with room (finished artefacts in a "
                        "read-only cache can still be loaded).", str(path))


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temporary file, fsync, rename)."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as error:
        raise _storage_error(path, error) from error
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_json(path: Path | str, obj: Any, *, compact: bool = False) -> None:
    """``obj`` as indented JSON (``compact``: no spaces at all), atomically."""
    text = json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=1)
    write_bytes(path, (text + "\n").encode())


def read_json(path: Path | str) -> Any:
    """The JSON in ``path``; ArtefactError naming the file when it is missing or not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtefactError(f"cannot read {path} ({type(error).__name__}: {error}); move the folder "
                            f"{path.parent} away (or pass retrain=True) to rebuild it.") from error


def save_tensors(path: Path | str, obj: Any) -> int:
    """``torch.save(obj)`` with a checksum header, written atomically; returns the bytes written."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    data = _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    write_bytes(path, data)
    return len(data)


def load_tensors(path: Path | str, device: torch.device | str | None = None) -> Any:
    """What :func:`save_tensors` wrote, after checking its SHA-256; ``weights_only`` loading."""
    path = Path(path)
    advice = f"Move {path.parent} away (or pass retrain=True) to rebuild it."
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ArtefactError(f"cannot read {path} ({type(error).__name__}: {error}). {advice}") from error
    if data.startswith(_MAGIC):
        header_end = len(_MAGIC) + _DIGEST_HEX
        expected, payload = data[len(_MAGIC):header_end].decode("ascii", "replace"), data[header_end + 1:]
        if hashlib.sha256(payload).hexdigest() != expected:
            raise ArtefactError(f"{path} is corrupted: its SHA-256 does not match the one written with it. {advice}")
    else:  # written by cmmd_lite before checksums: loads unverified
        payload = data
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable payload gets the same advice
        raise ArtefactError(f"cannot read {path} ({type(error).__name__}: {error}); it is not a cmmd_lite "
                            f"artefact. {advice}") from error


# --- one writer per artefact ------------------------------------------------------------------

@contextlib.contextmanager
def locked(folder: Path | str, *, what: str = "this artefact") -> Iterator[bool]:
    """Hold the exclusive lock of ``folder`` (created if needed); yields True.

    A second process asking for the same lock waits (saying so once) until the first releases
    it. Where the lock file cannot be created (a read-only cache) it yields False without
    locking: the caller may then only read.
    """
    import fcntl

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a+")
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC):
            yield False
            return
        raise _storage_error(folder / ".lock", error) from error
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"cmmd_lite: another process is building {what} in {folder}; waiting for it to finish.",
                  file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
