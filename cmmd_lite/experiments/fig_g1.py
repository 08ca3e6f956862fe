"""Fig. G1: SVHN generated from MNIST by CMMD, MMVAE and MVAE, one test pair per class."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..data.svhn_standin import STANDIN_LABEL
from ..evaluate import generate_missing
from ..plotting import image_grid
from .base import Experiment, Row, Run, model_row, table, wall


class FigG1(Experiment):
    def figure(self, payload: Mapping[str, Any], rows: Sequence[Row], results: Mapping[int, Any], run: Run,
               title: str):
        splits = next(iter(run.data_cache.values()))
        test, seed = splits.test, payload["seeds"][0]
        order = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))
        labels = test.y.cpu()[order]
        picks = [int(order[(labels == c).nonzero()[0, 0]]) for c in range(test.n_classes) if (labels == c).any()]
        extra, predicted = {}, {}
        classifier = run.classifier_for(splits, "svhn")
        for index, row in enumerate(rows):
            model = results[index]["models"][0]  # the first seed's
            images = generate_missing(model, test, torch.tensor(picks), n_samples=1, seed=seed)["svhn"][0]
            extra[f"{row.label}: generated {test.label('svhn')}"] = images
            predicted[row.label] = classifier.predict(images).tolist()
        fig = image_grid(test, picks, extra=extra,
                         title=title + (f"\n(x_M is the {STANDIN_LABEL})" if payload["svhn_standin"] else ""))
        return fig, {"test_rows": picks, "labels": [int(test.y[i]) for i in picks],
                     "svhn_classifier_predictions": predicted}

    def report(self, payload: Mapping[str, Any]) -> list[str]:
        fig = payload.get("figure", {})
        labels = fig.get("labels", [])
        cells = []
        for e in payload["rows"]:
            if e["status"] != "ran":
                cells.append([e["label"], "not run", "not run", "—"])
                continue
            predicted = fig.get("svhn_classifier_predictions", {}).get(e["label"], [])
            hits = sum(int(p == y) for p, y in zip(predicted, labels))
            cells.append([e["label"], f"{hits}/{len(labels)}", f"{100 * e['per_seed'][0]['accuracy']:.2f}", wall(e)])
        return table(["model", "SVHN classifier agrees with the MNIST class", "accuracy %", "wall s"], "lrrl", cells)


EXPERIMENT = FigG1("figG1", "Fig. G1: SVHN generated from MNIST", (
    model_row("cmmd", "CMMD", "mnist_svhn"), model_row("mmvae", "MMVAE (DReG)", "mnist_svhn"),
    model_row("mvae", "MVAE", "mnist_svhn")),
    "figure", "x_M decoded from z ~ p(z | x_o) for one test pair per class", single_seed=True, keep_models=True,
    png_dpi=60)
