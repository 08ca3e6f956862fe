"""Exploring a grid of trained settings: image mosaics for plotly, and a live explorer with a
slider per hyperparameter and a "train this setting" button.

* :func:`image_mosaic` -- a batch of images as one (H, W, 3) uint8 picture, in rows.
* :func:`png_data_uri` / :func:`image_trace` -- that picture as a compact PNG inside a plotly
  ``Image`` trace, so it can be a frame of :func:`cmmd_lite.plotting.slider_figure` and stays small
  in the static HTML book.
* :func:`grid_explorer` -- in a live kernel, one ipywidgets slider per axis of the grid (e.g.
  omega, lambda, alpha); moving them only re-draws precomputed results, and a button trains a
  setting that is not in the grid yet (with a progress bar). Without a kernel (the static book),
  and on Colab, it shows a plotly figure with one slider per axis instead
  (:func:`cmmd_lite.plotting.controls_figure`).
* :func:`record_explorer` -- that explorer over a recorded sweep (:func:`cmmd_lite.sweeps.recorded`):
  omega, lambda and alpha as three controls, and one view per setting with accuracy, collapse
  curves, latent t-SNE maps and generated digits (:func:`record_traces`, :func:`record_layout`).
"""
from __future__ import annotations

import base64
import io
import itertools
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch


def image_mosaic(images: torch.Tensor | np.ndarray, n_cols: int, *, pad: int = 2,
                 background: float = 1.0) -> np.ndarray:
    """Tile images into one picture, row by row.

    Args:
        images: (N, C, H, W) with C = 1 or 3, or (N, H, W); values in [0, 1] (clipped).
        n_cols: images per row; the last row is filled with ``background``.
        pad: pixels of ``background`` between and around the images.

    Returns:
        (rows * (H + pad) + pad, n_cols * (W + pad) + pad, 3) uint8 RGB.
    """
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[1] not in (1, 3) or len(array) == 0:
        raise ValueError(f"expected a non-empty batch of (C, H, W) images with C in (1, 3); got shape {array.shape}.")
    if n_cols < 1:
        raise ValueError(f"n_cols must be at least 1, got {n_cols}.")
    array = np.clip(np.nan_to_num(array.astype(np.float32), nan=0.0), 0.0, 1.0)
    if array.shape[1] == 1:
        array = np.repeat(array, 3, axis=1)
    n, _, height, width = array.shape
    n_rows = math.ceil(n / n_cols)
    canvas = np.full((n_rows * (height + pad) + pad, n_cols * (width + pad) + pad, 3), background, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, n_cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top:top + height, left:left + width] = np.moveaxis(array[i], 0, -1)
    return (canvas * 255.0).round().astype(np.uint8)


def png_data_uri(picture: np.ndarray) -> str:
    """An (H, W, 3) uint8 picture as a ``data:image/png;base64,...`` URI (lossless, compact)."""
    from PIL import Image

    picture = np.asarray(picture)
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 picture, got {picture.shape} {picture.dtype}.")
    buffer = io.BytesIO()
    Image.fromarray(picture, mode="RGB").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_trace(picture: np.ndarray, *, xaxis: str = "x", yaxis: str = "y", name: str = "") -> Any:
    """A plotly ``Image`` trace showing ``picture`` ((H, W, 3) uint8) as an embedded PNG."""
    import plotly.graph_objects as go

    return go.Image(source=png_data_uri(picture), xaxis=xaxis, yaxis=yaxis, name=name, hoverinfo="skip")


