"""The figures of single chapters: the worked examples with closed forms, and chapter 6's and 8's views.

Each function draws what a chapter computes; the computation itself (a bound, a closed form, a
sampler) stays in the chapter and is passed in, so the chapter shows the math and the figure code
lives here. matplotlib and plotly are imported inside the functions, as in :mod:`cmmd_lite.plotting`.

* :func:`toy_elbo_figure` -- chapter 2: the ELBO (Eq. 1) of a toy model against the mean of q.
* :func:`posterior_to_prior_explorer` -- chapter 2: KL[q || p] as q moves onto the prior.
* :func:`kl_decomposition_explorer` -- chapter 3: E[KL] = I + marginal KL (Eq. A1) on the toy.
* :func:`two_sample_explorer`, :func:`bandwidth_explorer` -- chapter 4: MMD^2 estimates against the
  closed form of two shifted Gaussians, over the shift and over the kernel bandwidth.
* :func:`decoder_variance_figure` -- chapter 6: the fourth panel of paper Fig. 2.
* :func:`kl_formula_figure`, :func:`ablation_accuracy_figure`, :func:`ablation_collapse_explorer` --
  chapter 8: the two KL formulas, and the ablation's accuracies and collapse curves.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .losses import mmd
from .plotting import COLLAPSE_LABELS, collapse_explorer, collapse_figure, widget_or_static

F64 = {"dtype": torch.float64}


# --- chapter 2: the bound and the KL term --------------------------------------------------------------

def toy_elbo_figure(elbo: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], means: torch.Tensor, *,
                    log_evidence: torch.Tensor | float, post_mean: torch.Tensor | float,
                    post_var: torch.Tensor | float, scales: Sequence[float] = (1.0, 2.0, 4.0)):
    """The bound Eq. 1 (eq-elbo) against the mean m of q = N(m, scale * post_var), one line per scale,
    under the log evidence, with the exact posterior's mean marked: the bound touches the evidence
    there at scale 1 (eq-elbo-gap). ``elbo(m, v)`` is the chapter's bound. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    log_evidence = float(log_evidence)
    fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
    ax.axhline(log_evidence, color="black", label=r"$\log p(x_M \mid x_o)$")
    for scale in scales:
        ax.plot(means, elbo(means, scale * post_var), label=f"ELBO, q variance = {scale:g} x posterior's")
    ax.axvline(float(post_mean), color="grey", linestyle=":", label="posterior mean")
    ax.set_xlabel("mean m of q")
    ax.set_ylim(log_evidence - 3.0, log_evidence + 0.4)
    ax.legend(fontsize=8, loc="lower center")
    return fig


def posterior_to_prior_explorer(posterior: Callable[[Any], tuple[torch.Tensor, torch.Tensor]],
                                values: Sequence[Any], *, kl: Callable[[Any], float], label: str = "t = ",
                                prior: tuple[float, float] = (0.0, 1.0), z_range: tuple[float, float] = (-4.0, 5.0),
                                live: bool | None = None):
    """The densities of the prior p = N(prior) (dashed) and of q = N(*posterior(value)) (mean, std;
    filled) on z, one slider step per value, titled with ``kl(value)`` = KL[q || p] in nats
    (the KL term of eq-elbo-terms)."""
    import plotly.graph_objects as go
    from torch.distributions import Normal

    grid = torch.linspace(*z_range, 301, **F64)
    prior_density = Normal(*prior).log_prob(grid).exp()

    def traces(value: Any) -> list[Any]:
        mean, std = posterior(value)
        posterior_density = Normal(mean, std).log_prob(grid).exp()
        return [go.Scatter(x=grid.tolist(), y=prior_density.tolist(), name="prior p",
                           line={"dash": "dash", "color": "black"}),
                go.Scatter(x=grid.tolist(), y=posterior_density.tolist(), name="posterior q", fill="tozeroy",
                           line={"color": "#d62728"})]

    return widget_or_static(traces, values, label=label, title=lambda value: f"KL[q || p] = {kl(value):.3f} nats",
                            layout={"height": 380, "xaxis_title": "z", "yaxis_range": [0, 1.4]}, live=live)


