"""Views of the latent space: 2-D t-SNE embeddings of prior and posterior means, as plotly traces.

CMMD has two distributions over the same latent z: the conditional prior p(z | x_o), which is all
there is at test time, and the posterior q(z | x_o, x_M, y), which sees the missing modality and
the label in training. Their means, embedded *jointly* in two dimensions with t-SNE
(van der Maaten & Hinton, 2008; scikit-learn), show whether the classes separate and whether the
prior puts its mass where the posterior does (paper Appendix F).

* :func:`tsne_2d` -- the library's one t-SNE (scikit-learn), of any features.
* :func:`tsne_embeddings` -- one seeded t-SNE of the prior and posterior means of a subsample.
* :func:`latent_tsne` -- the same for a trained model and a data split.
* :func:`decode_posterior_mean` -- x_M decoded at the posterior mean (a reconstruction), to set
  beside x_M generated from prior samples.
* :func:`tsne_traces` -- plotly traces of an embedding, two panels (prior | posterior), one colour
  per class; every call gives the same number of traces, so they can be the frames of
  :func:`cmmd_lite.plotting.slider_figure`.
* :data:`TSNE_LAYOUT` -- the two-panel layout those traces expect.

scikit-learn and plotly are imported inside the functions (the ``book`` extra).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .data.paired import PairedData

#: One colour per class (plotly's D3 palette), the same in every figure.
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

#: Layout for :func:`tsne_traces`: the prior's panel on the left (axes x/y), the posterior's on
#: the right (axes x2/y2). t-SNE coordinates have no units, so the ticks are hidden.
TSNE_LAYOUT: dict[str, Any] = {
    "height": 440,
    "xaxis": {"domain": [0.0, 0.47], "showticklabels": False, "zeroline": False,
              "title": "prior means mu_p(x_o)"},
    "yaxis": {"showticklabels": False, "zeroline": False},
    "xaxis2": {"domain": [0.53, 1.0], "anchor": "y2", "showticklabels": False, "zeroline": False,
               "title": "posterior means mu_q(x_o, x_M, y)"},
    "yaxis2": {"anchor": "x2", "showticklabels": False, "zeroline": False},
    "legend": {"title": {"text": "class"}, "itemsizing": "constant"},
    "margin": {"t": 60, "b": 40},
}


def subsample_rows(n: int, n_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``min(n, n_points)`` rows out of ``n``, drawn without replacement (seeded)."""
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}.")
    if n_points >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=n_points, replace=False))


