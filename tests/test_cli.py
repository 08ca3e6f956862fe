"""The command line, end to end on the real MNIST mirror (smoke profile)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from cmmd_lite.config import config_names


def _run(*args, cwd, env):
    # one torch thread, as in-process tests run (tests/conftest.py): the smoke model is tiny, and two
    # OpenMP threads on a busy 2-core machine run it several times slower
    env = {"OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-m", "cmmd_lite", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_train_then_evaluate(real_mnist, tmp_path):
    env = {**os.environ, "CMMD_CACHE_DIR": str(tmp_path / "cache"), "CMMD_PROFILE": "smoke"}
    flags = ["--config", "mnist2", "--epochs", "1", "--omega", "0.7", "--encoder-hidden", "48", "--quiet"]
    trained = _run("train", *flags, "--json", str(tmp_path / "train.json"), cwd=tmp_path, env=env)
    assert trained.returncode == 0, trained.stderr
    assert "trained: 1 epochs" in trained.stdout and "checkpoint:" in trained.stdout
    assert "test (2-modality MNIST): accuracy" in trained.stdout
    metrics = json.loads((tmp_path / "train.json").read_text())
    assert metrics["config"]["objective"]["omega"] == 0.7 and metrics["config"]["model"]["encoder_hidden"] == [48]
    assert 0.0 <= metrics["metrics"]["accuracy"] <= 1.0 and metrics["metrics"]["n_pairs"] == 512

    evaluated = _run("evaluate", *flags, "--split", "val", cwd=tmp_path, env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "val (2-modality MNIST): accuracy" in evaluated.stdout

    again = _run("train", *flags, cwd=tmp_path, env=env)
    assert "loaded: 1 epochs" in again.stdout

    missing = _run("evaluate", *flags[:-1], "--omega", "0.2", cwd=tmp_path, env=env)
    assert missing.returncode == 2 and "Train it first" in missing.stderr


def test_bad_flag_values_are_reported(tmp_path):
    env = {**os.environ, "CMMD_CACHE_DIR": str(tmp_path / "cache")}
    result = _run("train", "--profile", "smoke", "--omega", "1.5", cwd=tmp_path, env=env)
    assert result.returncode != 0 and "omega=1.5 is out of range" in result.stderr
    listing = _run("configs", cwd=tmp_path, env=env)
    assert listing.returncode == 0 and len(listing.stdout.splitlines()) == len(config_names())
