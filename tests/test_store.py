"""The artefact store under injected faults: other data, flipped bytes, crashes between writes,
concurrent runs, read-only and full storage, and a retrain that fails (issue cases 1-6, 8)."""
from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import cmmd_lite.store as store
import cmmd_lite.train as train_module
from cmmd_lite import (CheckpointError, Config, NonFiniteLossError, get_config, load_checkpoint, paired_from_arrays,
                       train_or_load)
from cmmd_lite.data import files
from cmmd_lite.store import StorageError, load_tensors, save_tensors, write_bytes

ROOT = Path(__file__).resolve().parents[1]


def _toy_data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 6))
    x_o = centres[y] * 2.0 + rng.normal(size=(n, 6))
    x_m = np.concatenate([centres[y] * 3.0, centres[y][:, ::-1]], axis=1) + 0.3 * rng.normal(size=(n, 12))
    return paired_from_arrays(x_o, x_m, y, seed=0)


def _config(**overrides):
    values = dict(epochs=3, batch_size=32, lr=3e-3, z_dim=4, encoder_hidden=(16,), prior_hidden=(16,),
                  decoder_hidden=(16,), classifier_hidden=(8,), eval_samples=2, ce_reduction="sum")
    values.update(overrides)
    return get_config("mnist2", "smoke", **values)


def _train(cfg, data, root, **kwargs):
    kwargs.setdefault("save_every_s", 0.0)  # the resumable state after every epoch
    return train_or_load(cfg, data=data, checkpoint_root=root, progress=False, device="cpu", **kwargs)


def _same_weights(a, b):
    return all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


# 1. the data is part of the key ---------------------------------------------------------------

def test_other_arrays_of_the_same_shapes_train_their_own_model(tmp_path):
    cfg = _config()
    first = _train(cfg, _toy_data(seed=0), tmp_path)
    other = _train(cfg, _toy_data(seed=1), tmp_path)  # same shapes and name, other values
    assert not other.loaded and other.checkpoint_dir != first.checkpoint_dir
    assert _train(cfg, _toy_data(seed=0), tmp_path).loaded
    with pytest.raises(CheckpointError, match=r"other data \(differs in: digest\)"):
        load_checkpoint(first.checkpoint_dir, cfg, _toy_data(seed=1))


# 2. integrity --------------------------------------------------------------------------------

def test_flipped_bytes_in_the_weights_are_detected(tmp_path):
    cfg, data = _config(), _toy_data()
    result = _train(cfg, data, tmp_path)
    best = result.checkpoint_dir / "best.pt"
    raw = bytearray(best.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    best.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="corrupted: its SHA-256 does not match"):
        _train(cfg, data, tmp_path)


def test_a_cached_data_file_changed_in_place_is_caught_by_the_next_process(tmp_path):
    cache = tmp_path / "cache"
    path = cache / "f.bin"
    path.parent.mkdir()
    path.write_bytes(b"official bytes")
    remote = files.RemoteFile("f.bin", files.md5sum(path), ())
    assert files.locate(remote, data_dirs=[], cache=cache, download=False) == path
    stat = path.stat()
    path.write_bytes(b"tampered bytes")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime
    files._md5_memo.clear()  # a new process
    with pytest.raises(files.ChecksumError):
        files.locate(remote, data_dirs=[], cache=cache, download=False)


def test_save_and_load_tensors_round_trip_and_reject_a_truncated_file(tmp_path):
    path = tmp_path / "a.pt"
    save_tensors(path, {"w": torch.arange(5.0)})
    assert torch.equal(load_tensors(path)["w"], torch.arange(5.0))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="corrupted"):
        load_tensors(path)


# 3. one atomic unit per epoch ----------------------------------------------------------------

@pytest.mark.parametrize("crash_epoch", [1, 2])
def test_a_crash_between_the_writes_of_an_epoch_resumes_to_the_same_result(tmp_path, monkeypatch, crash_epoch):
    cfg, data = _config(), _toy_data()
    straight = _train(cfg, data, tmp_path / "straight")
    real_save, real_json = train_module.save_tensors, train_module.write_json
    calls = {"state": 0}

    def save_then_crash(path, obj):  # state.pt of the crash epoch is written, then the process dies
        written = real_save(path, obj)
        if Path(path).name == "state.pt":
            calls["state"] += 1
            if calls["state"] == crash_epoch:
                raise KeyboardInterrupt("killed after state.pt")
        return written

    monkeypatch.setattr(train_module, "save_tensors", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, data, tmp_path / "crashed")
    monkeypatch.setattr(train_module, "save_tensors", real_save)
    monkeypatch.setattr(train_module, "write_json", real_json)
    resumed = _train(cfg, data, tmp_path / "crashed")
    assert [e["loss"] for e in resumed.history["epochs"]] == [e["loss"] for e in straight.history["epochs"]]
    assert resumed.history["best_epoch"] == straight.history["best_epoch"]
    assert _same_weights(resumed.model, straight.model)
    again = _train(cfg, data, tmp_path / "crashed")
    assert again.loaded and _same_weights(again.model, straight.model)


# 4. two runs at once -------------------------------------------------------------------------

