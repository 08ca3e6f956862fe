"""Figures for the book and for notebooks: small helpers, nothing global changed on import.

matplotlib (static figures) and plotly (interactive ones) are imported inside the functions,
so ``import cmmd_lite`` never needs them and never picks a backend or a renderer.

* :func:`plot_history` -- the terms of Eq. 5 and the validation accuracy, per epoch (matplotlib).
* :func:`collapse_traces`, :func:`collapse_figure` -- posterior-collapse curves (Appendix E), one
  trace per KL (plotly); :func:`collapse_explorer` -- those of one setting at a time, with a slider;
  :func:`collapse_bars_figure` -- their mean over epsilon per setting, beside the accuracy.
* :func:`trained_settings_figure` -- one view per trained (omega, lambda, alpha) setting: collapse
  curves, the weighted terms of Eq. 5 and the validation accuracy, with a slider.
* :func:`slider_figure` -- a plotly figure with a slider over precomputed frames; it stays
  interactive in the static HTML book (no kernel needed).
* :func:`controls_figure` -- a plotly figure with one slider per axis of a grid (omega, lambda,
  alpha) that move independently, also in the static HTML (:func:`show_controls_figure`).
* :func:`widget_or_static` -- ipywidgets sliders in a live kernel, :func:`slider_figure` otherwise
  (also on Colab, which does not draw plotly figures inside widgets).
* :func:`image_grid` -- paired images, one row per modality (stand-ins are labelled as such).
* :func:`image_explorer` -- one greyscale image per slider step (a heatmap);
  :func:`image_rows_explorer` -- labelled rows of images per slider step (one picture,
  :func:`image_rows_mosaic`).
* :func:`cmmd_diagram` -- the forward pass of paper Fig. 1 as a small graph (matplotlib).
* :func:`collapse_panels_traces`, :func:`collapse_panels_layout` -- paper Fig. 2: collapse curves of
  several models (CMMD and the baselines) in three panels, one per KL kind (plotly).
"""
from __future__ import annotations

import itertools
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .data.paired import PairedData
from .evaluate import COLLAPSE_EPSILONS

ENV_STATIC = "CMMD_STATIC_FIGURES"

TERM_LABELS = {
    "loss": "loss (negative Eq. 5)",
    "nll_x_m": r"$-\log p(x_\mathcal{M} \mid x_o, z)$",
    "nll_y": r"$-\log p(y \mid z)$",
    "kl": r"KL$[q(z \mid x_o, x_\mathcal{M}, y) \,\|\, p(z \mid x_o)]$",
    "mmd": r"MMD$[q(z \mid x_o), p(z \mid x_o)]$",
    "val_accuracy": "validation accuracy",
}
# The one table of the three KL kinds of the collapse curves (Appendix E, paper Fig. 2): each as CMMD
# names its distributions, and as any model of Fig. 2 does ("z | x_o": the latent given x_o alone,
# ``model.prior_params``; "z | x_M": the latent that sees x_M, ``model.posterior``).
KL_KINDS = {
    "posterior_vs_prior": ("KL[q(z|x_o,x_M,y) || p(z|x_o)]", "KL[z|x_M || z|x_o]"),
    "prior_vs_standard": ("KL[p(z|x_o) || N(0, I)]", "KL[z|x_o || N(0, I)]"),
    "posterior_vs_standard": ("KL[q(z|x_o,x_M,y) || N(0, I)]", "KL[z|x_M || N(0, I)]"),
}
COLLAPSE_LABELS = {kind: labels[0] for kind, labels in KL_KINDS.items()}  # CMMD's names
# a colour per KL kind where several figures must agree (the encoder-vs-prior curve is blue)
KL_COLOURS = {"posterior_vs_prior": "#1f77b4", "prior_vs_standard": "#ff7f0e", "posterior_vs_standard": "#2ca02c"}


# --- training curves (matplotlib) ---------------------------------------------------------------

