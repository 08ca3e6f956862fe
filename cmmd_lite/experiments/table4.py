"""Table 4: 3-modality MNIST accuracy (%) of CMMD with x_o = x_1 and with x_o = (x_1, x_2)."""
from __future__ import annotations

from typing import Any, Mapping

from .base import Experiment, Row, Run, epochs, metric, paper_text, table, test_accuracy, wall


class Table4(Experiment):
    def measure(self, result, seed: int, run: Run) -> dict[str, Any]:
        return {"accuracy_percent": 100.0 * test_accuracy(result, seed)}

    def report(self, payload: Mapping[str, Any]) -> list[str]:
        return table(["missing modality", "ours: accuracy %", "paper: accuracy %", "epochs (best)", "wall s"],
                     "lrlll", [[e["label"], metric(e, "accuracy_percent"), paper_text(e), epochs(e), wall(e)]
                               for e in payload["rows"]])


EXPERIMENT = Table4("table4", "Table 4: 3-modality MNIST, CMMD test accuracy (%)", (
    Row("cmmd", "x_M = (x_2, x_3): x_o = MNIST", "mnist3", (("model_type", "cmmd"),), 97.5, 0.25),
    Row("cmmd", "x_M = x_3: x_o = (MNIST, rotated MNIST)", "mnist3_two_observed", (("model_type", "cmmd"),),
        98.9, 0.13)),
    "table", "accuracy of CMMD's classifier on z ~ p(z | x_o); higher is better")
