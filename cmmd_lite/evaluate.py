"""Evaluation: accuracy of p(y|z) with z from the prior, imputation RMSE, posterior collapse, latents.

Every function takes a trained model (:class:`~cmmd_lite.model.CMMD` or a baseline of
:mod:`cmmd_lite.baselines`) and a :class:`PairedData` split and runs in evaluation mode (dropout
off) in batches, restoring the model's mode afterwards. For a baseline, "prior" means the latent
distribution given x_o alone and "posterior" the one that sees x_M (see each model's docstring).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch

from .data.paired import PairedData
from .losses import gaussian_kl
from .model import MultimodalModel

COLLAPSE_EPSILONS = np.linspace(0.0, 6.0, 40)  # nats, as in the reference code and Appendix E
COLLAPSE_DELTA = 0.01


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[None]:
    """Dropout off inside the block; the previous train/eval mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of ``size`` rows covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def predict_proba(model: MultimodalModel, data: PairedData, *, n_samples: int = 10, use_mean: bool = False,
                  seed: int = 0, batch_size: int = 4096) -> torch.Tensor:
    """p(y | x_o) for every pair (N, n_classes), from x_o alone (the paper's test protocol)."""
    data = data.for_model(model)
    generator = _generator(data.device, seed)
    with evaluating(model):
        return torch.cat([model.predict_proba(data.batch(rows)[0], n_samples, use_mean=use_mean, generator=generator)
                          for rows in chunks(len(data), batch_size)])


def accuracy(model: MultimodalModel, data: PairedData, **kwargs) -> float:
    """Fraction of pairs whose most probable class under p(y | x_o) is the true label."""
    data = data.for_model(model)
    probs = predict_proba(model, data, **kwargs)
    return float((probs.argmax(dim=1) == data.y).float().mean())


@torch.no_grad()
def imputation_rmse(model: MultimodalModel, data: PairedData, batch_size: int = 4096) -> dict[str, float]:
    """RMSE between x_M and its imputation from x_o (decoder mean at the prior mean), per missing
    modality and over all of x_M (key ``"x_m"``), in the data's [0, 1] units."""
    data = data.for_model(model)
    squared = {name: 0.0 for name in data.missing}
    with evaluating(model):
        for rows in chunks(len(data), batch_size):
            x_o, x_m, _ = data.batch(rows)
            errors = data.split_x_m((model.impute(x_o) - x_m).pow(2))
            for name, err in errors.items():
                squared[name] += float(err.sum())
    sizes = {name: len(data) * int(np.prod(data.shape_of(name))) for name in data.missing}
    result = {name: (squared[name] / sizes[name]) ** 0.5 for name in data.missing}
    result["x_m"] = (sum(squared.values()) / sum(sizes.values())) ** 0.5
    return result


@torch.no_grad()
def latent_parameters(model: MultimodalModel, data: PairedData, batch_size: int = 4096) -> dict[str, torch.Tensor]:
    """Means and log-variances of q(z | x_o, x_M, y) and p(z | x_o) for every pair, on the CPU.

    Keys: ``mu_q``, ``logvar_q``, ``mu_p``, ``logvar_p`` (each (N, z_dim)) and ``y`` (N,).
    """
    data = data.for_model(model)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("mu_q", "logvar_q", "mu_p", "logvar_p")}
    with evaluating(model):
        for rows in chunks(len(data), batch_size):
            x_o, x_m, y = data.batch(rows)
            for key, value in zip(parts, (*model.posterior(x_o, x_m, y), *model.prior_params(x_o))):
                parts[key].append(value.cpu())
    result = {k: torch.cat(v) for k, v in parts.items()}
    result["y"] = data.y.cpu()
    return result


