"""Reproduce the paper's tables and figures: ``python -m cmmd_lite reproduce NAME --profile ...``.

Experiments (:data:`EXPERIMENTS`):

* ``table2`` -- 2-modality MNIST test error (%) of M-x_o, VCCA, MVAE, MMVAE (IWAE bound, the
  paper's row "MMVAE IWAE") and CMMD.
* ``table3`` -- MNIST-SVHN test accuracy (%) of M-x_o (the floor), MVAE, MMVAE (its default DReG
  bound, as Shi et al. trained it) and CMMD: the jointly trained classifier on z given x_o, the
  linear probe on the mean of z given x_o (MMVAE's protocol), and the coherence MNIST -> SVHN
  (:mod:`cmmd_lite.coherence`).
* ``table4`` -- 3-modality MNIST accuracy (%) of CMMD with x_o = x_1 and with x_o = (x_1, x_2).
* ``fig2`` -- posterior-collapse curves of every model on 2-modality MNIST (the paper's Fig. 2
  is on XRMB, fold 1; ours is on MNIST).
* ``figF1`` -- 2-D t-SNE of the mean of z given x_o (CMMD, MVAE, VCCA) on test pairs.
* ``figG1`` -- SVHN generated from MNIST by CMMD, MMVAE and MVAE.

Every model is trained with :func:`cmmd_lite.train.train_or_load` (checkpoints are reused: the
figures reuse the tables' models) in the named config scaled to the chosen profile, and scored
on the **test** split with the weights of its best **validation** epoch. Seeds vary the training
seed (``train.seed``: initial weights, batch order, sampling); ``data_seed`` stays 0, so every
seed sees the same pairs and the spread is that of training alone. Each run writes
``<out>/<name>-<profile>.json`` (machine-readable) and ``.md`` (our numbers beside the paper's),
and ``.png`` for the figures, recording the profile, the seeds, the machine, the wall time per
model and whether the SVHN modality was the synthetic stand-in.

The t-SNE helper (:func:`tsne_embedding`) lives here and needs scikit-learn (``pip install
scikit-learn``, part of the ``book`` extra).
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import statistics
import time
import warnings
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .coherence import ClassifierSettings, classifier_settings, coherence_report, modality_classifier
from .config import FIELD_SECTION, PROFILES, Config, DataConfig, current_profile, get_config
from .config import parse_overrides as config_parse_overrides
from .profiles import variant
from .data.paired import PairedData, PairedSplits, load_paired
from .data.svhn_standin import STANDIN_LABEL
from .evaluate import accuracy, evaluate, generate_missing, linear_probe_accuracy, x_o_latent_means
from .train import train_or_load
from .utils import choose_device

DEFAULT_OUT = Path("results") / "reproduce"
MODEL_KEYS = ("m_xo", "vcca", "mvae", "mmvae", "cmmd")


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


def _model(key: str, label: str, config: str, **kw: Any) -> Row:
    extra = (("mmvae_bound", kw.pop("bound")),) if "bound" in kw else ()
    return Row(key, label, config, (("model_type", key),) + extra, **kw)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    rows: tuple[Row, ...]
    kind: str  # "table" or "figure"
    metric_note: str


_T2 = "Wang et al. (2017) as cited in Table 2"
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("table2", "Table 2: 2-modality MNIST, test error (%)", (
        _model("m_xo", "M-x_o", "mnist2", paper=13.1, paper_note=_T2),
        _model("vcca", "VCCA", "mnist2", paper=3.0, paper_note=_T2),
        _model("mvae", "MVAE", "mnist2", paper=6.0, paper_note=_T2),
        _model("mmvae", "MMVAE IWAE", "mnist2", bound="iwae", paper=12.3, paper_note="Table 2 row MMVAE IWAE"),
        _model("cmmd", "CMMD", "mnist2", paper=2.4, paper_note="CMMD paper, omega = 0.4")),
        "table", "error = 100 x (1 - accuracy) of p(y | x_o) on the test split; lower is better"),
    Experiment("table3", "Table 3: MNIST-SVHN, test accuracy (%)", (
        _model("m_xo", "M-x_o", "mnist_svhn", paper_note="not in Table 3; the floor: x_o alone"),
        _model("mvae", "MVAE", "mnist_svhn", paper=95.7, paper_note="Shi et al. (2019) as cited"),
        _model("mmvae", "MMVAE (DReG)", "mnist_svhn", paper=91.3,
               paper_note="linear probe (latent accuracy), Shi et al. (2019)"),
        _model("cmmd", "CMMD", "mnist_svhn", paper=97.6, paper_std=0.08,
               paper_note="jointly trained classifier on p(z | x_o), omega = 0.1")),
        "table", "accuracy of the jointly trained classifier on z ~ p(z | x_o), of a linear probe on the "
                 "mean of z given x_o (MMVAE's protocol), and coherence MNIST -> SVHN; higher is better"),
    Experiment("table4", "Table 4: 3-modality MNIST, CMMD test accuracy (%)", (
        Row("cmmd", "x_M = (x_2, x_3): x_o = MNIST", "mnist3", (("model_type", "cmmd"),), 97.5, 0.25),
        Row("cmmd", "x_M = x_3: x_o = (MNIST, rotated MNIST)", "mnist3_two_observed", (("model_type", "cmmd"),),
            98.9, 0.13)),
        "table", "accuracy of CMMD's classifier on z ~ p(z | x_o); higher is better"),
    Experiment("fig2", "Fig. 2: posterior collapse on 2-modality MNIST", (
        _model("m_xo", "M-x_o", "mnist2"), _model("vcca", "VCCA", "mnist2"), _model("mvae", "MVAE", "mnist2"),
        _model("mmvae", "MMVAE IWAE", "mnist2", bound="iwae"), _model("cmmd", "CMMD", "mnist2")),
        "figure", "fraction of latent dimensions i with P(KL_i < epsilon) >= 0.99 over test pairs (Appendix E)"),
    Experiment("figF1", "Fig. F1: t-SNE of the latent space given x_o, 2-modality MNIST", (
        _model("cmmd", "CMMD", "mnist2"), _model("mvae", "MVAE", "mnist2"), _model("vcca", "VCCA", "mnist2")),
        "figure", "2-D t-SNE of the mean of z given x_o on a seeded subsample of test pairs"),
    Experiment("figG1", "Fig. G1: SVHN generated from MNIST", (
        _model("cmmd", "CMMD", "mnist_svhn"), _model("mmvae", "MMVAE (DReG)", "mnist_svhn"),
        _model("mvae", "MVAE", "mnist_svhn")),
        "figure", "x_M decoded from z ~ p(z | x_o) for one test pair per class"),
)}

# Options of a run that are not config fields (overridable with --override key=value), per profile:
# the "reproduce" variants of the one profile table.
RUN_OPTIONS: dict[str, dict[str, Any]] = {profile: variant(profile, "reproduce") for profile in PROFILES}


def parse_overrides(items: Sequence[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``["epochs=1", "max_train=256", "coherence_epochs=1"]`` -> typed values (config's grammar).

    Keys: any config field (applied to every model's config), ``coherence_<setting>`` (a
    :class:`~cmmd_lite.coherence.ClassifierSettings` field) or a run option of :data:`RUN_OPTIONS`.
    """
    extra = {f"coherence_{f.name}": str(f.type) for f in fields(ClassifierSettings)}
    extra.update({key: "int" for key in RUN_OPTIONS["smoke"]})
    parsed = config_parse_overrides(items, extra=extra)
    for key in parsed:
        if key in ("model_type", "mmvae_bound", "seed"):
            raise ValueError(f"{key} is set by the experiment (use --models / --seeds), not by --override.")
    return parsed


