"""The linear-Gaussian example: Eq. A1 exactly, and Monte Carlo agreeing with the closed forms."""
import math

import numpy as np
import pytest

from cmmd_lite.theory import LinearGaussianCMMD


@pytest.mark.parametrize("model", [LinearGaussianCMMD(), LinearGaussianCMMD(a=0.3, sigma_m=1.2, b=0.7, c=0.4, s=0.5,
                                                                             d=-0.2, t=1.5)])
def test_expected_kl_splits_into_information_and_marginal_kl(model):
    assert model.expected_kl() == pytest.approx(model.mutual_information() + model.marginal_kl(), rel=1e-12)
    assert model.expected_kl() >= model.mutual_information() - 1e-12  # Eq. 2 / A3
    assert model.marginal_kl() >= 0


def test_bound_is_tight_exactly_for_the_matched_prior():
    model = LinearGaussianCMMD(d=0.0, t=2.0)
    matched = model.matched_prior()
    assert matched.marginal_kl() == pytest.approx(0.0, abs=1e-12)
    assert matched.expected_kl() == pytest.approx(matched.mutual_information(), rel=1e-12)
    assert model.expected_kl() > model.mutual_information() + 0.1


def test_an_encoder_that_ignores_x_m_carries_no_information():
    collapsed = LinearGaussianCMMD(b=0.0)
    assert collapsed.mutual_information() == 0.0


def test_monte_carlo_agrees_with_closed_forms():
    model = LinearGaussianCMMD(a=0.5, sigma_m=0.8, b=1.3, c=-0.2, s=0.4, d=0.1, t=0.9)
    rng = np.random.default_rng(0)
    kl, kl_se = model.expected_kl_monte_carlo(200_000, rng)
    mi, mi_se = model.mutual_information_monte_carlo(200_000, rng)
    marginal, marginal_se = model.marginal_kl_monte_carlo(200_000, rng)
    assert abs(kl - model.expected_kl()) < 4 * kl_se
    assert abs(mi - model.mutual_information()) < 4 * mi_se
    assert abs(marginal - model.marginal_kl()) < 4 * marginal_se
    assert math.isclose(model.mutual_information(), 0.5 * math.log(1 + (1.3 * 0.8 / 0.4) ** 2))


def test_standard_deviations_must_be_positive():
    with pytest.raises(ValueError, match="s=0"):
        LinearGaussianCMMD(s=0)
