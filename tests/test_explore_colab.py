"""On Colab the live explorers fall back to the static plotly sliders (Colab does not draw plotly
figures inside an ipywidgets.Output: googlecolab/colabtools#5889); elsewhere a live kernel keeps
the widgets."""
import sys
import types

import plotly.graph_objects as go
import pytest

pytest.importorskip("ipywidgets")
import ipywidgets  # noqa: E402

from cmmd_lite import plotting  # noqa: E402
from cmmd_lite.explore import grid_explorer  # noqa: E402

AXES = {"omega": [0.0, 0.5, 1.0], "alpha": [1.0, 10.0]}
SETTINGS = [(0.0, 10.0), (0.5, 10.0)]


@pytest.fixture
def live_kernel(monkeypatch):
    """A live Jupyter kernel as far as the explorers can tell; counts the Outputs and fig.show()s."""
    monkeypatch.delenv(plotting.ENV_STATIC, raising=False)
    monkeypatch.setattr(plotting, "in_live_kernel", lambda: True)
    made = {"outputs": 0, "shows": 0}

    class CountingOutput(ipywidgets.Output):
        def __init__(self, *args, **kwargs):
            made["outputs"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ipywidgets, "Output", CountingOutput)
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **kw: made.__setitem__("shows", made["shows"] + 1))
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kw: None)
    return made


@pytest.fixture(params=[True, False], ids=["colab", "jupyter"])
def colab(request, monkeypatch):
    if request.param:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    return request.param


def scatter(setting):
    return [go.Scatter(x=[0, 1], y=list(setting))]


def train_new_setting(setting, report):
    report(1, 1)


def assert_static(result, made, n_steps):
    assert isinstance(result, go.Figure)
    assert [len(slider.steps) for slider in result.layout.sliders] == n_steps
    assert made == {"outputs": 0, "shows": 0}  # no ipywidgets.Output, no fig.show() inside one


def test_grid_explorer_is_static_on_colab_and_live_elsewhere(live_kernel, colab, capsys):
    result = grid_explorer(scatter, SETTINGS, axes=AXES, train=train_new_setting)
    printed = capsys.readouterr().out
    if colab:
        assert_static(result, live_kernel, [len(values) for values in AXES.values()])  # one slider per axis
        lines = printed.strip().splitlines()
        assert len(lines) == 1 and "On Colab this explorer is the static one" in lines[0]
        assert "train_new_setting((0.0, 1.0), print)" in lines[0]  # the first grid setting not trained
    else:
        assert isinstance(result, ipywidgets.VBox)
        assert live_kernel == {"outputs": 1, "shows": 1}
        assert "Colab" not in printed


def test_widget_or_static_is_static_on_colab_and_live_elsewhere(live_kernel, colab, capsys):
    values = [0.0, 0.5, 1.0]
    result = plotting.widget_or_static(lambda v: [go.Scatter(x=[0, 1], y=[v, v])], values, label="omega = ")
    printed = capsys.readouterr().out
    if colab:
        assert_static(result, live_kernel, [len(values)])
        assert printed.count("\n") == 1 and "On Colab this explorer is the static one" in printed
    else:
        assert isinstance(result, ipywidgets.VBox)
        assert live_kernel == {"outputs": 1, "shows": 1}
        assert "Colab" not in printed  # (outside a kernel, clear_output writes terminal escapes)


def test_on_colab_the_static_explorer_adds_the_grid_settings_trained_since(live_kernel, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    trained = {*SETTINGS, (1.0, 1.0)}  # e.g. by train_new_setting((1.0, 1.0), print) in a cell
    fig = grid_explorer(scatter, SETTINGS, axes=AXES, train=train_new_setting, available=trained.__contains__)
    shown = [frame.name for frame in fig.frames if frame.data[0].visible]
    assert shown == ["0|10", "0.5|10", "1|1"]  # every combination is a frame; the others say "not trained yet"
    assert len(fig.frames) == 3 * 2


@pytest.mark.parametrize("explorer", ["grid_explorer", "widget_or_static"])
def test_without_a_kernel_nothing_is_printed_on_colab_either(explorer, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(plotting, "in_live_kernel", lambda: False)  # e.g. CMMD_STATIC_FIGURES=1
    monkeypatch.setattr("IPython.display.display", lambda *objects, **kw: None)
    if explorer == "grid_explorer":
        fig = grid_explorer(scatter, SETTINGS, axes=AXES, train=train_new_setting)
    else:
        fig = plotting.widget_or_static(lambda v: [go.Scatter(x=[0, 1], y=[v, v])], [0.0, 1.0])
    assert isinstance(fig, go.Figure) and capsys.readouterr().out == ""