def _split_overrides(overrides: Mapping[str, Any], profile: str) -> tuple[dict, ClassifierSettings, dict]:
    config_part = {k: v for k, v in overrides.items() if k in FIELD_SECTION}
    coherence_part = {k[len("coherence_"):]: v for k, v in overrides.items()
                      if k.startswith("coherence_") and k not in config_part}
    options = {**RUN_OPTIONS[profile], **{k: v for k, v in overrides.items() if k in RUN_OPTIONS[profile]}}
    return config_part, classifier_settings(profile, **coherence_part), options


# --- the machine and small helpers ----------------------------------------------------------------

def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model, usable cores, torch version and threads, GPU name, load average."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.lower().startswith("model name")), cpu)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    info = {"cpu": cpu, "cpu_cores_usable": cores, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "device": str(device), "gpu": None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _summary(values: Sequence[float]) -> dict[str, Any]:
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "n": len(values), "values": values}


def _fmt(summary: Mapping[str, Any] | None, digits: int = 2) -> str:
    if not summary:
        return "not run"
    text = f"{summary['mean']:.{digits}f}"
    if summary.get("std") is not None:
        text += f" ± {summary['std']:.{digits}f} (n={summary['n']})"
    return text


def _paper_text(row: Row) -> str:
    """The paper's number and its source, for a Markdown table cell (pipes escaped)."""
    note = row.paper_note.replace("|", "\\|")
    if row.paper is None:
        return "—" + (f" ({note})" if note else "")
    text = f"{row.paper:.1f}" + (f" ± {row.paper_std:.2f}" if row.paper_std is not None else "")
    return text + (f" ({note})" if note else "")


