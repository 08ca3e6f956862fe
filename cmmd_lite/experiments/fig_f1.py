"""Fig. F1: 2-D t-SNE of the mean of z given x_o (CMMD, MVAE, VCCA) on a seeded subsample of test pairs.

:func:`tsne_record` measures one model, :func:`tsne_panels` draws the records side by side (the
experiment's figure, and chapter 6's view of its five models)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..evaluate import x_o_latent_means
from ..latents import tsne_2d
from .base import Experiment, Row, Run, model_row, table, test_accuracy, wall


def tsne_record(model, test, n_points: int, seed: int, *, n_threads: int | None = None) -> dict[str, Any]:
    """The t-SNE of the x_o latent means of ``n_points`` seeded test pairs, with silhouette scores.

    ``n_threads`` goes to :func:`cmmd_lite.latents.tsne_2d`. The experiment keeps the default, all
    threads, as the recorded runs had; on a busy machine one thread is several times faster.
    """
    from sklearn.metrics import silhouette_score

    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n_points].sort().values
    means = x_o_latent_means(model, test).cpu()[rows].numpy()
    labels = test.y.cpu()[rows].numpy()
    embedding = tsne_2d(means, seed=seed, n_threads=n_threads)
    return {"tsne_silhouette": float(silhouette_score(embedding, labels)),
            "latent_silhouette": float(silhouette_score(means, labels)),
            "tsne": {"rows": rows.tolist(), "labels": labels.tolist(),
                     "x": [round(float(v), 2) for v in embedding[:, 0]],
                     "y": [round(float(v), 2) for v in embedding[:, 1]]}}


def tsne_panels(records: Mapping[str, Mapping[str, Any]], *, title: str = "", columns: int | None = None,
                panel_size: tuple[float, float] = (5.0, 4.6)):
    """The Fig. F1 view: one t-SNE scatter per model, side by side, coloured by class (matplotlib).

    ``records`` maps a model's name to its :func:`tsne_record`; each panel's title gives the
    record's t-SNE silhouette. ``columns`` panels per row (None: all in one row).
    """
    import matplotlib.pyplot as plt

    if not records:
        raise ValueError("tsne_panels needs at least one record.")
    columns = len(records) if columns is None else max(1, min(columns, len(records)))
    n_rows = -(-len(records) // columns)
    fig, axes = plt.subplots(n_rows, columns, figsize=(panel_size[0] * columns, panel_size[1] * n_rows),
                             squeeze=False, layout="constrained")
    for ax, (name, record) in zip(axes.flat, records.items()):
        labels = np.asarray(record["tsne"]["labels"])
        scatter = ax.scatter(record["tsne"]["x"], record["tsne"]["y"], c=labels, cmap="tab10", s=4,
                             vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name} (silhouette {record['tsne_silhouette']:.2f})")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(records):]:
        ax.set_visible(False)
    # one row: beside the last panel (the experiment's figure); a grid: beside the whole grid
    beside = axes[0, -1] if n_rows == 1 else list(axes.flat[:len(records)])
    fig.colorbar(scatter, ax=beside, ticks=range(10), label="class")
    if title:
        fig.suptitle(title)
    return fig


class FigF1(Experiment):
    def measure(self, result, seed: int, run: Run) -> dict[str, Any]:
        return {"accuracy": test_accuracy(result, seed),
                **tsne_record(result.model, result.data.test, int(run.options["tsne_points"]), seed)}

    def figure(self, payload: Mapping[str, Any], rows: Sequence[Row], results: Mapping[int, Any], run: Run,
               title: str):
        return tsne_panels({row.label: results[index]["per_seed"][0] for index, row in enumerate(rows)},
                           title=title), {}

    def report(self, payload: Mapping[str, Any]) -> list[str]:
        cells = []
        for e in payload["rows"]:
            if e["status"] != "ran":
                cells.append([e["label"], "not run", "not run", "not run", "—"])
                continue
            r = e["per_seed"][0]
            cells.append([e["label"], f"{r['tsne_silhouette']:.3f}", f"{r['latent_silhouette']:.3f}",
                          f"{100 * r['accuracy']:.2f}", wall(e)])
        return table(["model", "t-SNE silhouette (by class)", "latent silhouette", "accuracy %", "wall s"],
                     "lrrrl", cells) + [
            "", "The paper shows the plots only (CMMD and VCCA well separated, MVAE overlapping); the "
                "silhouette scores put a number on the separation."]


EXPERIMENT = FigF1("figF1", "Fig. F1: t-SNE of the latent space given x_o, 2-modality MNIST", (
    model_row("cmmd", "CMMD", "mnist2"), model_row("mvae", "MVAE", "mnist2"), model_row("vcca", "VCCA", "mnist2")),
    "figure", "2-D t-SNE of the mean of z given x_o on a seeded subsample of test pairs", single_seed=True)