def grid_explorer(traces: Callable[[tuple], Sequence[Any]], settings: Sequence[tuple], *,
                  axes: Mapping[str, Sequence[Any]], layout: Mapping[str, Any] | None = None,
                  title: Callable[[tuple], str] | None = None,
                  train: Callable[[tuple, Callable[[int, int], None]], None] | None = None,
                  available: Callable[[tuple], bool] | None = None, active: int = 0,
                  live: bool | None = None):
    """An explorer of precomputed results over a grid of settings (tuples, one entry per axis).

    Live (a Jupyter kernel; see :func:`cmmd_lite.plotting.in_live_kernel`): one
    ``SelectionSlider`` per axis, with the values ``axes[name]``. Moving a slider calls
    ``traces(setting)`` when ``available(setting)`` (default: the setting is in ``settings``), so
    it must only read precomputed results; otherwise it says that the setting is not trained yet.
    With ``train``, a button calls ``train(setting, report)`` for the sliders' setting, where
    ``report(done, total)`` moves a progress bar; afterwards the setting counts as available
    (``train`` should store its results where ``traces`` finds them).

    Static (``live=False``, ``CMMD_STATIC_FIGURES=1`` in the book build, or Colab, which does not
    draw plotly figures inside widgets: see :func:`cmmd_lite.plotting.on_colab`): a plotly
    :func:`~cmmd_lite.plotting.controls_figure`, one slider per axis, moving independently, over the
    precomputed ``settings`` (the others say they are not trained); it keeps working without a
    kernel. On Colab one printed line says so and how to train another setting (``train(setting, print)``
    in a new cell); rerunning the explorer's cell then adds every grid setting that
    ``available`` reports to the slider. Returns the widget box or the figure.
    """
    import plotly.graph_objects as go
    from IPython.display import display

    from .plotting import controls_figure, live_explorer, on_colab, show_controls_figure

    settings = [tuple(s) for s in settings]
    axes = {axis: list(values) for axis, values in axes.items()}
    if not settings:
        raise ValueError("grid_explorer needs at least one precomputed setting.")
    for setting in settings:
        if len(setting) != len(axes):
            raise ValueError(f"setting {setting} has {len(setting)} entries for {len(axes)} axes {list(axes)}.")
        missing = [(axis, value) for (axis, values), value in zip(axes.items(), setting) if value not in values]
        if missing:
            raise ValueError(f"setting {setting}: {missing} not among the slider values {axes}.")
    def describe(setting: tuple) -> str:
        return ", ".join(f"{axis}={value:g}" if isinstance(value, (int, float)) else f"{axis}={value}"
                         for axis, value in zip(axes, setting))

    hint = ""  # printed on Colab, where the explorer is static and has no "train" button
    if train is not None:
        function = getattr(train, "__name__", "")
        function = function if function.isidentifier() else "train"
        example = next((s for s in itertools.product(*axes.values()) if s not in settings), settings[0])
        hint = (f"To train another setting ({', '.join(axes)}), run e.g. {function}({example!r}, print) "
                "in a new cell"
                + (", then rerun this cell." if available is not None else "."))
    if not live_explorer(live, train_hint=hint):
        if available is not None and on_colab():  # settings trained since, e.g. by the hint above
            settings += [s for s in itertools.product(*axes.values()) if s not in settings and available(s)]
        frame_layouts = {s: {"title": {"text": title(s)}} for s in settings} if title else None
        fig = controls_figure({s: traces(s) for s in settings}, axes, layout=layout, frame_layouts=frame_layouts,
                              active=settings[active],
                              missing_title=lambda s: f"{describe(s)}: not trained yet" + (
                                  " (see the line above to train it)" if hint and on_colab() else ""))
        show_controls_figure(fig)
        return fig

    import ipywidgets as widgets

    trained = set(settings)
    is_available = available or (lambda s: s in trained)
    start = settings[active]
    sliders = [widgets.SelectionSlider(options=values, value=value, description=axis, continuous_update=False,
                                       layout={"width": "32%"})
               for (axis, values), value in zip(axes.items(), start)]
    message = widgets.HTML()
    output = widgets.Output()
    children: list[Any] = [widgets.HBox(sliders)]

    def current() -> tuple:
        return tuple(slider.value for slider in sliders)

    def redraw(change: Any = None) -> None:
        setting = current()
        with output:
            output.clear_output(wait=True)
            if is_available(setting):
                message.value = f"<b>{describe(setting)}</b>: precomputed"
                fig = go.Figure(data=list(traces(setting)), layout=dict(layout or {}))
                if title:
                    fig.update_layout(title=title(setting))
                fig.show()
            else:
                message.value = (f"<b>{describe(setting)}</b> is not trained yet"
                                 + (": press <i>train this setting</i>." if train else "."))

    if train is not None:
        button = widgets.Button(description="train this setting", button_style="primary")
        bar = widgets.IntProgress(value=0, min=0, max=1, description="training", layout={"width": "40%"})
        bar.layout.visibility = "hidden"

        def report(done: int, total: int) -> None:
            bar.max, bar.value = max(int(total), 1), int(done)

        def on_click(_: Any) -> None:
            setting = current()
            button.disabled, bar.layout.visibility = True, "visible"
            message.value = f"training <b>{describe(setting)}</b> ..."
            try:
                train(setting, report)
                trained.add(setting)
            finally:
                button.disabled, bar.layout.visibility = False, "hidden"
            redraw()

        button.on_click(on_click)
        children.append(widgets.HBox([button, bar]))
    for slider in sliders:
        slider.observe(redraw, names="value")
    box = widgets.VBox([*children, message, output])
    redraw()
    display(box)
    return box


# --- the explorer of a recorded sweep (cmmd_lite.sweeps) --------------------------------------------

#: the weights a sweep varies, in slider order, with the sliders' labels
SWEEP_AXES = {"omega": "ω = ", "lam": "λ = ", "alpha": "α = "}
_ACCURACY_TRACES = (("accuracy", "classifier on z ~ p(z|x_o)", "#1f77b4"),
                    ("probe_accuracy", "linear probe on mu_p(x_o)", "#2ca02c"),
                    ("coherence", "coherence of generated x_M", "#d62728"))


def setting_label(setting: Sequence[float]) -> str:
    """``(omega, lam, alpha)`` as text: ``"omega=0.4, lambda=1000, alpha=10"``."""
    omega, lam, alpha = setting
    return f"omega={omega:g}, lambda={lam:g}, alpha={alpha:g}"