# --- the run ----------------------------------------------------------------------------------------

def _checked_seeds(seeds: Sequence[int], what: str) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"{what}={seeds} must be a non-empty list of distinct integers.")
    return seeds


def _select_rows(experiment: Experiment, models: Sequence[str] | None) -> tuple[list[Row], list[str]]:
    choices = list(dict.fromkeys(row.key for row in experiment.rows))
    if models is None:
        return list(experiment.rows), choices
    models = [m.strip() for m in models if m.strip()]
    unknown = [m for m in models if m not in choices]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown} for {experiment.name}; choose from: {', '.join(choices)}.")
    return [row for row in experiment.rows if row.key in models], choices


def _command(name: str, profile: str, seeds: Sequence[int], models: Sequence[str] | None,
             overrides: Mapping[str, Any], out: Path, seeds_by_model: Mapping[str, Sequence[int]]) -> str:
    parts = ["python", "-m", "cmmd_lite", "reproduce", name, "--profile", profile,
             "--seeds", ",".join(map(str, seeds))]
    if models:
        parts += ["--models", ",".join(models)]
    for key, own in seeds_by_model.items():
        parts += ["--seeds-of", f"{key}={','.join(map(str, own))}"]
    for key, value in overrides.items():
        text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
        parts += ["--override", f"{key}={text}"]
    parts += ["--out", str(out)]
    return " ".join(shlex.quote(p) for p in parts)


