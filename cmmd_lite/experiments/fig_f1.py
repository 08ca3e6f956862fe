"""Fig. F1: 2-D t-SNE of the mean of z given x_o (CMMD, MVAE, VCCA) on a seeded subsample of test pairs."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..evaluate import x_o_latent_means
from ..latents import tsne_2d
from .base import Experiment, Row, Run, model_row, table, test_accuracy, wall


def tsne_record(model, test, n_points: int, seed: int) -> dict[str, Any]:
    """The t-SNE of the x_o latent means of ``n_points`` seeded test pairs, with silhouette scores."""
    from sklearn.metrics import silhouette_score

    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n_points].sort().values
    means = x_o_latent_means(model, test).cpu()[rows].numpy()
    labels = test.y.cpu()[rows].numpy()
    embedding = tsne_2d(means, seed=seed, n_threads=None)  # all threads, as the recorded runs had
    return {"tsne_silhouette": float(silhouette_score(embedding, labels)),
            "latent_silhouette": float(silhouette_score(means, labels)),
            "tsne": {"rows": rows.tolist(), "labels": labels.tolist(),
                     "x": [round(float(v), 2) for v in embedding[:, 0]],
                     "y": [round(float(v), 2) for v in embedding[:, 1]]}}


class FigF1(Experiment):
    def measure(self, result, seed: int, run: Run) -> dict[str, Any]:
        return {"accuracy": test_accuracy(result, seed),
                **tsne_record(result.model, result.data.test, int(run.options["tsne_points"]), seed)}

    def figure(self, payload: Mapping[str, Any], rows: Sequence[Row], results: Mapping[int, Any], run: Run,
               title: str):
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4.6), squeeze=False, layout="constrained")
        for index, (ax, row) in enumerate(zip(axes[0], rows)):
            record = results[index]["per_seed"][0]
            labels = np.asarray(record["tsne"]["labels"])
            scatter = ax.scatter(record["tsne"]["x"], record["tsne"]["y"], c=labels, cmap="tab10", s=4,
                                 vmin=-0.5, vmax=9.5)
            ax.set_title(f"{row.label} (silhouette {record['tsne_silhouette']:.2f})")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(scatter, ax=axes[0, -1], ticks=range(10), label="class")
        fig.suptitle(title)
        return fig, {}

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