def record_settings(record: Mapping[str, Any]) -> dict[tuple, list[dict[str, Any]]]:
    """(omega, lam, alpha) -> the record's entries for that setting, one per seed (first seed first).
    A weight the grid does not vary (``mnist_svhn_generation``'s lambda and alpha) is read from the
    entry's config."""
    by_setting: dict[tuple, list[dict[str, Any]]] = {}
    for entry in record["settings"].values():
        key = tuple(float(entry["setting"][axis] if axis in entry["setting"] else entry["config"]["objective"][axis])
                    for axis in SWEEP_AXES)
        by_setting.setdefault(key, []).append(entry)
    return by_setting


def _value(entry: Mapping[str, Any], metric: str) -> float:
    value = entry[metric]
    return float(np.mean(list(value.values()))) if isinstance(value, Mapping) else float(value)  # coherence per modality


def record_traces(record: Mapping[str, Any], setting: tuple,
                  entries: Mapping[tuple, Sequence[Mapping[str, Any]]] | None = None) -> list[Any]:
    """The traces of one view of a recorded setting (see :func:`record_layout` for the panels):
    accuracy, probe accuracy and coherence against omega at this setting's lambda and alpha (mean and
    standard deviation over the recorded seeds; a ring on this setting), the three collapse curves
    of Fig. 2, the t-SNE of prior and posterior means of the fixed test pairs, and the x_M generated
    from a prior sample (top row) and decoded at the posterior mean (bottom row), one per class."""
    import plotly.graph_objects as go

    from .evaluate import COLLAPSE_EPSILONS
    from .latents import tsne_traces
    from .plotting import FIG2_KINDS, FIG2_TITLES
    from .sweeps import decode_images

    entries = entries if entries is not None else record_settings(record)
    entry = entries[setting][0]
    line = sorted((s for s in entries if s[1:] == setting[1:]), key=lambda s: s[0])
    traces: list[Any] = []
    for metric, label, colour in _ACCURACY_TRACES:
        values = [[_value(e, metric) for e in entries[s]] for s in line]
        traces.append(go.Scatter(
            x=[s[0] for s in line], y=[float(np.mean(v)) for v in values], mode="lines+markers", name=label,
            legendgroup=metric, line={"color": colour}, xaxis="x", yaxis="y",
            error_y={"type": "data", "array": [float(np.std(v)) if len(v) > 1 else 0.0 for v in values],
                     "visible": True, "thickness": 1},
            customdata=[len(v) for v in values],
            hovertemplate="ω %{x}: %{y:.3f} (%{customdata} seed(s))<extra>" + label + "</extra>"))
    traces.append(go.Scatter(
        x=[setting[0]] * len(_ACCURACY_TRACES), y=[_value(entry, m) for m, _, _ in _ACCURACY_TRACES],
        mode="markers", marker={"size": 14, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "black"}},
        name="this setting (seed %d)" % entry["setting"]["seed"], xaxis="x", yaxis="y", hoverinfo="skip"))
    epsilons = [float(e) for e in COLLAPSE_EPSILONS]
    for kind, dash in zip(FIG2_KINDS, ("solid", "dash", "dot")):
        traces.append(go.Scatter(x=epsilons, y=entry["collapse"][kind], mode="lines", name=FIG2_TITLES[kind],
                                 line={"dash": dash, "color": "#444444"}, xaxis="x2", yaxis="y2"))
    points = record["points"]
    from .sweeps import decode_points

    embedding = {"prior": decode_points(entry["tsne"]["prior"]), "posterior": decode_points(entry["tsne"]["posterior"]),
                 "y": np.asarray(entry.get("tsne_labels", points["tsne_labels"]))}  # own pairs if trained elsewhere
    traces += tsne_traces(embedding, axes=(("x3", "y3"), ("x4", "y4")), marker_size=4)
    for trace in traces[-20:]:
        trace.showlegend = False  # the class is in the hover text; the legend keeps the curves'
    rows = []
    for kind in ("generated", "reconstructed"):
        rows += [decode_images(images) for images in entry[kind].values()]
    traces.append(image_trace(image_mosaic(np.concatenate(rows).astype(np.float32) / 255.0,
                                           n_cols=len(points["shown_labels"])),
                              xaxis="x5", yaxis="y5", name="x_M"))
    return traces


def record_x_m_label(record: Mapping[str, Any]) -> str:
    """The generated modalities of a record, readable; the SVHN stand-in named as such."""
    from .data.paired import MODALITY_LABELS
    from .data.svhn_standin import STANDIN_LABEL

    if not record["settings"]:
        return "x_M"
    names = next(iter(record["settings"].values()))["generated"]
    standin = record["provenance"].get("svhn_standin")
    return ", ".join(STANDIN_LABEL if standin and name == "svhn" else MODALITY_LABELS.get(name, name) for name in names)


def _standin_note(record: Mapping[str, Any]) -> str:
    """The subtitles' warning for a record made on the SVHN stand-in ('' otherwise)."""
    return "; x_M is the SVHN STAND-IN" if record["provenance"].get("svhn_standin") else ""


