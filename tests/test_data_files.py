"""Dataset file location, idx / .mat parsing and the MNIST / SVHN loaders, on tiny files."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from cmmd_lite.data import mnist, svhn
from cmmd_lite.data.files import (
    ChecksumError,
    CorruptDataError,
    MissingDataError,
    RemoteFile,
    locate,
    md5sum,
)
from cmmd_lite.data.mnist import load_mnist, read_idx, write_idx
from cmmd_lite.data.svhn import load_svhn_real, read_svhn_mat, write_svhn_mat

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST_TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def tiny_images(count: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 28, 28), dtype=np.uint8)


def tiny_labels(count: int = 5) -> np.ndarray:
    return (np.arange(count) % 10).astype(np.uint8)


def remote_for(path: Path, subdirs: tuple[str, ...] = ("",), urls: tuple[str, ...] = ()) -> RemoteFile:
    """A RemoteFile whose md5 is that of the file at ``path``."""
    return RemoteFile(path.name, md5sum(path), urls, subdirs)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the user's data dirs, cache and network settings."""
    monkeypatch.delenv("CMMD_DATA_DIR", raising=False)
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("CMMD_OFFLINE", "1")


# --- idx ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["images-idx3-ubyte.gz", "images-idx3-ubyte"])
def test_idx_round_trip(tmp_path: Path, name: str) -> None:
    images, labels = tiny_images(), tiny_labels()
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / f"labels-{name}", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / name), images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"labels-{name}"), labels)
    assert (tmp_path / name).read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")


def test_idx_header_is_official_format(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", tiny_images(3))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:16] == bytes.fromhex("00000803" "00000003" "0000001c" "0000001c")
    assert len(raw) == 16 + 3 * 28 * 28


def test_idx_multibyte_dtype_round_trip(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.0], [3.25, 1e9]], dtype=np.float64)
    write_idx(tmp_path / "f.gz", values)
    restored = read_idx(tmp_path / "f.gz")
    assert restored.dtype == np.float64 and restored.dtype.isnative
    np.testing.assert_array_equal(restored, values)


def _good_idx_bytes() -> bytes:
    return bytes.fromhex("00000801" "00000004") + bytes([1, 2, 3, 4])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (_good_idx_bytes()[:-1], "truncated"),
        (_good_idx_bytes()[:6], "truncated header"),
        (b"\x00\x00", "truncated"),
        (b"\x12\x34" + _good_idx_bytes()[2:], "bad idx magic"),
        (b"\x00\x00\x42\x01" + _good_idx_bytes()[4:], "type code"),
        (_good_idx_bytes() + b"\x00", "extra bytes"),
        (b"\x1f\x8b" + b"not gzip at all", "bad gzip"),
        (gzip.compress(_good_idx_bytes(), mtime=0)[:-6], "bad gzip"),  # mtime 0: the same test id in every
        (gzip.compress(_good_idx_bytes()[:-2], mtime=0), "truncated"),  # process (pytest-xdist's workers)
    ],
)
def test_corrupt_idx_raises(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(CorruptDataError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


# --- SVHN .mat ---------------------------------------------------------------------------

def test_svhn_mat_round_trip_keeps_channels_and_zero_label(tmp_path: Path) -> None:
    images = np.zeros((3, 3, 32, 32), dtype=np.uint8)
    images[1, 2, 5, 7] = 200  # image 1, blue channel, row 5, column 7
    images[2, 0, 31, 0] = 17
    labels = np.array([0, 9, 3], dtype=np.uint8)
    path = tmp_path / "test_32x32.mat"
    write_svhn_mat(path, images, labels)

    stored = scipy.io.loadmat(path)
    assert stored["X"].dtype == np.uint8 and stored["X"].shape == (32, 32, 3, 3)
    assert stored["X"][5, 7, 2, 1] == 200  # official layout: (row, column, channel, index)
    assert stored["y"].dtype == np.uint8 and stored["y"].shape == (3, 1)
    assert stored["y"][:, 0].tolist() == [10, 9, 3]

    restored_images, restored_labels = read_svhn_mat(path)
    assert restored_images.shape == (3, 3, 32, 32) and restored_images.dtype == np.uint8
    np.testing.assert_array_equal(restored_images, images)
    assert restored_labels.dtype == np.uint8 and restored_labels.tolist() == [0, 9, 3]


def _official_mat_variables(count: int = 2) -> dict[str, np.ndarray]:
    return {"X": np.zeros((32, 32, 3, count), np.uint8), "y": np.ones((count, 1), np.uint8)}


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"y": np.ones((2, 1), np.uint8)}, "missing"),
        ({**_official_mat_variables(), "X": np.zeros((32, 32, 3, 2), np.float64)}, "X must be uint8"),
        ({**_official_mat_variables(), "X": np.zeros((3, 32, 32, 2), np.uint8)}, "X must be uint8"),
        ({**_official_mat_variables(), "y": np.ones((3, 1), np.uint8)}, "y must be"),
        ({**_official_mat_variables(), "y": np.zeros((2, 1), np.uint8)}, "1..10"),
        ({**_official_mat_variables(), "y": np.full((2, 1), 11, np.uint8)}, "1..10"),
    ],
)
def test_bad_svhn_mat_raises(tmp_path: Path, variables: dict[str, np.ndarray], problem: str) -> None:
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, variables)
    with pytest.raises(CorruptDataError, match=problem) as info:
        read_svhn_mat(path)
    assert str(path) in str(info.value)