def reproduce(name: str, profile: str | None = None, *, seeds: Sequence[int] = (0,), models: Sequence[str] | None = None,
              out: str | Path = DEFAULT_OUT, overrides: Sequence[str] | Mapping[str, Any] | None = None,
              device: str | None = None, progress: bool = False,
              seeds_by_model: Mapping[str, Sequence[int]] | None = None,
              data_loader: Callable[[DataConfig], PairedSplits] | None = None,
              log: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Run experiment ``name`` and write its JSON, Markdown (and PNG for figures) under ``out``.

    Args:
        profile: compute profile (default ``$CMMD_PROFILE``, else laptop).
        seeds: training seeds (``train.seed``); ``data_seed`` stays fixed.
        seeds_by_model: other seeds for some of the models, e.g. ``{"mmvae": [0]}`` to add a costly
            baseline's single seed to a table whose other rows have three (each row states its n).
        models: model types to run (default: all of the experiment); the others say "not run".
        overrides: ``key=value`` strings or a mapping (:func:`parse_overrides`), e.g. ``epochs=1``.
        data_loader: builds the paired splits of a :class:`DataConfig` (default
            :func:`~cmmd_lite.data.paired.load_paired`; tests pass tiny ones).
        log: called with one line per trained/loaded model (None: silent).
    Returns the JSON payload (with ``files``: the paths written).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from: {', '.join(EXPERIMENTS)}.")
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a profile; choose from: {', '.join(PROFILES)}.")
    seeds = _checked_seeds(seeds, "seeds")
    experiment = EXPERIMENTS[name]
    rows, choices = _select_rows(experiment, models)
    seeds_by_model = {key: _checked_seeds(own, f"seeds_by_model[{key!r}]")
                      for key, own in (seeds_by_model or {}).items()}
    not_selected = sorted(set(seeds_by_model) - {row.key for row in rows})
    if not_selected:
        raise ValueError(f"seeds_by_model names {not_selected}, which this run does not train; "
                         f"its models are: {', '.join(dict.fromkeys(row.key for row in rows))}.")
    overrides = parse_overrides(overrides)
    config_overrides, settings, options = _split_overrides(overrides, profile)
    if experiment.name in ("figF1", "figG1"):
        seeds = seeds[:1]  # one picture: the first seed's models
        seeds_by_model = {key: own[:1] for key, own in seeds_by_model.items()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch_device = choose_device(device)
    log = log or (lambda _: None)
    data_loader = data_loader or load_paired
    began, load_start = time.perf_counter(), _load_average()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    data_cache: dict[DataConfig, PairedSplits] = {}
    classifiers: dict[tuple[str, str], Any] = {}
    classifier_seconds = [0.0]  # time spent making classifiers, kept out of the models' evaluation times

    def data_for(config: Config) -> PairedSplits:
        if config.data not in data_cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the stand-in warning: recorded in the JSON and tables instead
                data_cache[config.data] = data_loader(config.data)
        return data_cache[config.data]

    def classifier_for(splits: PairedSplits, modality: str):
        key = (splits.name, modality)
        if key not in classifiers:
            t0 = time.perf_counter()
            classifiers[key] = modality_classifier(splits.to("cpu"), modality, settings)
            classifier_seconds[0] += time.perf_counter() - t0
            log(f"[{name}] {modality} classifier: {'loaded' if classifiers[key].info['loaded'] else 'trained'} "
                f"in {time.perf_counter() - t0:.1f} s")
        return classifiers[key]

    results: dict[int, dict[str, Any]] = {}  # row index -> record
    figures: dict[str, Any] = {}
    for index, row in enumerate(rows):
        per_seed, models_kept = [], []
        for seed in seeds_by_model.get(row.key, seeds):
            config = get_config(row.config, profile, seed=seed, **dict(row.overrides), **config_overrides)
            splits = data_for(config)
            t0 = time.perf_counter()
            result = train_or_load(config, data=splits, device=torch_device, progress=progress)
            t_train = time.perf_counter() - t0
            t0, before = time.perf_counter(), classifier_seconds[0]
            metrics = _measure(experiment.name, result, seed, options, classifier_for)
            t_eval = time.perf_counter() - t0 - (classifier_seconds[0] - before)
            history = result.history
            record = {"seed": seed, **metrics, "loaded_checkpoint": result.loaded,
                      "wall_seconds_train_or_load": t_train, "wall_seconds_evaluate": t_eval,
                      "train_seconds_recorded": history.get("train_seconds"), "epochs_run": len(history["epochs"]),
                      "best_epoch": history.get("best_epoch"), "best_val_accuracy": history.get("best_val_accuracy"),
                      "checkpoint": result.checkpoint_dir.name if result.checkpoint_dir else None,
                      "config_fingerprint": config.fingerprint(), "config": config.to_dict()}
            per_seed.append(record)
            if experiment.name == "figG1":
                models_kept.append(result.model)
            log(f"[{name}] {row.label}, seed {seed}: {'loaded' if result.loaded else 'trained'} in {t_train:.1f} s "
                f"({len(history['epochs'])} epochs), evaluated in {t_eval:.1f} s: "
                + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        results[index] = {"per_seed": per_seed, "models": models_kept}
    payload_rows = []
    for index, row in enumerate(experiment.rows):
        selected = row in rows
        entry: dict[str, Any] = {"key": row.key, "label": row.label, "config": row.config,
                                 "overrides": dict(row.overrides), "status": "ran" if selected else "not run",
                                 "paper": row.paper, "paper_std": row.paper_std, "paper_note": row.paper_note}
        if selected:
            per_seed = results[rows.index(row)]["per_seed"]
            numeric = [k for k, v in per_seed[0].items()
                       if isinstance(v, float) and not k.startswith(("wall_", "train_seconds", "best_val"))]
            entry["metrics"] = {k: _summary([r[k] for r in per_seed]) for k in numeric
                                if all(isinstance(r.get(k), float) for r in per_seed)}
            entry["wall_seconds"] = sum(r["wall_seconds_train_or_load"] + r["wall_seconds_evaluate"] for r in per_seed)
            entry["per_seed"] = per_seed
        payload_rows.append(entry)

    standin = {s.name: s.uses_standin for s in data_cache.values()}
    payload: dict[str, Any] = {
        "experiment": name, "title": experiment.title, "kind": experiment.kind, "metric": experiment.metric_note,
        "profile": profile, "seeds": seeds, "seeds_by_model": seeds_by_model, "data_seed": 0 if "data_seed" not in config_overrides
        else config_overrides["data_seed"], "models_requested": list(models) if models else choices,
        "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
        "run_options": options,
        "svhn_standin": any(standin.values()),
        "svhn_note": (f"x_M uses the {STANDIN_LABEL}: these are NOT SVHN results" if any(standin.values())
                      else ("real SVHN" if any("SVHN" in n for n in standin) else "no SVHN in this experiment")),
        "datasets": list(dict.fromkeys(s.summary() for s in data_cache.values())),
        "coherence_classifiers": {f"{k[0]} / {k[1]}": c.info for k, c in classifiers.items()},
        "machine": machine_info(torch_device), "load_average_start": load_start,
        "started_utc": started, "command": _command(name, profile, seeds, models, overrides, out, seeds_by_model),
        "rows": payload_rows,
    }
    if experiment.kind == "figure":
        figures = _figure(experiment, payload, rows, results, data_cache, classifier_for, options, profile, out)
        payload["figure"] = figures
    payload["load_average_end"] = _load_average()
    payload["wall_seconds"] = time.perf_counter() - began
    stem = out / f"{name}-{profile}"
    payload["files"] = [str(stem.with_suffix(".json")), str(stem.with_suffix(".md"))] + figures.get("files", [])
    stem.with_suffix(".json").write_text(dumps(payload) + "\n")
    stem.with_suffix(".md").write_text(markdown(payload))
    log(f"[{name}] wrote {', '.join(payload['files'])} ({payload['wall_seconds']:.0f} s)")
    return payload


def dumps(payload: Mapping[str, Any]) -> str:
    """JSON with one key per line but each list of numbers on one line (t-SNE coordinates, curves)."""
    text = json.dumps(_jsonable(payload), indent=1)
    def collapse(match: re.Match) -> str:  # only lists that indent spread over lines (never inside strings)
        return re.sub(r"\s+", "", match.group(0)).replace(",", ", ") if "\n" in match.group(0) else match.group(0)

    return re.sub(r"\[[-0-9.eE,\s]*\]", collapse, text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- what is measured per experiment --------------------------------------------------------------

def _measure(name: str, result, seed: int, options: Mapping[str, Any], classifier_for) -> dict[str, Any]:
    model, splits, config = result.model, result.data, result.config
    test = splits.test
    acc = accuracy(model, test, n_samples=config.train.eval_samples, seed=seed)
    if name == "table2":
        metrics = {"accuracy": acc, "error_percent": 100.0 * (1.0 - acc)}
        if model.can_generate:
            from .evaluate import imputation_rmse
            metrics["rmse_x_m"] = imputation_rmse(model, test)["x_m"]
        return metrics
    if name == "table3":
        metrics = {"accuracy_percent": 100.0 * acc,
                   "probe_accuracy_percent": 100.0 * linear_probe_accuracy(
                       model, splits.train, test, max_train=int(options["probe_max_train"]), seed=seed)}
        if model.can_generate:
            classifier = classifier_for(splits, "svhn")
            report = coherence_report(model, test, {"svhn": classifier},
                                      n_samples=int(options["coherence_samples"]), seed=seed)["svhn"]
            metrics.update(coherence_percent=100.0 * report["coherence"],
                           coherence_macro_percent=100.0 * report["coherence_macro"],
                           coherence_ceiling_percent=100.0 * report["ceiling"])
        return metrics
    if name == "table4":
        return {"accuracy_percent": 100.0 * acc}
    if name == "fig2":
        metrics = evaluate(model, test, n_samples=config.train.eval_samples, seed=seed)
        return {"accuracy": acc, "collapse": metrics["collapse"], "collapse_epsilons": metrics["collapse_epsilons"]}
    if name == "figF1":
        return {"accuracy": acc, **_tsne_record(model, test, int(options["tsne_points"]), seed)}
    if name == "figG1":
        return {"accuracy": acc}
    raise AssertionError(name)


def tsne_embedding(features: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (scikit-learn, PCA initialisation, seeded) of features (N, D) -> (N, 2)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:  # optional dependency
        raise ImportError("t-SNE needs scikit-learn: pip install scikit-learn") from error
    features = np.asarray(features, dtype=np.float64)
    perplexity = min(perplexity, max(2.0, (len(features) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def _tsne_record(model, test: PairedData, n_points: int, seed: int) -> dict[str, Any]:
    from sklearn.metrics import silhouette_score

    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n_points].sort().values
    means = x_o_latent_means(model, test).cpu()[rows].numpy()
    labels = test.y.cpu()[rows].numpy()
    embedding = tsne_embedding(means, seed=seed)
    return {"tsne_silhouette": float(silhouette_score(embedding, labels)),
            "latent_silhouette": float(silhouette_score(means, labels)),
            "tsne": {"rows": rows.tolist(), "labels": labels.tolist(),
                     "x": [round(float(v), 2) for v in embedding[:, 0]],
                     "y": [round(float(v), 2) for v in embedding[:, 1]]}}


# --- figures -----------------------------------------------------------------------------------------

def _figure(experiment: Experiment, payload, rows, results, data_cache, classifier_for, options, profile, out: Path):
    import matplotlib.pyplot as plt

    stem = out / f"{experiment.name}-{profile}"
    standin = payload["svhn_standin"]
    suffix = f" [profile {profile}; seeds {','.join(map(str, payload['seeds']))}]"
    figure: dict[str, Any] = {"files": [str(stem.with_suffix(".png"))]}
    if experiment.name == "fig2":
        panels = ("prior_vs_standard", "posterior_vs_standard", "posterior_vs_prior")
        titles = {"prior_vs_standard": "KL[z | x_o  ||  N(0, I)]",
                  "posterior_vs_standard": "KL[z | x_M side  ||  N(0, I)]",
                  "posterior_vs_prior": "KL[z | x_M side  ||  z | x_o]  (CMMD: KL[q || p(z|x_o)])"}
        colours = {r.label: f"C{i}" for i, r in enumerate(experiment.rows)}
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True, layout="constrained")
        curves: dict[str, dict[str, list[float]]] = {}
        for row in rows:
            per_seed = results[rows.index(row)]["per_seed"]
            eps = per_seed[0]["collapse_epsilons"]
            curves[row.label] = {panel: np.mean([r["collapse"][panel] for r in per_seed], axis=0).tolist()
                                 for panel in panels if panel in per_seed[0]["collapse"]}
            for ax, panel in zip(axes, panels):
                if panel in curves[row.label]:
                    ax.plot(eps, curves[row.label][panel], marker=".", label=row.label, color=colours[row.label])
        for ax, panel in zip(axes, panels):
            ax.set_title(titles[panel], fontsize=10)
            ax.set_xlabel("epsilon (nats)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("fraction of z dimensions collapsed")
        axes[0].legend()
        fig.suptitle(experiment.title + suffix + " (the paper's Fig. 2 is XRMB, fold 1)")
        figure.update(epsilons=eps, curves_mean_over_seeds=curves)
    elif experiment.name == "figF1":
        fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 4.6), squeeze=False, layout="constrained")
        for ax, row in zip(axes[0], rows):
            record = results[rows.index(row)]["per_seed"][0]
            labels = np.asarray(record["tsne"]["labels"])
            scatter = ax.scatter(record["tsne"]["x"], record["tsne"]["y"], c=labels, cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
            ax.set_title(f"{row.label} (silhouette {record['tsne_silhouette']:.2f})")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(scatter, ax=axes[0, -1], ticks=range(10), label="class")
        fig.suptitle(experiment.title + suffix)
    elif experiment.name == "figG1":
        from .plotting import image_grid

        splits = next(iter(data_cache.values()))
        test = splits.test
        generator = torch.Generator().manual_seed(payload["seeds"][0])
        order = torch.randperm(len(test), generator=generator)
        labels = test.y.cpu()[order]
        picks = [int(order[(labels == c).nonzero()[0, 0]]) for c in range(test.n_classes) if (labels == c).any()]
        extra, predicted = {}, {}
        classifier = classifier_for(splits, "svhn")
        for row in rows:
            model = results[rows.index(row)]["models"][0]  # the first seed's
            images = generate_missing(model, test, torch.tensor(picks, device=test.device), n_samples=1,
                                      seed=payload["seeds"][0])["svhn"][0]
            extra[f"{row.label}: generated {test.label('svhn')}"] = images
            predicted[row.label] = classifier.predict(images).tolist()
        fig = image_grid(test, picks, extra=extra, title=experiment.title + suffix
                         + (f"\n(x_M is the {STANDIN_LABEL})" if standin else ""))
        figure.update(test_rows=picks, labels=[int(test.y[i]) for i in picks], svhn_classifier_predictions=predicted)
    fig.savefig(stem.with_suffix(".png"), dpi=60 if experiment.name == "figG1" else 90)
    plt.close(fig)
    return figure


# --- Markdown -------------------------------------------------------------------------------------------

def _metric(entry: Mapping[str, Any], key: str, digits: int = 2) -> str:
    if entry["status"] != "ran":
        return "not run"
    summary = entry.get("metrics", {}).get(key)
    return _fmt(summary, digits) if summary else "n/a"


def markdown(payload: Mapping[str, Any]) -> str:
    """The Markdown report of a :func:`reproduce` payload: our numbers beside the paper's."""
    name, profile = payload["experiment"], payload["profile"]
    standin = payload["svhn_standin"]
    title = payload["title"] + f" — profile `{profile}`"
    if standin:
        title += f" — x_M uses the {STANDIN_LABEL}"
    lines = [f"# {title}", ""]
    seeds = ", ".join(map(str, payload["seeds"]))
    labels = {e["key"]: e["label"] for e in payload["rows"]}
    for key, own in payload.get("seeds_by_model", {}).items():  # absent in files written before 2026-11-26
        seeds += f"; {labels[key]}: {', '.join(map(str, own))}"
    lines += [f"Seeds (train.seed): {seeds}; data_seed {payload['data_seed']} fixed. "
              f"Mean ± sample std over seeds when there are several. Metric: {payload['metric']}.", ""]
    if payload["overrides"]:
        lines += [f"Overrides: `{json.dumps(payload['overrides'])}` (not the plain profile).", ""]
    if profile == "smoke":
        lines += ["**The smoke profile is a plumbing check** (about a thousand training pairs, 3 epochs, tiny "
                  "networks): its numbers are expected to sit near chance and say nothing about the paper's.", ""]
    rows = payload["rows"]

    def wall(entry: Mapping[str, Any]) -> str:
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
        if entry["status"] != "ran":
            return "—"
        return ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in entry["per_seed"])

    if name == "table2":
        lines += ["| model | ours: test error % | paper: MNIST error % | x_M RMSE | epochs (best) | wall s |",
                  "|---|---:|---|---:|---|---|"]
        for e in rows:
            lines.append(f"| {e['label']} | {_metric(e, 'error_percent')} | {_paper_text_entry(e)} | "
                         f"{_metric(e, 'rmse_x_m', 4)} | {epochs(e)} | {wall(e)} |")
    elif name == "table3":
        lines += ["| model | ours: joint classifier % | ours: linear probe % | ours: coherence MNIST→SVHN % "
                  "(macro) | paper % | epochs (best) | wall s |", "|---|---:|---:|---|---|---|---|"]
        for e in rows:
            coh = _metric(e, "coherence_percent")
            if e["status"] == "ran" and "coherence_percent" in e.get("metrics", {}):
                coh += f" ({_metric(e, 'coherence_macro_percent')})"
            elif e["status"] == "ran":
                coh = "n/a (no decoder)"
            lines.append(f"| {e['label']} | {_metric(e, 'accuracy_percent')} | {_metric(e, 'probe_accuracy_percent')} | "
                         f"{coh} | {_paper_text_entry(e)} | {epochs(e)} | {wall(e)} |")
        ceilings = [e["metrics"]["coherence_ceiling_percent"]["mean"] for e in rows
                    if e["status"] == "ran" and "coherence_ceiling_percent" in e.get("metrics", {})]
        if ceilings:
            lines += ["", f"Coherence ceiling (the SVHN classifier on the real x_M of the test pairs): "
                          f"{ceilings[0]:.2f} %; chance 10 %. Shi et al. (2019) report MMVAE's coherence "
                          f"MNIST→SVHN as 86.4 % with their own classifiers (not in the CMMD paper)."]
    elif name == "table4":
        lines += ["| missing modality | ours: accuracy % | paper: accuracy % | epochs (best) | wall s |",
                  "|---|---:|---|---|---|"]
        for e in rows:
            lines.append(f"| {e['label']} | {_metric(e, 'accuracy_percent')} | {_paper_text_entry(e)} | "
                         f"{epochs(e)} | {wall(e)} |")
    elif name == "fig2":
        eps = payload["figure"]["epsilons"] if "figure" in payload else []
        marks = [i for i, x in enumerate(eps) if i in (0, 7, 20, 39)]
        head = " | ".join(f"ε={eps[i]:.2f}" for i in marks)
        lines += ["Fraction of z dimensions collapsed (mean over seeds), three KLs; the paper's Fig. 2 shows "
                  "these on XRMB fold 1, so there is no number to put beside ours. Paper (XRMB): MMVAE ≈ 80 % "
                  "of dimensions collapsed to N(0, I); none of VCCA's or CMMD's within 6 nats.", ""]
        lines += [f"| model | KL | {head} | wall s |", "|---|---|" + "---:|" * len(marks) + "---|"]
        curves = payload.get("figure", {}).get("curves_mean_over_seeds", {})
        for e in rows:
            if e["status"] != "ran":
                lines.append(f"| {e['label']} | — | " + " | ".join("not run" for _ in marks) + " | — |")
                continue
            for i_panel, (panel, curve) in enumerate(curves.get(e["label"], {}).items()):
                lines.append(f"| {e['label']} | {panel} | " + " | ".join(f"{curve[i]:.2f}" for i in marks)
                             + f" | {wall(e) if i_panel == 0 else ''} |")
        lines += ["", "KL names: prior_vs_standard = KL[z|x_o || N(0, I)]; posterior_vs_standard = "
                      "KL[z|x_M-side latent || N(0, I)]; posterior_vs_prior = KL[q(z|x_o,x_M,y) || p(z|x_o)] "
                      "(the paper's third panel is the reverse direction). VCCA's x_M-side latent is q(z|x_o) "
                      "again (no private latent here), so its posterior_vs_prior KL is zero."]
    elif name == "figF1":
        lines += ["| model | t-SNE silhouette (by class) | latent silhouette | accuracy % | wall s |",
                  "|---|---:|---:|---:|---|"]
        for e in rows:
            if e["status"] != "ran":
                lines.append(f"| {e['label']} | not run | not run | not run | — |")
                continue
            r = e["per_seed"][0]
            lines.append(f"| {e['label']} | {r['tsne_silhouette']:.3f} | {r['latent_silhouette']:.3f} | "
                         f"{100 * r['accuracy']:.2f} | {wall(e)} |")
        lines += ["", "The paper shows the plots only (CMMD and VCCA well separated, MVAE overlapping); the "
                      "silhouette scores put a number on the separation."]
    elif name == "figG1":
        fig = payload.get("figure", {})
        labels = fig.get("labels", [])
        lines += ["| model | SVHN classifier agrees with the MNIST class | accuracy % | wall s |", "|---|---:|---:|---|"]
        for e in rows:
            if e["status"] != "ran":
                lines.append(f"| {e['label']} | not run | not run | — |")
                continue
            predicted = fig.get("svhn_classifier_predictions", {}).get(e["label"], [])
            hits = sum(int(p == y) for p, y in zip(predicted, labels))
            lines.append(f"| {e['label']} | {hits}/{len(labels)} | {100 * e['per_seed'][0]['accuracy']:.2f} | "
                         f"{wall(e)} |")
    if payload.get("kind") == "figure" or name == "fig2":
        lines += ["", f"Figure: `{Path(payload['figure']['files'][0]).name}`" if payload.get("figure") else ""]
    m = payload["machine"]
    device = m["gpu"] or m["cpu"]
    datasets = payload["datasets"]  # a list; a dict {name: summary} in files written before 2026-11-26
    load = f"{payload['load_average_start']} at the start, {payload.get('load_average_end')} at the end"
    lines += ["", "## Run", "",
              "- Data: " + "; ".join(datasets.values() if isinstance(datasets, dict) else datasets),
              f"- SVHN: {payload['svhn_note']}",
              f"- Machine: {device} ({m['device']}), {m['cpu_cores_usable']} usable cores, torch {m['torch']} "
              f"with {m['torch_threads']} threads, Python {m['python']}; load average (1, 5, 15 min): {load}",
              f"- Wall time of the whole run: {payload['wall_seconds']:.0f} s (started {payload['started_utc']})",
              f"- Command: `{payload['command']}`",
              "- Models are trained with `train_or_load` (checkpoints reused) and scored on the test split "
              "with the weights of the best validation epoch. The smoke and laptop profiles are scaled down "
              "(smaller networks, fewer pairs and epochs); the paper's numbers come from its full settings.",
              ""]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _paper_text_entry(entry: Mapping[str, Any]) -> str:
    return _paper_text(Row(entry["key"], entry["label"], entry["config"], (), entry["paper"], entry["paper_std"],
                           entry["paper_note"]))
