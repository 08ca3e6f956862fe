"""Divergences and the CMMD objective (paper Eq. 1, 4, 5).

All log-likelihoods are in nats and summed over data dimensions; batch reductions are
means unless an option says otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .validation import check_choice

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor,
                *, formula: str = "exact") -> torch.Tensor:
    """Per-dimension KL[N(mu_q, var_q) || N(mu_p, var_p)] for diagonal Gaussians, shape (B, D).

    ``formula="exact"`` is the closed form
    0.5 * (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1).
    ``formula="reference"`` reproduces the paper's Theano code, which puts the
    var_q / var_p term at coefficient 1: the exact KL plus 0.5 * var_q / var_p. It is
    not a divergence (its minimum is at var_q = var_p / 2, not at q = p).
    """
    check_choice("formula", formula, ("exact", "reference"))
    var_ratio = torch.exp(logvar_q - logvar_p)
    kl = 0.5 * (logvar_p - logvar_q + var_ratio + (mu_q - mu_p).pow(2) * torch.exp(-logvar_p) - 1.0)
    return kl + 0.5 * var_ratio if formula == "reference" else kl


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """k(a_i, b_j) = exp(-||a_i - b_j||^2 / bandwidth), shape (len(a), len(b))."""
    return torch.exp(-torch.cdist(a, b).pow(2) / bandwidth)


def mmd(x: torch.Tensor, y: torch.Tensor, *, bandwidth: float | None = None,
        estimator: str = "unbiased") -> torch.Tensor:
    """Squared MMD between the samples ``x`` (n, D) and ``y`` (m, D) with a Gaussian kernel (Eq. 4).

    ``bandwidth`` defaults to D**2, the reference code's kernel exp(-mean_d((a-b)^2) / D).
    ``"biased"`` (the reference code's) averages each kernel matrix over all pairs, diagonals
    included; it is never negative and overestimates MMD^2 by O(1/n). ``"unbiased"`` is the
    U-statistic of Gretton et al. (2012): it leaves out the diagonals (i = j) of the within-
    sample matrices and, when n = m, of the cross matrix too (their Lemma 6), so that it stays
    unbiased when x_i and y_i are drawn together -- as in CMMD, where both come from the same
    x_o. It can be slightly negative.
    """
    check_choice("estimator", estimator, ("unbiased", "biased"))
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"mmd needs two (n, D) sample matrices of equal D; got {tuple(x.shape)} and {tuple(y.shape)}.")
    n, m = x.shape[0], y.shape[0]
    bandwidth = float(x.shape[1] ** 2) if bandwidth is None else bandwidth
    k_xx, k_yy, k_xy = gaussian_kernel(x, x, bandwidth), gaussian_kernel(y, y, bandwidth), gaussian_kernel(x, y, bandwidth)
    if estimator == "biased":
        return k_xx.mean() + k_yy.mean() - 2.0 * k_xy.mean()
    if n < 2 or m < 2:
        raise ValueError("the unbiased MMD estimator needs at least two samples on each side.")
    off_diagonal_mean = lambda k: (k.sum() - k.diagonal().sum()) / (k.shape[0] * (k.shape[1] - 1))  # noqa: E731
    cross = off_diagonal_mean(k_xy) if n == m else k_xy.mean()
    return off_diagonal_mean(k_xx) + off_diagonal_mean(k_yy) - 2.0 * cross


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, exp(logvar)) summed over the last dimension, shape (B,)."""
    return 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar)).sum(-1)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log Bernoulli(x; sigmoid(logits)) summed over the last dimension, shape (B,); x in [0, 1]."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def kl_warmup_weight(warmup_epochs: int, epoch: int, fraction: float = 0.0) -> float:
    """The warm-up factor beta in [0, 1] on the KL (divergence) term, ``fraction`` of the way
    through epoch ``epoch`` (counted from 1; ``fraction`` = steps done / steps per epoch):

        beta = min(1, (epoch - 1 + fraction) / warmup_epochs),    beta = 1 when warmup_epochs = 0.

    A linear ramp, updated every step, from 0 at the first step to 1 from epoch ``warmup_epochs + 1``
    on. MultiVae's MVAE ramps the same way per step from 0 (``(epoch - 1 + batch_ratio) / warmup``),
    but sets beta = 1 from epoch ``warmup`` itself, a jump from about (warmup - 1) / warmup; here the
    ramp runs through its last epoch.
    """
    if warmup_epochs == 0:
        return 1.0
    return min(1.0, (epoch - 1 + fraction) / warmup_epochs)


@dataclass
class ObjectiveTerms:
    """The terms of Eq. 5 for one mini-batch, each a scalar tensor (batch-averaged per data point).

    ``loss = nll_x_m + alpha * nll_y * ce_scale + beta * omega * kl + (1 - omega) * lam * mmd`` is what
    the optimiser minimises (the negative of Eq. 5); ``ce_scale`` is the batch size for the
    reference's summed cross-entropy and 1 otherwise, ``beta`` the KL warm-up factor
    (:func:`kl_warmup_weight`; 1 without warm-up). The terms are recorded unweighted.
    """

    loss: torch.Tensor
    nll_x_m: torch.Tensor  # -E_q[log p(x_M | x_o, z)]
    nll_y: torch.Tensor  # -E[log p(y | z)] (z from the configured input); 0 at alpha = 0 (not computed)
    kl: torch.Tensor  # KL[q(z | x_o, x_M, y) || p(z | x_o)], closed form
    mmd: torch.Tensor  # MMD[q(z | x_o), p(z | x_o)] on the batch

    def as_floats(self) -> dict[str, float]:
        return {name: float(value.detach()) for name, value in vars(self).items()}


def combine_terms(nll_x_m: torch.Tensor, nll_y: torch.Tensor, kl: torch.Tensor, mmd_value: torch.Tensor, *,
                  omega: float, lam: float, alpha: float, ce_scale: float = 1.0,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
    """Negative Eq. 5 from its terms, the KL weighted by the warm-up factor ``kl_weight``. At
    ``omega = 1`` and ``alpha = 1`` (no warm-up) it is the negative ELBO (Eq. 1)."""
    # at alpha = 0 the classifier's term is absent (CMMD does not compute it), not multiplied by zero
    loss = nll_x_m + alpha * ce_scale * nll_y if alpha > 0 else nll_x_m
    loss = loss + kl_weight * omega * kl
    if omega < 1.0:  # at omega = 1 the MMD term is absent, not multiplied by zero (no NaN leaks)
        loss = loss + (1.0 - omega) * lam * mmd_value
    return ObjectiveTerms(loss=loss, nll_x_m=nll_x_m, nll_y=nll_y, kl=kl, mmd=mmd_value)