# --- chapter 3: the information in z ------------------------------------------------------------------

def kl_decomposition_explorer(terms: Callable[[float], tuple[np.ndarray, np.ndarray, np.ndarray]],
                              slopes: Sequence[float], widths: Sequence[float], *, matched: float | None = None,
                              at_slope: float = 1.0, active: int = 0, live: bool | None = None):
    """Eq. A1 (eq-ch3-a1) on the linear-Gaussian toy: E[KL] (term by term), I(x_M; z | x_o) and the
    marginal KL against the encoder slope b, one slider step per prior std t in ``widths``;
    ``terms(t)`` gives the three along ``slopes``. The title splits E[KL] at the slope nearest
    ``at_slope`` and marks the width ``matched`` (the matched prior's)."""
    import plotly.graph_objects as go

    slopes = np.asarray(slopes)
    k = int(np.argmin(np.abs(slopes - at_slope)))

    def traces(t: float) -> list[Any]:
        expected, information, marginal = terms(t)
        return [go.Scatter(x=slopes, y=expected, name="E[KL] (term by term)", mode="lines",
                           line={"color": "#1f77b4", "width": 3}),
                go.Scatter(x=slopes, y=information, name="I(x_M; z | x_o)", mode="lines",
                           line={"color": "#2ca02c", "width": 3}),
                go.Scatter(x=slopes, y=marginal, name="marginal KL", mode="lines",
                           line={"color": "#d62728", "dash": "dash"})]

    def title(t: float) -> str:
        expected, information, marginal = terms(t)
        return (f"prior std t = {t:g}{' (matched)' if t == matched else ''}: at b = {slopes[k]:g}, "
                f"E[KL] = {expected[k]:.3f} = I {information[k]:.3f} + marginal KL {marginal[k]:.3f}")

    return widget_or_static(traces, widths, label="t = ", title=title, active=active, live=live,
                            layout={"height": 430, "xaxis_title": "encoder slope b", "yaxis_title": "nats",
                                    "yaxis_range": [-0.05, 3.0], "legend": {"orientation": "h", "y": -0.2}})


# --- chapter 4: the MMD of two shifted Gaussians -------------------------------------------------------

def two_sample_explorer(sample: Callable[[float], tuple[torch.Tensor, torch.Tensor]],
                        population: Callable[[float, float], float], bandwidths: Mapping[str, float],
                        shifts: Sequence[float], *, floor: float = 1e-6, live: bool | None = None):
    """A two-sample test per shift: the first two coordinates of ``sample(shift)`` (x ~ p = N(0, I),
    y ~ q = N(mu, I), each (n, D)), and for each named bandwidth h the unbiased estimate of MMD^2
    (eq-ch4-mmd-unbiased, :func:`cmmd_lite.mmd`) beside ``population(shift, h)`` (eq-ch4-mmd-gauss),
    on a log axis where values below ``floor`` are drawn at ``floor``."""
    import plotly.graph_objects as go

    n, dim = sample(shifts[0])[0].shape
    names = list(bandwidths)

    def traces(shift: float) -> list[Any]:
        x, y = sample(shift)
        estimate = [max(float(mmd(x, y, bandwidth=h)), floor) for h in bandwidths.values()]
        exact = [max(population(shift, h), floor) for h in bandwidths.values()]
        return [
            go.Scatter(x=x[:, 0].tolist(), y=x[:, 1].tolist(), mode="markers", name="p = N(0, I)",
                       marker={"size": 4, "color": "#1f77b4", "opacity": 0.6}),
            go.Scatter(x=y[:, 0].tolist(), y=y[:, 1].tolist(), mode="markers", name="q = N(mu, I)",
                       marker={"size": 4, "color": "#d62728", "opacity": 0.6}),
            go.Bar(x=names, y=estimate, name=f"unbiased estimate (n = {n})", xaxis="x2", yaxis="y2",
                   marker={"color": "#7f7f7f"}),
            go.Scatter(x=names, y=exact, name="population value", mode="markers", xaxis="x2", yaxis="y2",
                       marker={"symbol": "diamond", "size": 11, "color": "black"}),
        ]

    layout = {
        "height": 420, "barmode": "overlay", "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"domain": [0.0, 0.42], "range": [-4, 8], "title": "z_1"},
        "yaxis": {"range": [-4, 4], "title": "z_2"},
        "xaxis2": {"domain": [0.55, 1.0], "anchor": "y2"},
        "yaxis2": {"anchor": "x2", "type": "log", "range": [-6.2, 0.5], "title": "MMD^2"},
    }
    return widget_or_static(traces, shifts, label="shift ||mu|| = ", layout=layout, live=live,
                            title=lambda s: f"Two-sample test in D = {dim}: q shifted by {s:g} along z_1")