def tsne_2d(features: np.ndarray, *, seed: int = 0, perplexity: float = 30.0,
            n_threads: int | None = 1) -> np.ndarray:
    """The one t-SNE of the library: 2-D embedding (N, 2) of ``features`` (N, D), scikit-learn with
    PCA initialisation, seeded; ``perplexity`` is lowered for tiny inputs (it must stay below N)."""
    try:
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits
    except ImportError as error:  # optional dependency (the book extra)
        raise ImportError("t-SNE needs scikit-learn: pip install scikit-learn") from error
    features = np.asarray(features, dtype=np.float64)
    perplexity = float(min(perplexity, max(1.0, (len(features) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    with threadpool_limits(limits=n_threads):
        return tsne.fit_transform(features)


def tsne_embeddings(mu_prior: torch.Tensor | np.ndarray, mu_posterior: torch.Tensor | np.ndarray,
                    y: torch.Tensor | np.ndarray, *, n_points: int = 1000, seed: int = 0,
                    perplexity: float = 30.0, n_threads: int | None = 1) -> dict[str, np.ndarray]:
    """A joint 2-D t-SNE of the prior means and the posterior means of the same pairs.

    Both sets of means are stacked and embedded in *one* t-SNE run, so the two halves share one
    map: where the posterior means of a class land away from the prior means of that class, the
    prior does not cover the posterior. A seeded subsample of ``n_points`` pairs keeps it fast
    (about 3 s for 1,000 pairs, i.e. 2,000 points, on two CPU cores).

    Args:
        mu_prior: means of p(z | x_o), (N, D).
        mu_posterior: means of q(z | x_o, x_M, y) of the same pairs, (N, D).
        y: class labels (N,).
        n_points: pairs in the subsample (all when N is smaller).
        seed: seeds the subsample and t-SNE's initialisation (PCA) and optimiser.
        perplexity: t-SNE's perplexity, lowered automatically for tiny inputs.
        n_threads: threads for t-SNE's native code (OpenMP, BLAS); None: scikit-learn's default
            (all cores). One by default: on a busy two-core machine, spinning OpenMP threads made
            t-SNE about three times slower than one thread.

    Returns:
        ``prior`` and ``posterior``: (n, 2) float arrays; ``y``: (n,) labels; ``rows``: (n,) indices
        of the chosen pairs.
    """
    mu_prior, mu_posterior, y = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a)
                                 for a in (mu_prior, mu_posterior, y))
    if mu_prior.ndim != 2 or mu_prior.shape != mu_posterior.shape or y.shape != (mu_prior.shape[0],):
        raise ValueError(f"need mu_prior and mu_posterior of one shape (N, D) and y (N,); got "
                         f"{mu_prior.shape}, {mu_posterior.shape} and {y.shape}.")
    if len(y) < 2:
        raise ValueError("t-SNE needs at least 2 pairs.")
    if not (np.isfinite(mu_prior).all() and np.isfinite(mu_posterior).all()):
        raise ValueError("the latent means contain NaN or infinite values.")
    rows = subsample_rows(len(y), n_points, seed)
    stacked = np.concatenate([mu_prior[rows], mu_posterior[rows]])  # (2n, D)
    embedded = tsne_2d(stacked, seed=seed, perplexity=perplexity, n_threads=n_threads).astype(np.float32)
    n = len(rows)
    return {"prior": embedded[:n], "posterior": embedded[n:], "y": y[rows].astype(np.int64), "rows": rows}


def latent_tsne(model: torch.nn.Module, data: PairedData, *, n_points: int = 1000, seed: int = 0,
                perplexity: float = 30.0, n_threads: int | None = 1) -> dict[str, np.ndarray]:
    """:func:`tsne_embeddings` of a trained model on a seeded subsample of ``data``'s pairs.

    Only the subsample is passed through the networks (:func:`cmmd_lite.latent_parameters`);
    ``rows`` of the result index ``data``.
    """
    from .evaluate import latent_parameters

    rows = subsample_rows(len(data), n_points, seed)
    latents = latent_parameters(model, data.subset(torch.as_tensor(rows, device=data.device)))
    result = tsne_embeddings(latents["mu_p"], latents["mu_q"], latents["y"], n_points=len(rows), seed=seed,
                             perplexity=perplexity, n_threads=n_threads)
    result["rows"] = rows
    return result


@torch.no_grad()
def decode_posterior_mean(model: torch.nn.Module, data: PairedData,
                          rows: torch.Tensor | slice) -> dict[str, torch.Tensor]:
    """x_M decoded at the posterior mean, mu_q(x_o, x_M, y): the decoder's mean per missing modality,
    as images (B, C, H, W) in [0, 1] on the CPU.

    This is a *reconstruction* (the posterior has seen x_M), the counterpart of
    :func:`cmmd_lite.generate_missing`, which decodes prior samples. When reconstructions are sharp
    but generated images are not, the prior does not cover the posteriors; when both are blurred,
    the decoder itself has not learned the images yet.
    """
    from .evaluate import generate_missing

    if not getattr(model, "can_generate", True):
        raise ValueError(f"{type(model).__name__} has no posterior and decoder of x_M to reconstruct with.")
    return {name: images[0] for name, images in generate_missing(model, data, rows, z="posterior_mean").items()}


def tsne_traces(embedding: Mapping[str, np.ndarray], *, n_classes: int = 10,
                class_names: Sequence[str] | None = None, marker_size: int = 4,
                axes: Sequence[tuple[str, str]] = (("x", "y"), ("x2", "y2"))) -> list[Any]:
    """Plotly traces of :func:`tsne_embeddings`: the prior means on the first pair of ``axes``
    (default x/y), the posterior means on the second (default x2/y2; :data:`TSNE_LAYOUT` lays
    them out), one trace per class and panel (2 * ``n_classes`` traces, empty for a class without
    points), the legend entries shared by both panels."""
    import plotly.graph_objects as go

    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    if len(names) != n_classes:
        raise ValueError(f"class_names has {len(names)} entries for {n_classes} classes.")
    if len(axes) != 2:
        raise ValueError(f"axes needs two (xaxis, yaxis) pairs, one per panel; got {axes}.")
    y = np.asarray(embedding["y"])
    traces = []
    for panel, (xaxis, yaxis) in zip(("prior", "posterior"), axes):
        points = np.asarray(embedding[panel])
        for c in range(n_classes):
            chosen = points[y == c]
            traces.append(go.Scatter(
                x=chosen[:, 0].round(3).tolist(), y=chosen[:, 1].round(3).tolist(), mode="markers",
                name=names[c], legendgroup=names[c], showlegend=panel == "prior", xaxis=xaxis, yaxis=yaxis,
                marker={"size": marker_size, "color": CLASS_COLOURS[c % len(CLASS_COLOURS)], "opacity": 0.7},
                hovertemplate=f"{panel}, class {names[c]}<extra></extra>"))
    return traces


def class_separation(points: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Fraction of points whose ``k`` nearest neighbours (Euclidean, the point itself excluded) mostly
    share its class: a number for how well a 2-D map separates the classes (1.0: perfectly)."""
    points, y = np.asarray(points, dtype=np.float64), np.asarray(y)
    if len(points) <= k:
        raise ValueError(f"need more than k={k} points, got {len(points)}.")
    distances = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)  # (n, n)
    np.fill_diagonal(distances, np.inf)
    neighbours = np.argpartition(distances, k, axis=1)[:, :k]  # (n, k)
    agree = (y[neighbours] == y[:, None]).mean(axis=1)
    return float((agree > 0.5).mean())