def plot_history(history: Mapping[str, Any], terms: Sequence[str] = ("loss", "nll_x_m", "nll_y", "kl", "mmd"),
                 *, accuracy: bool = True, test_accuracy: float | None = None, title: str | None = None):
    """One small panel per loss term of ``history["epochs"]`` (from :func:`cmmd_lite.train_or_load`),
    plus the validation accuracy (and ``test_accuracy``, of the kept weights, as a line).
    Terms that are zero throughout (the MMD at omega = 1) are skipped. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    epochs = history["epochs"]
    if not epochs:
        raise ValueError("the history has no epochs to plot.")
    steps = [record["epoch"] for record in epochs]
    shown = [t for t in terms if any(record.get(t, 0.0) != 0.0 for record in epochs)]
    if accuracy:
        shown.append("val_accuracy")
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False, layout="constrained")
    for ax, term in zip(axes.flat, shown):
        ax.plot(steps, [record[term] for record in epochs], marker="o", markersize=3)
        ax.set_title(TERM_LABELS.get(term, term), fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if term == "val_accuracy" and history.get("best_epoch"):
            ax.axvline(history["best_epoch"], color="grey", linestyle=":", label="kept (best val.)")
            if test_accuracy is not None:
                ax.axhline(test_accuracy, color="tab:red", linestyle="--", label=f"test: {test_accuracy:.3f}")
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


# --- posterior collapse (plotly) ------------------------------------------------------------------

# the axes of every collapse figure (Appendix E): epsilon against the fraction of dimensions collapsed
COLLAPSE_AXES = {"xaxis_title": "epsilon (nats)", "yaxis_title": "fraction of dimensions collapsed",
                 "yaxis_range": [-0.02, 1.02], "legend": {"orientation": "h", "y": -0.25}}


def collapse_traces(curves: Mapping[str, Sequence[float]], epsilons: Sequence[float] = COLLAPSE_EPSILONS, *,
                    colours: Mapping[str, str] | None = None,
                    reference: Mapping[str, Sequence[float]] | None = None) -> list[Any]:
    """Fraction of latent dimensions collapsed at each epsilon (Appendix E), one plotly trace per curve.

    ``curves`` is :func:`cmmd_lite.collapse_curves` or ``evaluate(...)["collapse"]`` (KL kinds are
    named by :data:`COLLAPSE_LABELS`); ``colours``: curve -> colour (default: plotly's); ``reference``:
    name -> a curve to compare with, drawn after them as a dotted black line.
    """
    import plotly.graph_objects as go

    x = [float(e) for e in epsilons]
    colours = colours or {}
    traces = [go.Scatter(x=x, y=[float(v) for v in curve], mode="lines+markers", marker={"size": 4},
                         name=COLLAPSE_LABELS.get(name, name),
                         **({"line": {"color": colours[name]}} if name in colours else {}))
              for name, curve in curves.items()]
    traces += [go.Scatter(x=x, y=[float(v) for v in curve], mode="lines", line={"dash": "dot", "color": "black"},
                          name=name)
               for name, curve in (reference or {}).items()]
    return traces


def collapse_figure(curves: Mapping[str, Sequence[float]], epsilons: Sequence[float] = COLLAPSE_EPSILONS,
                    *, title: str = "Posterior collapse (Lucas et al. 2019)"):
    """Fraction of latent dimensions collapsed at each epsilon, one trace per KL kind (:func:`collapse_traces`).

    ``curves`` is :func:`cmmd_lite.collapse_curves` or ``evaluate(...)["collapse"]``.
    """
    import plotly.graph_objects as go

    fig = go.Figure(collapse_traces(curves, epsilons))
    fig.update_layout(title=title, **COLLAPSE_AXES, height=420, margin={"t": 50, "b": 10})
    return fig


def collapse_explorer(curves: Mapping[Any, Mapping[str, Sequence[float]]],
                      epsilons: Sequence[float] = COLLAPSE_EPSILONS, *, label: str = "",
                      title: Callable[[Any], str] | None = None, active: int = 0,
                      colours: Mapping[str, str] | None = KL_COLOURS,
                      reference: Mapping[str, Sequence[float]] | None = None,
                      layout: Mapping[str, Any] | None = None, live: bool | None = None):
    """The collapse curves (Appendix E) of one setting at a time, a slider over the settings
    (:func:`widget_or_static`): ``curves`` maps each setting to its curves (``evaluate(...)["collapse"]``);
    ``colours`` and ``reference`` as in :func:`collapse_traces`; ``layout`` adds to :data:`COLLAPSE_AXES`."""
    return widget_or_static(lambda setting: collapse_traces(curves[setting], epsilons, colours=colours,
                                                            reference=reference),
                            list(curves), layout={**COLLAPSE_AXES, "height": 440, **(layout or {})}, label=label,
                            title=title, active=active, live=live)


def collapse_bars_figure(mean_collapse: Mapping[str, Mapping[str, float]], accuracy: Mapping[str, float], *,
                         title: str = "", accuracy_name: str = "validation accuracy",
                         colours: Mapping[str, str] = KL_COLOURS):
    """Grouped bars of the mean collapse fraction over epsilon (Appendix E), a colour per KL kind and a
    group per setting (``mean_collapse[kind][setting]``), with ``accuracy[setting]`` as a black line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for kind, values in mean_collapse.items():
        fig.add_bar(x=list(values), y=[float(v) for v in values.values()], name=COLLAPSE_LABELS.get(kind, kind),
                    marker_color=colours.get(kind))
    fig.add_scatter(x=list(accuracy), y=[float(a) for a in accuracy.values()], name=accuracy_name,
                    mode="lines+markers", line={"color": "black", "width": 3})
    fig.update_layout(barmode="group", height=420, yaxis_range=[0, 1.02], title=title,
                      legend={"orientation": "h", "y": -0.2})
    return fig


# the three panels of :func:`trained_settings_figure`
SETTINGS_LAYOUT = {
    "height": 460, "legend": {"orientation": "h", "y": -0.3},
    "xaxis": {"domain": [0.0, 0.26], "title": "epsilon (nats)"},
    "yaxis": {"range": [-0.02, 1.02], "title": "fraction collapsed"},
    "xaxis2": {"domain": [0.38, 0.62], "anchor": "y2"},
    "yaxis2": {"anchor": "x2", "type": "log", "title": "last epoch (nats, log)"},
    "xaxis3": {"domain": [0.74, 1.0], "anchor": "y3", "title": "epoch", "dtick": 1},
    "yaxis3": {"anchor": "x3", "range": [0, 1], "title": "val. accuracy"},
}


def _weighted_terms(setting: Sequence[float], record: Mapping[str, float]) -> dict[str, float]:
    """The terms of the negative Eq. 5 as the loss weights them, for one epoch's ``record`` of
    ``history["epochs"]`` at ``setting = (omega, lam, alpha)`` (the MMD term is absent at omega = 1)."""
    omega, lam, alpha = setting
    return {"-log p(x_M|x_o,z)": record["nll_x_m"], "alpha * CE": alpha * record["nll_y"],
            "omega * KL": omega * record["kl"],
            "(1-omega) lambda MMD": (1 - omega) * lam * record["mmd"] if omega < 1 else 0.0}


def trained_settings_figure(results: Mapping[tuple, Mapping[str, Any]], *, active: int = 0):
    """One view per trained setting (omega, lambda, alpha), a slider over them (:func:`slider_figure`):
    the collapse curves on the test pairs (Appendix E), the weighted terms of Eq. 5 at the last epoch
    (log scale) and the validation accuracy per epoch; the title gives the
    test accuracy. ``results``: setting -> ``{"history": ..., "metrics": evaluate(...)}``."""
    import plotly.graph_objects as go

    from .explore import setting_label

    frames, step_labels, frame_layouts = {}, {}, {}
    for setting, result in results.items():
        history, metrics = result["history"], result["metrics"]
        epochs = history["epochs"]
        weighted = _weighted_terms(setting, epochs[-1])
        name = setting_label(setting)
        frames[name] = [
            *collapse_traces(metrics["collapse"], metrics["collapse_epsilons"]),
            go.Bar(x=list(weighted), y=list(weighted.values()), name="weighted loss terms", xaxis="x2",
                   yaxis="y2", marker={"color": "#7f7f7f"}, showlegend=False),
            go.Scatter(x=[e["epoch"] for e in epochs], y=[e["val_accuracy"] for e in epochs], mode="lines+markers",
                       name="validation accuracy", xaxis="x3", yaxis="y3", showlegend=False,
                       line={"color": "#2ca02c"}),
        ]
        omega, lam, alpha = setting
        step_labels[name] = f"ω={omega:g}<br>λ={lam:g}<br>α={alpha:g}"
        frame_layouts[name] = {"title": {"text": f"{name}: test accuracy {metrics['accuracy']:.3f}"}}
    return slider_figure(frames, layout=SETTINGS_LAYOUT, step_labels=step_labels, frame_layouts=frame_layouts,
                         active=active)


# --- sliders over precomputed frames ----------------------------------------------------------------

# pixels left under a horizontal legend below the plot before the slider (two rows of legend entries)
LEGEND_ROOM_PX = 55


def slider_figure(frames: Mapping[Any, Sequence[Any]], *, layout: Mapping[str, Any] | None = None,
                  frame_layouts: Mapping[Any, Mapping[str, Any]] | None = None, label: str = "",
                  active: int = 0, rows: int | None = None, cols: int | None = None,
                  step_labels: Mapping[Any, str] | None = None):
    """A plotly figure with one slider step per setting; works in the static HTML (no kernel).

    A horizontal legend below the plot (``legend.y < 0``) stays readable and clickable: the slider
    is placed under it rather than on top of it.

    Args:
        frames: setting -> the figure's traces for that setting (plotly trace objects or dicts);
            every setting must give the same number and kinds of traces.
        layout: layout of the whole figure (axes, size, ...).
        frame_layouts: setting -> layout changes for that frame (e.g. a title naming a value).
        label: the slider's prefix, e.g. ``"omega = "``.
        active: index of the setting shown first.
        rows, cols: make a subplot grid (traces then need ``xaxis``/``yaxis`` set, e.g. "x2"/"y2").
        step_labels: setting -> a short label under its slider step (default: the setting's name);
            long names overlap each other on the rail. Plotly's ``<br>`` breaks a label's line.
            With step labels the slider shows no current value above the rail (``label`` is
            ignored): name the setting in ``frame_layouts`` (e.g. its title) instead.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not frames:
        raise ValueError("slider_figure needs at least one frame.")
    names = [str(setting) for setting in frames]
    if len(set(names)) != len(names):
        raise ValueError(f"the settings {list(frames)} do not have distinct names.")
    settings = list(frames)
    counts = {len(frames[s]) for s in settings}
    if len(counts) != 1:
        raise ValueError("every frame must have the same number of traces.")
    frame_layouts = frame_layouts or {}
    step_labels = step_labels or {}
    unknown = [s for s in step_labels if s not in frames]
    if unknown:
        raise ValueError(f"step_labels names settings {unknown} that are not among the frames {settings}.")
    if not 0 <= active < len(settings):
        raise ValueError(f"active={active} is not a step index in [0, {len(settings) - 1}].")
    first = settings[active]
    fig = make_subplots(rows=rows or 1, cols=cols or 1) if rows or cols else go.Figure()
    for trace in frames[first]:
        fig.add_trace(trace)
    fig.frames = [go.Frame(data=list(frames[s]), name=name, layout=frame_layouts.get(s))
                  for s, name in zip(settings, names)]
    steps = [{"method": "animate", "label": step_labels.get(s, name),
              "args": [[name], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                "transition": {"duration": 0}}]}
             for s, name in zip(settings, names)]
    fig.update_layout(**(layout or {}))
    fig.update_layout(**frame_layouts.get(first, {}))
    current = {"visible": False} if step_labels else {"prefix": label}
    slider = {"active": active, "steps": steps, "currentvalue": current, "pad": {"t": 40}}
    legend = fig.layout.legend
    if legend.orientation == "h" and legend.y is not None and legend.y < 0:
        # the slider's default place (just under the plot) is where such a legend is drawn
        fig.update_layout(legend={"yanchor": "top"})
        slider.update({"y": legend.y, "yanchor": "top", "pad": {"t": LEGEND_ROOM_PX}})
    fig.update_layout(sliders=[slider])
    return fig


#: JavaScript run after a :func:`controls_figure` is drawn: when any of its sliders moves, show the
#: frame named by the values of all of them (plotly's ``{plot_id}`` is the figure's div).
CONTROLS_SCRIPT = """
(function () {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd.on) { return; }
  gd.on('plotly_sliderchange', function () {
    var key = gd._fullLayout.sliders.map(function (s) { return s.steps[s.active].value; }).join('|');
    Plotly.animate(gd, [key], {mode: 'immediate', frame: {duration: 0, redraw: true}, transition: {duration: 0}});
  });
})();
"""


def control_key(values: Sequence[Any]) -> str:
    """The frame name of a setting in a :func:`controls_figure`: its values joined by ``|``."""
    return "|".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values)


def controls_figure(frames: Mapping[tuple, Sequence[Any]], axes: Mapping[str, Sequence[Any]], *,
                    layout: Mapping[str, Any] | None = None,
                    frame_layouts: Mapping[tuple, Mapping[str, Any]] | None = None,
                    labels: Mapping[str, str] | None = None, active: tuple | None = None,
                    missing_title: Callable[[tuple], str] | None = None):
    """A plotly figure with one slider per axis (e.g. omega, lambda, alpha) that move independently;
    works in the static HTML (no kernel) once shown with :func:`show_controls_figure`.

    Every combination of the axes' values is a frame. ``frames`` gives the traces of the settings
    that exist (tuples, one value per axis; each the same number of traces); the others show the
    traces hidden and the title ``missing_title(setting)`` (default: "... is not recorded").
    ``labels`` are the sliders' prefixes (default ``"name = "``); ``active`` is the setting shown
    first (default: the first of ``frames``).
    """
    import plotly.graph_objects as go

    if not frames:
        raise ValueError("controls_figure needs at least one setting.")
    axes = {name: list(values) for name, values in axes.items()}
    for setting in frames:
        if len(setting) != len(axes) or any(v not in axes[a] for a, v in zip(axes, setting)):
            raise ValueError(f"setting {setting} is not a combination of the axes {axes}.")
    counts = {len(traces) for traces in frames.values()}
    if len(counts) != 1:
        raise ValueError("every setting must have the same number of traces.")
    active = tuple(active) if active is not None else next(iter(frames))
    if active not in frames:
        raise ValueError(f"active={active} is not among the settings {list(frames)}.")
    frame_layouts = frame_layouts or {}
    labels = labels or {}
    describe = missing_title or (lambda s: ", ".join(f"{a} = {control_key([v])}" for a, v in zip(axes, s))
                                 + ": not recorded")
    n_traces = counts.pop()
    fig = go.Figure()
    for trace in frames[active]:
        fig.add_trace(trace)
    fig.update_traces(visible=True)
    base_title = {"title": {"text": go.Layout(layout or {}).title.text or ""}}  # after a hidden frame's title
    shown = [go.Frame(data=[{**(t.to_plotly_json() if hasattr(t, "to_plotly_json") else dict(t)), "visible": True}
                            for t in frames[s]], name=control_key(s), layout=frame_layouts.get(s, base_title))
             for s in frames]
    hidden = [go.Frame(data=[{"visible": False}] * n_traces, name=control_key(s),
                       layout={"title": {"text": describe(s)}})
              for s in itertools.product(*axes.values()) if s not in frames]
    fig.frames = shown + hidden
    fig.update_layout(**(layout or {}))
    fig.update_layout(**frame_layouts.get(active, {}))
    n = len(axes)
    fig.update_layout(sliders=[
        {"active": values.index(value), "x": i / n, "len": 1 / n - 0.03, "y": 0, "yanchor": "top",
         "pad": {"t": 30}, "currentvalue": {"prefix": labels.get(name, f"{name} = ")},
         "steps": [{"method": "skip", "label": control_key([v]), "value": control_key([v]), "args": []}
                   for v in values]}
        for i, ((name, values), value) in enumerate(zip(axes.items(), active))])
    return fig


def show_controls_figure(fig: Any) -> None:
    """Display a :func:`controls_figure` with :data:`CONTROLS_SCRIPT`, through the configured plotly
    renderer; outside IPython (a script, where no page runs the script) nothing is shown: save it
    with ``fig.write_html(path, post_script=CONTROLS_SCRIPT, auto_play=False)``."""
    from IPython import get_ipython

    if get_ipython() is not None:
        fig.show(post_script=CONTROLS_SCRIPT, auto_play=False)  # frames are chosen by the sliders, never played


def in_live_kernel() -> bool:
    """True inside a Jupyter kernel with ipywidgets, unless ``CMMD_STATIC_FIGURES=1`` (the book build)."""
    if os.environ.get(ENV_STATIC, "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "kernel"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def on_colab() -> bool:
    """True on Google Colab, where plotly figures shown inside an ``ipywidgets.Output`` stay blank
    (googlecolab/colabtools#5889, "Plotly is not defined"); a figure displayed in a cell is drawn."""
    return "google.colab" in sys.modules


def live_explorer(live: bool | None = None, *, train_hint: str = "") -> bool:
    """Whether an explorer draws ipywidgets (``live``, default :func:`in_live_kernel`).

    On Colab a live kernel still gets the static explorer (see :func:`on_colab`), and one printed
    line says so, followed by ``train_hint`` (how to add a setting). An explicit ``live`` wins.
    """
    if live is not None:
        return live
    if not in_live_kernel():
        return False
    if on_colab():
        print("On Colab this explorer is the static one (Colab does not draw plotly figures inside widgets): "
              "a plotly slider over the precomputed settings." + (f" {train_hint}" if train_hint else ""))
        return False
    return True


def widget_or_static(compute: Callable[[Any], Sequence[Any]], values: Sequence[Any], *,
                     layout: Mapping[str, Any] | None = None, label: str = "",
                     title: Callable[[Any], str] | None = None, active: int = 0, live: bool | None = None):
    """Show an explorer of ``compute(value) -> traces`` over ``values``; returns what it showed.

    In a live Jupyter kernel an ipywidgets slider calls ``compute`` on demand. Otherwise (the static
    book: ``CMMD_STATIC_FIGURES=1``; Colab, see :func:`on_colab`; or ``live=False``) every value is
    computed up front into a :func:`slider_figure`, which keeps working without a kernel.
    ``title(value)`` gives a per-value figure title. Assign the result (``explorer = widget_or_static(...)``) so that a
    notebook does not display it a second time.
    """
    import plotly.graph_objects as go

    from IPython.display import display

    values = list(values)
    if not live_explorer(live):
        frames = {value: compute(value) for value in values}
        frame_layouts = {value: {"title": {"text": title(value)}} for value in values} if title else None
        fig = slider_figure(frames, layout=layout, frame_layouts=frame_layouts, label=label, active=active)
        display(fig)
        return fig

    import ipywidgets as widgets

    slider = widgets.SelectionSlider(options=values, value=values[active], description=label.strip(" =:") or "value",
                                     continuous_update=False, layout={"width": "60%"})
    output = widgets.Output()

    def redraw(change: Any = None) -> None:
        value = slider.value
        fig = go.Figure(data=list(compute(value)), layout=dict(layout or {}))
        if title:
            fig.update_layout(title=title(value))
        with output:
            output.clear_output(wait=True)
            fig.show()

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, output])
    display(box)
    return box


