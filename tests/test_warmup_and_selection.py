"""KL warm-up, the criterion that picks the kept epoch, and the work skipped at zero weight (tiny synthetic data)."""
from __future__ import annotations

import argparse
import functools

import numpy as np
import pytest
import torch

import cmmd_lite.train as train_module
from cmmd_lite import Config, get_config, train_or_load
from cmmd_lite.__main__ import _add_config_flags, config_from_args
from cmmd_lite.baselines import MMVAE, MVAE, VCCA
from cmmd_lite.config import FIELD_SECTION, ObjectiveConfig, parse_overrides
from cmmd_lite.losses import kl_warmup_weight
from cmmd_lite.model import CMMD
from cmmd_lite.store import load_tensors
from cmmd_lite.train import build_model, checkpoint_dir_for, fit, validation_loss
from cmmd_lite.utils import seed_everything
from test_store import _toy_data as store_toy_data

LATENT_MODELS = {"cmmd": CMMD, "vcca": VCCA, "mvae": MVAE, "mmvae": MMVAE}


_toy_data = functools.partial(store_toy_data, n=240)  # x_o carries the class weakly, x_M strongly


def _config(**overrides):
    values = dict(epochs=3, batch_size=32, lr=3e-3, z_dim=4, encoder_hidden=(16,), prior_hidden=(16,),
                  decoder_hidden=(16,), classifier_hidden=(8,), eval_samples=2, importance_samples=3)
    values.update(overrides)
    return get_config("mnist2", "smoke", **values)


def _batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g), torch.rand(n, 12, generator=g), torch.arange(n) % 3


def _model(kind, **objective):
    config = _config(model_type=kind)
    seed_everything(0)
    return LATENT_MODELS[kind](6, 12, 3, config.model), ObjectiveConfig(**{"importance_samples": 3, **objective})


def _terms(model, objective, seed=1, **kwargs):
    torch.manual_seed(seed)
    return model.objective(*_batch(), objective, **kwargs)


# --- the warm-up -------------------------------------------------------------------------------

def test_the_warm_up_weight_ramps_linearly_per_step_from_zero():
    assert kl_warmup_weight(0, 1, 0.0) == 1.0  # no warm-up
    assert kl_warmup_weight(4, 1, 0.0) == 0.0  # the first step
    assert kl_warmup_weight(4, 1, 0.5) == pytest.approx(0.125)
    assert kl_warmup_weight(4, 3, 0.0) == pytest.approx(0.5)
    assert kl_warmup_weight(4, 4, 0.99) == pytest.approx(0.9975)  # the ramp runs through epoch 4
    assert kl_warmup_weight(4, 5, 0.0) == kl_warmup_weight(4, 50, 0.3) == 1.0


def test_fit_ramps_the_kl_weight_step_by_step_and_validates_at_full_weight():
    data, cfg = _toy_data(), _config(model_type="mvae", alpha=0.0, kl_warmup_epochs=2)
    seed_everything(0)
    model = build_model(cfg, data.train)
    calls, objective = [], model.objective

    def spy(*args, kl_weight=1.0, **kwargs):
        calls.append((model.training, kl_weight))
        return objective(*args, kl_weight=kl_weight, **kwargs)

    model.objective = spy
    fit(model, data, cfg, progress=False)
    trained = [w for training, w in calls if training]
    steps = len(trained) // cfg.train.epochs
    assert steps * cfg.train.epochs == len(trained) and steps > 1
    expected = [kl_warmup_weight(2, epoch, step / steps) for epoch in (1, 2, 3) for step in range(steps)]
    assert trained == pytest.approx(expected) and trained[0] == 0.0
    assert 0.0 < trained[steps] < 1.0 and set(trained[2 * steps:]) == {1.0}  # epoch 2 ramps, epoch 3 is full
    assert all(w == 1.0 for training, w in calls if not training)  # the validation loss: no warm-up


@pytest.mark.parametrize("kind", ["cmmd", "vcca", "mvae", "mmvae"])
def test_the_warm_up_weights_the_kl_term_only(kind):
    model, objective = _model(kind, alpha=0.0, mmvae_bound="elbo")
    model.eval()
    full, ramped = _terms(model, objective), _terms(model, objective, kl_weight=0.25)
    kl_weight_in_loss = objective.omega if kind == "cmmd" else 1.0  # CMMD weights its KL by omega
    torch.testing.assert_close(full.loss - ramped.loss, 0.75 * kl_weight_in_loss * full.kl)
    for term in ("nll_x_m", "kl", "mmd"):  # recorded unweighted
        torch.testing.assert_close(getattr(full, term), getattr(ramped, term))


def test_dreg_without_the_divergence_is_the_iwae_gradient():
    """At kl_weight 0 log w has no log q term, so the DReG rescaling (1 - beta) + beta w~ is 1."""
    model = _model("mmvae")[0]
    gradients = {}
    for bound in ("iwae", "dreg"):
        model.zero_grad()
        _terms(model, ObjectiveConfig(mmvae_bound=bound, importance_samples=4, alpha=0.0), kl_weight=0.0).loss.backward()
        gradients[bound] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert gradients["iwae"].keys() == gradients["dreg"].keys()
    for name, grad in gradients["iwae"].items():
        torch.testing.assert_close(gradients["dreg"][name], grad, rtol=1e-5, atol=1e-6)


