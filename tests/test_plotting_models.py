"""Fig. 2 style collapse panels across models (cmmd_lite.plotting.collapse_panels_*)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("plotly")

from cmmd_lite.evaluate import COLLAPSE_EPSILONS  # noqa: E402
from cmmd_lite.plotting import (FIG2_KINDS, FIG2_TITLES, collapse_panels_layout,  # noqa: E402
                                collapse_panels_traces, slider_figure)


def _curves(scale: float, kinds=FIG2_KINDS) -> dict[str, list[float]]:
    return {kind: list(np.clip(COLLAPSE_EPSILONS / (6.0 * scale * (i + 1)), 0, 1)) for i, kind in enumerate(kinds)}


CURVES = {"CMMD": _curves(1.0), "MVAE": _curves(2.0), "M-x_o": _curves(1.0, kinds=("prior_vs_standard",))}


def test_one_trace_per_model_and_panel_on_its_axes():
    traces = collapse_panels_traces(CURVES)
    assert len(traces) == len(CURVES) * len(FIG2_KINDS)
    for m, (model, curves) in enumerate(CURVES.items()):
        for i, kind in enumerate(FIG2_KINDS):
            trace = traces[m * len(FIG2_KINDS) + i]
            assert trace.name == model
            assert trace.xaxis == ("x" if i == 0 else f"x{i + 1}")
            assert trace.yaxis == ("y" if i == 0 else f"y{i + 1}")
            assert trace.showlegend == (i == 0)
            if kind in curves:
                np.testing.assert_allclose(trace.y, curves[kind])
                np.testing.assert_allclose(trace.x, COLLAPSE_EPSILONS)
            else:  # M-x_o has no posterior: an empty trace keeps the count fixed
                assert len(trace.x) == 0 and len(trace.y) == 0


def test_highlight_greys_out_the_other_models():
    traces = collapse_panels_traces(CURVES, highlight="MVAE")
    widths = {t.name: t.line.width for t in traces}
    assert widths["MVAE"] > widths["CMMD"] == widths["M-x_o"]
    assert {t.line.color for t in traces if t.name != "MVAE"} == {"#c7c7c7"}
    plain = collapse_panels_traces(CURVES)
    assert len({t.line.color for t in plain}) == len(CURVES)  # one colour per model


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="highlight='VCCA' is not one of the models"):
        collapse_panels_traces(CURVES, highlight="VCCA")
    with pytest.raises(ValueError, match="at least one model"):
        collapse_panels_traces({})
    with pytest.raises(ValueError, match="points"):
        collapse_panels_traces({"CMMD": {"prior_vs_standard": [0.0, 1.0]}})
    with pytest.raises(ValueError, match="at least one KL kind"):
        collapse_panels_layout(())
    with pytest.raises(ValueError, match="no room"):
        collapse_panels_layout(gap=0.6)


def test_layout_has_disjoint_panels_with_titles():
    layout = collapse_panels_layout()
    domains = [layout["xaxis" + ("" if i == 0 else str(i + 1))]["domain"] for i in range(len(FIG2_KINDS))]
    assert domains[0][0] == 0.0 and abs(domains[-1][1] - 1.0) < 1e-12
    assert all(a[1] < b[0] for a, b in zip(domains, domains[1:]))
    assert [a["text"] for a in layout["annotations"]] == [FIG2_TITLES[k] for k in FIG2_KINDS]


def test_a_slider_over_models_works():
    # the chapter's explorer: one frame per model, the same traces highlighted differently
    frames = {model: collapse_panels_traces(CURVES, highlight=model) for model in CURVES}
    fig = slider_figure(frames, layout=collapse_panels_layout(), label="model: ")
    assert len(fig.frames) == len(CURVES)
    assert len(fig.data) == len(CURVES) * len(FIG2_KINDS)
    assert [step["label"] for step in fig.layout.sliders[0].steps] == list(CURVES)


def test_the_slider_goes_under_a_legend_below_the_plot():
    # a horizontal legend below the plot and the slider used to share a place: the legend
    # covered the rail and took the clicks meant for the slider
    frames = {model: collapse_panels_traces(CURVES, highlight=model) for model in CURVES}
    fig = slider_figure(frames, layout=collapse_panels_layout(), label="model: ")
    slider, legend = fig.layout.sliders[0], fig.layout.legend
    assert legend.y < 0 and legend.yanchor == "top"
    assert slider.y == legend.y and slider.yanchor == "top" and slider.pad.t >= 40
    # a legend elsewhere leaves the slider in plotly's default place
    plain = slider_figure(frames, layout={"legend": {"orientation": "v"}})
    assert plain.layout.sliders[0].y is None


def test_step_labels_replace_long_names_on_the_rail():
    frames = {model: collapse_panels_traces(CURVES, highlight=model) for model in CURVES}
    first = next(iter(CURVES))
    fig = slider_figure(frames, step_labels={first: "A"})
    steps = fig.layout.sliders[0].steps
    assert steps[0].label == "A" and list(steps[0].args[0]) == [first]  # the frame keeps its name
    assert [s.label for s in steps[1:]] == list(CURVES)[1:]
    assert fig.layout.sliders[0].currentvalue.visible is False
    with pytest.raises(ValueError, match="not among the frames"):
        slider_figure(frames, step_labels={"no such model": "x"})
    with pytest.raises(ValueError, match="not a step index"):
        slider_figure(frames, active=len(CURVES))