# --- images (matplotlib) ----------------------------------------------------------------------------

def _as_images(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, H, W), (N, 1, H, W) or (N, 3, H, W) in [0, 1] -> (N, H, W) or (N, H, W, 3) numpy."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 4:
        array = array[:, 0] if array.shape[1] == 1 else np.moveaxis(array, 1, -1)
    if array.ndim not in (3, 4):
        raise ValueError(f"expected (N, H, W) or (N, C, H, W) images, got shape {array.shape}.")
    return np.clip(array, 0.0, 1.0)


def image_grid(data: PairedData, rows: Sequence[int] | torch.Tensor | slice, *,
               extra: Mapping[str, torch.Tensor | np.ndarray] | None = None, title: str | None = None,
               show_labels: bool = True, size: float = 1.1):
    """Images of the pairs at ``rows``: one row of the grid per modality, one column per pair.

    Row names come from :meth:`PairedData.label`, so a modality held in ``data.standin`` is named
    as the synthetic stand-in, never as the real dataset. ``extra`` adds rows (name -> images of the
    same pairs, (N, C, H, W) in [0, 1]), e.g. x_M generated from x_o; name them with
    ``data.label(...)`` too. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    if isinstance(rows, slice):
        rows = list(range(len(data)))[rows]
    rows = torch.as_tensor(rows, dtype=torch.long)
    named = [(("observed: " if m in data.observed else "missing: ") + data.label(m), data.modality(m, rows))
             for m in data.observed + data.missing]
    named += list((extra or {}).items())
    grids = [(name, _as_images(images)) for name, images in named]
    n_cols = len(rows)
    if any(len(images) != n_cols for _, images in grids):
        raise ValueError(f"every row needs {n_cols} images (one per pair).")
    fig, axes = plt.subplots(len(grids), n_cols, figsize=(size * n_cols + 1.6, size * len(grids) + 0.4),
                             squeeze=False, layout="constrained")
    labels = data.y[rows.to(data.y.device)].tolist()
    for r, (name, images) in enumerate(grids):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(images[c], cmap="gray" if images.ndim == 3 else None, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and show_labels:
                ax.set_title(f"y = {labels[c]}", fontsize=8)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def image_explorer(image: Callable[[Any], np.ndarray | torch.Tensor], values: Sequence[Any], *, label: str = "",
                   title: Callable[[Any], str] | None = None, active: int = 0, width: int = 420, height: int = 460,
                   live: bool | None = None):
    """An explorer of one greyscale image per value (:func:`widget_or_static`): ``image(value)`` is
    (H, W) in [0, 1], drawn upright as a heatmap, so hovering shows the pixel values."""
    import plotly.graph_objects as go

    def traces(value: Any) -> list[Any]:
        return [go.Heatmap(z=np.asarray(image(value)), colorscale="gray", zmin=0, zmax=1, showscale=False)]

    layout = {"width": width, "height": height, "xaxis": {"visible": False},
              "yaxis": {"visible": False, "autorange": "reversed", "scaleanchor": "x"}}
    return widget_or_static(traces, values, layout=layout, label=label, title=title, active=active, live=live)


def image_rows_mosaic(rows: Sequence[tuple[str, torch.Tensor | np.ndarray]], *,
                      pad: int = 2) -> tuple[np.ndarray, list[float]]:
    """Labelled rows of images, ``(label, (n, C, H, W) in [0, 1])`` with the same n, as one picture
    (:func:`cmmd_lite.explore.image_mosaic`, one row each): grey images become RGB, smaller ones are
    padded with black to the largest. Returns the (H, W, 3) uint8 picture and the y of each row's centre."""
    import torch.nn.functional as F

    from .explore import image_mosaic

    if not rows:
        raise ValueError("image_rows_mosaic needs at least one row.")
    batches = [torch.as_tensor(images, dtype=torch.float32) for _, images in rows]
    n_cols = len(batches[0])
    if any(batch.ndim != 4 or len(batch) != n_cols for batch in batches):
        raise ValueError("every row needs (n, C, H, W) images with the same n; "
                         f"got {[tuple(b.shape) for b in batches]}.")
    height, width = max(b.shape[2] for b in batches), max(b.shape[3] for b in batches)
    padded = []
    for batch in batches:
        batch = batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch
        top, left = (height - batch.shape[2]) // 2, (width - batch.shape[3]) // 2
        padded.append(F.pad(batch, (left, width - batch.shape[3] - left, top, height - batch.shape[2] - top)))
    picture = image_mosaic(torch.cat(padded), n_cols=n_cols, pad=pad)
    return picture, [pad + height / 2 + i * (height + pad) for i in range(len(rows))]


