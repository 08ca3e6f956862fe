"""A linear-Gaussian CMMD where every quantity of Sec. 3.2 and Appendices A-B has a closed form.

    x_o ~ N(0, 1)
    x_M | x_o ~ N(a x_o, sigma_m^2)                 (the data)
    q(z | x_o, x_M) = N(b x_M + c x_o, s^2)         (an encoder)
    p(z | x_o) = N(d x_o, t^2)                      (a conditional prior)

The aggregate posterior q(z | x_o) = E_{p(x_M|x_o)} q(z | x_o, x_M) = N((ab + c) x_o, b^2 sigma_m^2 + s^2),
so (Eq. A1)

    E[KL(q(z|x_o,x_M) || p(z|x_o))] = I_q(x_M; z | x_o) + E[KL(q(z|x_o) || p(z|x_o))]

with I_q(x_M; z | x_o) = 0.5 log(1 + b^2 sigma_m^2 / s^2): the term-by-term KL of the ELBO is an upper
bound on the information z carries about x_M (Eq. 2 / A3), tight exactly when the marginal KL is 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _gaussian_kl(mean_q: np.ndarray | float, var_q: float, mean_p: np.ndarray | float, var_p: float):
    """KL[N(mean_q, var_q) || N(mean_p, var_p)] for scalars or arrays of means."""
    return 0.5 * (math.log(var_p / var_q) + (var_q + (np.asarray(mean_q) - mean_p) ** 2) / var_p - 1.0)


@dataclass(frozen=True)
class LinearGaussianCMMD:
    """The model above; defaults give an informative encoder and a well-matched prior."""

    a: float = 1.0  # how x_M depends on x_o
    sigma_m: float = 0.5  # the part of x_M that x_o does not explain
    b: float = 1.0  # how much the encoder listens to x_M
    c: float = 0.0  # how much it listens to x_o
    s: float = 0.3  # encoder noise
    d: float = 1.0  # prior mean slope
    t: float = 0.6  # prior noise

    def __post_init__(self) -> None:
        for name in ("sigma_m", "s", "t"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}={getattr(self, name)} must be positive (it is a standard deviation).")

    # --- closed forms -------------------------------------------------------------------------
    @property
    def aggregate_var(self) -> float:
        """Variance of q(z | x_o), the encoder averaged over p(x_M | x_o)."""
        return self.b ** 2 * self.sigma_m ** 2 + self.s ** 2

    def mutual_information(self) -> float:
        """I_q(x_M; z | x_o) in nats."""
        return 0.5 * math.log(self.aggregate_var / self.s ** 2)

    def expected_kl(self) -> float:
        """E_{p(x_o, x_M)}[KL(q(z|x_o,x_M) || p(z|x_o))], the ELBO's (term-by-term) KL."""
        mean_offset_sq = (self.a * self.b + self.c - self.d) ** 2 + self.b ** 2 * self.sigma_m ** 2
        return 0.5 * (math.log(self.t ** 2 / self.s ** 2) + (self.s ** 2 + mean_offset_sq) / self.t ** 2 - 1.0)

    def marginal_kl(self) -> float:
        """E_{p(x_o)}[KL(q(z|x_o) || p(z|x_o))], the marginal KL that CMMD replaces by MMD."""
        mean_offset_sq = (self.a * self.b + self.c - self.d) ** 2
        return 0.5 * (math.log(self.t ** 2 / self.aggregate_var)
                      + (self.aggregate_var + mean_offset_sq) / self.t ** 2 - 1.0)

    def matched_prior(self) -> "LinearGaussianCMMD":
        """The prior that makes the marginal KL zero: p(z|x_o) = q(z|x_o)."""
        return LinearGaussianCMMD(self.a, self.sigma_m, self.b, self.c, self.s,
                                  d=self.a * self.b + self.c, t=math.sqrt(self.aggregate_var))

    # --- Monte Carlo ------------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """n draws of x_o, x_M, z ~ q(z|x_o,x_M) and z_prior ~ p(z|x_o)."""
        x_o = rng.standard_normal(n)
        x_m = self.a * x_o + self.sigma_m * rng.standard_normal(n)
        z = self.b * x_m + self.c * x_o + self.s * rng.standard_normal(n)
        z_prior = self.d * x_o + self.t * rng.standard_normal(n)
        return {"x_o": x_o, "x_m": x_m, "z": z, "z_prior": z_prior}

    def expected_kl_monte_carlo(self, n: int, rng: np.random.Generator) -> tuple[float, float]:
        """(estimate, standard error) of :meth:`expected_kl` from n data points, exact KL per point."""
        draws = self.sample(n, rng)
        return _mean_and_error(_gaussian_kl(self.b * draws["x_m"] + self.c * draws["x_o"], self.s ** 2,
                                            self.d * draws["x_o"], self.t ** 2))

    def _log_q_and_aggregate(self, draws: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """log q(z|x_o,x_M) and log q(z|x_o) at the sampled z."""
        log_q = _log_normal(draws["z"], self.b * draws["x_m"] + self.c * draws["x_o"], self.s ** 2)
        log_aggregate = _log_normal(draws["z"], (self.a * self.b + self.c) * draws["x_o"], self.aggregate_var)
        return log_q, log_aggregate

    def mutual_information_monte_carlo(self, n: int, rng: np.random.Generator) -> tuple[float, float]:
        """(estimate, standard error) of I_q(x_M; z | x_o) = E[log q(z|x_o,x_M) - log q(z|x_o)]."""
        log_q, log_aggregate = self._log_q_and_aggregate(self.sample(n, rng))
        return _mean_and_error(log_q - log_aggregate)

    def marginal_kl_monte_carlo(self, n: int, rng: np.random.Generator) -> tuple[float, float]:
        """(estimate, standard error) of :meth:`marginal_kl` = E[log q(z|x_o) - log p(z|x_o)], z ~ q(z|x_o)
        drawn through (x_M, z) as Appendix A describes."""
        draws = self.sample(n, rng)
        _, log_aggregate = self._log_q_and_aggregate(draws)
        return _mean_and_error(log_aggregate - _log_normal(draws["z"], self.d * draws["x_o"], self.t ** 2))


def _log_normal(x: np.ndarray, mean: np.ndarray, var: float) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi * var) + (x - mean) ** 2 / var)


def _mean_and_error(per_point: np.ndarray) -> tuple[float, float]:
    return float(per_point.mean()), float(per_point.std() / math.sqrt(len(per_point)))


def gaussian_shift_mmd2(shift: float, bandwidth: float, dim: int, sigma: float = 1.0) -> float:
    """Squared population MMD between N(0, sigma^2 I) and N(mu, sigma^2 I) in ``dim`` dimensions,
    ||mu|| = ``shift``, for the kernel exp(-||a - b||^2 / bandwidth) of :func:`cmmd_lite.losses.mmd`:
    2 c (1 - exp(-||mu||^2 / (h + 4 sigma^2))) with c = (1 + 4 sigma^2 / h)^(-dim / 2)."""
    c = (1.0 + 4.0 * sigma ** 2 / bandwidth) ** (-dim / 2)
    return 2.0 * c * (1.0 - math.exp(-shift ** 2 / (bandwidth + 4.0 * sigma ** 2)))
