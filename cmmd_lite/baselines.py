"""The models CMMD is compared with in the paper (Sec. 4, Tables 1-3, Fig. 2), and a linear classifier of x_o.

Every baseline has CMMD's interface (:class:`~cmmd_lite.model.MultimodalModel`): ``objective``
returns the same :class:`~cmmd_lite.losses.ObjectiveTerms`, so the trainer, checkpoints and
metrics are shared. For a fair comparison the networks are CMMD's, sized by the same
:class:`~cmmd_lite.config.ModelConfig`:

* a network that sees x_o alone has ``prior_hidden`` (CMMD's conditional prior),
* a network that sees x_M has ``encoder_hidden``, decoders have ``decoder_hidden``,
* the classifier p(y|z) is ``classifier_hidden`` on z drawn given x_o alone, trained jointly with
  weight ``alpha`` (and ``ce_reduction``), as in CMMD. ``alpha = 0`` trains the latent model
  without labels (the classifier, and the x_o encoding only it needs, are then not run; epochs are
  selected by validation loss); use :func:`cmmd_lite.evaluate.linear_probe_accuracy` then, MMVAE's
  protocol.
* :class:`LinearXo` (``model_type="linear_xo"``) is the other classifier of x_o alone: softmax of an
  affine map of its pixels, the protocol of the paper's 13.1% for M-x_o (Wang et al.'s baseline).
* ``kl_weight`` (every ``objective``'s keyword) is the KL warm-up factor beta of
  :func:`cmmd_lite.losses.kl_warmup_weight` (``ObjectiveConfig.kl_warmup_epochs``) on each KL term:
  VCCA's, MVAE's three, MMVAE's divergence inside its importance weights; M-x_o has none.

What each ``ObjectiveTerms`` field holds for a baseline: ``nll_x_m`` the reconstruction
negative log-likelihood of every decoded modality (x_o too, where the model decodes it),
``kl`` the KL (or its Monte Carlo estimate) to the N(0, I) prior, ``mmd`` zero.

Evaluation protocol (say it wherever numbers are compared): CMMD's published accuracy is its
jointly trained nonlinear classifier on the conditional prior; MMVAE's published 91.3% on
MNIST-SVHN is a *linear probe* on z from the MNIST encoder; MVAE's 95.7% comes from Shi et al.
(2019). Here both protocols are available for every model.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .config import ModelConfig, ObjectiveConfig
from .losses import ObjectiveTerms, gaussian_kl, gaussian_nll
from .model import MultimodalModel
from .nets import GaussianMLP, initialise, mlp
from .validation import check_range


def product_of_experts(mus: Sequence[torch.Tensor], logvars: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of the normalised product of diagonal Gaussians N(mu_i, var_i) and N(0, I).

    The N(0, I) "prior expert" is always included (Wu & Goodman 2018, Sec. 3): precision
    T = 1 + sum_i 1/var_i, mean = (sum_i mu_i / var_i) / T, variance 1 / T.
    """
    precision = 1.0 + sum(torch.exp(-lv) for lv in logvars)
    weighted = sum(mu * torch.exp(-lv) for mu, lv in zip(mus, logvars))
    return weighted / precision, -torch.log(precision)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension."""
    return -gaussian_nll(z, mu, logvar)


def _sample(mu: torch.Tensor, logvar: torch.Tensor, *leading: int) -> torch.Tensor:
    """Reparameterised samples of N(mu, exp(logvar)), shape (*leading, *mu.shape)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn(*leading, *mu.shape, device=mu.device, dtype=mu.dtype)