def image_rows_explorer(rows: Callable[[Any], Sequence[tuple[str, torch.Tensor | np.ndarray]]],
                        values: Sequence[Any], *, label: str = "", title: Callable[[Any], str] | None = None,
                        active: int = 0, pad: int = 2, height: int = 430, live: bool | None = None):
    """An explorer of labelled rows of images (:func:`image_rows_mosaic`) per value
    (:func:`widget_or_static`); ``rows(value)`` gives the same labels for every value, which name the rows."""
    from .explore import image_trace

    values = list(values)
    computed: dict[Any, Sequence[tuple[str, Any]]] = {}

    def rows_of(value: Any) -> Sequence[tuple[str, Any]]:
        if value not in computed:  # the labels and the first frame need the same rows
            computed[value] = rows(value)
        return computed[value]

    labels = [name for name, _ in rows_of(values[active])]
    _, centres = image_rows_mosaic(rows_of(values[active]), pad=pad)

    def traces(value: Any) -> list[Any]:
        picture, _ = image_rows_mosaic(rows_of(value), pad=pad)
        return [image_trace(picture, name=f"{label}{value}")]

    layout = {"height": height, "margin": {"l": 200, "r": 10, "t": 50, "b": 10}, "xaxis": {"visible": False},
              "yaxis": {"tickvals": centres, "ticktext": labels, "tickfont": {"size": 11}}}
    return widget_or_static(traces, values, layout=layout, label=label, title=title, active=active, live=live)


