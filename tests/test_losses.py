"""KL and MMD against independent computations."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from cmmd_lite.losses import gaussian_kernel, gaussian_kl, mmd
from cmmd_lite.theory import gaussian_shift_mmd2


def _random_gaussians(seed, shape=(64, 5)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(4)]


def test_kl_matches_torch_distributions():
    mu_q, logvar_q, mu_p, logvar_p = _random_gaussians(0)
    expected = kl_divergence(Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp()))
    torch.testing.assert_close(gaussian_kl(mu_q, logvar_q, mu_p, logvar_p), expected, rtol=1e-12, atol=1e-12)


def test_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu_q, logvar_q = torch.tensor([0.3, -1.0]), torch.tensor([-0.5, 0.4])
    mu_p, logvar_p = torch.tensor([-0.2, 0.5]), torch.tensor([0.1, -0.3])
    q, p = Normal(mu_q, (0.5 * logvar_q).exp()), Normal(mu_p, (0.5 * logvar_p).exp())
    z = mu_q + (0.5 * logvar_q).exp() * torch.randn(400_000, 2, generator=g)
    log_ratio = q.log_prob(z) - p.log_prob(z)  # (S, 2)
    standard_error = log_ratio.std(0) / math.sqrt(len(z))
    closed_form = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    assert ((log_ratio.mean(0) - closed_form).abs() < 4 * standard_error).all()


def test_kl_is_zero_only_at_equality_and_reference_formula_is_not():
    mu, logvar = torch.zeros(1, 3), torch.zeros(1, 3)
    assert gaussian_kl(mu, logvar, mu, logvar).abs().max() == 0
    # the reference code's formula = exact + 0.5 var_q/var_p; minimum at var_q = var_p / 2, not at q = p
    reference = gaussian_kl(mu, logvar, mu, logvar, formula="reference")
    torch.testing.assert_close(reference, torch.full((1, 3), 0.5))
    logvars = torch.linspace(-3, 1, 4001)[:, None]
    values = gaussian_kl(torch.zeros_like(logvars), logvars, torch.zeros_like(logvars), torch.zeros_like(logvars),
                         formula="reference")[:, 0]
    assert abs(float(logvars[values.argmin(), 0].exp()) - 0.5) < 1e-2


def test_mmd_identical_samples_biased_is_zero_and_symmetry():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(2))
    y = torch.randn(40, 4, generator=torch.Generator().manual_seed(3)) + 1.0
    assert float(mmd(x, x, estimator="biased")) == pytest.approx(0.0, abs=1e-7)
    for estimator in ("biased", "unbiased"):
        torch.testing.assert_close(mmd(x, y, estimator=estimator), mmd(y, x, estimator=estimator))


def test_mmd_grows_with_shift():
    g = torch.Generator().manual_seed(4)
    x, noise = torch.randn(200, 3, generator=g), torch.randn(200, 3, generator=g)
    values = [float(mmd(x, noise + shift, bandwidth=3.0)) for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values[1] > 0 and values == sorted(values)
    assert abs(values[0]) < values[1] / 5


def test_unbiased_estimator_mean_is_the_population_value_and_biased_is_not():
    dim, n, bandwidth, reps = 3, 20, 2.0, 4000
    shift = torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)
    truth = gaussian_shift_mmd2(0.6, bandwidth, dim)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(reps, n, dim, generator=g, dtype=torch.float64)
    y = torch.randn(reps, n, dim, generator=g, dtype=torch.float64) + shift
    unbiased = torch.stack([mmd(a, b, bandwidth=bandwidth) for a, b in zip(x, y)])
    biased = torch.stack([mmd(a, b, bandwidth=bandwidth, estimator="biased") for a, b in zip(x, y)])
    standard_error = float(unbiased.std() / math.sqrt(reps))
    assert abs(float(unbiased.mean()) - truth) < 4 * standard_error
    assert float(biased.mean()) - truth > 10 * standard_error  # the biased estimator overshoots


def test_default_bandwidth_is_the_reference_kernel():
    g = torch.Generator().manual_seed(6)
    a, b = torch.randn(5, 7, generator=g), torch.randn(6, 7, generator=g)
    reference = torch.exp(-((a[:, None] - b[None]) ** 2).mean(-1) / 7)  # exp(-mean_d((a-b)^2) / D)
    torch.testing.assert_close(gaussian_kernel(a, b, 49.0), reference)
    biased = reference.new_tensor(0.0) + mmd(a, b, estimator="biased")
    explicit = mmd(a, b, bandwidth=49.0, estimator="biased")
    torch.testing.assert_close(biased, explicit)


def test_bad_arguments_are_named():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="estimator"):
        mmd(x, x, estimator="fast")
    with pytest.raises(ValueError, match="equal D"):
        mmd(x, torch.randn(4, 3))
    with pytest.raises(ValueError, match="formula"):
        gaussian_kl(x, x, x, x, formula="theano")


def test_unbiased_estimator_stays_unbiased_for_paired_samples():
    """x_i and y_i drawn together (as CMMD's posterior and prior samples of one x_o): the
    marginals are equal, so the population MMD is 0, and the estimator's mean must be too."""
    reps, n = 3000, 16
    g = torch.Generator().manual_seed(7)
    centres = torch.randn(reps, n, 2, generator=g, dtype=torch.float64) * 2
    x = centres + 0.3 * torch.randn(reps, n, 2, generator=g, dtype=torch.float64)
    y = centres + 0.3 * torch.randn(reps, n, 2, generator=g, dtype=torch.float64)
    values = torch.stack([mmd(a, b, bandwidth=1.0) for a, b in zip(x, y)])
    assert abs(float(values.mean())) < 4 * float(values.std()) / math.sqrt(reps)