def test_two_runs_of_one_config_at_once_train_it_once(tmp_path):
    script = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import torch; torch.set_num_threads(1)
        from test_store import _config, _toy_data, _train
        result = _train(_config(epochs=4), _toy_data(), {str(tmp_path)!r})
        print(json.dumps({{"loaded": result.loaded, "acc": result.history["best_val_accuracy"]}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sorted(r["loaded"] for r in results) == [False, True]  # one trained, the other waited and loaded
    assert results[0]["acc"] == results[1]["acc"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


# 5. read-only and full storage ----------------------------------------------------------------

@pytest.fixture
def read_only(monkeypatch):
    """Make every write under a folder fail with EROFS, as on a read-only mount (root ignores
    file modes, so chmod cannot make one here)."""
    roots: list[Path] = []

    def blocked(path) -> bool:
        return any(Path(os.path.abspath(path)).is_relative_to(root) for root in roots)

    def deny(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    real_mkdir, real_open, real_builtin_open = os.mkdir, os.open, builtins.open
    monkeypatch.setattr(os, "mkdir", lambda p, *a, **k: deny(p) if blocked(p) else real_mkdir(p, *a, **k))
    monkeypatch.setattr(os, "open", lambda p, flags, *a, **k: deny(p) if blocked(p) and flags & (
        os.O_WRONLY | os.O_RDWR | os.O_CREAT) else real_open(p, flags, *a, **k))
    monkeypatch.setattr(builtins, "open", lambda p, mode="r", *a, **k: deny(p) if blocked(p) and any(
        c in mode for c in "wax+") else real_builtin_open(p, mode, *a, **k))
    return roots.append


def test_a_finished_checkpoint_in_a_read_only_cache_loads(tmp_path, monkeypatch, read_only):
    cfg, data = _config(), _toy_data()
    trained = _train(cfg, data, tmp_path / "checkpoints")
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path))
    read_only(tmp_path)
    loaded = train_or_load(cfg, data=data, progress=False, device="cpu")
    assert loaded.loaded and _same_weights(loaded.model, trained.model)
    with pytest.raises(StorageError, match="read-only or not writable.*Nothing was left half-written"):
        train_or_load(_config(epochs=2), data=data, progress=False, device="cpu")


def test_a_full_disk_gives_a_clear_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    cfg, data = _config(), _toy_data()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "old.bin"
    write_bytes(path, b"old")
    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(StorageError, match="the disk is full"):
        write_bytes(path, b"new contents")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["old.bin"]
    with pytest.raises(StorageError, match="disk is full"):
        _train(cfg, data, tmp_path / "run")
    assert not [p for p in (tmp_path / "run").rglob("*") if p.is_file() and p.suffix == ".tmp"]


# 6. --retrain never deletes before it can replace ----------------------------------------------

def test_a_failed_retrain_with_a_corrupt_config_loses_nothing(tmp_path):
    cfg, data = _config(), _toy_data()
    first = _train(cfg, data, tmp_path)
    folder = first.checkpoint_dir
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "config.json"}
    (folder / "config.json").write_text("{ not json")

    def fail(record, model):
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        _train(cfg, data, tmp_path, retrain=True, on_epoch=fail)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "config.json"} == before
    with pytest.raises(CheckpointError, match="cannot read .*config.json"):
        _train(cfg, data, tmp_path)  # still refused, still there
    retrained = _train(cfg, data, tmp_path, retrain=True)
    assert not retrained.loaded and retrained.checkpoint_dir == folder
    assert Config.from_dict(json.loads((folder / "config.json").read_text())["config"]) == cfg
    assert _train(cfg, data, tmp_path).loaded
    assert [p.name for p in tmp_path.iterdir() if ".retrain-" in p.name or ".old-" in p.name] == []


# 8. messages that say what happened ------------------------------------------------------------

def test_a_nan_in_the_first_epoch_says_nothing_was_kept_and_names_every_bad_term(tmp_path):
    cfg = _config(epochs=2)
    x = np.full((60, 6), 1e30)
    data = paired_from_arrays(x, np.full((60, 12), 1e30), np.arange(60) % 3, seed=0)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1 .*non-finite terms: .*No training state had been saved"):
        _train(cfg, data, tmp_path)


def test_the_state_is_saved_on_its_cadence_and_a_resume_retrains_the_epochs_since(tmp_path, monkeypatch):
    cfg, data = _config(epochs=5), _toy_data()
    straight = _train(cfg, data, tmp_path / "straight")
    clock = iter(range(0, 1000, 10))  # the cadence's clock reads 0 at the start, +10 s per epoch
    monkeypatch.setattr(train_module, "_now", lambda: float(next(clock)))
    saved = []
    real_save = train_module.save_tensors

    def record(path, obj):
        if Path(path).name == "state.pt":
            saved.append(len(json.loads(obj["history"])["epochs"]))
        return real_save(path, obj)

    monkeypatch.setattr(train_module, "save_tensors", record)

    def crash(record_, model):
        if record_["epoch"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a save every 25 s: after epoch 3 only, then killed after epoch 4
        _train(cfg, data, tmp_path / "cadence", save_every_s=25.0, on_epoch=crash)
    assert saved == [3]
    resumed = _train(cfg, data, tmp_path / "cadence", save_every_s=25.0)
    assert saved == [3, 5]  # epochs 4 and 5 retrained from the state of epoch 3; saved at the end
    assert [e["loss"] for e in resumed.history["epochs"]] == [e["loss"] for e in straight.history["epochs"]]
    assert resumed.history["best_epoch"] == straight.history["best_epoch"]
    assert _same_weights(resumed.model, straight.model)
