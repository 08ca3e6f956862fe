"""The chapters' figures in cmmd_lite.demos: what each draws, checked against the closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from cmmd_lite import gaussian_kl, mmd  # noqa: E402
from cmmd_lite.demos import (ablation_accuracy_figure, ablation_collapse_explorer, bandwidth_explorer,  # noqa: E402
                             decoder_variance_figure, kl_decomposition_explorer, kl_formula_figure,
                             posterior_to_prior_explorer, toy_elbo_figure, two_sample_explorer)
from cmmd_lite.evaluate import COLLAPSE_EPSILONS  # noqa: E402
from cmmd_lite.plotting import COLLAPSE_LABELS  # noqa: E402
from cmmd_lite.theory import LinearGaussianCMMD, gaussian_shift_mmd2  # noqa: E402

F64 = {"dtype": torch.float64}


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kw: None)


def titles(fig):
    return [frame.layout.title.text for frame in fig.frames]


def test_toy_elbo_figure_touches_the_evidence_at_the_posterior():
    # chapter 2's toy: p(z | x_o) = N(c x_o, var_p), p(x_M | x_o, z) = N(z + b x_o, var_x)
    x_o, x_m, c, b, var_p, var_x = 0.8, 2.0, 1.5, 0.5, 0.6, 0.3
    post_var = 1.0 / (1.0 / var_p + 1.0 / var_x)
    post_mean = post_var * (c * x_o / var_p + (x_m - b * x_o) / var_x)
    log_evidence = -0.5 * (math.log(2 * math.pi * (var_p + var_x)) + (x_m - (c + b) * x_o) ** 2 / (var_p + var_x))

    def elbo(m, v):
        v = torch.as_tensor(v, **F64)
        log_lik = -0.5 * (math.log(2 * math.pi * var_x) + ((x_m - b * x_o - m) ** 2 + v) / var_x)
        return log_lik - gaussian_kl(m, torch.log(v).expand_as(m), torch.full_like(m, c * x_o),
                                     torch.full_like(m, math.log(var_p)))

    means = torch.linspace(-1.0, 3.0, 401, **F64)
    fig = toy_elbo_figure(elbo, means, log_evidence=log_evidence, post_mean=post_mean, post_var=post_var,
                          scales=(1.0, 3.0))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert len(ax.lines) == 2 + 2  # the evidence, one ELBO per scale, the posterior mean
    assert labels[1:3] == ["ELBO, q variance = 1 x posterior's", "ELBO, q variance = 3 x posterior's"]
    assert ax.get_ylim() == pytest.approx((log_evidence - 3.0, log_evidence + 0.4))
    tight, wide = (np.asarray(ax.lines[i].get_ydata(), dtype=float) for i in (1, 2))
    assert tight.max() == pytest.approx(log_evidence, abs=1e-4)  # touches at the posterior ...
    assert abs(float(means[tight.argmax()]) - post_mean) < 0.01
    assert (tight <= log_evidence + 1e-12).all() and wide.max() < log_evidence - 0.1  # ... and only there
    plt.close(fig)


def test_posterior_to_prior_explorer_titles_the_kl_and_ends_on_the_prior():
    def posterior(t):
        return torch.tensor(2.0 * (1 - t), **F64), torch.tensor(0.3 + 0.7 * t, **F64)

    def kl(t):
        mean, std = posterior(t)
        return float(gaussian_kl(mean, 2 * torch.log(std), torch.zeros((), **F64), torch.zeros((), **F64)))

    values = [0.0, 0.5, 1.0]
    fig = posterior_to_prior_explorer(posterior, values, kl=kl, live=False)
    assert len(fig.frames) == 3 and [len(f.data) for f in fig.frames] == [2, 2, 2]
    assert titles(fig) == [f"KL[q || p] = {kl(t):.3f} nats" for t in values]
    assert titles(fig)[-1] == "KL[q || p] = 0.000 nats"
    prior, last = fig.frames[-1].data
    np.testing.assert_allclose(last.y, prior.y, atol=1e-12)  # at t = 1, q is the prior
    z, density = np.asarray(prior.x), np.asarray(prior.y)
    assert float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(z))) == pytest.approx(1.0, abs=1e-3)  # on [-4, 5]
    assert [step["label"] for step in fig.layout.sliders[0].steps] == ["0.0", "0.5", "1.0"]


def test_kl_decomposition_explorer_splits_the_expected_kl():
    slopes = np.linspace(0.0, 2.0, 21)  # b = 1 is slopes[10]

    def terms(t):
        models = [LinearGaussianCMMD(b=float(b), t=t) for b in slopes]
        return tuple(np.array([getattr(m, f)() for m in models])
                     for f in ("expected_kl", "mutual_information", "marginal_kl"))

    matched = round(LinearGaussianCMMD().matched_prior().t, 4)
    widths = [0.4, matched, 1.2]
    fig = kl_decomposition_explorer(terms, slopes, widths, matched=matched, active=1, live=False)
    assert len(fig.frames) == 3 and fig.layout.sliders[0].active == 1
    for frame in fig.frames:
        expected, information, marginal = (np.asarray(trace.y) for trace in frame.data)
        np.testing.assert_allclose(expected, information + marginal, atol=1e-12)  # Eq. A1
    for t, title in zip(widths, titles(fig)):
        m = LinearGaussianCMMD(t=t)
        assert title.endswith(f"at b = 1, E[KL] = {m.expected_kl():.3f} = I {m.mutual_information():.3f} "
                              f"+ marginal KL {m.marginal_kl():.3f}")
        assert ("(matched)" in title) == (t == matched)


def _two_gaussians(shift, n=8, dim=3):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, dim, generator=g, **F64), torch.randn(n, dim, generator=g, **F64)
    y[:, 0] += shift
    return x, y


def _population(shift, h):
    return gaussian_shift_mmd2(shift, h, 3)


def test_two_sample_explorer_shows_estimates_beside_the_closed_form():
    bandwidths = {"narrow": 0.5, "wide": 9.0}
    fig = two_sample_explorer(_two_gaussians, _population, bandwidths, [0.0, 2.0], floor=1e-6, live=False)
    assert len(fig.frames) == 2 and [len(f.data) for f in fig.frames] == [4, 4]
    for shift, frame in zip([0.0, 2.0], fig.frames):
        x, y = _two_gaussians(shift)
        points_p, points_q, estimate, population = frame.data
        np.testing.assert_allclose(points_q.x, y[:, 0].numpy())
        assert list(estimate.x) == list(bandwidths) and estimate.name == "unbiased estimate (n = 8)"
        assert list(estimate.y) == pytest.approx([max(float(mmd(x, y, bandwidth=h)), 1e-6)
                                                  for h in bandwidths.values()])
        assert list(population.y) == pytest.approx([max(_population(shift, h), 1e-6) for h in bandwidths.values()])
    assert list(fig.frames[0].data[3].y) == [1e-6, 1e-6]  # no shift: zero, drawn at the floor
    assert titles(fig)[1] == "Two-sample test in D = 3: q shifted by 2 along z_1"


def test_bandwidth_explorer_rings_the_chosen_bandwidth():
    hs = np.logspace(-1.0, 3.0, 201)
    unit = np.array([_population(1.0, h) for h in hs])
    stops = [1.0, 9.0, 100.0]
    fig = bandwidth_explorer(_two_gaussians, _population, stops, shifts=[0.0, 1.0, 3.0], unit_curve=(hs, unit),
                             active=2, live=False)
    assert len(fig.frames) == 3 and fig.layout.sliders[0].active == 2
    best = unit.max()
    for h, frame, title in zip(stops, fig.frames, titles(fig)):
        curve, estimates, unit_trace, ring = frame.data
        assert curve.x[-1] == 3.0 and list(curve.y) == pytest.approx([_population(s, h) for s in curve.x])
        assert list(estimates.y) == pytest.approx([float(mmd(*_two_gaussians(s), bandwidth=h)) for s in (0, 1, 3)])
        assert list(ring.x) == [h] and ring.y[0] == pytest.approx(_population(1.0, h))
        assert title.startswith(f"h = {h:g}: a unit shift gives MMD^2 = {_population(1.0, h):.3g}, "
                                f"{_population(1.0, h) / best:.0%}")
        assert title.endswith(f"(at h = {hs[unit.argmax()]:.3g})")


def test_decoder_variance_figure_dashes_the_ideal_decoder():
    eps = np.linspace(0.0, 0.2, 5)
    curves = {"CMMD": [0, 0.2, 0.5, 0.9, 1.0], "ideal": [0, 0, 0.1, 0.3, 1.0]}
    fig = decoder_variance_figure(curves, eps, ideal="ideal", title="fourth panel")
    cmmd, ideal = fig.data
    assert (ideal.line.dash, ideal.line.color) == ("dash", "black") and cmmd.line.dash is None
    assert list(ideal.y) == curves["ideal"] and fig.layout.title.text == "fourth panel"
    assert fig.layout.yaxis.title.text == "fraction of the pixels of x_M"


def test_kl_formula_figure_draws_both_formulas_and_their_minima():
    log_r = torch.linspace(-3.0, 2.0, 51, **F64)
    zero = torch.zeros_like(log_r)
    curves = {"exact": gaussian_kl(zero, log_r, zero, zero),
              "reference": gaussian_kl(zero, log_r, zero, zero, formula="reference")}
    fig = kl_formula_figure(log_r.exp(), curves, minima=[(1.0, 0.0), (0.5, 0.5 * math.log(2))])
    exact, reference, minima = fig.data
    assert exact.line.dash is None and reference.line.dash == "dash"
    np.testing.assert_allclose(np.asarray(reference.y) - np.asarray(exact.y), 0.5 * log_r.exp().numpy(), atol=1e-12)
    assert list(minima.x) == [1.0, 0.5] and minima.y[1] == pytest.approx(0.5 * math.log(2))
    assert fig.layout.xaxis.type == "log"


def _ablation_runs():
    rng = np.random.default_rng(0)
    curves = lambda: {kind: np.sort(rng.uniform(0, 1, len(COLLAPSE_EPSILONS))).tolist()  # noqa: E731
                      for kind in COLLAPSE_LABELS}
    return {label: {"metrics": {"accuracy": a, "accuracy_prior_mean": a / 2, "collapse": curves()}}
            for label, a in (("paper text", 0.5), ("+ ce_reduction", 0.9), ("reference code", 0.8))}


def test_ablation_figures_number_the_variants_alike():
    runs = _ablation_runs()
    bars = ablation_accuracy_figure(runs)
    assert [list(trace.x) for trace in bars.data] == [["1 paper text", "2 + ce_reduction", "3 reference code"]] * 2
    assert list(bars.data[0].y) == [0.5, 0.9, 0.8] and list(bars.data[1].y) == [0.25, 0.45, 0.4]
    fig = ablation_collapse_explorer(runs, reference="paper text", live=False)
    assert [step["label"] for step in fig.layout.sliders[0].steps] == ["1", "2", "3"]
    assert titles(fig) == ["1 paper text: accuracy 0.500", "2 + ce_reduction: accuracy 0.900",
                           "3 reference code: accuracy 0.800"]
    paper = runs["paper text"]["metrics"]["collapse"]["posterior_vs_prior"]
    for frame, run in zip(fig.frames, runs.values()):
        assert len(frame.data) == 3 + 1
        assert list(frame.data[0].y) == run["metrics"]["collapse"]["posterior_vs_prior"]
        reference = frame.data[-1]  # the paper's text, dotted, in every frame
        assert reference.name == "paper text: " + COLLAPSE_LABELS["posterior_vs_prior"]
        assert list(reference.y) == paper and reference.line.dash == "dot"