def test_the_warm_up_field_is_validated_and_parsed_like_the_others():
    assert FIELD_SECTION["kl_warmup_epochs"] == "objective"
    assert parse_overrides(["kl_warmup_epochs=10"]) == {"kl_warmup_epochs": 10}
    with pytest.raises(ValueError, match="kl_warmup_epochs expects an integer"):
        parse_overrides(["kl_warmup_epochs=ten"])
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match=r"kl_warmup_epochs=.* must be a non-negative integer"):
            get_config("mnist2", "smoke", kl_warmup_epochs=bad)
    parser = argparse.ArgumentParser()
    _add_config_flags(parser)
    args = parser.parse_args(["--profile", "smoke", "--model-type", "mvae", "--kl-warmup-epochs", "10"])
    assert config_from_args(args).objective.kl_warmup_epochs == 10
    with pytest.raises(ValueError, match="kl_weight=1.5 is out of range"):
        _model("mvae")[0].objective(*_batch(), ObjectiveConfig(), kl_weight=1.5)  # the factor stays in [0, 1]


def test_the_warm_up_changes_the_fingerprint_only_when_on(tmp_path):
    paper = get_config("mnist2", "paper")
    assert "kl_warmup_epochs" not in paper.training_key()["objective"]  # fingerprints from before it existed hold
    assert paper.fingerprint() == "617ed8504ff7"  # the paper config's key from before the field existed
    warm = paper.with_overrides(kl_warmup_epochs=10)
    assert warm.fingerprint() != paper.fingerprint() and not warm.trains_like(paper)
    assert Config.from_dict(warm.to_dict()) == warm and Config.from_dict(paper.to_dict()) == paper
    assert paper.diff(warm) == {"objective.kl_warmup_epochs": (0, 10)}
    data = _toy_data()
    assert checkpoint_dir_for(warm, data, tmp_path) != checkpoint_dir_for(paper, data, tmp_path)
    m_xo = paper.with_overrides(model_type="m_xo")  # no KL term: the warm-up does not change what trains
    assert m_xo.with_overrides(kl_warmup_epochs=10).fingerprint() == m_xo.fingerprint()


# --- the selection of the kept epoch -------------------------------------------------------------