# --- the model's forward pass (paper Fig. 1) ----------------------------------------------------------

def cmmd_diagram():
    """The CMMD forward pass (paper Fig. 1) as a graph; returns the matplotlib figure.

    Dotted: the posterior sample that feeds the decoder in training. Dashed: the prior sample
    that replaces it at test time. Solid: the prior sample that feeds the classifier, always.
    """
    import matplotlib.pyplot as plt

    boxes = {
        "x_o": (0.07, 0.75, r"$x_o$" + "\n(always observed)"),
        "x_M": (0.07, 0.22, r"$x_\mathcal{M}$, $y$" + "\n(training only)"),
        "prior": (0.42, 0.75, r"prior $p(z \mid x_o)$"),
        "encoder": (0.42, 0.22, r"encoder $q(z \mid x_o, x_\mathcal{M}, y)$"),
        "classifier": (0.86, 0.88, r"classifier $p(y \mid z)$"),
        "decoder": (0.86, 0.45, r"decoder $p(x_\mathcal{M} \mid x_o, z)$"),
    }
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.set_axis_off()
    ax.set_xlim(-0.08, 1.02)
    ax.set_ylim(-0.05, 1.0)
    texts = {}
    for name, (x, y, text) in boxes.items():
        colour = "#dbe9f6" if name in ("x_o", "x_M") else "#f3f3f3"
        texts[name] = ax.text(x, y, text, ha="center", va="center", fontsize=9,
                              bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "#555555"})

    def arrow(start: str, end: str, style: str, colour: str = "black", rad: float = 0.0) -> None:
        ax.annotate("", xy=boxes[end][:2], xytext=boxes[start][:2],
                    arrowprops={"arrowstyle": "-|>", "mutation_scale": 12, "linestyle": style, "color": colour,
                                "connectionstyle": f"arc3,rad={rad}", "shrinkA": 2, "shrinkB": 2,
                                "patchA": texts[start].get_bbox_patch(), "patchB": texts[end].get_bbox_patch()})

    arrow("x_o", "prior", "-")
    arrow("x_o", "encoder", "-")
    arrow("x_M", "encoder", "-")
    arrow("x_o", "decoder", "-", colour="#888888", rad=0.18)
    arrow("prior", "classifier", "-")
    arrow("prior", "decoder", "--", colour="#1f77b4")
    arrow("encoder", "decoder", ":", colour="#d62728")
    ax.plot([], [], "-", color="black", label=r"$z \sim p(z \mid x_o)$: training and test")
    ax.plot([], [], ":", color="#d62728", label=r"$z \sim q$: training")
    ax.plot([], [], "--", color="#1f77b4", label=r"$z \sim p(z \mid x_o)$: test")
    ax.legend(loc="lower right", fontsize=8, frameon=False, bbox_to_anchor=(1.02, -0.05))
    return fig