def kl_per_dimension(latents: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-point, per-dimension KLs (N, z_dim) behind the collapse curves (exact formula):

    ``posterior_vs_prior`` KL[q(z|x_o,x_M,y) || p(z|x_o)]; ``prior_vs_standard``
    KL[p(z|x_o) || N(0, I)]; ``posterior_vs_standard`` KL[q(z|x_o,x_M,y) || N(0, I)].
    """
    zeros = torch.zeros_like(latents["mu_q"])
    q, p = (latents["mu_q"], latents["logvar_q"]), (latents["mu_p"], latents["logvar_p"])
    return {"posterior_vs_prior": gaussian_kl(*q, *p),
            "prior_vs_standard": gaussian_kl(*p, zeros, zeros),
            "posterior_vs_standard": gaussian_kl(*q, zeros, zeros)}


def collapse_curve(kl: torch.Tensor | np.ndarray, epsilons: np.ndarray = COLLAPSE_EPSILONS,
                   delta: float = COLLAPSE_DELTA) -> np.ndarray:
    """Posterior collapse of Lucas et al. (2019), paper Appendix E.

    Dimension i is collapsed at epsilon when P(KL_i < epsilon) >= 1 - delta over the data
    points. Returns, for each epsilon, the fraction of collapsed dimensions.

    Args:
        kl: per-point, per-dimension KL divergences (N, D).
    """
    kl = np.asarray(kl, dtype=np.float64)
    if kl.ndim != 2:
        raise ValueError(f"kl must be (points, dimensions); got shape {kl.shape}.")
    below = kl[None, :, :] < np.asarray(epsilons, dtype=np.float64)[:, None, None]  # (E, N, D)
    return (below.mean(axis=1) >= 1.0 - delta).mean(axis=1)


def collapse_curves(model: MultimodalModel, data: PairedData, epsilons: np.ndarray = COLLAPSE_EPSILONS,
                    delta: float = COLLAPSE_DELTA) -> dict[str, np.ndarray]:
    """:func:`collapse_curve` for each KL of :func:`kl_per_dimension`."""
    kls = kl_per_dimension(latent_parameters(model, data))
    return {name: collapse_curve(kl.numpy(), epsilons, delta) for name, kl in kls.items()}


#: where :func:`generate_missing` decodes x_M: a sample of z ~ p(z | x_o) (generation, the default),
#: the prior mean mu_p(x_o), or the posterior mean mu_q(x_o, x_M, y) (a reconstruction: it has seen x_M).
#: Comparing the three separates decoder capacity (posterior mean), the prior-posterior gap (prior
#: mean against posterior mean) and the prior's spread (sample against prior mean).
Z_SOURCES = ("prior_sample", "prior_mean", "posterior_mean")


@torch.no_grad()
def generate_missing(model: MultimodalModel, data: PairedData, rows: torch.Tensor | slice, n_samples: int = 1,
                     seed: int = 0, *, z: str = "prior_sample") -> dict[str, torch.Tensor]:
    """x_M decoded from z given x_o (``z``: one of :data:`Z_SOURCES`; the default generates from
    x_o alone, z ~ p(z|x_o)), as images per missing modality, each (n_samples, B, C, H, W) in [0, 1]
    on the CPU. The two means are deterministic: ``n_samples`` copies of one image."""
    if z not in Z_SOURCES:
        raise ValueError(f"z={z!r}; choose one of {', '.join(Z_SOURCES)}.")
    if z == "posterior_mean" and not getattr(model, "has_posterior", True):
        raise ValueError(f"{type(model).__name__} has no posterior to decode the mean of; use z='prior_mean'.")
    data = data.for_model(model)
    if isinstance(rows, torch.Tensor):
        rows = rows.to(data.device)
    x_o, x_m, y = data.batch(rows)
    with evaluating(model):
        if z == "prior_sample":
            samples = model.generate(x_o, n_samples, generator=_generator(data.device, seed))
        elif z == "prior_mean":
            samples = model.impute(x_o).unsqueeze(0).expand(n_samples, -1, -1)
        else:
            mu_q, _ = model.posterior(x_o, x_m, y)
            samples = model.decoder.mean(model.decode(x_o, mu_q)).unsqueeze(0).expand(n_samples, -1, -1)
    parts = data.split_x_m(samples.flatten(0, 1))
    return {name: part.reshape(n_samples, -1, *part.shape[1:]).clamp(0, 1).cpu() for name, part in parts.items()}


def evaluate(model: MultimodalModel, data: PairedData, *, n_samples: int = 10, seed: int = 0) -> dict[str, object]:
    """The headline metrics on one split, JSON-ready.

    ``rmse`` is None for a model that cannot generate x_M; ``collapse`` holds only the curve
    of the x_o-side latent against N(0, I) for a model without a posterior (M-x_o).
    """
    data = data.for_model(model)
    if model.has_posterior:
        curves = collapse_curves(model, data)
    else:
        with evaluating(model), torch.no_grad():
            mu_p, logvar_p = (torch.cat(parts) for parts in zip(*(
                model.prior_params(data.batch(rows)[0]) for rows in chunks(len(data), 4096))))
        zeros = torch.zeros_like(mu_p)
        curves = {"prior_vs_standard": collapse_curve(gaussian_kl(mu_p, logvar_p, zeros, zeros).cpu().numpy())}
    return {
        "accuracy": accuracy(model, data, n_samples=n_samples, seed=seed),
        "accuracy_prior_mean": accuracy(model, data, use_mean=True),
        "rmse": imputation_rmse(model, data) if model.can_generate else None,
        "collapse_epsilons": COLLAPSE_EPSILONS.tolist(),
        "collapse": {name: curve.tolist() for name, curve in curves.items()},
        "n_pairs": len(data),
    }


@torch.no_grad()
def x_o_latent_means(model: MultimodalModel, data: PairedData, batch_size: int = 4096) -> torch.Tensor:
    """The mean of z given x_o alone for every pair (N, z_dim), on the model's device."""
    data = data.for_model(model)
    with evaluating(model):
        return torch.cat([model.prior_params(data.batch(rows)[0])[0] for rows in chunks(len(data), batch_size)])


def linear_probe_accuracy(model: MultimodalModel, train: PairedData, test: PairedData, *,
                          max_train: int = 10_000, l2: float = 1e-4, max_iter: int = 200, seed: int = 0) -> float:
    """Accuracy of a linear (multinomial logistic) classifier on the mean of z given x_o.

    MMVAE's protocol (Shi et al. 2019, "latent accuracy"): the probe is fitted on the latent
    means of at most ``max_train`` training pairs (a seeded subset), standardised with the
    training statistics, by L-BFGS with an L2 penalty ``l2``; it is scored on ``test``. It never
    sees the test split while fitting.
    """
    if len(train) < 2:
        raise ValueError(f"the probe needs at least two training pairs; got {len(train)}.")
    train, test = train.for_model(model), test.for_model(model)
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(train), generator=generator)[:max_train].to(train.device)
    features = x_o_latent_means(model, train).float()[rows]
    labels = train.y[rows]
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    features = (features - mean) / std
    torch.manual_seed(seed)
    probe = torch.nn.Linear(features.shape[1], model.n_classes).to(features.device)
    optimizer = torch.optim.LBFGS(probe.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(features), labels) + l2 * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        test_features = (x_o_latent_means(model, test).float() - mean) / std
        return float((probe(test_features).argmax(1) == test.y).float().mean())