def test_unreadable_svhn_mat_raises(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mat"
    path.write_bytes(b"this is not a MATLAB file" * 10)
    with pytest.raises(CorruptDataError, match="not a readable MATLAB"):
        read_svhn_mat(path)


# --- locate ------------------------------------------------------------------------------

def test_locate_finds_file_in_data_dir_subdir(tmp_path: Path) -> None:
    data_dir, cache = tmp_path / "data", tmp_path / "cache"
    path = data_dir / "MNIST" / "raw" / "f.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"payload")
    remote = remote_for(path, ("MNIST/raw", "MNIST", ""))
    assert locate(remote, data_dirs=[tmp_path / "nowhere", data_dir], cache=cache, download=False) == path
    assert not cache.exists()  # nothing written to the cache
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.gz"]  # nothing written to the data dir


def test_locate_data_dirs_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data" / "f.bin"
    path.parent.mkdir()
    path.write_bytes(b"payload")
    monkeypatch.setenv("CMMD_DATA_DIR", str(tmp_path / "data"))
    assert locate(remote_for(path)) == path


def test_locate_finds_file_in_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = cache / "SVHN" / "test_32x32.mat"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cached payload")
    remote = remote_for(path, ("nope", "SVHN"))
    assert locate(remote, data_dirs=[tmp_path / "empty"], cache=cache, download=False) == path
    assert not list(cache.rglob("*.md5ok"))  # no stamp: every process hashes the file itself


@pytest.mark.parametrize("where", ["data", "cache"])
def test_locate_md5_mismatch_raises_and_leaves_file_untouched(tmp_path: Path, where: str) -> None:
    path = tmp_path / where / "f.bin"
    path.parent.mkdir()
    path.write_bytes(b"the wrong bytes")
    before = path.stat()
    remote = RemoteFile("f.bin", "0" * 32, ("file:///nonexistent/f.bin",))
    with pytest.raises(ChecksumError) as info:
        locate(remote, data_dirs=[tmp_path / "data"], cache=tmp_path / "cache", download=True)
    message = str(info.value)
    assert str(path) in message and "0" * 32 in message and md5sum(path) in message
    assert ("Delete" in message) == (where == "cache")
    assert path.read_bytes() == b"the wrong bytes" and path.stat().st_mtime_ns == before.st_mtime_ns


def test_locate_missing_everywhere_lists_every_path(tmp_path: Path) -> None:
    remote = RemoteFile("f.gz", "0" * 32, ("https://example.invalid/f.gz",), ("MNIST/raw", "MNIST", ""))
    data_dirs, cache = [tmp_path / "a", tmp_path / "b"], tmp_path / "cache"
    with pytest.raises(MissingDataError) as info:
        locate(remote, data_dirs=data_dirs, cache=cache, download=False)
    message = str(info.value)
    for root in [*data_dirs, cache]:
        for subdir in remote.subdirs:
            assert str(root / subdir / "f.gz") in message
    assert "download=False" in message and "CMMD_DATA_DIR" in message and "MNIST/raw/f.gz" in message
    assert isinstance(info.value, FileNotFoundError)


def test_locate_offline_environment_disables_download(tmp_path: Path) -> None:
    url = (tmp_path / "server" / "f.bin").as_uri()
    with pytest.raises(MissingDataError, match="CMMD_OFFLINE=1") as info:
        locate(RemoteFile("f.bin", "0" * 32, (url,)), cache=tmp_path / "cache")
    assert url not in str(info.value)  # never tried


def test_locate_downloads_file_url_into_cache(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    source = server / "f.gz"
    source.write_bytes(b"downloaded payload" * 1000)
    missing_url = (server / "missing.gz").as_uri()
    remote = RemoteFile("f.gz", md5sum(source), (missing_url, source.as_uri()), ("MNIST/raw", ""))
    cache = tmp_path / "cache"

    path = locate(remote, data_dirs=[], cache=cache, download=True)
    assert path == cache / "MNIST" / "raw" / "f.gz"
    assert path.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.gz"]  # no temp file left

    source.unlink()  # now it must come from the cache
    assert locate(remote, data_dirs=[], cache=cache, download=False) == path


def test_failed_download_leaves_nothing_behind(tmp_path: Path) -> None:
    source = tmp_path / "server" / "f.bin"
    source.parent.mkdir()
    source.write_bytes(b"not what was expected")
    bad_url = (tmp_path / "server" / "absent.bin").as_uri()
    remote = RemoteFile("f.bin", "0" * 32, (source.as_uri(), bad_url), ("SVHN",))
    cache = tmp_path / "cache"
    with pytest.raises(MissingDataError) as info:
        locate(remote, data_dirs=[], cache=cache, download=True)
    message = str(info.value)
    assert source.as_uri() in message and "md5 mismatch" in message and bad_url in message
    assert [p for p in cache.rglob("*") if p.is_file()] == []


# --- loaders -----------------------------------------------------------------------------

@pytest.fixture
def tiny_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, np.ndarray, np.ndarray]:
    """A data dir with tiny official-format MNIST train files, registered in MNIST_FILES."""
    images, labels = tiny_images(12), tiny_labels(12)
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    remotes = []
    for official, array in zip(mnist.MNIST_FILES["train"], (images, labels)):
        write_idx(raw / official.name, array)
        remotes.append(RemoteFile(official.name, md5sum(raw / official.name), (), official.subdirs))
    monkeypatch.setitem(mnist.MNIST_FILES, "train", tuple(remotes))
    return tmp_path / "data", images, labels


def test_load_mnist_from_data_dir(tiny_mnist: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    data_dir, images, labels = tiny_mnist
    loaded_images, loaded_labels = load_mnist("train", data_dirs=[data_dir], cache=tmp_path / "cache")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    assert loaded_images.dtype == np.uint8 and loaded_labels.dtype == np.uint8
    assert not loaded_images.flags.writeable  # shared by the memo
    again = load_mnist("train", data_dirs=[data_dir], cache=tmp_path / "cache")
    assert again[0] is loaded_images and again[1] is loaded_labels


def test_load_mnist_rejects_mismatched_counts(tiny_mnist: tuple[Path, np.ndarray, np.ndarray],
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data_dir, _, _ = tiny_mnist
    images_remote, labels_remote = mnist.MNIST_FILES["train"]
    labels_path = data_dir / "MNIST" / "raw" / labels_remote.name
    write_idx(labels_path, tiny_labels(11))
    monkeypatch.setitem(mnist.MNIST_FILES, "train", (images_remote, remote_for(labels_path, labels_remote.subdirs)))
    with pytest.raises(CorruptDataError, match="12 images but .* 11 labels"):
        load_mnist("train", data_dirs=[data_dir], cache=tmp_path / "cache")


def test_load_mnist_rejects_bad_split() -> None:
    with pytest.raises(ValueError, match="'test'.*'train'"):
        load_mnist("validation")


def test_load_svhn_real_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(1).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 1, 2, 9], dtype=np.uint8)
    path = tmp_path / "cache" / "SVHN" / "test_32x32.mat"
    path.parent.mkdir(parents=True)
    write_svhn_mat(path, images, labels)
    monkeypatch.setitem(svhn.SVHN_FILES, "test", remote_for(path, svhn.SVHN_FILES["test"].subdirs))
    loaded_images, loaded_labels = load_svhn_real("test", data_dirs=[], cache=tmp_path / "cache")
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)
    with pytest.raises(ValueError, match="extra"):
        load_svhn_real("extra")


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(), reason="no shared MNIST mirror here")
def test_real_mnist_mirror(tmp_path: Path) -> None:
    images, labels = load_mnist("train", data_dirs=[SHARED_DATA], cache=tmp_path / "cache", download=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TRAIN_LABEL_COUNTS
