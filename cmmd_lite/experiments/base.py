"""What every experiment of the registry is made of: rows (a named config per model, with the
paper's number) and an :class:`Experiment` whose three hooks say what it measures, what it draws
and how its report reads. :func:`cmmd_lite.reproduce.reproduce` runs any of them the same way.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..evaluate import accuracy

MODEL_KEYS = ("m_xo", "linear_xo", "vcca", "mvae", "mmvae", "cmmd")


@dataclass(frozen=True)
class Row:
    """One line of a table (or one model of a figure): a named config with model overrides."""

    key: str  # what --models selects: a model type
    label: str
    config: str
    overrides: tuple[tuple[str, Any], ...] = ()
    paper: float | None = None  # the paper's number, in percent
    paper_std: float | None = None
    paper_note: str = ""


def model_row(key: str, label: str, config: str, **kw: Any) -> Row:
    """A row that trains model ``key`` (a model type) on the named ``config``; ``bound=`` sets MMVAE's."""
    extra = (("mmvae_bound", kw.pop("bound")),) if "bound" in kw else ()
    return Row(key, label, config, (("model_type", key),) + extra, **kw)


@dataclass
class Run:
    """What an experiment's hooks can reach during one run of :func:`~cmmd_lite.reproduce.reproduce`."""

    options: Mapping[str, Any]  # the run options (RUN_OPTIONS of the profile, with overrides)
    classifier_for: Callable[[Any, str], Any]  # (splits, modality) -> the cached coherence classifier
    data_cache: Mapping[Any, Any]  # DataConfig -> PairedSplits used by this run


@dataclass(frozen=True)
class Experiment:
    """One of the paper's tables or figures. Subclasses override the hooks they need."""

    name: str
    title: str
    rows: tuple[Row, ...]
    kind: str  # "table" or "figure"
    metric_note: str
    single_seed: bool = False  # a picture of the first seed's models only
    keep_models: bool = False  # the figure hook needs the trained models themselves
    png_dpi: int = 90

    def measure(self, result, seed: int, run: Run) -> dict[str, Any]:
        """Metrics of one trained model (``result``: a TrainResult) on the test split."""
        return {"accuracy": test_accuracy(result, seed)}

    def figure(self, payload: Mapping[str, Any], rows: Sequence[Row], results: Mapping[int, Any], run: Run,
               title: str) -> tuple[Any, dict[str, Any]] | None:
        """(matplotlib figure, the figure's record for the JSON), or None for a table."""
        return None

    def report(self, payload: Mapping[str, Any]) -> list[str]:
        """The Markdown lines of the experiment's own table (between the header and the run notes)."""
        raise NotImplementedError(self.name)


def test_accuracy(result, seed: int) -> float:
    """Accuracy of p(y | x_o) on the test split, with the config's number of prior samples."""
    return accuracy(result.model, result.data.test, n_samples=result.config.train.eval_samples, seed=seed)


# --- helpers of the reports ------------------------------------------------------------------------

def summary(values: Sequence[float]) -> dict[str, Any]:
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "values": values}


def fmt(summary_: Mapping[str, Any] | None, digits: int = 2) -> str:
    if not summary_:
        return "not run"
    text = f"{summary_['mean']:.{digits}f}"
    if summary_.get("std") is not None:
        text += f" ± {summary_['std']:.{digits}f} (n={summary_['n']})"
    return text


def metric(entry: Mapping[str, Any], key: str, digits: int = 2) -> str:
    """A row's metric as "mean ± std (n)", or "not run" / "n/a"."""
    if entry["status"] != "ran":
        return "not run"
    found = entry.get("metrics", {}).get(key)
    return fmt(found, digits) if found else "n/a"


def paper_text(entry: Mapping[str, Any]) -> str:
    """The paper's number and its source, for a Markdown table cell (pipes escaped)."""
    note = entry["paper_note"].replace("|", "\\|")
    if entry["paper"] is None:
        return "—" + (f" ({note})" if note else "")
    text = f"{entry['paper']:.1f}" + (f" ± {entry['paper_std']:.2f}" if entry["paper_std"] is not None else "")
    return text + (f" ({note})" if note else "")


def wall(entry: Mapping[str, Any]) -> str:
    """Wall seconds of a row, saying when checkpoints were reused and how long training took then."""
    if entry["status"] != "ran":
        return "—"
    per_seed = entry["per_seed"]
    loaded = sum(r["loaded_checkpoint"] for r in per_seed)
    trained = sum(r["train_seconds_recorded"] or 0.0 for r in per_seed)
    text = f"{entry['wall_seconds']:.0f}"
    if loaded:
        text += f" (checkpoint reused for {loaded}/{len(per_seed)}; training took {trained:.0f} s when run)"
    return text


def epochs(entry: Mapping[str, Any]) -> str:
    """Epochs run and the best epoch per seed: "25 (24), 25 (25)"."""
    if entry["status"] != "ran":
        return "—"
    return ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in entry["per_seed"])


def table(header: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table: ``align`` is one character per column, "l" or "r"."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def png_name(payload: Mapping[str, Any]) -> str:
    return Path(payload["figure"]["files"][0]).name if payload.get("figure") else ""