# --- posterior collapse across models (paper Fig. 2) --------------------------------------------------

# The three KL kinds of the paper's Fig. 2 in its panel order, named for any model (KL_KINDS).
FIG2_KINDS = ("prior_vs_standard", "posterior_vs_standard", "posterior_vs_prior")
FIG2_TITLES = {kind: KL_KINDS[kind][1] for kind in FIG2_KINDS}
MODEL_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")


def collapse_panels_layout(kinds: Sequence[str] = FIG2_KINDS, *, height: int = 420,
                           gap: float = 0.07) -> dict[str, Any]:
    """A plotly layout with one panel per KL kind side by side (axes x/y, x2/y2, ...), for
    :func:`collapse_panels_traces`; panel titles are annotations, shared y range [0, 1]."""
    n = len(kinds)
    if n == 0:
        raise ValueError("collapse_panels_layout needs at least one KL kind.")
    if not 0.0 <= gap < 1.0 / max(n - 1, 1):
        raise ValueError(f"gap={gap} leaves no room for {n} panels.")
    width = (1.0 - gap * (n - 1)) / n
    layout: dict[str, Any] = {"height": height, "legend": {"orientation": "h", "y": -0.22},
                              "margin": {"t": 70, "b": 10}, "annotations": []}
    for i, kind in enumerate(kinds):
        suffix = "" if i == 0 else str(i + 1)
        start = i * (width + gap)
        layout[f"xaxis{suffix}"] = {"domain": [start, start + width], "anchor": f"y{suffix}",
                                    "title": "epsilon (nats)"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "range": [-0.02, 1.02],
                                    "title": "fraction collapsed" if i == 0 else None}
        layout["annotations"].append({"text": FIG2_TITLES.get(kind, kind), "x": start + width / 2, "y": 1.0,
                                      "xref": "paper", "yref": "paper", "xanchor": "center",
                                      "yanchor": "bottom", "showarrow": False, "font": {"size": 12}})
    return layout