def bandwidth_explorer(sample: Callable[[float], tuple[torch.Tensor, torch.Tensor]],
                       population: Callable[[float, float], float], stops: Sequence[float], *,
                       shifts: Sequence[float], unit_curve: tuple[np.ndarray, np.ndarray], active: int = 0,
                       live: bool | None = None):
    """One slider step per bandwidth h in ``stops``: MMD^2 against the shift (``population(shift, h)``,
    eq-ch4-mmd-gauss, and unbiased estimates from ``sample(shift)`` at ``shifts``), and the MMD^2 of a
    unit shift against h (``unit_curve = (hs, values)``, log axis) with a ring at this h. The title
    gives this h's share of the largest value of the unit curve."""
    import plotly.graph_objects as go

    grid_h, unit_values = (np.asarray(a) for a in unit_curve)
    h_best, best = float(grid_h[unit_values.argmax()]), float(unit_values.max())
    fine_shifts = np.linspace(0.0, max(shifts), 81)
    n = len(sample(shifts[0])[0])

    def traces(h: float) -> list[Any]:
        estimates = [float(mmd(*sample(s), bandwidth=h)) for s in shifts]
        return [
            go.Scatter(x=fine_shifts, y=[population(s, h) for s in fine_shifts], mode="lines",
                       name="population MMD^2", line={"color": "black"}),
            go.Scatter(x=shifts, y=estimates, mode="markers", name=f"unbiased estimate (n = {n})",
                       marker={"color": "#7f7f7f", "size": 8}),
            go.Scatter(x=grid_h, y=unit_values, mode="lines", name="MMD^2 of a unit shift", xaxis="x2", yaxis="y2",
                       line={"color": "#1f77b4"}),
            go.Scatter(x=[h], y=[population(1.0, h)], mode="markers", name="this h", xaxis="x2", yaxis="y2",
                       marker={"size": 13, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#d62728"}}),
        ]

    def title(h: float) -> str:
        value = population(1.0, h)
        return (f"h = {h:g}: a unit shift gives MMD^2 = {value:.3g}, {value / best:.0%} of its "
                f"largest value (at h = {h_best:.3g})")

    layout = {"height": 430, "legend": {"orientation": "h", "y": -0.25},
              "xaxis": {"domain": [0.0, 0.45], "title": "shift ||mu||"}, "yaxis": {"title": "MMD^2"},
              "xaxis2": {"domain": [0.57, 1.0], "anchor": "y2", "type": "log", "title": "bandwidth h"},
              "yaxis2": {"anchor": "x2", "title": "MMD^2 of a unit shift"}}
    return widget_or_static(traces, stops, label="h = ", title=title, active=active, layout=layout, live=live)


# --- chapter 6: the fourth panel of Fig. 2 ---------------------------------------------------------------

def decoder_variance_figure(curves: Mapping[str, Sequence[float]], epsilons: Sequence[float], *, ideal: str,
                            title: str = ""):
    """Paper Fig. 2, fourth panel: the collapse measure (Appendix E) applied to the decoder's variances
    of x_M, a line per model (:func:`cmmd_lite.plotting.collapse_figure`), the curve named ``ideal``
    (a decoder that knows the class) dashed black."""
    fig = collapse_figure(curves, epsilons, title=title)
    fig.update_traces(selector={"name": ideal}, line={"dash": "dash", "color": "black"})
    fig.update_layout(xaxis_title="epsilon (a variance of x_M, in [0, 1] pixel units squared)",
                      yaxis_title="fraction of the pixels of x_M")
    return fig


# --- chapter 8: the paper's text against the reference code ------------------------------------------------

def kl_formula_figure(ratios: Sequence[float] | torch.Tensor, curves: Mapping[str, Sequence[float] | torch.Tensor], *,
                      minima: Sequence[tuple[float, float]] = ()):
    """KL per latent dimension at equal means against r = var_q / var_p (log axis), a line per formula
    (eq-ch8-kl-exact solid, then eq-ch8-kl-ref dashed), and the ``minima`` (r, KL) as crosses."""
    import plotly.graph_objects as go

    x = [float(r) for r in ratios]
    fig = go.Figure([go.Scatter(x=x, y=[float(v) for v in curve], name=name,
                                **({"line": {"dash": "dash"}} if i else {}))  # the first solid, then dashed
                     for i, (name, curve) in enumerate(curves.items())])
    if minima:
        fig.add_trace(go.Scatter(x=[r for r, _ in minima], y=[v for _, v in minima], mode="markers", name="minima",
                                 marker={"size": 10, "color": "black", "symbol": "x"}))
    fig.update_layout(height=380, xaxis={"type": "log", "title": "r = var_q / var_p"},
                      yaxis={"title": "nats per dimension", "range": [0, 3]}, legend={"orientation": "h", "y": -0.25},
                      title="KL per latent dimension at equal means")
    return fig


def _numbered(runs: Mapping[str, Any]) -> dict[str, str]:
    """Step "1", "2", ... -> the label of each ablation variant, in order (bars and slider agree)."""
    return {str(i): label for i, label in enumerate(runs, start=1)}


def ablation_accuracy_figure(runs: Mapping[str, Mapping[str, Any]]):
    """Test accuracy of every ablation variant (``runs[label]["metrics"]``, :func:`cmmd_lite.ablation.ablation_metrics`)
    under both protocols: z sampled from the prior (the library's) and the prior mean (the reference code's)."""
    import plotly.graph_objects as go

    numbered = [f"{step} {label}" for step, label in _numbered(runs).items()]
    fig = go.Figure([
        go.Bar(x=numbered, y=[run["metrics"]["accuracy"] for run in runs.values()],
               name="10 prior samples (library)", marker={"color": "#555555"}),
        go.Bar(x=numbered, y=[run["metrics"]["accuracy_prior_mean"] for run in runs.values()],
               name="prior mean (reference code)", marker={"color": "#aaaaaa", "pattern": {"shape": "/"}}),
    ])
    fig.update_layout(barmode="group", height=440, yaxis={"range": [0, 1], "title": "test accuracy"},
                      xaxis={"tickangle": -40}, margin={"t": 60, "b": 10},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig


# per KL kind, the colours of chapter 8's collapse curves
ABLATION_COLOURS = {"posterior_vs_prior": "#d62728", "prior_vs_standard": "#1f77b4", "posterior_vs_standard": "#2ca02c"}


def ablation_collapse_explorer(runs: Mapping[str, Mapping[str, Any]], reference: str, *, live: bool | None = None):
    """The collapse curves (Appendix E) of one ablation variant at a time, its slider steps numbered as
    the bars of :func:`ablation_accuracy_figure`, with the encoder-vs-prior curve of the variant
    ``reference`` dotted for comparison; the title gives the variant's test accuracy."""
    steps = _numbered(runs)
    kind = "posterior_vs_prior"
    layout = {  # the title on top, then the legend (up to four rows on a narrow page), then the plot
        "height": 620, "margin": {"t": 190}, "title": {"y": 0.985, "yanchor": "top", "x": 0.02, "xanchor": "left"},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
    }
    return collapse_explorer(
        {step: runs[label]["metrics"]["collapse"] for step, label in steps.items()}, label="variant ",
        colours=ABLATION_COLOURS, layout=layout, live=live,
        reference={f"{reference}: {COLLAPSE_LABELS[kind]}": runs[reference]["metrics"]["collapse"][kind]},
        title=lambda step: f"{step} {steps[step]}: accuracy {runs[steps[step]]['metrics']['accuracy']:.3f}")