class _LatentClassifierBaseline(MultimodalModel):
    """A latent model with an x_o network ``encoder_o`` and a classifier on z given x_o."""

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        config = self.config
        self.encoder_o = GaussianMLP(x_o_dim, config.prior_hidden, config.z_dim, config.dropout)
        self.classifier = mlp(config.z_dim, config.classifier_hidden, n_classes, config.dropout)

    def prior_params(self, x_o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of z given x_o alone: what the classifier sees at test time."""
        return self.encoder_o(x_o)

    def _classification_nll(self, mu_o: torch.Tensor, logvar_o: torch.Tensor, y: torch.Tensor,
                            objective: ObjectiveConfig) -> tuple[torch.Tensor, float]:
        """(-log p(y|z) averaged over the batch, its weight alpha * ce_scale); z given x_o alone.

        ``classifier_input="prior_mean"`` feeds the mean, any other value a sample.
        """
        z = mu_o if objective.classifier_input == "prior_mean" else _sample(mu_o, logvar_o)
        ce_scale = float(len(y)) if objective.ce_reduction == "sum" else 1.0
        return F.cross_entropy(self.classifier(z), y), objective.alpha * ce_scale

    def _plus_classification(self, loss: torch.Tensor, latent_given_x_o: Callable[[], tuple[torch.Tensor, torch.Tensor]],
                             y: torch.Tensor, objective: ObjectiveConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """(``loss`` + alpha * ce_scale * CE, CE), CE of p(y|z) with z from ``latent_given_x_o()``,
        the (mu, logvar) of z given x_o. At alpha = 0 neither the classifier nor ``latent_given_x_o``
        runs: ``loss`` comes back unchanged and CE as 0."""
        if objective.alpha == 0:
            return loss, torch.zeros((), device=loss.device, dtype=loss.dtype)
        nll_y, weight = self._classification_nll(*latent_given_x_o(), y, objective)
        return loss + weight * nll_y, nll_y

    def _x_o_decoder(self, in_dim: int) -> torch.nn.Module:
        # x_o is a flattened image (or two); the deconv decoder is only for x_M (Table D1).
        kind = "bernoulli" if self.config.decoder == "deconv" else self.config.decoder
        return self.make_decoder(in_dim, self.x_o_dim, kind=kind)

    def decode(self, x_o: torch.Tensor, z: torch.Tensor):
        """Parameters of p(x_M | z); the baselines' decoders do not see x_o."""
        return self.decoder(z)

    def _start(self, x_o, x_m, y, objective, validate, kl_weight: float = 1.0) -> ObjectiveConfig:
        objective = objective or ObjectiveConfig()
        if validate:
            objective.validate()
            check_range("kl_weight", kl_weight, 0.0, 1.0)
            self.check_inputs(x_o, x_m, y)
        return objective


class MXo(_LatentClassifierBaseline):
    """M-x_o (paper Tables 1-2): a classifier on x_o alone, CMMD's prior + classifier path.

    z ~ N(mu(x_o), var(x_o)) from a ``prior_hidden`` network, then p(y|z); trained on
    ``alpha * cross-entropy`` only. It is the floor a multimodal model must beat: whatever CMMD
    gains over it comes from x_M seen in training. It has no decoder and no posterior.
    """

    can_generate = False
    has_posterior = False

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None = None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None = None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        initialise(self, self.config.init_std)

    def posterior(self, x_o, x_m, y):
        raise NotImplementedError("M-x_o never sees x_M, so it has no posterior (and no collapse curves).")

    def objective(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor,
                  objective: ObjectiveConfig | None = None, *, validate: bool = True,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
        """alpha * cross-entropy of p(y|z), z given x_o (x_m and ``kl_weight`` are accepted and ignored)."""
        objective = self._start(x_o, x_m, y, objective, validate, kl_weight)
        nll_y, weight = self._classification_nll(*self.encoder_o(x_o), y, objective)
        zero = torch.zeros((), device=x_o.device, dtype=x_o.dtype)
        return ObjectiveTerms(loss=weight * nll_y, nll_x_m=zero, nll_y=nll_y, kl=zero, mmd=zero)


class _PointMass(torch.nn.Module):
    """x -> (x, log-variance -30): z is x_o itself (exp(-15), about 3e-7, of noise when sampled: the
    floor every Gaussian of the library has, :class:`~cmmd_lite.nets.GaussianMLP`)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, torch.full_like(x, -30.0)


class LinearXo(MXo):
    """A linear classifier on the raw pixels of x_o: softmax(W x_o + b), trained on ``alpha *
    cross-entropy`` like M-x_o, by the same trainer (Adam, early stopping on validation accuracy).

    The CMMD paper's M-x_o figure for 2-modality MNIST (13.1% error, Table 2) comes from Wang et al.'s
    protocol, a linear classifier on view 1's pixels, not from a network like :class:`MXo`'s; this is
    that protocol within the library (Wang et al. fit a linear SVM; this one is multinomial logistic).
    Its "z given x_o" is x_o itself (so :func:`~cmmd_lite.evaluate.linear_probe_accuracy` of it fits the
    same linear model by L-BFGS, on standardised pixels, with the probe's L2 penalty). It has no hidden
    layer: every width field of the config is ignored (and left out of its checkpoint key).
    """

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None = None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None = None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        self.encoder_o = _PointMass()
        self.classifier = mlp(x_o_dim, (), n_classes, 0.0)
        initialise(self, self.config.init_std)


class VCCA(_LatentClassifierBaseline):
    """VCCA (Wang et al. 2017, Eq. 4): z ~ q(z|x_o), p(z) = N(0, I), decoders p(x_o|z) and p(x_M|z).

    Loss: -E_q[log p(x_o|z) + log p(x_M|z)] + KL[q(z|x_o) || N(0, I)] + alpha * CE(p(y|z)).
    Differences from the paper's VCCA: the classifier is trained jointly on z (the original
    trains one afterwards on the learned features; use a linear probe with alpha = 0 for
    that); the decoders learn their variances (as the CMMD paper did "for fair comparisons",
    its footnote 4); no private variables (VCCA-private). The "posterior" is q(z|x_o) itself: VCCA
    has no encoder that sees x_M.
    """

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None = None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None = None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        z_dim = self.config.z_dim
        self.decoder_o = self._x_o_decoder(z_dim)
        self.decoder = self.make_decoder(z_dim, x_m_dim, shapes=x_m_shapes)
        initialise(self, self.config.init_std)

    def posterior(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor):
        """q(z | x_o): VCCA's only inference network (x_m and y are ignored)."""
        return self.encoder_o(x_o)

    def objective(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor,
                  objective: ObjectiveConfig | None = None, *, validate: bool = True,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
        """Negative VCCA ELBO (its KL weighted by ``kl_weight``) plus alpha * cross-entropy, on a mini-batch."""
        objective = self._start(x_o, x_m, y, objective, validate, kl_weight)
        mu, logvar = self.encoder_o(x_o)
        z = _sample(mu, logvar)
        nll = (self.decoder_o.nll(self.decoder_o(z), x_o) + self.decoder.nll(self.decoder(z), x_m)).mean()
        kl = gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar)).sum(-1).mean()
        loss, nll_y = self._plus_classification(nll + kl_weight * kl, lambda: (mu, logvar), y, objective)
        return ObjectiveTerms(loss=loss, nll_x_m=nll, nll_y=nll_y, kl=kl,
                              mmd=torch.zeros((), device=x_o.device, dtype=x_o.dtype))


class _TwoExpertBaseline(_LatentClassifierBaseline):
    """MVAE and MMVAE: an expert per modality (q(z|x_o), q(z|x_M)) and a decoder per modality."""

    def __init__(self, x_o_dim: int, x_m_dim: int, n_classes: int, config: ModelConfig | None = None,
                 x_m_shapes: Sequence[tuple[int, ...]] | None = None):
        super().__init__(x_o_dim, x_m_dim, n_classes, config, x_m_shapes)
        config = self.config
        self.encoder_m = GaussianMLP(x_m_dim, config.encoder_hidden, config.z_dim, config.dropout)
        self.decoder_o = self._x_o_decoder(config.z_dim)
        self.decoder = self.make_decoder(config.z_dim, x_m_dim, shapes=x_m_shapes)
        initialise(self, config.init_std)


class MVAE(_TwoExpertBaseline):
    """MVAE (Wu & Goodman 2018): a product of experts q(z|x_o) q(z|x_M) N(0, I) (Sec. 3, Eq. 5-6).

    Loss: the negative joint ELBO plus the negative single-modality ELBOs (their "sub-sampled"
    training objective for two modalities, Sec. 3.2), each ELBO reconstructing the modalities it
    conditions on, plus alpha * CE(p(y|z)) with z from the x_o-only product q(z|x_o) N(0, I).
    Differences: the KL warm-up is off by default (``kl_warmup_epochs``; the original anneals the
    KL weight from 0 to 1, MultiVae over its first 10 epochs); Gaussian or Bernoulli MLP decoders
    from ``ModelConfig`` instead of the original's per-dataset nets.
    ``posterior`` is the joint product (x_o and x_M), ``prior_params`` the x_o-only product.
    """

    def prior_params(self, x_o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The product q(z|x_o) N(0, I): MVAE's posterior when only x_o is observed."""
        mu, logvar = self.encoder_o(x_o)
        return product_of_experts([mu], [logvar])

    def posterior(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor | None = None):
        """The joint product q(z|x_o) q(z|x_M) N(0, I) (y is ignored)."""
        experts = [self.encoder_o(x_o), self.encoder_m(x_m)]
        return product_of_experts([e[0] for e in experts], [e[1] for e in experts])

    def objective(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor,
                  objective: ObjectiveConfig | None = None, *, validate: bool = True,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
        """-(ELBO(x_o, x_M) + ELBO(x_o) + ELBO(x_M)) + alpha * cross-entropy, on a mini-batch; the
        three KL terms weighted by ``kl_weight`` (MultiVae's beta)."""
        objective = self._start(x_o, x_m, y, objective, validate, kl_weight)
        expert_o, expert_m = self.encoder_o(x_o), self.encoder_m(x_m)
        nll, kl = 0.0, 0.0
        for use_o, use_m in ((True, True), (True, False), (False, True)):
            experts = [e for e, used in ((expert_o, use_o), (expert_m, use_m)) if used]
            mu, logvar = product_of_experts([e[0] for e in experts], [e[1] for e in experts])
            z = _sample(mu, logvar)
            if use_o:
                nll = nll + self.decoder_o.nll(self.decoder_o(z), x_o).mean()
            if use_m:
                nll = nll + self.decoder.nll(self.decoder(z), x_m).mean()
            kl = kl + gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar)).sum(-1).mean()
        loss, nll_y = self._plus_classification(nll + kl_weight * kl,
                                                lambda: product_of_experts([expert_o[0]], [expert_o[1]]), y, objective)
        return ObjectiveTerms(loss=loss, nll_x_m=nll, nll_y=nll_y, kl=kl,
                              mmd=torch.zeros((), device=x_o.device, dtype=x_o.dtype))


class MMVAE(_TwoExpertBaseline):
    """MMVAE (Shi et al. 2019): a mixture of experts q(z|x_o,x_M) = (q(z|x_o) + q(z|x_M)) / 2.

    The bound is stratified over the experts (their Eq. 3 and 4): for each expert m, K samples
    z_k ~ q(z|x_m) are weighted by log w_k = log p(x_o|z_k) + log p(x_M|z_k) + log p(z_k) -
    log q_mix(z_k); ``mmvae_bound`` chooses

    * ``"elbo"``: mean_k log w_k with K = 1;
    * ``"iwae"``: log mean_k exp(log w_k) with K = ``importance_samples``;
    * ``"dreg"``: the same bound with the doubly reparameterised gradient of Tucker et al. (2019)
      for the encoders (their default, K = 30).

    plus alpha * CE(p(y|z)), z ~ q(z|x_o). Differences: Gaussian prior, posteriors and
    likelihoods (the original uses Laplace ones), the classifier is trained jointly (the
    published accuracy is a linear probe on an unsupervised model: ``alpha = 0`` and
    :func:`~cmmd_lite.evaluate.linear_probe_accuracy`), MLP encoders and decoders for every
    modality. ``posterior`` is the x_M expert q(z|x_M) (the mixture is not Gaussian, so the
    per-dimension KL of the collapse curves is taken per expert), ``prior_params`` q(z|x_o).
    The ``kl`` term reported is the Monte Carlo estimate E[log q_mix(z) - log p(z)].
    """

    def posterior(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor | None = None):
        """The x_M expert q(z | x_M) (x_o and y are ignored)."""
        return self.encoder_m(x_m)

    def log_weights(self, x_o: torch.Tensor, x_m: torch.Tensor, n_samples: int, *,
                    stop_encoder_gradient: bool = False,
                    kl_weight: float = 1.0) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
        """log w = log p(x_o, x_M | z) + beta (log p(z) - log q_mix(z)) for ``n_samples`` draws from
        each expert: a tensor (experts, K, B); beta = ``kl_weight``, the warm-up factor (1: the bound).

        Also returns the samples (one (K, B, z_dim) tensor per expert) and the mean
        reconstruction NLL and mean log q_mix - log p(z) over all draws (unweighted). With
        ``stop_encoder_gradient`` the densities of q_mix use detached expert parameters (DReG).
        """
        experts = [self.encoder_o(x_o), self.encoder_m(x_m)]
        density_params = [(mu.detach(), lv.detach()) for mu, lv in experts] if stop_encoder_gradient else experts
        log_ws, samples, nlls, kls = [], [], [], []
        for mu, logvar in experts:
            z = _sample(mu, logvar, n_samples)  # (K, B, D)
            log_q_mix = torch.logsumexp(torch.stack([gaussian_log_density(z, m, lv) for m, lv in density_params]),
                                        dim=0) - math.log(len(experts))  # (K, B)
            log_prior = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))  # (K, B)
            flat = z.reshape(-1, z.shape[-1])  # (K * B, D)
            nll = (self.decoder_o.nll(self.decoder_o(flat), x_o.repeat(n_samples, 1))
                   + self.decoder.nll(self.decoder(flat), x_m.repeat(n_samples, 1))).view(n_samples, -1)  # (K, B)
            # at beta = 1 the sum is written as before warm-up existed, to keep its rounding
            log_ws.append(-nll + log_prior - log_q_mix if kl_weight == 1.0
                          else -nll + kl_weight * (log_prior - log_q_mix))
            samples.append(z)
            nlls.append(nll.mean())
            kls.append((log_q_mix - log_prior).mean())
        return torch.stack(log_ws), samples, {"nll": torch.stack(nlls).mean(), "kl": torch.stack(kls).mean()}

    def objective(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor,
                  objective: ObjectiveConfig | None = None, *, validate: bool = True,
                  kl_weight: float = 1.0) -> ObjectiveTerms:
        """The negative stratified bound (``mmvae_bound``) plus alpha * cross-entropy, on a mini-batch;
        ``kl_weight`` (beta) weights log p(z) - log q_mix(z) inside every log w (:meth:`log_weights`)."""
        objective = self._start(x_o, x_m, y, objective, validate, kl_weight)
        bound = objective.mmvae_bound
        n_samples = 1 if bound == "elbo" else objective.importance_samples
        log_w, samples, parts = self.log_weights(x_o, x_m, n_samples, stop_encoder_gradient=(bound == "dreg"),
                                                 kl_weight=kl_weight)
        if bound == "elbo":
            negative_bound = -log_w.mean(dim=1)  # (experts, B)
        elif bound == "iwae":
            negative_bound = -(torch.logsumexp(log_w, dim=1) - math.log(n_samples))
        else:
            # DReG: d/dz of sum_k w~_k log w_k is rescaled by w~_k, giving the encoders the
            # gradient sum_k w~_k^2 d log w_k / dz_k; the decoders get the IWAE gradient. With
            # beta log q in log w the score term is beta times as large, and the encoders' factor
            # w~_k^2 becomes w~_k ((1 - beta) + beta w~_k): the rescaling is (1 - beta) + beta w~_k.
            normalised = torch.softmax(log_w, dim=1).detach()  # (experts, K, B)
            scales = normalised if kl_weight == 1.0 else (1.0 - kl_weight) + kl_weight * normalised
            for z, scale in zip(samples, scales):
                if z.requires_grad:
                    z.register_hook(lambda grad, w=scale: grad * w.unsqueeze(-1))
            negative_bound = -(normalised * log_w).sum(dim=1)
        # the classifier's own x_o encoding (a second pass, with its own dropout) runs only at alpha > 0
        loss, nll_y = self._plus_classification(negative_bound.mean(), lambda: self.encoder_o(x_o), y, objective)
        return ObjectiveTerms(loss=loss, nll_x_m=parts["nll"], nll_y=nll_y, kl=parts["kl"],
                              mmd=torch.zeros((), device=x_o.device, dtype=x_o.dtype))

    @torch.no_grad()
    def iwae_bound(self, x_o: torch.Tensor, x_m: torch.Tensor, n_samples: int = 30) -> torch.Tensor:
        """The stratified IWAE bound on log p(x_o, x_M) per pair (B,), in nats (evaluation)."""
        log_w, _, _ = self.log_weights(x_o, x_m, n_samples)
        return (torch.logsumexp(log_w, dim=1) - math.log(n_samples)).mean(dim=0)


def model_class(model_type: str) -> type[MultimodalModel]:
    """The class behind ``ModelConfig.model_type``."""
    from .model import CMMD  # CMMD lives beside the shared base class

    classes = {"cmmd": CMMD, "m_xo": MXo, "linear_xo": LinearXo, "vcca": VCCA, "mvae": MVAE, "mmvae": MMVAE}
    if model_type not in classes:
        raise ValueError(f"model_type={model_type!r} is not known; choose one of {', '.join(classes)}.")
    return classes[model_type]