def collapse_panels_traces(curves_by_model: Mapping[str, Mapping[str, Sequence[float]]],
                           epsilons: Sequence[float] = COLLAPSE_EPSILONS, *, highlight: str | None = None,
                           kinds: Sequence[str] = FIG2_KINDS) -> list[Any]:
    """Fig. 2 style collapse curves: for each KL kind (a panel) one line per model.

    Args:
        curves_by_model: model name -> its curves (``evaluate(...)["collapse"]`` or
            :func:`cmmd_lite.collapse_curves`). A model without some kind (M-x_o has only
            ``prior_vs_standard``) gets an empty trace there, so every call with the same models
            returns the same number of traces, as :func:`slider_figure` needs.
        epsilons: the x values of the curves.
        highlight: a model drawn thick and in colour, the others thin and grey (for an explorer
            over models); None draws every model in its colour.
        kinds: the panels, in order (default: the paper's three).

    Returns plotly Scatter traces, ``len(curves_by_model) * len(kinds)`` of them, model by model;
    panel i uses axes ``x{i+1}``/``y{i+1}`` of :func:`collapse_panels_layout`. Each model is one
    legend group, shown once.
    """
    import plotly.graph_objects as go

    if not curves_by_model:
        raise ValueError("collapse_panels_traces needs the curves of at least one model.")
    if highlight is not None and highlight not in curves_by_model:
        raise ValueError(f"highlight={highlight!r} is not one of the models {list(curves_by_model)}.")
    x = [float(e) for e in epsilons]
    traces = []
    for m, (model, curves) in enumerate(curves_by_model.items()):
        colour = MODEL_COLOURS[m % len(MODEL_COLOURS)]
        faint = highlight is not None and model != highlight
        line = {"color": "#c7c7c7" if faint else colour, "width": 1.2 if faint else 3.0}
        for i, kind in enumerate(kinds):
            curve = curves.get(kind)
            if curve is not None and len(curve) != len(x):
                raise ValueError(f"the {kind!r} curve of {model!r} has {len(curve)} points, epsilons {len(x)}.")
            suffix = "" if i == 0 else str(i + 1)
            traces.append(go.Scatter(
                x=x if curve is not None else [], y=[float(v) for v in curve] if curve is not None else [],
                mode="lines", line=line, name=model, legendgroup=model, showlegend=(i == 0),
                opacity=0.9 if faint else 1.0, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                hovertemplate=f"{model}<br>epsilon %{{x:.2f}}: %{{y:.2f}}<extra>{FIG2_TITLES.get(kind, kind)}</extra>"))
    return traces


