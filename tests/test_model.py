"""The CMMD model and its objective on tiny random tensors."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Categorical, Normal

from cmmd_lite import CMMD, ModelConfig, ObjectiveConfig
from cmmd_lite.losses import gaussian_kl

X_O, X_M, N_CLASSES, BATCH = 6, 5, 3, 16


def _model(decoder="gaussian", **kwargs):
    torch.manual_seed(0)
    config = ModelConfig(z_dim=4, encoder_hidden=(8,), prior_hidden=(8,), decoder_hidden=(8,),
                         classifier_hidden=(8,), decoder=decoder, **kwargs)
    return CMMD(X_O, X_M, N_CLASSES, config).eval()  # eval: no dropout, so the tests are exact


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, X_O, generator=g), torch.rand(BATCH, X_M, generator=g),
            torch.randint(0, N_CLASSES, (BATCH,), generator=g))


def _negative_elbo_by_hand(model, x_o, x_m, y, noise_q):
    """-E_q[log p(x_M|x_o,z) + log p(y|z)] + KL[q || p(z|x_o)], with torch.distributions."""
    mu_q, logvar_q = model.posterior(x_o, x_m, y)
    mu_p, logvar_p = model.prior_params(x_o)
    z = mu_q + (0.5 * logvar_q).exp() * noise_q
    mean, logvar = model.decode(x_o, z)
    log_px = Normal(mean, (0.5 * logvar).exp()).log_prob(x_m).sum(-1)
    log_py = Categorical(logits=model.classifier(z)).log_prob(y)
    q, p = Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())
    kl = torch.distributions.kl_divergence(q, p).sum(-1)
    return (-(log_px + log_py) + kl).mean(), (q, p, z)


def test_omega_one_is_exactly_the_negative_elbo():
    model, (x_o, x_m, y) = _model(), _batch()
    objective = ObjectiveConfig(omega=1.0, alpha=1.0, lam=1e6, classifier_input="posterior_sample")
    torch.manual_seed(7)
    terms = model.objective(x_o, x_m, y, objective)
    torch.manual_seed(7)
    noise_q = torch.randn(BATCH, 4)
    expected, _ = _negative_elbo_by_hand(model, x_o, x_m, y, noise_q)
    torch.testing.assert_close(terms.loss, expected)
    assert float(terms.mmd) == 0.0  # lam is irrelevant at omega = 1


@torch.no_grad()
def test_closed_form_objective_averages_to_the_monte_carlo_elbo():
    """Eq. 1 with the KL estimated by log q - log p at the samples: same expectation.
    The batch is repeated R times, so one batch mean averages R independent draws."""
    model, (x_o, x_m, y) = _model(), _batch(1)
    repeats = 4000
    x_o, x_m, y = x_o.repeat(repeats, 1), x_m.repeat(repeats, 1), y.repeat(repeats)
    objective = ObjectiveConfig(omega=1.0, alpha=1.0, classifier_input="posterior_sample")
    torch.manual_seed(3)
    closed = model.objective(x_o, x_m, y, objective, validate=False).loss
    mu_q, logvar_q = model.posterior(x_o, x_m, y)
    mu_p, logvar_p = model.prior_params(x_o)
    q, p = Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())
    z = q.sample()
    mean, logvar = model.decode(x_o, z)
    log_joint = (Normal(mean, (0.5 * logvar).exp()).log_prob(x_m).sum(-1)
                 + Categorical(logits=model.classifier(z)).log_prob(y) + p.log_prob(z).sum(-1))
    negative_elbo = -(log_joint - q.log_prob(z).sum(-1))  # per point, Eq. 1 with a sampled KL
    standard_error = float(negative_elbo.std() / math.sqrt(len(negative_elbo)))
    assert abs(float(closed - negative_elbo.mean())) < 4 * 2 ** 0.5 * standard_error


def test_objective_terms_combine_as_eq5():
    model, (x_o, x_m, y) = _model(), _batch(2)
    objective = ObjectiveConfig(omega=0.3, lam=50.0, alpha=4.0)
    terms = model.objective(x_o, x_m, y, objective)
    expected = terms.nll_x_m + 4.0 * terms.nll_y + 0.3 * terms.kl + 0.7 * 50.0 * terms.mmd
    torch.testing.assert_close(terms.loss, expected)
    assert set(terms.as_floats()) == {"loss", "nll_x_m", "nll_y", "kl", "mmd"}


def test_reference_options():
    model, (x_o, x_m, y) = _model(), _batch(3)

    def run(**kwargs):
        torch.manual_seed(11)
        return model.objective(x_o, x_m, y, ObjectiveConfig(**kwargs))

    paper, summed = run(), run(ce_reduction="sum")
    torch.testing.assert_close(summed.loss - paper.loss, 10.0 * (BATCH - 1) * paper.nll_y)
    reference_kl = run(kl_formula="reference")
    mu_q, logvar_q = model.posterior(x_o, x_m, y)
    mu_p, logvar_p = model.prior_params(x_o)
    extra = 0.5 * (logvar_q - logvar_p).exp().sum(-1).mean()
    torch.testing.assert_close(reference_kl.kl, paper.kl + extra)
    # classifier on the prior mean: the cross-entropy no longer depends on the noise
    first, second = run(classifier_input="prior_mean"), run(classifier_input="prior_mean", mmd_noise="shared")
    torch.testing.assert_close(first.nll_y, F.cross_entropy(model.classifier(mu_p), y))
    torch.testing.assert_close(first.nll_y, second.nll_y)


def test_shared_noise_makes_identical_prior_and_posterior_give_zero_mmd():
    model, (x_o, x_m, y) = _model(), _batch(4)
    # make q equal p for every point: with shared noise the two sample sets coincide exactly
    model.posterior = lambda x_o, x_m, y: model.prior_params(x_o)
    shared = model.objective(x_o, x_m, y, ObjectiveConfig(mmd_noise="shared", mmd_estimator="biased"))
    independent = model.objective(x_o, x_m, y, ObjectiveConfig(mmd_estimator="biased"))
    assert float(shared.mmd.detach()) == pytest.approx(0.0, abs=1e-7)
    assert float(independent.mmd.detach()) > 1e-6


@pytest.mark.parametrize("decoder", ["gaussian", "bernoulli"])
def test_gradients_reach_every_network(decoder):
    model, (x_o, x_m, y) = _model(decoder), _batch(5)
    model.train()
    model.objective(x_o, x_m, y, ObjectiveConfig(omega=0.5)).loss.backward()
    for name in ("encoder", "prior", "decoder", "classifier"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name


def test_deconv_decoder_shapes_and_crop():
    torch.manual_seed(0)
    config = ModelConfig(z_dim=4, encoder_hidden=(8,), prior_hidden=(8,), classifier_hidden=(8,), decoder="deconv")
    shapes = [(1, 28, 28), (3, 32, 32)]
    model = CMMD(X_O, 784 + 3072, N_CLASSES, config, x_m_shapes=shapes)
    x_o = torch.rand(2, X_O)
    assert model.impute(x_o).shape == (2, 784 + 3072)
    assert model.generate(x_o, 3).shape == (3, 2, 784 + 3072)
    terms = model.objective(x_o, torch.rand(2, 784 + 3072), torch.tensor([0, 1]))
    assert torch.isfinite(terms.loss)
    with pytest.raises(ValueError, match="x_m_shapes"):
        CMMD(X_O, 100, N_CLASSES, config)


def test_test_time_uses_x_o_only():
    model, (x_o, _, _) = _model(), _batch(6)
    probs = model.predict_proba(x_o, n_samples=5, generator=torch.Generator().manual_seed(0))
    assert probs.shape == (BATCH, N_CLASSES)
    torch.testing.assert_close(probs.sum(1), torch.ones(BATCH))
    mean_probs = model.predict_proba(x_o, use_mean=True)
    torch.testing.assert_close(mean_probs, F.softmax(model.classifier(model.prior_params(x_o)[0]), -1))
    assert model.impute(x_o).shape == (BATCH, X_M)


@pytest.mark.parametrize("kwargs, match", [
    ({"omega": 1.5}, "omega"), ({"omega": -0.1}, "omega"), ({"lam": -1.0}, "lam"), ({"alpha": -2.0}, "alpha"),
    ({"omega": float("nan")}, "omega"), ({"mmd_estimator": "fast"}, "mmd_estimator"),
    ({"classifier_input": "posterior"}, "classifier_input"), ({"mmd_bandwidth": 0.0}, "mmd_bandwidth"),
])
def test_hyperparameters_out_of_range(kwargs, match):
    model, batch = _model(), _batch()
    with pytest.raises(ValueError, match=match):
        model.objective(*batch, ObjectiveConfig(**kwargs))


def test_bad_inputs_name_the_argument():
    model, (x_o, x_m, y) = _model(), _batch()
    with pytest.raises(ValueError, match="x_o has 5 features"):
        model.objective(x_o[:, :5], x_m, y)
    with pytest.raises(ValueError, match="x_m has 7 rows"):
        model.objective(x_o, x_m[:7], y)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\]"):
        model.objective(x_o, x_m, torch.full((BATCH,), 3))
    with pytest.raises(ValueError, match="y must hold integer"):
        model.objective(x_o, x_m, y.float())
    bad = x_o.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="x_o contains NaN"):
        model.objective(bad, x_m, y)
    with pytest.raises(ValueError, match="shape"):
        model.objective(x_o[0], x_m, y)
    with pytest.raises(ValueError, match="z_dim"):
        ModelConfig(z_dim=0).validate()
    with pytest.raises(ValueError, match="n_classes"):
        CMMD(X_O, X_M, 1)


def test_kl_term_is_the_closed_form():
    model, (x_o, x_m, y) = _model(), _batch(8)
    terms = model.objective(x_o, x_m, y)
    expected = gaussian_kl(*model.posterior(x_o, x_m, y), *model.prior_params(x_o)).sum(-1).mean()
    torch.testing.assert_close(terms.kl, expected)
