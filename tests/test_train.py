"""Training, checkpoints, resume, train-or-load and the errors around them, on small synthetic data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cmmd_lite import (CheckpointError, NonFiniteLossError, evaluate, get_config, load_checkpoint,
                       paired_from_arrays, train_or_load)
from cmmd_lite.store import load_tensors
from cmmd_lite.train import checkpoint_dir_for


def _toy_data(n=600, seed=0, scale=1.0):
    """x_o carries the class weakly, x_M strongly: a model that uses both should learn y."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 6))
    x_o = centres[y] * 2.0 + rng.normal(size=(n, 6))
    x_m = np.concatenate([centres[y] * 3.0, centres[y][:, ::-1]], axis=1) + 0.3 * rng.normal(size=(n, 12))
    return paired_from_arrays(x_o * scale, x_m * scale, y, seed=seed)


def _config(**overrides):
    """A tiny model; classification weighted as in the reference code so that a few short epochs learn y."""
    values = dict(epochs=4, batch_size=32, lr=3e-3, z_dim=4, encoder_hidden=(32,), prior_hidden=(32,),
                  decoder_hidden=(32,), classifier_hidden=(16,), eval_samples=4, ce_reduction="sum")
    values.update(overrides)
    return get_config("mnist2", "smoke", **values).with_overrides(name="mnist2")


def test_training_learns_and_checkpoints(tmp_path):
    data, cfg = _toy_data(), _config(epochs=8)
    result = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert not result.loaded and result.history["completed"]
    epochs = result.history["epochs"]
    assert len(epochs) == 8 and epochs[-1]["loss"] < epochs[0]["loss"]
    assert {"loss", "nll_x_m", "nll_y", "kl", "mmd", "val_accuracy", "seconds"} <= set(epochs[0])
    best = max(e["val_accuracy"] for e in epochs)
    assert result.history["best_val_accuracy"] == best and best > 0.8  # chance is 1/3
    folder = checkpoint_dir_for(cfg, data, tmp_path)
    assert result.checkpoint_dir == folder
    assert {p.name for p in folder.iterdir()} == {"config.json", "history.json", "best.pt", "state.pt"}
    stored = json.loads((folder / "config.json").read_text())
    assert stored["config"]["objective"]["omega"] == cfg.objective.omega

    again = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert again.loaded
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    assert evaluate(again.model, data.test)["accuracy"] == evaluate(result.model, data.test)["accuracy"]


def test_training_is_deterministic(tmp_path):
    data, cfg = _toy_data(), _config(epochs=2)
    first = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "a", progress=False, device="cpu")
    second = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "b", progress=False, device="cpu")
    assert [e["loss"] for e in first.history["epochs"]] == [e["loss"] for e in second.history["epochs"]]


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    data, cfg = _toy_data(), _config(epochs=4)
    straight = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "straight", progress=False, device="cpu")

    def interrupt(record, model):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_or_load(cfg, data=data, checkpoint_root=tmp_path / "resumed", progress=False, device="cpu",
                      on_epoch=interrupt)
    folder = checkpoint_dir_for(cfg, data, tmp_path / "resumed")
    assert len(json.loads((folder / "history.json").read_text())["epochs"]) == 2
    resumed = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "resumed", progress=False, device="cpu")
    assert not resumed.loaded
    assert [e["loss"] for e in resumed.history["epochs"]] == [e["loss"] for e in straight.history["epochs"]]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


def test_non_finite_loss_names_the_term_and_keeps_the_last_epoch(tmp_path):
    data, cfg = _toy_data(), _config(epochs=3)

    def poison(record, model):  # a weight becomes NaN after epoch 1, as after a diverging step
        if record["epoch"] == 1:
            with torch.no_grad():
                next(iter(model.decoder.parameters())).fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match=r"'nll_x_m' became nan in epoch 2.*state after epoch 1 is kept in"):
        train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu", on_epoch=poison,
                      save_every_s=0.0)
    folder = checkpoint_dir_for(cfg, data, tmp_path)
    last = load_tensors(folder / "state.pt")
    assert all(torch.isfinite(v).all() for v in last["model"].values())
    assert len(json.loads((folder / "history.json").read_text())["epochs"]) == 1


def test_overflowing_data_stops_with_a_clear_error(tmp_path):
    data, cfg = _toy_data(scale=1e19), _config(epochs=1)
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")


def test_checkpoint_from_another_config_or_data_is_refused(tmp_path):
    data, cfg = _toy_data(), _config(epochs=1)
    result = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    other = cfg.with_overrides(omega=0.9)
    with pytest.raises(CheckpointError, match=r"objective.omega: checkpoint 0.4 vs requested 0.9"):
        load_checkpoint(result.checkpoint_dir, other)
    with pytest.raises(CheckpointError, match="other data"):
        load_checkpoint(result.checkpoint_dir, cfg, _toy_data(n=500))
    model, stored, history = load_checkpoint(result.checkpoint_dir)
    assert stored == cfg and history["completed"]
    (result.checkpoint_dir / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a cmmd_lite artefact"):
        load_checkpoint(result.checkpoint_dir, cfg)
    with pytest.raises(CheckpointError, match="no finished checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_model_selection_uses_validation_not_test(tmp_path):
    data, cfg = _toy_data(), _config(epochs=3)
    seen = []
    import cmmd_lite.train as train_module
    original = train_module.accuracy

    def spy(model, split, **kwargs):
        seen.append(split)
        return original(model, split, **kwargs)

    train_module.accuracy = spy
    try:
        train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    finally:
        train_module.accuracy = original
    assert len(data.val) != len(data.test)
    assert seen and all(len(split) == len(data.val) and torch.equal(split.y, data.val.y) for split in seen)


def test_patience_stops_when_validation_accuracy_stops_improving_and_a_resume_does_not_go_on(tmp_path):
    data = _toy_data()
    cfg = _config(epochs=30, patience=2)
    result = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu", save_every_s=0.0)
    history = result.history
    n = len(history["epochs"])
    assert history.get("stopped_early") and n < 30 and n - history["best_epoch"] == 2
    best = max(e["val_accuracy"] for e in history["epochs"])
    assert all(e["val_accuracy"] <= best for e in history["epochs"][history["best_epoch"]:])
    # the folder without its "completed" mark (killed after the last save) resumes to the same stop
    folder = result.checkpoint_dir
    stored = json.loads((folder / "history.json").read_text())
    stored["completed"] = False
    (folder / "history.json").write_text(json.dumps(stored))
    again = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert not again.loaded and len(again.history["epochs"]) == n
