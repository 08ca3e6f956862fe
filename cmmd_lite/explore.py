"""Exploring a grid of trained settings: image mosaics for plotly, and a live explorer with a
slider per hyperparameter and a "train this setting" button.

* :func:`image_mosaic` -- a batch of images as one (H, W, 3) uint8 picture, in rows.
* :func:`png_data_uri` / :func:`image_trace` -- that picture as a compact PNG inside a plotly
  ``Image`` trace, so it can be a frame of :func:`cmmd_lite.plotting.slider_figure` and stays small
  in the static HTML book.
* :func:`grid_explorer` -- in a live kernel, one ipywidgets slider per axis of the grid (e.g.
  omega, lambda, alpha); moving them only re-draws precomputed results, and a button trains a
  setting that is not in the grid yet (with a progress bar). Without a kernel (the static book),
  and on Colab, it shows a plotly slider over the precomputed settings instead.
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
                  title: Callable[[tuple], str] | None = None, name: Callable[[tuple], str] | None = None,
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
    :func:`~cmmd_lite.plotting.slider_figure` with one step per entry of ``settings``, labelled
    ``name(setting)`` (default ``"omega=0.1, alpha=10"`` from the axis names; a short ``name``,
    with plotly's ``<br>`` between lines, becomes the step labels and the slider then shows no
    current value, so let ``title`` name the setting); it keeps working without a kernel.
    On Colab one printed line says so and how to train another setting (``train(setting, print)``
    in a new cell); rerunning the explorer's cell then adds every grid setting that
    ``available`` reports to the slider. Returns the widget box or the figure.
    """
    import plotly.graph_objects as go
    from IPython.display import display

    from .plotting import live_explorer, on_colab, slider_figure

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
        frames = {describe(s): traces(s) for s in settings}
        frame_layouts = {describe(s): {"title": {"text": title(s)}} for s in settings} if title else None
        step_labels = {describe(s): name(s) for s in settings} if name else None
        fig = slider_figure(frames, layout=layout, frame_layouts=frame_layouts, active=active,
                            step_labels=step_labels)
        display(fig)
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
