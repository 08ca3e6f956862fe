"""Reproduce the paper's tables and figures: ``python -m cmmd_lite reproduce NAME --profile ...``.

Experiments (:data:`EXPERIMENTS`):

* ``table2`` -- 2-modality MNIST test error (%) of M-x_o (CMMD's x_o path alone, and the linear
  classifier on x_o's pixels behind the paper's 13.1%), VCCA, MVAE, MMVAE (IWAE bound, the paper's
  row "MMVAE IWAE") and CMMD.
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

Each experiment is a module of the registry :mod:`cmmd_lite.experiments` (its rows, the paper's
numbers, what it measures, its figure and its report); this module is the one runner. The
figures' t-SNE needs scikit-learn (``pip install scikit-learn``, part of the ``book`` extra).
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import time
import warnings
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .coherence import ClassifierSettings, classifier_settings, modality_classifier
from .config import FIELD_SECTION, PROFILES, Config, DataConfig, current_profile, flatten_dict, get_config
from .config import parse_overrides as config_parse_overrides
from .data.paired import PairedSplits, load_paired
from .data.svhn_standin import STANDIN_LABEL
from .experiments import EXPERIMENTS, MODEL_KEYS, Experiment, Row  # noqa: F401 - re-exported
from .experiments.base import Run, png_name, summary
from .plotting import save_png
from .profiles import variant
from .store import write_bytes
from .train import train_or_load
from .utils import choose_device, machine_info

DEFAULT_OUT = Path("results") / "reproduce"

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

def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


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
    if experiment.single_seed:
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

    run = Run(options=options, classifier_for=classifier_for, data_cache=data_cache)
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
            metrics = experiment.measure(result, seed, run)
            t_eval = time.perf_counter() - t0 - (classifier_seconds[0] - before)
            history = result.history
            record = {"seed": seed, **metrics, "loaded_checkpoint": result.loaded,
                      "wall_seconds_train_or_load": t_train, "wall_seconds_evaluate": t_eval,
                      "train_seconds_recorded": history.get("train_seconds"), "epochs_run": len(history["epochs"]),
                      "best_epoch": history.get("best_epoch"), "best_val_accuracy": history.get("best_val_accuracy"),
                      "checkpoint": result.checkpoint_dir.name if result.checkpoint_dir else None,
                      "config_fingerprint": config.fingerprint(), "config": config.to_dict()}
            per_seed.append(record)
            if experiment.keep_models:
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
            entry["metrics"] = {k: summary([r[k] for r in per_seed]) for k in numeric
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
    stem = out / f"{name}-{profile}"
    if experiment.kind == "figure":
        suffix = f" [profile {profile}; seeds {','.join(map(str, payload['seeds']))}]"
        fig, figures = experiment.figure(payload, rows, results, run, experiment.title + suffix)
        figures["files"] = [str(save_png(fig, stem.with_suffix(".png"), dpi=experiment.png_dpi))]
        payload["figure"] = figures
    payload["load_average_end"] = _load_average()
    payload["wall_seconds"] = time.perf_counter() - began
    payload["files"] = [str(stem.with_suffix(".json")), str(stem.with_suffix(".md"))] + figures.get("files", [])
    write_bytes(stem.with_suffix(".json"), (dumps(payload) + "\n").encode())
    write_bytes(stem.with_suffix(".md"), markdown(payload).encode())
    log(f"[{name}] wrote {', '.join(payload['files'])} ({payload['wall_seconds']:.0f} s)")
    return payload


# --- reload and compare -----------------------------------------------------------------------------

#: per-seed fields that describe a run rather than measure the model (timings, cache use)
_NOT_MEASURED = ("seed", "loaded_checkpoint", "checkpoint", "config_fingerprint", "config", "epochs_run_note")


def compare_runs(recorded: Mapping[str, Any], now: Mapping[str, Any], *, tolerance: float = 0.0) -> dict[str, Any]:
    """What a rerun of a recorded :func:`reproduce` payload measures differently, seed by seed.

    Every measured per-seed number (accuracy, error, RMSE, coherence, epochs, the collapse curves'
    points; not the timings) of each row and seed in both is compared; a difference above
    ``tolerance`` (absolute) is listed with the config fields that changed between the two runs,
    which says whether it was deliberate (a changed default) or not. Returns ``{"compared": n,
    "differ": [...], "only_recorded": [...], "only_now": [...]}``."""
    def per_seed(payload):
        return {(row["key"], run["seed"]): run for row in payload["rows"] for run in row.get("per_seed", [])}
    recorded, now = json.loads(dumps(recorded)), json.loads(dumps(now))  # both as JSON reads them back
    old, new = per_seed(recorded), per_seed(now)
    compared, differ = 0, []
    judges = _judge_changes(recorded, now)
    for key in sorted(set(old) & set(new), key=str):
        a, b = old[key], new[key]
        changed = _config_changes(a.get("config", {}), b.get("config", {}))
        for field_name in sorted(set(a) & set(b)):
            if field_name in _NOT_MEASURED or "seconds" in field_name:
                continue
            x, y = flatten_dict({field_name: a[field_name]}), flatten_dict({field_name: b[field_name]})
            for leaf in sorted(set(x) & set(y)):
                p, q = x[leaf], y[leaf]
                if isinstance(p, bool) or isinstance(q, bool) or not isinstance(p, (int, float, tuple)):
                    continue
                p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
                compared += 1
                gap = float(np.max(np.abs(p - q))) if p.shape == q.shape else math.inf
                if not gap <= tolerance:
                    differ.append({"row": key[0], "seed": key[1], "metric": leaf,
                                   "recorded": p.tolist() if p.ndim == 0 else f"{p.size} values",
                                   "now": q.tolist() if q.ndim == 0 else f"{q.size} values",
                                   "difference": gap, "config_changed": changed})
    return {"compared": compared, "differ": differ, "judges_changed": judges,
            "only_recorded": sorted(map(str, set(old) - set(new))), "only_now": sorted(map(str, set(new) - set(old)))}


def _config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The config fields that train differently (:meth:`Config.diff`, fields added since at their
    old value counting as equal), or the raw fields that differ when a config does not parse."""
    try:
        return sorted(k for k in Config.from_dict(a).diff(Config.from_dict(b)) if k not in ("name", "profile"))
    except (TypeError, ValueError):
        flat_a, flat_b = flatten_dict(a), flatten_dict(b)
        return sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k) != flat_b.get(k))


