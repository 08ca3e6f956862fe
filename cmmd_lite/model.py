"""The CMMD model (paper Sec. 3, Fig. 1).

    encoder     q(z | x_o, x_M, y) = N(f_phi(x_o, x_M, y))        (training only)
    prior       p(z | x_o)         = N(f_theta(x_o))              (conditional prior)
    decoder     p(x_M | x_o, z)    Gaussian / Bernoulli / deconv  (Eq. 6)
    classifier  p(y | z)           = Cat(f_theta(z)), z from the prior (end of Sec. 3.2, Fig. 1)
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig, ObjectiveConfig
from .losses import ObjectiveTerms, combine_terms, gaussian_kl, mmd
from .nets import BernoulliDecoder, DeconvDecoder, GaussianDecoder, GaussianMLP, initialise, mlp
from .validation import check_labels, check_matrix, check_positive_int, check_range


class MultimodalModel(nn.Module):
    """What CMMD and the baselines share: sizes, input checks, the decoder of x_M, and test-time use.

    A subclass defines ``objective`` (returns :class:`ObjectiveTerms`), ``prior_params(x_o)``
    (the latent distribution given x_o alone, which feeds the classifier at test time),
    ``posterior(x_o, x_M, y)`` (the latent distribution that sees x_M, for the collapse curves)
    and, when it can generate x_M, ``decode(x_o, z)`` with ``self.decoder`` set.
    """

    can_generate = True  # False for models without a decoder of x_M (M-x_o)
    has_posterior = True  # False for models whose latent never sees x_M (M-x_o)

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None):
        super().__init__()
        config = config or ModelConfig()
        config.validate()
        for name, value in (("x_o_dim", x_o_dim), ("x_m_dim", x_m_dim), ("n_classes", n_classes)):
            check_positive_int(name, value)
        if n_classes < 2:
            raise ValueError(f"n_classes={n_classes} must be at least 2.")
        self.x_o_dim, self.x_m_dim, self.n_classes, self.config = x_o_dim, x_m_dim, n_classes, config
        self.x_m_shapes = [tuple(s) for s in x_m_shapes] if x_m_shapes else None

    def make_decoder(self, in_dim: int, out_dim: int, kind: str | None = None,
                     shapes: Sequence[tuple[int, ...]] | None = None) -> nn.Module:
        """A decoder of ``kind`` (default ``config.decoder``) from ``in_dim`` inputs to ``out_dim`` pixels."""
        config, kind = self.config, kind or self.config.decoder
        if kind == "gaussian":
            return GaussianDecoder(in_dim, config.decoder_hidden, out_dim, config.dropout,
                                   config.decoder_logvar_min, config.decoder_logvar_max)
        if kind == "bernoulli":
            return BernoulliDecoder(in_dim, config.decoder_hidden, out_dim, config.dropout)
        if not shapes:
            raise ValueError("decoder='deconv' needs x_m_shapes, the (C, H, W) of each missing image.")
        if sum(int(torch.tensor(s).prod()) for s in shapes) != out_dim:
            raise ValueError(f"x_m_shapes {list(shapes)} do not add up to x_m_dim={out_dim}.")
        return DeconvDecoder(in_dim, shapes)

    def check_inputs(self, x_o: torch.Tensor, x_m: torch.Tensor | None = None, y: torch.Tensor | None = None) -> None:
        """ValueError naming the argument when a shape, dtype or value is wrong."""
        check_matrix("x_o", x_o, n_cols=self.x_o_dim)
        if x_m is not None:
            check_matrix("x_m", x_m, n_cols=self.x_m_dim, n_rows=x_o.shape[0])
        if y is not None:
            check_labels("y", y, self.n_classes, n_rows=x_o.shape[0])

    def _need_generator(self) -> None:
        if not self.can_generate:
            raise NotImplementedError(f"{type(self).__name__} has no decoder of x_M, so it cannot impute or "
                                      "generate; use CMMD, VCCA, MVAE or MMVAE.")

    # --- test time: only x_o ------------------------------------------------------------------
    @torch.no_grad()
    def predict_proba(self, x_o: torch.Tensor, n_samples: int = 10, *, use_mean: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """p(y | x_o) = E_{p(z|x_o)}[p(y|z)], averaged over ``n_samples`` samples of z (B, n_classes).

        ``z`` comes from :meth:`prior_params`. ``use_mean=True`` feeds its mean instead (the
        reference code's test protocol).
        """
        mu_p, logvar_p = self.prior_params(x_o)
        if use_mean:
            return F.softmax(self.classifier(mu_p), dim=-1)
        probs = torch.zeros(x_o.shape[0], self.n_classes, device=x_o.device, dtype=x_o.dtype)
        for _ in range(n_samples):
            noise = torch.randn(mu_p.shape, device=mu_p.device, dtype=mu_p.dtype, generator=generator)
            probs += F.softmax(self.classifier(mu_p + torch.exp(0.5 * logvar_p) * noise), dim=-1)
        return probs / n_samples

    @torch.no_grad()
    def impute(self, x_o: torch.Tensor) -> torch.Tensor:
        """The mean of p(x_M | x_o, z) at the mean of z given x_o (B, x_m_dim)."""
        self._need_generator()
        mu_p, _ = self.prior_params(x_o)
        return self.decoder.mean(self.decode(x_o, mu_p))

    @torch.no_grad()
    def generate(self, x_o: torch.Tensor, n_samples: int = 1, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for z drawn given x_o alone: (n_samples, B, x_m_dim)."""
        self._need_generator()
        mu_p, logvar_p = self.prior_params(x_o)
        outputs = []
        for _ in range(n_samples):
            noise = torch.randn(mu_p.shape, device=mu_p.device, dtype=mu_p.dtype, generator=generator)
            z = mu_p + torch.exp(0.5 * logvar_p) * noise
            outputs.append(self.decoder.mean(self.decode(x_o, z)))
        return torch.stack(outputs)


class CMMD(MultimodalModel):
    """Conditional multimodal discriminative model.

    Args:
        x_o_dim, x_m_dim: flattened sizes of the observed and the missing modalities.
        n_classes: number of classes of y.
        config: network sizes (:class:`ModelConfig`).
        x_m_shapes: (C, H, W) of each missing image modality, needed by the deconv decoder.
    """

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None = None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None = None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        config, drop = self.config, self.config.dropout
        self.encoder = GaussianMLP(x_o_dim + x_m_dim + n_classes, config.encoder_hidden, config.z_dim, drop)
        self.prior = GaussianMLP(x_o_dim, config.prior_hidden, config.z_dim, drop)
        self.decoder = self.make_decoder(config.z_dim + x_o_dim, x_m_dim, shapes=x_m_shapes)
        self.classifier = mlp(config.z_dim, config.classifier_hidden, n_classes, drop)
        initialise(self, config.init_std)

    # --- the distributions -------------------------------------------------------------------
    def posterior(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x_o, x_M, y); the encoder sees [x_M, x_o, one-hot y]."""
        # A comparison instead of F.one_hot, which reads the labels' range back to the host (two GPU
        # syncs per step); the labels are checked where they enter (check_inputs, PairedData).
        one_hot = (y[:, None] == torch.arange(self.n_classes, device=y.device)).to(x_o.dtype)
        return self.encoder(torch.cat([x_m, x_o, one_hot], dim=1))

    def prior_params(self, x_o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of the conditional prior p(z | x_o)."""
        return self.prior(x_o)

    def decode(self, x_o: torch.Tensor, z: torch.Tensor):
        """Parameters of p(x_M | x_o, z)."""
        return self.decoder(torch.cat([z, x_o], dim=1))

    # --- training objective ------------------------------------------------------------------
    def objective(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor,
                  objective: ObjectiveConfig | None = None, *, validate: bool = True,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
        """Negative Eq. 5 on a mini-batch, term by term (one reparameterised sample per point), with
        the KL weighted by ``kl_weight`` (the warm-up factor, :func:`cmmd_lite.losses.kl_warmup_weight`).

        Paper vs reference code (``ObjectiveConfig``):
        ``classifier_input`` -- p(y|z) gets z ~ p(z|x_o) (paper, end of Sec. 3.2 and Fig. 1), the prior
        mean mu_p(x_o) (reference code), or z ~ q (then omega = alpha = 1 is exactly the ELBO, Eq. 1).
        ``ce_reduction`` -- "sum" multiplies the batch-mean cross-entropy by the batch size, as
        the reference code's summed cross-entropy beside averaged other terms does.
        ``kl_formula`` -- see :func:`cmmd_lite.losses.gaussian_kl`.
        ``mmd_noise`` -- "shared" draws the posterior and prior samples of the MMD term with the
        same standard-normal noise (reference code); "independent" draws them separately.
        The MMD compares the batch's posterior samples with its prior samples. Each pair has its own
        x_o, so these are samples of the batch's *mixtures* (1/B) sum_i q(z|x_o^i, x_M^i, y^i) and
        (1/B) sum_i p(z|x_o^i), not of the aggregate q(z|x_o) of one x_o (Appendix A): the paper's
        "average posterior" (Sec. 3.2) against the average prior.
        At ``alpha = 0`` the classifier is not run (``nll_y`` is 0). The KL and the MMD are computed
        at any weight: they cost no network pass, and their recorded values are read at omega = 0 and
        lam = 0 (chapter 4, the sweeps).
        """
        objective = objective or ObjectiveConfig()
        if validate:
            objective.validate()
            check_range("kl_weight", kl_weight, 0.0, 1.0)
            self.check_inputs(x_o, x_m, y)
        mu_q, logvar_q = self.posterior(x_o, x_m, y)
        mu_p, logvar_p = self.prior_params(x_o)
        noise_q = torch.randn_like(mu_q)
        noise_p = noise_q if objective.mmd_noise == "shared" else torch.randn_like(mu_p)
        z_q = mu_q + torch.exp(0.5 * logvar_q) * noise_q  # (B, z_dim)
        z_p = mu_p + torch.exp(0.5 * logvar_p) * noise_p  # (B, z_dim)

        nll_x_m = self.decoder.nll(self.decode(x_o, z_q), x_m).mean()
        if objective.alpha > 0:
            z_for_classifier = {"prior_sample": z_p, "prior_mean": mu_p, "posterior_sample": z_q}[objective.classifier_input]
            nll_y = F.cross_entropy(self.classifier(z_for_classifier), y)
        else:
            nll_y = torch.zeros((), device=x_o.device, dtype=x_o.dtype)
        kl = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p, formula=objective.kl_formula).sum(-1).mean()
        if objective.omega < 1.0:
            mmd_value = mmd(z_q, z_p, bandwidth=objective.mmd_bandwidth, estimator=objective.mmd_estimator)
        else:
            mmd_value = torch.zeros((), device=x_o.device, dtype=x_o.dtype)
        ce_scale = float(len(y)) if objective.ce_reduction == "sum" else 1.0
        return combine_terms(nll_x_m, nll_y, kl, mmd_value, omega=objective.omega, lam=objective.lam,
                             alpha=objective.alpha, ce_scale=ce_scale, kl_weight=kl_weight)