def record_layout(record: Mapping[str, Any], *, height: int = 1000) -> dict[str, Any]:
    """The panels of :func:`record_traces`: accuracy against omega and the collapse curves on top,
    the two t-SNE maps in the middle, the digits below."""
    bare = {"showticklabels": False, "zeroline": False, "showgrid": False}
    modality = record_x_m_label(record)
    return {
        "height": height, "margin": {"t": 170, "b": 110, "l": 60, "r": 20},  # the title's two lines, then the legend
        "legend": {"orientation": "h", "y": 1.01, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        "xaxis": {"domain": [0.0, 0.46], "anchor": "y", "title": {"text": "ω (this λ and α)"}, "range": [-0.05, 1.05]},
        "yaxis": {"domain": [0.68, 0.94], "anchor": "x", "range": [0, 1.02], "title": {"text": "test"}},
        "xaxis2": {"domain": [0.56, 1.0], "anchor": "y2", "title": {"text": "ε (nats)"}},
        "yaxis2": {"domain": [0.68, 0.94], "anchor": "x2", "range": [-0.02, 1.02],
                   "title": {"text": "fraction collapsed"}},
        "xaxis3": {"domain": [0.0, 0.48], "anchor": "y3", "title": {"text": "prior means mu_p(x_o), t-SNE"}, **bare},
        "yaxis3": {"domain": [0.3, 0.6], "anchor": "x3", **bare},
        "xaxis4": {"domain": [0.52, 1.0], "anchor": "y4", "title": {"text": "posterior means mu_q, t-SNE"}, **bare},
        "yaxis4": {"domain": [0.3, 0.6], "anchor": "x4", **bare},
        "xaxis5": {"domain": [0.0, 1.0], "anchor": "y5", **bare},
        "yaxis5": {"domain": [0.0, 0.19], "anchor": "x5", "scaleanchor": "x5", **bare},
        "annotations": [{"text": f"{modality}, one test pair per class: generated from p(z|x_o) (top row), "
                                 "decoded at mu_q (bottom row)", "xref": "paper", "yref": "paper", "x": 0.0,
                         "y": 0.2, "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}}],
    }


def record_title(record: Mapping[str, Any], setting: tuple,
                 entries: Mapping[tuple, Sequence[Mapping[str, Any]]] | None = None) -> str:
    """One setting's numbers, for the view's title."""
    entries = entries if entries is not None else record_settings(record)
    entry = entries[setting][0]
    z_dim = len(entry["mean_kl_per_dim"])
    epochs, cap = len(entry["epochs"]), entry["config"]["train"]["epochs"]
    stop = (f"stopped: no gain for {entry['config']['train']['patience']} epochs" if entry["stopped_early"]
            else f"reached the {cap}-epoch cap" if epochs >= cap else "")
    coherence = _value(entry, "coherence")
    return (f"ω = {setting[0]:g}, λ = {setting[1]:g}, α = {setting[2]:g}: accuracy {entry['accuracy']:.3f}, "
            f"probe {entry['probe_accuracy']:.3f}, coherence {coherence:.2f}"
            f"<br><sup>{entry['active_dims']} of {z_dim} latent dimensions active; best epoch {entry['best_epoch']} "
            f"of {epochs} ({stop}); {entry['train_seconds'] / 60:.1f} min of training"
            + _standin_note(record) + "</sup>")


def record_explorer(record: Mapping[str, Any], *, train: Callable[[tuple, Callable[[int, int], None]], Mapping[str, Any]]
                    | None = None, active: tuple | None = None, live: bool | None = None):
    """An explorer of a recorded sweep: one control each for omega, lambda and alpha, moving
    independently, and one view per setting (:func:`record_traces`).

    Static (the book, Colab): a :func:`~cmmd_lite.plotting.controls_figure` over every recorded
    setting; settings the record does not hold say so. Live (a kernel): ipywidgets sliders over the
    same record, and with ``train``, a "train this setting" button: ``train(setting, report)``
    returns a record entry (e.g. :func:`cmmd_lite.sweeps.measure_for_record`), which the view then
    shows (it is not written to the record). Returns the figure or the widget box.
    """
    from .plotting import controls_figure, live_explorer, show_controls_figure

    entries = record_settings(record)
    if not entries:
        raise ValueError("the record holds no settings yet.")
    axes = {axis: [float(v) for v in record["identity"]["axes"][axis]] for axis in SWEEP_AXES}
    defaults = record["identity"].get("defaults", {})
    first = tuple(float(defaults[a]) for a in SWEEP_AXES) if all(a in defaults for a in SWEEP_AXES) else None
    active = tuple(active) if active is not None else first if first in entries else next(iter(entries))
    layout = record_layout(record)

    if not live_explorer(live):
        fig = controls_figure({s: record_traces(record, s, entries) for s in entries}, axes, layout=layout,
                              frame_layouts={s: {"title": {"text": record_title(record, s, entries)}} for s in entries},
                              labels=SWEEP_AXES, active=active,
                              missing_title=lambda s: (f"ω = {s[0]:g}, λ = {s[1]:g}, α = {s[2]:g} is not in the "
                                                       "record yet"))
        show_controls_figure(fig)
        return fig

    def add(setting: tuple, report: Callable[[int, int], None]) -> None:
        entries[setting] = [dict(train(setting, report))]

    return grid_explorer(lambda s: record_traces(record, s, entries), list(entries), axes=axes, layout=layout,
                         title=lambda s: record_title(record, s, entries), train=add if train else None,
                         available=lambda s: s in entries, active=list(entries).index(active), live=True)


class RecordComparison:
    """Live-trained settings beside the recorded ones (:func:`compare_with_record`): ``rows`` (one
    dict per setting), shown as an HTML table in a notebook."""

    def __init__(self, rows: list[dict[str, Any]], caption: str):
        self.rows, self.caption = rows, caption

    def _repr_html_(self) -> str:
        import html

        def cell(value: Any) -> str:
            return "&ndash;" if value is None else f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

        head = "".join(f"<th>{html.escape(k)}</th>" for k in self.rows[0]) if self.rows else ""
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row.values()) + "</tr>" for row in self.rows)
        return (f"<table><caption style='caption-side: bottom'>{html.escape(self.caption)}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def markdown(self) -> str:
        """The table in Markdown, its caption below (for a terminal, a README or RESULTS.md)."""
        from .experiments.base import table

        def cell(value: Any) -> str:
            return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

        if not self.rows:
            return self.caption
        header = list(self.rows[0])
        align = "".join("l" if i == 0 else "r" for i in range(len(header)))
        return "\n".join(table(header, align, [[cell(v) for v in row.values()] for row in self.rows])
                         + ["", self.caption])


def compare_with_record(record: Mapping[str, Any], live: Mapping[tuple, Mapping[str, Any]]) -> RecordComparison:
    """Each setting (omega, lam, alpha) trained on the page, ``live[setting] = {"accuracy": ...,
    "epochs": ...}``, beside the record's entry for the same setting (its first seed), or a dash
    where the grid does not hold it."""
    entries = record_settings(record)
    rows = []
    for setting, measured in live.items():
        entry = (entries.get(tuple(float(v) for v in setting)) or [None])[0]
        rows.append({"ω, λ, α": ", ".join(f"{v:g}" for v in setting),
                     "this page: epochs": measured["epochs"], "this page: accuracy": float(measured["accuracy"]),
                     "recorded: epochs (best)": None if entry is None else f"{len(entry['epochs'])} ({entry['best_epoch']})",
                     "recorded: accuracy": None if entry is None else float(entry["accuracy"]),
                     "recorded: active dims": None if entry is None else entry["active_dims"],
                     "recorded: coherence": None if entry is None else _value(entry, "coherence")})
    profile = record["identity"]["profile"]
    shrunk = record["provenance"].get("shrunk_training_set")
    caption = (f"Recorded: the {profile} profile trained until the validation accuracy stopped improving"
               + (f", on {shrunk:,} training pairs" if shrunk else "") + "; a dash: not in the recorded grid.")
    return RecordComparison(rows, caption)


def record_table(record: Mapping[str, Any], *, lam: float | None = None, alpha: float | None = None) -> RecordComparison:
    """The record along omega at one lambda and alpha (default: the grid's defaults): per omega the
    number of seeds and the mean (and standard deviation over seeds) of accuracy, probe accuracy,
    coherence and active dimensions, and the epochs trained."""
    defaults = record["identity"]["defaults"]
    lam = float(defaults["lam"] if lam is None else lam)
    alpha = float(defaults["alpha"] if alpha is None else alpha)
    entries = record_settings(record)

    def spread(values: list[float], digits: int = 3) -> str:
        return f"{np.mean(values):.{digits}f}" + (f" ± {np.std(values):.{digits}f}" if len(values) > 1 else "")

    rows = []
    for setting in sorted(s for s in entries if s[1:] == (lam, alpha)):
        seeds = entries[setting]
        rows.append({"ω": f"{setting[0]:g}", "seeds": len(seeds),
                     "accuracy": spread([e["accuracy"] for e in seeds]),
                     "probe": spread([e["probe_accuracy"] for e in seeds]),
                     "coherence": spread([_value(e, "coherence") for e in seeds]),
                     "active dims": spread([e["active_dims"] for e in seeds], digits=1 if len(seeds) > 1 else 0),
                     "epochs": ", ".join(str(len(e["epochs"])) for e in seeds)})
    return RecordComparison(rows, f"The recorded grid at λ = {lam:g}, α = {alpha:g}: mean ± standard deviation "
                                  "over seeds; epochs trained per seed.")


def cause_table(record: Mapping[str, Any]) -> RecordComparison:
    """One row per change from a record's defaults (a star grid such as ``mnist_svhn_causes``, or a
    one-axis grid), the defaults first: accuracy, and the coherence of x_M decoded from a prior sample
    (generation), at the prior mean mu_p(x_o) and at the posterior mean mu_q(x_o, x_M, y), with the
    epochs trained (best). Mean ± standard deviation where a row has several seeds. Reading it: a
    decoder that cannot draw the class even from mu_q lacks capacity or training; a gap from mu_q down
    to mu_p is the prior missing the posteriors; a gap from mu_p down to a sample is the prior's spread."""
    centre = ", ".join(f"{k} = {_shown(v)}" for k, v in record["identity"]["defaults"].items())
    return _coherence_table(record, _changes(record), "change", f"one change at a time from {centre}")


def grid_table(record: Mapping[str, Any]) -> RecordComparison:
    """:func:`cause_table`'s columns for every setting of any grid, one row per combination of its
    axes (seeds pooled), in the record's order."""
    axes = list(record["identity"]["axes"])
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for entry in record["settings"].values():
        rows.setdefault(", ".join(f"{a} = {_shown(entry['setting'][a])}" for a in axes), []).append(entry)
    return _coherence_table(record, rows, "setting", "every setting")


def _coherence_table(record: Mapping[str, Any], rows: Mapping[str, list[Mapping[str, Any]]], label: str,
                     what: str) -> RecordComparison:
    identity = record["identity"]

    def spread(values: list[float | None]) -> str | None:
        if any(v is None for v in values):
            return None
        return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")

    def at(entry: Mapping[str, Any], z: str) -> float | None:
        values = entry.get("coherence_at", {}).get(z)  # absent in records written before it was measured
        return None if values is None else float(np.mean(list(values.values())))

    table_rows = [{label: name, "seeds": len(entries),
                   "accuracy": spread([e["accuracy"] for e in entries]),
                   "coherence (z ~ p(z|x_o))": spread([_value(e, "coherence") for e in entries]),
                   "coherence at μ_p": spread([at(e, "prior_mean") for e in entries]),
                   "coherence at μ_q": spread([at(e, "posterior_mean") for e in entries]),
                   "epochs (best)": ", ".join(f"{len(e['epochs'])} ({e['best_epoch']})" for e in entries)}
                  for name, entries in rows.items()]
    first = next(iter(record["settings"].values()), None)
    ceiling = None if first is None else float(np.mean(list(first.get("coherence_ceiling", {"": np.nan}).values())))
    return RecordComparison(table_rows, f"The {identity['grid']} record ({identity['profile']} profile"
                            + _standin_note(record) + f"): {what}. Coherence: the "
                            "judge's accuracy on the generated x_M against the pair's label"
                            + (f" (its accuracy on the real images: {ceiling:.3f})" if ceiling == ceiling else "")
                            + "; μ_q has seen x_M (a reconstruction).")


def _changes(record: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """A one-axis-at-a-time record's entries by the change from its defaults ("omega = 1"; "the
    defaults" first), each a list over seeds. ValueError for a record that changes several at once."""
    identity = record["identity"]
    defaults, axes = identity["defaults"], list(identity["axes"])
    if not set(axes) <= set(defaults):
        raise ValueError(f"the {identity['grid']} record has no default for {', '.join(sorted(set(axes) - set(defaults)))}; "
                         "cause_table reads grids whose defaults name every axis.")
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for key, entry in record["settings"].items():
        changed = [a for a in axes if entry["setting"][a] != defaults[a]]
        if len(changed) > 1:
            raise ValueError(f"setting {key} changes {', '.join(changed)} from the defaults; cause_table reads "
                             "grids that change one axis at a time (layout='star').")
        label = "the defaults" if not changed else f"{changed[0]} = {_shown(entry['setting'][changed[0]])}"
        rows.setdefault(label, []).append(entry)
    return rows


def cause_images(record: Mapping[str, Any], changes: Sequence[str] | None = None, *, row_height: int = 150):
    """The digits behind :func:`cause_table`: per change (a row label of the table; default all), the
    x_M generated from a prior sample (top) and decoded at the posterior mean (bottom) for the record's
    first test pair of each class, with that row's coherence in its title (plotly, first seed)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .sweeps import decode_images

    table = {row["change"]: row for row in cause_table(record).rows}
    first = {change: entries[0] for change, entries in _changes(record).items()}
    changes = list(table) if changes is None else list(changes)
    unknown = [c for c in changes if c not in table]
    if unknown:
        raise ValueError(f"no row {', '.join(map(repr, unknown))} in the {record['identity']['grid']} record; "
                         f"its rows: {', '.join(table)}.")
    titles = [f"{c}: coherence {table[c]['coherence (z ~ p(z|x_o))']} (sample, top), "
              f"{table[c]['coherence at μ_q'] or '–'} (at μ_q, bottom)" for c in changes]
    fig = make_subplots(rows=len(changes), cols=1, subplot_titles=titles, vertical_spacing=0.3 / max(len(changes), 1))
    n_cols = len(record["points"]["shown_labels"])
    for i, change in enumerate(changes, start=1):
        entry = first[change]
        images = np.concatenate([decode_images(entry[kind][m]) for kind in ("generated", "reconstructed")
                                 for m in entry[kind]])
        fig.add_trace(go.Image(source=png_data_uri(image_mosaic(images.astype(np.float32) / 255.0, n_cols=n_cols)),
                               hoverinfo="skip"), row=i, col=1)
        fig.update_xaxes(visible=False, row=i, col=1)
        fig.update_yaxes(visible=False, row=i, col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=row_height * len(changes) + 80, margin={"t": 60, "l": 10, "r": 10, "b": 10},
                      title={"text": f"{record_x_m_label(record)} generated and reconstructed, classes 0-9 left "
                                     "to right" + _standin_note(record)})
    return fig


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(tuple(value)) if isinstance(value, list) else str(value)


RECORD_METRICS = {"accuracy": "test accuracy (classifier on z ~ p(z|x_o))", "probe_accuracy": "linear-probe accuracy",
                  "coherence": "coherence of generated x_M", "active_dims": "active latent dimensions"}


def record_axis_figure(record: Mapping[str, Any], metric: str = "active_dims", *, height: int = 420,
                       reference: Mapping[str, float] | None = None):
    """``metric`` (a key of :data:`RECORD_METRICS`) against omega: a thin line per lambda and alpha
    of the grid, and a thick one at the grid's defaults with the mean and standard deviation over
    the recorded seeds (plotly). ``reference``: label -> value, drawn as dashed horizontal lines
    (e.g. the paper's numbers, on the metric's scale)."""
    import plotly.graph_objects as go

    if metric not in RECORD_METRICS:
        raise ValueError(f"metric={metric!r}; choose one of {', '.join(RECORD_METRICS)}.")
    entries = record_settings(record)
    defaults = record["identity"]["defaults"]
    lines = sorted({s[1:] for s in entries})
    fig = go.Figure()
    for lam, alpha in lines:
        main = ((lam, alpha) == (float(defaults["lam"]), float(defaults["alpha"])) if "lam" in defaults
                else len(lines) == 1)  # a grid along omega alone: its one line
        settings = sorted(s for s in entries if s[1:] == (lam, alpha))
        values = [[_value(e, metric) for e in (entries[s] if main else entries[s][:1])] for s in settings]
        fig.add_trace(go.Scatter(
            x=[s[0] for s in settings], y=[float(np.mean(v)) for v in values], mode="lines+markers",
            name=f"λ = {lam:g}, α = {alpha:g}" + (" (mean ± sd over seeds)" if main else ""),
            line={"width": 4 if main else 1.2}, opacity=1.0 if main else 0.6,
            error_y={"type": "data", "array": [float(np.std(v)) for v in values], "visible": main}))
    for (label, value), colour in zip((reference or {}).items(), ("#444444", "#8c564b", "#e377c2", "#7f7f7f")):
        fig.add_trace(go.Scatter(x=[-0.05, 1.05], y=[value, value], mode="lines", name=f"{label}: {value:g}",
                                 line={"dash": "dash", "color": colour, "width": 1}))
    fig.update_layout(height=height + (22 * len(fig.data) if reference else 0),  # room for the legend below
                      xaxis={"title": {"text": "ω"}, "range": [-0.05, 1.05]},
                      yaxis={"title": {"text": RECORD_METRICS[metric]}},
                      title={"text": f"{RECORD_METRICS[metric]} against ω<br><sup>the {record['identity']['profile']} "
                                     "record: each setting trained until its validation accuracy stopped "
                                     "improving" + _standin_note(record) + "</sup>"},
                      legend={"font": {"size": 10}, **({"orientation": "h", "y": -0.25} if reference else {})},
                      margin={"t": 60})  # the references' long labels below the plot, not beside it
    return fig


# --- a record over models (mnist2_budget): does CMMD beat a classifier of x_o alone? ---------------

MODEL_LABELS = {"cmmd": "CMMD", "m_xo": "M-x_o (CMMD's x_o path alone)", "linear_xo": "linear on x_o pixels"}


def _model_label(setting: Mapping[str, Any]) -> str:
    label = MODEL_LABELS.get(setting["model_type"], setting["model_type"])
    return label + (f", α = {setting['alpha']:g}" if "alpha" in setting else "")


def model_settings(record: Mapping[str, Any]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """A record over ``model_type`` by (model and alpha, x_o width), each a list of entries over seeds.
    The linear classifier has no width (its widths are one model: the first recorded stands for all)."""
    axes = record["identity"]["axes"]
    if "model_type" not in axes:
        raise ValueError(f"the {record['identity']['grid']} record has no model_type axis; model_settings reads "
                         "grids over models (mnist2_budget).")
    found: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    seen: set[tuple] = set()
    for entry in record["settings"].values():
        setting = entry["setting"]
        width = "–" if setting["model_type"] == "linear_xo" else _shown(setting.get("prior_hidden", "–"))
        key = (_model_label(setting), width)
        same = (key, setting["seed"])
        if same not in seen:
            seen.add(same)
            found.setdefault(key, []).append(entry)
    return found


def _width(text: str) -> int:
    """The total hidden units of a width as :func:`_shown` writes it ("(1024, 1024)" -> 2048; "–" -> 0)."""
    return sum(int(v) for v in text.strip("()").split(",") if v.strip().isdigit())


def _model_order(item: tuple[tuple[str, str], Any]) -> tuple:
    """CMMD, M-x_o, the linear classifier (in :data:`MODEL_LABELS`' order), then alpha, then width."""
    (model, width), _ = item
    kind = next((i for i, label in enumerate(MODEL_LABELS.values()) if model.startswith(label)), len(MODEL_LABELS))
    return kind, model, _width(width)


def budget_table(record: Mapping[str, Any]) -> RecordComparison:
    """Per model (CMMD at each alpha, M-x_o, the linear classifier on pixels) and width of its x_o
    network: the test error (%) of p(y | x_o) and of a linear probe on the mean of z given x_o (for
    the linear classifier: the same linear model fitted by L-BFGS on standardised pixels, 200
    iterations, L2 1e-4), mean ± standard deviation over seeds, with the epochs
    trained (best) and training time. Rows: CMMD, M-x_o, the linear classifier; by alpha; by width."""
    def spread(values: list[float]) -> str:
        return f"{np.mean(values):.2f}" + (f" ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else "")

    rows = [{"model": model, "x_o width": width, "seeds": len(entries),
             "test error %": spread([100 * (1 - e["accuracy"]) for e in entries]),
             "linear-probe error %": spread([100 * (1 - e["probe_accuracy"]) for e in entries]),
             "epochs (best)": ", ".join(f"{len(e['epochs'])} ({e['best_epoch']})" for e in entries),
             "train s": ", ".join(f"{e['train_seconds']:.0f}" for e in entries)}
            for (model, width), entries in sorted(model_settings(record).items(), key=_model_order)]
    identity = record["identity"]
    n_train = {e.get("n_train") for e in record["settings"].values()} - {None}
    return RecordComparison(rows, f"The {identity['grid']} record ({identity['profile']} profile"
                            + (f", {', '.join(f'{n:,}' for n in sorted(n_train))} training pairs" if n_train else "")
                            + "): each model trained until its validation accuracy stopped improving; mean ± "
                            "sample standard deviation over seeds. Width: the hidden layers of the network on "
                            "x_o (CMMD's prior, M-x_o's whole network).")


def budget_figure(record: Mapping[str, Any], *, height: int = 430):
    """Left: validation error (%) per epoch of each model at the grid's default width (mean over
    seeds, a band of ± one standard deviation while every seed still trains). Right: test error (%)
    against the width of the x_o network (mean ± sd over seeds). Plotly."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    defaults = record["identity"]["defaults"]
    default_alpha = defaults.get("alpha")
    # a classifier of x_o alone at the grid's default alpha only: its loss is alpha x cross-entropy,
    # to which Adam is blind (up to its epsilon), so its other alphas draw the same curves
    found = {(model, width): entries for (model, width), entries in model_settings(record).items()
             if model.startswith(MODEL_LABELS["cmmd"]) or default_alpha is None or model.endswith(f"α = {default_alpha:g}")}
    default_width = _shown(defaults.get("prior_hidden", "–"))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.1,
                        subplot_titles=(f"validation error, x_o width {default_width}", "test error by x_o width"))
    models = list(dict.fromkeys(model for model, _ in found))
    colours = dict(zip(models, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")))
    for model in models:
        entries = found.get((model, default_width)) or found.get((model, "–"), [])
        if entries:
            length = min(len(e["epochs"]) for e in entries)
            errors = np.array([[100 * (1 - row["val_accuracy"]) for row in e["epochs"][:length]] for e in entries])
            epochs = np.arange(1, length + 1)
            mean, sd = errors.mean(0), errors.std(0, ddof=1) if len(entries) > 1 else np.zeros(length)
            if len(entries) > 1:
                fig.add_trace(go.Scatter(x=np.concatenate([epochs, epochs[::-1]]), y=np.concatenate([mean + sd, (mean - sd)[::-1]]),
                                         fill="toself", line={"width": 0}, fillcolor=colours[model], opacity=0.2,
                                         hoverinfo="skip", showlegend=False), row=1, col=1)
            fig.add_trace(go.Scatter(x=epochs, y=mean, mode="lines", line={"color": colours[model]},
                                     name=f"{model} (n={len(entries)})", legendgroup=model), row=1, col=1)
        widths = [(w, es) for (m, w), es in found.items() if m == model and w != "–"]
        if widths:
            widths.sort(key=lambda we: _width(we[0]))
            fig.add_trace(go.Scatter(
                x=[w for w, _ in widths], y=[float(np.mean([100 * (1 - e["accuracy"]) for e in es])) for _, es in widths],
                error_y={"type": "data", "array": [float(np.std([100 * (1 - e["accuracy"]) for e in es], ddof=1))
                                                   if len(es) > 1 else 0.0 for _, es in widths]},
                mode="lines+markers", line={"color": colours[model]}, legendgroup=model, showlegend=False,
                name=model), row=1, col=2)
        elif entries:  # the linear classifier: one model, drawn flat across the widths
            level = float(np.mean([100 * (1 - e["accuracy"]) for e in entries]))
            fig.add_hline(y=level, line_dash="dash", line_color=colours[model], row=1, col=2,
                          annotation_text=f"{model.split(',')[0]}: {level:.1f}", annotation_position="bottom left",
                          annotation_font_size=11)
    fig.update_yaxes(title_text="error %", type="log", tickvals=[5, 10, 20, 50, 100], row=1, col=1)
    fig.update_yaxes(title_text="test error %", row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=1)
    fig.update_xaxes(title_text="hidden widths of the x_o network", type="category", row=1, col=2)
    fig.update_layout(height=height, margin={"t": 110}, legend={"orientation": "h", "y": -0.25},
                      title={"text": f"CMMD against classifiers of x_o alone<br><sup>the {record['identity']['profile']} "
                                     "record: validation split per epoch, test split at the kept epoch</sup>"})
    return fig
