"""Every evaluation path feeds the model on the model's device: float64 stands in for a GPU.

``device_standin.install()`` casts what ``train_or_load`` returns (model and data) and every
coherence classifier to float64. A tensor that skipped the device path stays float32 and meets
float64 weights, where CUDA would raise a device error. These tests ran red before the fix
(``evaluate(model, caller_data)`` and ``reproduce figG1``) and the chapters run the same way
under nbval in ``scripts/test.sh``.
"""
import pytest
import torch

import device_standin
import cmmd_lite
import cmmd_lite.coherence as coherence
from cmmd_lite import (accuracy, evaluate, generate_missing, get_config, imputation_rmse,
                       latent_parameters, linear_probe_accuracy, predict_proba)
from cmmd_lite.ablation import ablation_metrics
from cmmd_lite.coherence import classifier_settings, coherence_report
from cmmd_lite.data.paired import PairedData, PairedSplits
from cmmd_lite.latents import decode_posterior_mean, latent_tsne
from cmmd_lite.reproduce import EXPERIMENTS, reproduce
from test_reproduce import SHAPES, TINY, tiny_loader

ROLES3 = {("mnist",): ("mnist_rotated", "svhn"), ("mnist", "mnist_rotated"): ("svhn",)}


@pytest.fixture(autouse=True)
def _standin(monkeypatch):
    device_standin.install(monkeypatch.setattr)  # patched in cmmd_lite: call it as cmmd_lite.train_or_load


def tiny_any_loader(data_config):
    """The tiny splits of test_reproduce, plus 3-modality MNIST (either set of observed modalities)."""
    if data_config.dataset != "mnist3":
        return tiny_loader(data_config)
    observed = tuple(data_config.observed)
    missing = ROLES3[observed]
    splits = {}
    for offset, (split, n) in enumerate((("train", 96), ("val", 40), ("test", 60))):
        g = torch.Generator().manual_seed(offset)
        y = torch.arange(n) % 10
        sources = {name: torch.randint(0, 255, (n, *SHAPES[name]), generator=g, dtype=torch.uint8)
                   for name in observed + missing}
        splits[split] = PairedData(sources, {m: torch.arange(n) for m in sources}, y, observed, missing,
                                   standin=frozenset({"svhn"}))
    return PairedSplits(splits["train"], splits["val"], splits["test"], "tiny mnist3")


def test_the_standin_catches_a_tensor_that_skipped_the_device_path():
    result = cmmd_lite.train_or_load(get_config("mnist2", "smoke", epochs=1), data=tiny_loader(get_config("mnist2").data),
                           progress=False)
    assert next(result.model.parameters()).dtype == torch.float64 and result.data.test.dtype == torch.float64
    x_o = torch.rand(4, result.model.x_o_dim)  # float32, as a tensor on the CPU would be next to a GPU model
    with pytest.raises(RuntimeError, match="dtype|Double|Float"):
        result.model.prior_params(x_o)


@pytest.mark.parametrize("model_type", ["cmmd", "vcca", "mvae", "mmvae", "m_xo"])
def test_every_evaluation_function_moves_the_callers_data_to_the_model(model_type):
    caller_data = tiny_loader(get_config("mnist_svhn").data)  # the caller's copy: float32
    result = cmmd_lite.train_or_load(get_config("mnist_svhn", "smoke", epochs=1, model_type=model_type), data=caller_data,
                           progress=False)
    model, test = result.model, caller_data.test
    assert test.dtype == torch.float32 and next(model.parameters()).dtype == torch.float64
    metrics = evaluate(model, test)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert predict_proba(model, test).dtype == torch.float64
    assert 0.0 <= accuracy(model, test, use_mean=True) <= 1.0
    assert 0.0 <= linear_probe_accuracy(model, caller_data.train, test, max_train=64) <= 1.0
    if model.can_generate:
        assert set(imputation_rmse(model, test)) == {"svhn", "x_m"}
        rows = torch.tensor([0, 3, 5])
        assert generate_missing(model, test, rows, n_samples=2)["svhn"].shape == (2, 3, 3, 32, 32)
        settings = classifier_settings("smoke", epochs=1)
        classifier = coherence.modality_classifier(caller_data, "svhn", settings)
        assert next(classifier.parameters()).dtype == torch.float64
        report = coherence_report(model, test, {"svhn": classifier})
        assert 0.0 <= report["svhn"]["coherence"] <= 1.0
    if model.has_posterior:
        assert ablation_metrics(model, test, result.history)["n_pairs"] == len(test)
        assert latent_parameters(model, test)["mu_q"].shape[0] == len(test)
        pytest.importorskip("sklearn")
        assert latent_tsne(model, test, n_points=30)["prior"].shape == (30, 2)
        if model.can_generate:
            assert decode_posterior_mean(model, test, torch.tensor([1, 2]))["svhn"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_reproduce_target_runs_on_the_standin_device(name, tmp_path):
    pytest.importorskip("sklearn")
    payload = reproduce(name, "smoke", out=tmp_path, data_loader=tiny_any_loader, log=None, overrides=TINY)
    assert all(row.get("status") != "not run" for row in payload["rows"])
    assert (tmp_path / f"{name}-smoke.json").is_file()


def test_a_sweep_runs_on_the_standin_device(tmp_path, monkeypatch):
    import cmmd_lite.sweeps as sweeps
    from test_sweeps import TINY

    monkeypatch.setitem(sweeps.GRIDS, "tiny", TINY)
    record = sweeps.run_sweep("tiny", "smoke", out=tmp_path, data_loader=tiny_loader, progress=False, log=None)
    assert len(record["settings"]) == 4
