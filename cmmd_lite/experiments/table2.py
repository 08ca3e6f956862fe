"""Table 2: 2-modality MNIST test error (%) of M-x_o (CMMD's x_o path, and the linear classifier on x_o's
pixels of the paper's source), VCCA, MVAE, MMVAE (IWAE) and CMMD."""
from __future__ import annotations

from typing import Any, Mapping

from ..evaluate import imputation_rmse
from .base import Experiment, Run, epochs, metric, model_row, paper_text, table, test_accuracy, wall

_WANG = "Wang et al. (2017) as cited in Table 2"


class Table2(Experiment):
    def measure(self, result, seed: int, run: Run) -> dict[str, Any]:
        acc = test_accuracy(result, seed)
        metrics = {"accuracy": acc, "error_percent": 100.0 * (1.0 - acc)}
        if result.model.can_generate:
            metrics["rmse_x_m"] = imputation_rmse(result.model, result.data.test)["x_m"]
        return metrics

    def report(self, payload: Mapping[str, Any]) -> list[str]:
        return table(["model", "ours: test error %", "paper: MNIST error %", "x_M RMSE", "epochs (best)", "wall s"],
                     "lrlrll", [[e["label"], metric(e, "error_percent"), paper_text(e), metric(e, "rmse_x_m", 4),
                                 epochs(e), wall(e)] for e in payload["rows"]])


EXPERIMENT = Table2("table2", "Table 2: 2-modality MNIST, test error (%)", (
    model_row("m_xo", "M-x_o", "mnist2", paper=13.1,
              paper_note=_WANG + "; there a linear classifier on the pixels of x_o, the next row"),
    model_row("linear_xo", "M-x_o, linear on x_o pixels", "mnist2", paper=13.1,
              paper_note=_WANG + ": Wang et al.'s protocol (a linear SVM there, logistic here)"),
    model_row("vcca", "VCCA", "mnist2", paper=3.0, paper_note=_WANG),
    model_row("mvae", "MVAE", "mnist2", paper=6.0, paper_note=_WANG),
    model_row("mmvae", "MMVAE IWAE", "mnist2", bound="iwae", paper=12.3, paper_note="Table 2 row MMVAE IWAE"),
    model_row("cmmd", "CMMD", "mnist2", paper=2.4, paper_note="CMMD paper, omega = 0.4")),
    "table", "error = 100 x (1 - accuracy) of p(y | x_o) on the test split; lower is better")