def collapse_panels_figure(curves_by_model: Mapping[str, Mapping[str, Sequence[float]]],
                           epsilons: Sequence[float] = COLLAPSE_EPSILONS, *, title: str = "",
                           kinds: Sequence[str] = FIG2_KINDS) -> Any:
    """Paper Fig. 2 as one plotly figure (:func:`collapse_panels_traces` on
    :func:`collapse_panels_layout`): the book shows it, ``reproduce fig2`` saves it as a PNG
    (:func:`save_png`)."""
    import plotly.graph_objects as go

    fig = go.Figure(data=collapse_panels_traces(curves_by_model, epsilons, kinds=kinds),
                    layout=collapse_panels_layout(kinds))
    if title:
        fig.update_layout(title={"text": title, "font": {"size": 13}}, margin={"t": 90})
    return fig


def save_png(fig: Any, path: str | Path, *, dpi: int = 90) -> Path:
    """Save a figure as a PNG: a matplotlib figure as it is; a plotly figure of line traces on side-by-side
    panels (such as :func:`collapse_panels_figure`) redrawn with matplotlib, trace for trace (plotly's own
    image export needs a browser engine that is not installed here)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    if hasattr(fig, "savefig"):
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        return path
    layout = fig.layout
    axes_names = sorted({trace.xaxis or "x" for trace in fig.data}, key=lambda a: int(a[1:] or 1))
    mpl, axes = plt.subplots(1, len(axes_names), figsize=(5 * len(axes_names), 4.2), sharey=True,
                             squeeze=False, layout="constrained")
    panel = {name: ax for name, ax in zip(axes_names, axes[0])}
    for trace in fig.data:
        if trace.x is None or len(trace.x) == 0:
            continue
        ax = panel[trace.xaxis or "x"]
        ax.plot(trace.x, trace.y, color=trace.line.color, linewidth=(trace.line.width or 2) * 0.7,
                label=trace.name if trace.showlegend is not False else None)
    for annotation, ax in zip(layout.annotations or (), axes[0]):
        ax.set_title(annotation.text, fontsize=10)
    for name, ax in panel.items():
        axis = layout[f"xaxis{name[1:]}"]
        ax.set_xlabel(axis.title.text if axis.title and axis.title.text else "")
        ax.grid(alpha=0.3)
    yaxis = layout["yaxis"]
    axes[0][0].set_ylabel(yaxis.title.text if yaxis.title and yaxis.title.text else "")
    axes[0][0].legend(fontsize=8)
    if layout.title and layout.title.text:
        mpl.suptitle(layout.title.text)
    mpl.savefig(path, dpi=dpi)
    plt.close(mpl)
    return path
