"""The paper-versus-reference-code switches and the ablation's configs and metrics (cmmd_lite.ablation)."""
from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch

from cmmd_lite import ablation, gaussian_kl, get_config, latent_parameters, paired_from_arrays
from cmmd_lite.ablation import (PAPER_LABEL, REFERENCE_LABEL, REFERENCE_SWITCHES, ablation_configs,
                                ablation_metrics, collapse_summary, get_switches, intended_fields,
                                narrow_kernel, reference_config, reference_overrides)
from cmmd_lite.config import Config, ModelConfig, ObjectiveConfig
from cmmd_lite.train import build_model, fit


def test_doctests():
    assert doctest.testmod(ablation).failed == 0


def test_switch_values_differ_from_the_library_defaults():
    # every switch turns a paper-text default into a valid, different value
    base = get_config("mnist2", "smoke")
    for switch in REFERENCE_SWITCHES:
        switched = base.with_overrides(**switch.overrides)
        assert set(base.diff(switched)) == switch.fields, switch.name
    assert [s.name for s in get_switches(["kl_formula", "ce_reduction"])] == ["kl_formula", "ce_reduction"]
    with pytest.raises(ValueError, match="unknown switches"):
        get_switches(["ce"])
    with pytest.raises(ValueError, match="twice"):
        get_switches(["kl_formula", "kl_formula"])


def test_reference_config_switches_everything_and_nothing_else():
    base = get_config("mnist2", "smoke")
    ref = reference_config(base)
    assert set(base.diff(ref)) == set().union(*(s.fields for s in REFERENCE_SWITCHES))
    assert ref.objective.ce_reduction == "sum" and ref.objective.kl_formula == "reference"
    assert ref.objective.classifier_input == "prior_mean" and ref.model.init_std == 0.001
    assert ref.data.scaling == "per_split_minmax"
    assert reference_overrides(["mmd_noise"]) == {"mmd_noise": "shared"}


def test_ablation_configs_differ_in_exactly_the_intended_fields():
    base = get_config("mnist2", "smoke")
    names = [s.name for s in REFERENCE_SWITCHES]
    configs = ablation_configs(base, names, leave_one_out=["ce_reduction"],
                               extra={"narrow kernel": narrow_kernel(base)})
    assert list(configs)[:2] == [PAPER_LABEL, REFERENCE_LABEL]
    assert configs[PAPER_LABEL] is base
    for label, cfg in configs.items():
        if label == "narrow kernel":
            assert base.diff(cfg) == {"objective.mmd_bandwidth": (None, 2.0 * base.model.z_dim)}
        else:
            assert set(base.diff(cfg)) == intended_fields(label), label
    left_out = configs[f"{REFERENCE_LABEL} - ce_reduction"]
    assert left_out.objective.ce_reduction == "mean" and left_out.objective.kl_formula == "reference"
    assert len({cfg.fingerprint() for cfg in configs.values()}) == len(configs)
    with pytest.raises(ValueError, match="not a label"):
        intended_fields("narrow kernel")


def test_ablation_configs_refuses_a_base_that_is_not_the_paper_text():
    with pytest.raises(ValueError, match="follow the paper's text"):
        ablation_configs(get_config("mnist2", "smoke", ce_reduction="sum"), ["kl_formula"])
    base = get_config("mnist2", "smoke")
    with pytest.raises(ValueError, match="same config"):
        ablation_configs(base, [], extra={"again": {}})
    with pytest.raises(ValueError, match="taken"):
        ablation_configs(base, [], extra={PAPER_LABEL: {"omega": 0.1}})
    with pytest.raises(ValueError, match="positive"):
        narrow_kernel(base, 0.0)


def test_collapse_summary():
    eps = np.linspace(0.0, 6.0, 40)
    none = collapse_summary(np.zeros(40), eps)
    assert none["area"] == 0.0 and math.isnan(none["eps_half"])
    everything = collapse_summary(np.ones(40), eps)
    assert everything["area"] == pytest.approx(1.0) and everything["eps_half"] == 0.0
    step = (eps >= 3.0).astype(float)  # all dimensions collapsed from 3 nats on
    summary = collapse_summary(step, eps)
    assert summary["area"] == pytest.approx(np.trapezoid(step, eps) / 6.0)
    assert eps[step.argmax() - 1] <= summary["eps_half"] <= eps[step.argmax()]
    ramp = collapse_summary(eps / 6.0, eps)  # fraction grows linearly: half at 3 nats
    assert ramp["eps_half"] == pytest.approx(3.0) and ramp["area"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="equal-length"):
        collapse_summary(np.zeros(3), eps)


def test_ablation_metrics_on_a_tiny_model():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n)
    x_o = (rng.normal(size=(n, 6)) + y[:, None]).astype(np.float32)
    x_m = (rng.normal(size=(n, 5)) - y[:, None]).astype(np.float32)
    splits = paired_from_arrays(x_o, x_m, y, n_classes=3, seed=0)
    config = Config(name="tiny", profile="smoke",
                    model=ModelConfig(z_dim=3, encoder_hidden=(8,), prior_hidden=(8,), decoder_hidden=(8,),
                                      classifier_hidden=(8,)),
                    objective=ObjectiveConfig(kl_formula="reference")).with_overrides(epochs=2, batch_size=32,
                                                                                      lr=1e-2, eval_samples=2)
    torch.manual_seed(0)
    model = build_model(config, splits.train)
    history = fit(model, splits, config, progress=False)
    metrics = ablation_metrics(model, splits.test, history, n_samples=2)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["accuracy_prior_mean"] <= 1.0
    assert metrics["last_epoch"]["epoch"] == 2
    # the exact KL and the variance ratio, whatever KL formula was trained (here the reference's)
    lat = latent_parameters(model, splits.test)
    exact = gaussian_kl(lat["mu_q"], lat["logvar_q"], lat["mu_p"], lat["logvar_p"]).sum(1).mean()
    assert metrics["kl_exact"] == pytest.approx(float(exact), rel=1e-6)
    assert metrics["variance_ratio"] == pytest.approx(float((lat["logvar_q"] - lat["logvar_p"]).exp().median()))
    assert set(metrics["collapse_summary"]) == set(metrics["collapse"])
    assert metrics["variance_ratio"] > 0.0
    for summary in metrics["collapse_summary"].values():
        assert 0.0 <= summary["area"] <= 1.0
