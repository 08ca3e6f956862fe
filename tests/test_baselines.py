"""The baselines (M-x_o, VCCA, MVAE, MMVAE) on tiny tensors: shapes, hand-computed PoE/MoE, terms, training."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from cmmd_lite import (MMVAE, MVAE, VCCA, CheckpointError, ModelConfig, MXo, ObjectiveConfig, get_config,
                       linear_probe_accuracy, load_checkpoint, model_class, paired_from_arrays, train_or_load)
from cmmd_lite.baselines import product_of_experts
from cmmd_lite.model import MultimodalModel

X_O, X_M, N_CLASSES, BATCH, Z = 6, 5, 3, 16, 4
BASELINES = (MXo, VCCA, MVAE, MMVAE)


def _config(**kwargs):
    return ModelConfig(z_dim=Z, encoder_hidden=(8,), prior_hidden=(8,), decoder_hidden=(8,),
                       classifier_hidden=(8,), dropout=0.0, **kwargs)


def _model(cls, **kwargs):
    torch.manual_seed(0)
    return cls(X_O, X_M, N_CLASSES, _config(**kwargs)).eval()


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, X_O, generator=g), torch.rand(BATCH, X_M, generator=g),
            torch.randint(0, N_CLASSES, (BATCH,), generator=g))


@pytest.mark.parametrize("cls", BASELINES)
def test_shapes_and_finite_terms(cls):
    model, (x_o, x_m, y) = _model(cls), _batch()
    terms = model.objective(x_o, x_m, y, ObjectiveConfig(importance_samples=3))
    for name, value in terms.as_floats().items():
        assert math.isfinite(value), name
    probs = model.predict_proba(x_o, n_samples=3)
    assert probs.shape == (BATCH, N_CLASSES)
    torch.testing.assert_close(probs.sum(1), torch.ones(BATCH))
    mu, logvar = model.prior_params(x_o)
    assert mu.shape == logvar.shape == (BATCH, Z)
    if model.can_generate:
        assert model.generate(x_o, 2).shape == (2, BATCH, X_M)
        assert model.impute(x_o).shape == (BATCH, X_M)
    if model.has_posterior:
        assert model.posterior(x_o, x_m, y)[0].shape == (BATCH, Z)


def test_m_xo_cannot_generate_and_says_so():
    model, (x_o, x_m, y) = _model(MXo), _batch()
    with pytest.raises(NotImplementedError, match="no decoder of x_M"):
        model.generate(x_o)
    with pytest.raises(NotImplementedError, match="no posterior"):
        model.posterior(x_o, x_m, y)


@pytest.mark.parametrize("cls", BASELINES)
def test_bad_inputs_name_the_argument(cls):
    model, (x_o, x_m, y) = _model(cls), _batch()
    with pytest.raises(ValueError, match="x_m"):
        model.objective(x_o, x_m[:, :3], y)
    with pytest.raises(ValueError, match="y"):
        model.objective(x_o, x_m, y + N_CLASSES)


def test_product_of_experts_by_hand():
    # N(1, 1) x N(3, 1) x N(0, 1): precision 3, mean (1 + 3) / 3, variance 1/3.
    mu, logvar = product_of_experts([torch.tensor([1.0]), torch.tensor([3.0])], [torch.zeros(1), torch.zeros(1)])
    torch.testing.assert_close(mu, torch.tensor([4.0 / 3.0]))
    torch.testing.assert_close(logvar, torch.tensor([math.log(1.0 / 3.0)]))
    # N(2, 0.5) x N(0, 1): precision 3, mean (2 / 0.5) / 3.
    mu, logvar = product_of_experts([torch.tensor([2.0])], [torch.tensor([math.log(0.5)])])
    torch.testing.assert_close(mu, torch.tensor([4.0 / 3.0]))
    torch.testing.assert_close(logvar.exp(), torch.tensor([1.0 / 3.0]))


def test_mvae_posteriors_are_the_products():
    model, (x_o, x_m, y) = _model(MVAE), _batch()
    mu_o, lv_o = model.encoder_o(x_o)
    mu_m, lv_m = model.encoder_m(x_m)
    precision = 1 + (-lv_o).exp() + (-lv_m).exp()
    mu, logvar = model.posterior(x_o, x_m, y)
    torch.testing.assert_close(logvar, -precision.log())
    torch.testing.assert_close(mu, (mu_o * (-lv_o).exp() + mu_m * (-lv_m).exp()) / precision)
    mu_p, logvar_p = model.prior_params(x_o)
    torch.testing.assert_close(logvar_p, -(1 + (-lv_o).exp()).log())


@torch.no_grad()
def test_mmvae_log_weights_use_the_mixture_density():
    model, (x_o, x_m, _) = _model(MMVAE, decoder="gaussian"), _batch()
    torch.manual_seed(3)
    log_w, samples, _ = model.log_weights(x_o, x_m, n_samples=2)
    assert log_w.shape == (2, 2, BATCH)
    experts = [model.encoder_o(x_o), model.encoder_m(x_m)]
    for m, z in enumerate(samples):
        densities = torch.stack([Normal(mu, (0.5 * lv).exp()).log_prob(z).sum(-1).exp() for mu, lv in experts])
        log_q_mix = (0.5 * densities.sum(0)).log()  # (K, B): the equal-weight mixture
        log_prior = Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_px = []
        for k in range(z.shape[0]):
            mean_o, lv_xo = model.decoder_o(z[k])
            mean_m, lv_xm = model.decoder(z[k])
            log_px.append(Normal(mean_o, (0.5 * lv_xo).exp()).log_prob(x_o).sum(-1)
                          + Normal(mean_m, (0.5 * lv_xm).exp()).log_prob(x_m).sum(-1))
        torch.testing.assert_close(log_w[m], torch.stack(log_px) + log_prior - log_q_mix, rtol=1e-4, atol=1e-4)


def _gradients(model, bound, seed=5):
    x_o, x_m, y = _batch()
    model.zero_grad()
    torch.manual_seed(seed)
    model.objective(x_o, x_m, y, ObjectiveConfig(mmvae_bound=bound, importance_samples=4, alpha=0.0)).loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_dreg_changes_only_the_encoder_gradients():
    """Same samples: DReG and IWAE give the decoders the same gradient, the encoders another."""
    model = _model(MMVAE)
    iwae, dreg = _gradients(model, "iwae"), _gradients(model, "dreg")
    for name in iwae:
        if name.startswith(("decoder", "decoder_o")):
            torch.testing.assert_close(dreg[name], iwae[name], rtol=1e-4, atol=1e-6)
    encoder = [n for n in iwae if n.startswith(("encoder_o", "encoder_m"))]
    assert encoder and any(not torch.allclose(dreg[n], iwae[n], atol=1e-6) for n in encoder)


def test_iwae_with_one_sample_is_the_elbo():
    model, (x_o, x_m, y) = _model(MMVAE), _batch()
    config = dict(importance_samples=1, alpha=1.0)
    torch.manual_seed(2)
    elbo = model.objective(x_o, x_m, y, ObjectiveConfig(mmvae_bound="elbo", **config)).loss
    torch.manual_seed(2)
    iwae = model.objective(x_o, x_m, y, ObjectiveConfig(mmvae_bound="iwae", **config)).loss
    torch.testing.assert_close(elbo, iwae)


@pytest.mark.parametrize("cls", (VCCA, MVAE))
def test_loss_is_the_sum_of_its_terms(cls):
    model, (x_o, x_m, y) = _model(cls), _batch()
    objective = ObjectiveConfig(alpha=7.0)
    terms = model.objective(x_o, x_m, y, objective)
    torch.testing.assert_close(terms.loss, terms.nll_x_m + terms.kl + 7.0 * terms.nll_y)
    assert float(terms.kl.detach()) >= 0.0 and float(terms.mmd) == 0.0


def test_m_xo_loss_is_weighted_cross_entropy_and_sum_reduction_scales_it():
    model, (x_o, x_m, y) = _model(MXo), _batch()
    torch.manual_seed(0)
    mean = model.objective(x_o, x_m, y, ObjectiveConfig(alpha=2.0))
    torch.manual_seed(0)
    summed = model.objective(x_o, x_m, y, ObjectiveConfig(alpha=2.0, ce_reduction="sum"))
    torch.testing.assert_close(mean.loss, 2.0 * mean.nll_y)
    torch.testing.assert_close(summed.loss, 2.0 * BATCH * summed.nll_y)


@pytest.mark.parametrize("cls", BASELINES)
def test_a_few_adam_steps_reduce_the_loss(cls):
    model, (x_o, x_m, y) = _model(cls), _batch()
    objective = ObjectiveConfig(importance_samples=2, alpha=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_at_fixed_noise():
        torch.manual_seed(11)
        with torch.no_grad():
            return float(model.objective(x_o, x_m, y, objective).loss)

    before = loss_at_fixed_noise()
    for step in range(40):
        torch.manual_seed(step)
        optimizer.zero_grad()
        model.objective(x_o, x_m, y, objective).loss.backward()
        optimizer.step()
    assert loss_at_fixed_noise() < before


def _tiny_splits(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x_o = rng.normal(size=(n, X_O)).astype(np.float32) * 0.3 + np.eye(N_CLASSES, X_O)[y]
    x_m = rng.normal(size=(n, X_M)).astype(np.float32) * 0.3 + np.eye(N_CLASSES, X_M)[y]
    return paired_from_arrays(x_o, x_m, y, seed=seed)


@pytest.mark.parametrize("model_type", ("m_xo", "linear_xo", "vcca", "mvae", "mmvae"))
def test_train_or_load_round_trip_and_model_type_mismatch(tmp_path, model_type):
    splits = _tiny_splits()
    config = get_config("mnist2", "smoke", model_type=model_type, epochs=2, batch_size=32)
    first = train_or_load(config, data=splits, checkpoint_root=tmp_path, progress=False)
    assert type(first.model) is model_class(model_type) and model_type in first.checkpoint_dir.name
    again = train_or_load(config, data=splits, checkpoint_root=tmp_path, progress=False)
    assert again.loaded and type(again.model) is type(first.model)
    model, stored, _ = load_checkpoint(first.checkpoint_dir)
    assert stored.model.model_type == model_type and type(model) is model_class(model_type)
    other = config.with_overrides(model_type="cmmd")
    with pytest.raises(CheckpointError, match="model.model_type"):
        load_checkpoint(first.checkpoint_dir, other)


def test_unknown_model_type_is_a_clear_error():
    with pytest.raises(ValueError, match="model_type='poe'.*choose one of"):
        get_config("mnist2", "smoke", model_type="poe")


class _Identity(MultimodalModel):
    """z given x_o is x_o itself: the probe sees the raw features."""

    def __init__(self):
        super().__init__(X_O, X_M, N_CLASSES, _config(), None)
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def prior_params(self, x_o):
        return x_o, torch.zeros_like(x_o)


def test_linear_probe_separates_separable_data_and_not_noise():
    splits = _tiny_splits(600)
    assert linear_probe_accuracy(_Identity(), splits.train, splits.test) > 0.95
    shuffled = _tiny_splits(600)
    generator = torch.Generator().manual_seed(0)
    shuffled.train.y = shuffled.train.y[torch.randperm(len(shuffled.train.y), generator=generator)]
    assert linear_probe_accuracy(_Identity(), shuffled.train, shuffled.test) < 0.6
