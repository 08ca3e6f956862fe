"""Test session setup: an empty cache, no downloads, and the local MNIST mirror when present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _mnist_available() -> bool:
    from cmmd_lite.data.files import MissingDataError
    from cmmd_lite.data.mnist import load_mnist
    try:
        load_mnist("test")
        return True
    except MissingDataError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    cache = config._tmp_path_factory.mktemp("cmmd-cache") if hasattr(config, "_tmp_path_factory") else None
    os.environ["CMMD_CACHE_DIR"] = str(cache or Path(os.environ.get("TMPDIR", "/tmp")) / f"cmmd-test-cache-{os.getpid()}")
    os.environ["CMMD_OFFLINE"] = "1"
    if not os.environ.get("CMMD_DATA_DIR") and SHARED_DATA.is_dir():
        os.environ["CMMD_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test runs torch on one thread: the models and batches of the tests are tiny, and two
    OpenMP threads on a busy 2-core machine run them several times (up to 50x) slower; and the
    real-MNIST run's threshold was measured on one thread."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_mnist() -> None:
    """Skip unless real MNIST can be read (set CMMD_DATA_DIR to a folder holding MNIST/raw)."""
    if not _mnist_available():
        pytest.skip("real MNIST not found: set CMMD_DATA_DIR to a folder with MNIST/raw/*.gz")
