"""Collapse figures and explorers, the trained-settings figure and the image explorers of cmmd_lite.plotting."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly")

import plotly.graph_objects as go  # noqa: E402
import torch  # noqa: E402

from cmmd_lite.evaluate import COLLAPSE_EPSILONS  # noqa: E402
from cmmd_lite.explore import setting_label  # noqa: E402
from cmmd_lite.plotting import (COLLAPSE_LABELS, KL_COLOURS, collapse_bars_figure, collapse_explorer,  # noqa: E402
                                collapse_figure, collapse_traces, image_explorer, image_rows_explorer,
                                image_rows_mosaic, trained_settings_figure)

KINDS = list(COLLAPSE_LABELS)


@pytest.fixture(autouse=True)
def _no_display(monkeypatch):
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kw: None)


def _curves(offset: float) -> dict[str, list[float]]:
    return {kind: list(np.clip(COLLAPSE_EPSILONS / 6.0 + offset * (i + 1), 0.0, 1.0)) for i, kind in enumerate(KINDS)}


def titles(fig):
    return [frame.layout.title.text for frame in fig.frames]


def test_collapse_traces_name_colour_and_reference():
    curves = _curves(0.1)
    traces = collapse_traces(curves, colours=KL_COLOURS, reference={"baseline": curves["prior_vs_standard"]})
    assert [t.name for t in traces] == [COLLAPSE_LABELS[k] for k in KINDS] + ["baseline"]
    assert [t.line.color for t in traces[:3]] == [KL_COLOURS[k] for k in KINDS]
    assert all(t.mode == "lines+markers" for t in traces[:3])
    baseline = traces[-1]
    assert (baseline.mode, baseline.line.dash, baseline.line.color) == ("lines", "dot", "black")
    np.testing.assert_allclose(traces[0].y, curves["posterior_vs_prior"])
    np.testing.assert_allclose(traces[0].x, COLLAPSE_EPSILONS)
    assert collapse_traces({"other": [0.0, 1.0]}, [0.0, 1.0])[0].name == "other"  # not a KL kind: its own name


def test_collapse_figure_keeps_its_axes():
    fig = collapse_figure(_curves(0.0), title="collapse")
    assert len(fig.data) == 3 and fig.layout.title.text == "collapse"
    assert list(fig.layout.yaxis.range) == [-0.02, 1.02] and fig.layout.height == 420
    assert fig.data[0].line.color is None  # plotly's colours


def test_collapse_explorer_one_step_per_setting():
    curves = {w: _curves(w) for w in (0.0, 0.1, 0.2)}
    fig = collapse_explorer(curves, label="omega = ", title=lambda w: f"omega = {w}", active=2,
                            layout={"height": 500}, live=False)
    assert [step["label"] for step in fig.layout.sliders[0].steps] == ["0.0", "0.1", "0.2"]
    assert fig.layout.sliders[0].active == 2 and fig.layout.height == 500
    assert titles(fig) == ["omega = 0.0", "omega = 0.1", "omega = 0.2"]
    assert fig.layout.xaxis.title.text == "epsilon (nats)" and fig.layout.legend.orientation == "h"
    for w, frame in zip(curves, fig.frames):
        assert len(frame.data) == 3
        np.testing.assert_allclose(frame.data[1].y, curves[w]["prior_vs_standard"])
        assert frame.data[0].line.color == KL_COLOURS["posterior_vs_prior"]


def test_collapse_bars_figure_groups_kinds_and_draws_the_accuracy():
    means = {kind: {"omega = 0": 0.1 * i, "omega = 1": 0.2 * i} for i, kind in enumerate(KINDS)}
    fig = collapse_bars_figure(means, {"omega = 0": 0.8, "omega = 1": 0.9}, title="bars")
    bars, line = fig.data[:3], fig.data[3]
    assert [b.type for b in bars] == ["bar"] * 3 and line.type == "scatter"
    assert [b.name for b in bars] == [COLLAPSE_LABELS[k] for k in KINDS]
    assert list(bars[2].x) == ["omega = 0", "omega = 1"] and list(bars[2].y) == [0.2, 0.4]
    assert [b.marker.color for b in bars] == [KL_COLOURS[k] for k in KINDS]
    assert list(line.y) == [0.8, 0.9] and line.line.color == "black"
    assert fig.layout.barmode == "group" and fig.layout.title.text == "bars"


def _results():
    results = {}
    for i, setting in enumerate([(0.0, 1000.0, 10.0), (0.5, 100.0, 10.0), (1.0, 1000.0, 1.0)]):
        epochs = [{"epoch": e, "val_accuracy": 0.1 * e + 0.01 * i, "nll_x_m": 100.0 + i, "nll_y": 0.5 + i,
                   "kl": 2.0 + i, "mmd": 0.001 * (i + 1)} for e in (1, 2, 3)]
        results[setting] = {"history": {"epochs": epochs},
                            "metrics": {"collapse": _curves(0.1 * i), "collapse_epsilons": COLLAPSE_EPSILONS.tolist(),
                                        "accuracy": 0.5 + 0.1 * i}}
    return results


def test_trained_settings_figure_one_frame_per_setting_with_eq5_terms():
    results = _results()
    fig = trained_settings_figure(results, active=1)
    settings = list(results)
    assert [frame.name for frame in fig.frames] == [setting_label(s) for s in settings]
    assert [step["label"] for step in fig.layout.sliders[0].steps] == [
        "ω=0<br>λ=1000<br>α=10", "ω=0.5<br>λ=100<br>α=10", "ω=1<br>λ=1000<br>α=1"]
    assert fig.layout.sliders[0].active == 1 and fig.layout.title.text == titles(fig)[1]
    assert titles(fig)[2] == "omega=1, lambda=1000, alpha=1: test accuracy 0.700"
    for (omega, lam, alpha), frame in zip(settings, fig.frames):
        assert len(frame.data) == 3 + 2
        bar, accuracy = frame.data[3], frame.data[4]
        last = results[omega, lam, alpha]["history"]["epochs"][-1]
        mmd_term = (1 - omega) * lam * last["mmd"] if omega < 1 else 0.0  # absent at omega = 1
        assert list(bar.y) == pytest.approx([last["nll_x_m"], alpha * last["nll_y"], omega * last["kl"], mmd_term])
        assert (bar.xaxis, accuracy.xaxis) == ("x2", "x3") and list(accuracy.x) == [1, 2, 3]
    assert fig.layout.yaxis2.type == "log"


def test_image_explorer_draws_each_image_upright():
    images = {k: np.full((4, 5), k / 4.0) for k in range(3)}
    fig = image_explorer(images.__getitem__, list(images), label="k = ", title=lambda k: f"image {k}", live=False)
    assert len(fig.frames) == 3 and titles(fig) == ["image 0", "image 1", "image 2"]
    heatmap = fig.frames[2].data[0]
    assert heatmap.type == "heatmap" and np.asarray(heatmap.z).shape == (4, 5)
    np.testing.assert_allclose(heatmap.z, images[2])
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis.scaleanchor == "x"


def test_image_rows_mosaic_pads_grey_images_into_rgb_cells():
    grey = torch.ones(3, 1, 2, 2)  # white, padded with black into the 4 x 4 cells of the colour row
    colour = torch.zeros(3, 3, 4, 4)
    colour[:, 0] = 1.0  # red
    picture, centres = image_rows_mosaic([("grey", grey), ("colour", colour)], pad=1)
    assert picture.shape == (2 * (4 + 1) + 1, 3 * (4 + 1) + 1, 3) and picture.dtype == np.uint8
    assert centres == [1 + 2, 1 + 2 + 5]
    cell = picture[1:5, 1:5]  # the first grey image: white in the middle, black around it
    assert (cell[1:3, 1:3] == 255).all() and (cell[0] == 0).all() and (cell[:, 0] == 0).all()
    assert (picture[6:10, 1:5] == [255, 0, 0]).all()  # the first red image
    with pytest.raises(ValueError, match="same n"):
        image_rows_mosaic([("a", grey), ("b", colour[:2])])


def test_image_rows_explorer_labels_the_rows_and_computes_each_value_once():
    calls = []

    def rows(value):
        calls.append(value)
        return [("first", torch.full((2, 1, 3, 3), value / 2)), ("second", torch.zeros(2, 3, 3, 3))]

    fig = image_rows_explorer(rows, [0, 1, 2], label="draw ", title=lambda v: f"draw {v}", live=False)
    assert sorted(calls) == [0, 1, 2]
    assert list(fig.layout.yaxis.ticktext) == ["first", "second"]
    assert list(fig.layout.yaxis.tickvals) == [2 + 1.5, 2 + 1.5 + 5]
    assert len(fig.frames) == 3 and all(len(frame.data) == 1 and frame.data[0].type == "image"
                                        for frame in fig.frames)
    assert fig.frames[0].data[0].source != fig.frames[2].data[0].source  # the images differ
    assert isinstance(fig, go.Figure) and titles(fig)[1] == "draw 1"