def _judge_changes(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The coherence judges that differ between two runs: settings, or what their training reached."""
    changes = []
    before, after = recorded.get("coherence_classifiers", {}), now.get("coherence_classifiers", {})
    for name in sorted(set(before) & set(after)):
        for field_name in ("settings", "arch", "n_train_images", "best_val_accuracy", "best_epoch"):
            if before[name].get(field_name) != after[name].get(field_name):
                changes.append(f"{name}: {field_name} {before[name].get(field_name)} -> {after[name].get(field_name)}")
    return changes


def comparison_markdown(comparison: Mapping[str, Any], recorded_path: str | Path) -> str:
    """:func:`compare_runs` as a short report."""
    differ = comparison["differ"]
    lines = [f"Compared with {recorded_path}: {comparison['compared']} measured numbers, {len(differ)} differ."]
    if differ:
        lines += ["", "| row | seed | metric | recorded | now | |difference| | config fields changed |",
                  "|---|---:|---|---:|---:|---:|---|"]
        lines += [f"| {d['row']} | {d['seed']} | {d['metric']} | {d['recorded']} | {d['now']} | {d['difference']:.4g} | "
                  f"{', '.join(d['config_changed']) or 'none'} |" for d in differ]
    if comparison.get("judges_changed"):
        lines += ["", "The coherence judges differ (coherence and its ceiling then differ with them): "
                  + "; ".join(comparison["judges_changed"]) + "."]
    for side in ("only_recorded", "only_now"):
        if comparison[side]:
            lines.append(f"{side.replace('_', ' ')} (row, seed): {', '.join(comparison[side])}")
    return "\n".join(lines) + "\n"


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


# --- Markdown -------------------------------------------------------------------------------------------

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
    lines += EXPERIMENTS[name].report(payload)
    if payload.get("kind") == "figure":
        lines += ["", f"Figure: `{png_name(payload)}`" if payload.get("figure") else ""]
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
