"""Configs, profiles and the posterior-collapse metric."""
from dataclasses import replace

import numpy as np
import pytest

from cmmd_lite import Config, collapse_curve, config_names, current_profile, get_config
from cmmd_lite.config import ENV_PROFILE


def test_paper_defaults_follow_appendix_c():
    mnist = get_config("mnist2", "paper")
    assert mnist.model.encoder_hidden == (2500,) * 3 and mnist.model.prior_hidden == (1024,) * 3
    assert mnist.model.z_dim == 50 and mnist.model.classifier_hidden == (50, 50)
    assert (mnist.objective.alpha, mnist.objective.lam, mnist.objective.omega) == (10.0, 1000.0, 0.4)
    assert (mnist.train.lr, mnist.model.dropout) == (1e-4, 0.2)
    svhn = get_config("mnist_svhn", "paper")
    assert svhn.model.encoder_hidden == (400,) and svhn.model.z_dim == 20 and svhn.objective.omega == 0.1
    assert svhn.data.pairing_multiplier == 20
    assert get_config("mnist3", "paper").model.decoder == "deconv"


def test_profiles_scale_compute_and_keep_the_objective():
    for name in config_names():
        paper, laptop, smoke = (get_config(name, p) for p in ("paper", "laptop", "smoke"))
        # Only MMVAE's number of importance samples (compute, not the objective) is scaled.
        same_k = lambda c: replace(c.objective, importance_samples=paper.objective.importance_samples)  # noqa: E731
        assert paper.objective == same_k(laptop) == same_k(smoke)
        assert smoke.objective.importance_samples < laptop.objective.importance_samples < 30
        assert smoke.train.epochs < laptop.train.epochs < paper.train.epochs


def test_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(ENV_PROFILE, "smoke")
    assert current_profile() == "smoke" and get_config("mnist2").profile == "smoke"
    monkeypatch.setenv(ENV_PROFILE, "huge")
    with pytest.raises(ValueError, match="CMMD_PROFILE"):
        current_profile()


def test_overrides_round_trip_and_fingerprint():
    cfg = get_config("mnist2", "smoke", omega=0.9, encoder_hidden=[32, 16], epochs=2)
    assert cfg.objective.omega == 0.9 and cfg.model.encoder_hidden == (32, 16) and cfg.train.epochs == 2
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg and again.fingerprint() == cfg.fingerprint()
    other = cfg.with_overrides(omega=0.8)
    assert other.fingerprint() != cfg.fingerprint()
    assert cfg.diff(other) == {"objective.omega": (0.9, 0.8)}
    with pytest.raises(ValueError, match="unknown config field 'omegaa'"):
        cfg.with_overrides(omegaa=0.1)
    with pytest.raises(ValueError, match="omega"):
        cfg.with_overrides(omega=2.0)
    with pytest.raises(ValueError, match="config name"):
        get_config("cifar")


def test_collapse_curve_on_constructed_cases():
    rng = np.random.default_rng(0)
    n = 1000
    kl = np.empty((n, 4))
    kl[:, 0] = 0.0  # fully collapsed
    kl[:, 1] = 10.0  # never collapsed within [0, 6]
    kl[:, 2] = np.where(np.arange(n) < 5, 10.0, 0.5)  # 0.5% of points informative: collapsed (delta = 1%)
    kl[:, 3] = np.where(np.arange(n) < 20, 10.0, 0.5)  # 2% informative: not collapsed
    rng.shuffle(kl)
    epsilons = np.array([0.0, 0.25, 1.0, 6.0])
    curve = collapse_curve(kl, epsilons)
    # eps = 0: KL < 0 never holds; eps = 0.25: only dim 0; eps >= 1: dims 0 and 2
    np.testing.assert_allclose(curve, [0.0, 0.25, 0.5, 0.5])
    assert np.all(np.diff(collapse_curve(rng.exponential(2.0, size=(500, 8)))) >= 0)  # monotone in eps
    with pytest.raises(ValueError, match="points, dimensions"):
        collapse_curve(np.zeros(5))


def test_the_fingerprint_covers_what_trains_and_not_the_labels():
    cfg = get_config("mnist2", "smoke")
    assert cfg.with_overrides(name="chapter_3").fingerprint() == cfg.fingerprint()
    assert cfg.with_overrides(profile="laptop").fingerprint() == cfg.fingerprint()  # a label once sizes are set
    assert cfg.with_overrides(importance_samples=7, mmvae_bound="iwae").fingerprint() == cfg.fingerprint()
    assert cfg.with_overrides(eval_samples=5).fingerprint() != cfg.fingerprint()  # it picks the kept epoch
    mmvae = cfg.with_overrides(model_type="mmvae")
    assert mmvae.with_overrides(importance_samples=7).fingerprint() != mmvae.fingerprint()
    assert cfg.trains_like(cfg.with_overrides(name="other")) and not cfg.trains_like(mmvae)


def test_one_override_grammar_for_every_entry_point():
    from cmmd_lite.config import parse_overrides
    assert parse_overrides(["omega=0.1", "encoder_hidden=16,16", "max_train=None"]) == {
        "omega": 0.1, "encoder_hidden": (16, 16), "max_train": None}
    assert parse_overrides(["tsne_points=5"], extra={"tsne_points": "int"}) == {"tsne_points": 5}
    with pytest.raises(ValueError, match="omega expects a float"):
        parse_overrides(["omega=abc"])
    with pytest.raises(ValueError, match="unknown override 'colour'"):
        parse_overrides(["colour=red"])