def test_alpha_zero_selects_and_stops_by_validation_loss(tmp_path, monkeypatch):
    """Scripted scores: accuracy would keep epoch 1 (or 4), the validation loss keeps epoch 2."""
    losses, accuracies = iter([3.0, 2.0, 2.5, 2.2, 1.0]), iter([0.9, 0.2, 0.3, 0.95, 0.5])
    monkeypatch.setattr(train_module, "validation_loss", lambda *args, **kwargs: next(losses))
    monkeypatch.setattr(train_module, "accuracy", lambda *args, **kwargs: next(accuracies))
    kept = {}

    def remember(record, model):
        kept[record["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    data, cfg = _toy_data(), _config(model_type="vcca", alpha=0.0, epochs=5, patience=2)
    result = train_or_load(cfg, data=data, checkpoint_root=tmp_path, progress=False, device="cpu", on_epoch=remember)
    history = result.history
    assert history["selection"] == "val_loss" and history["stopped_early"] and len(history["epochs"]) == 4
    assert [e["val_loss"] for e in history["epochs"]] == [3.0, 2.0, 2.5, 2.2]
    assert history["best_epoch"] == 2 and history["best_val_loss"] == 2.0
    assert history["best_val_accuracy"] == 0.2  # the kept epoch's
    assert load_tensors(result.checkpoint_dir / "best.pt")["epoch"] == 2
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, kept[2][key]), key


def test_alpha_zero_keeps_the_epoch_of_lowest_validation_loss_without_disturbing_training(monkeypatch):
    data, cfg = _toy_data(), _config(model_type="cmmd", alpha=0.0, epochs=4)
    seed_everything(0)
    model = build_model(cfg, data.train)
    history = fit(model, data, cfg, progress=False)
    val_losses = [e["val_loss"] for e in history["epochs"]]
    assert history["selection"] == "val_loss" and history["best_epoch"] == int(np.argmin(val_losses)) + 1
    assert history["best_val_loss"] == min(val_losses)
    # the kept weights are that epoch's: the (seeded, dropout-free) validation loss comes out the same
    assert validation_loss(model, data.val, cfg.objective, cfg.train.batch_size, seed=cfg.train.seed) == min(val_losses)
    # it draws its noise on a forked random state: training without it gives the same losses
    monkeypatch.setattr(train_module, "validation_loss", lambda *args, **kwargs: 0.0)
    seed_everything(0)
    again = fit(build_model(cfg, data.train), data, cfg, progress=False)
    assert [e["loss"] for e in again["epochs"]] == [e["loss"] for e in history["epochs"]]


def test_alpha_above_zero_selects_by_validation_accuracy_as_before(monkeypatch):
    def no_validation_loss(*args, **kwargs):
        raise AssertionError("the validation loss is computed only at alpha = 0")

    monkeypatch.setattr(train_module, "validation_loss", no_validation_loss)
    data, cfg = _toy_data(), _config(model_type="mvae", alpha=10.0, epochs=3)
    seed_everything(0)
    history = fit(build_model(cfg, data.train), data, cfg, progress=False)
    accuracies = [e["val_accuracy"] for e in history["epochs"]]
    assert history["selection"] == "val_accuracy" and "best_val_loss" not in history
    assert not any("val_loss" in e for e in history["epochs"])
    assert history["best_epoch"] == int(np.argmax(accuracies)) + 1 and history["best_val_accuracy"] == max(accuracies)
    # checkpoints selected by validation loss are keyed apart; the others' keys are as before
    assert get_config("mnist2", "paper", alpha=0.0).training_key()["train"]["selection"] == "val_loss"
    assert "selection" not in get_config("mnist2", "paper").training_key()["train"]


def test_select_val_loss_keeps_the_epoch_of_lowest_validation_objective_at_any_alpha():
    data, cfg = _toy_data(), _config(model_type="cmmd", alpha=10.0, epochs=4, select="val_loss")
    seed_everything(0)
    history = fit(build_model(cfg, data.train), data, cfg, progress=False)
    val_losses = [e["val_loss"] for e in history["epochs"]]
    assert history["selection"] == "val_loss" and history["best_epoch"] == int(np.argmin(val_losses)) + 1
    assert all("val_accuracy" in e for e in history["epochs"])  # still recorded
    auto = _config(model_type="cmmd", alpha=10.0, epochs=4)
    assert cfg.training_key()["train"]["selection"] == "val_loss" and cfg.fingerprint() != auto.fingerprint()
    # asking for what "auto" picks anyway keys the same checkpoint
    assert _config(model_type="cmmd", alpha=10.0, epochs=4, select="val_accuracy").fingerprint() == auto.fingerprint()
    assert _config(model_type="vcca", alpha=0.0, select="val_loss").fingerprint() == \
        _config(model_type="vcca", alpha=0.0).fingerprint()
    with pytest.raises(ValueError, match="select='val_accuracy' needs alpha > 0"):
        _config(model_type="vcca", alpha=0.0, select="val_accuracy").validate()
    with pytest.raises(ValueError, match="select"):
        _config(select="val_coherence").validate()


def test_mmvae_dreg_is_validated_by_its_iwae_bound():
    data = _toy_data()
    model, objective = _model("mmvae", alpha=0.0)
    assert objective.mmvae_bound == "dreg"
    dreg = validation_loss(model, data.val, objective, 16, seed=3)
    iwae = validation_loss(model, data.val, ObjectiveConfig(importance_samples=3, alpha=0.0, mmvae_bound="iwae"), 16, seed=3)
    assert dreg == iwae


def test_m_xo_without_its_classifier_is_refused():
    with pytest.raises(ValueError, match="alpha=0 is not allowed for model_type='m_xo'"):
        get_config("mnist2", "smoke", model_type="m_xo", alpha=0.0)


# --- work weighted by zero is skipped ------------------------------------------------------------

def _count_calls(module):
    calls = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("kind,bound", [("cmmd", "dreg"), ("vcca", "dreg"), ("mvae", "dreg"), ("mmvae", "elbo"),
                                        ("mmvae", "iwae"), ("mmvae", "dreg")])
def test_alpha_zero_skips_the_classifier_and_gives_the_same_loss(kind, bound):
    """In training mode (dropout on): the classifier's draws come last, so the rest sees the same noise."""
    model, skipped = _model(kind, alpha=0.0, mmvae_bound=bound)
    weighted = ObjectiveConfig(importance_samples=3, alpha=1.0, mmvae_bound=bound)
    classifier = _count_calls(model.classifier)
    encoder_o = _count_calls(model.prior if kind == "cmmd" else model.encoder_o)  # the x_o network
    without = _terms(model, skipped)
    assert not classifier and len(encoder_o) == 1 and float(without.nll_y) == 0.0
    with_classifier = _terms(model, weighted)
    assert classifier and len(encoder_o) == (3 if kind == "mmvae" else 2)  # MMVAE's second x_o encoding
    # the loss without the classifier is the loss with it, less alpha * CE: zero weight, same value
    torch.testing.assert_close(without.loss, with_classifier.loss - with_classifier.nll_y)
    if kind == "cmmd":
        expected = without.nll_x_m + skipped.omega * without.kl + (1 - skipped.omega) * skipped.lam * without.mmd
    elif kind in ("vcca", "mvae") or bound == "elbo":
        expected = without.nll_x_m + without.kl
    else:
        expected = with_classifier.loss - with_classifier.nll_y
    torch.testing.assert_close(without.loss, expected)
    model.zero_grad()
    _terms(model, skipped).loss.backward()
    assert all(p.grad is None for p in model.classifier.parameters())
