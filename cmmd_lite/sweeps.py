"""Recorded sweeps: every setting of a named omega x lambda x alpha grid, trained until its
validation accuracy stops improving, evaluated, and written to one compact record.

``python -m cmmd_lite sweep NAME --profile P [--seeds 0,1,2]`` runs :func:`run_sweep`:

* **Settings** (:data:`GRIDS`): the product of the grid's axes at seed 0, plus the extra seeds
  along ``seed_axis`` at the grid's default values of the other axes (error bars along omega).
* **Stopping rule**: each setting trains with ``patience`` (:class:`~cmmd_lite.config.TrainConfig`):
  it stops once the validation accuracy has not improved for ``patience`` epochs, or after the
  profile's ``epochs``, whichever comes first; the weights of the best validation epoch are kept.
* **Resumable**: models come from :func:`~cmmd_lite.train.train_or_load` (an interrupted setting
  resumes from its checkpoint), and the record is rewritten atomically after every setting; a
  rerun skips the settings the record already holds, so a killed sweep continues where it
  stopped and its record equals an uninterrupted one's (the wall times aside).
* **The record** ``results/sweeps/<name>-<profile>.json``: per setting and seed the config, the
  joint-classifier and linear-probe accuracies, the loss terms per epoch, the three collapse
  curves of Fig. 2 with the active dimensions, a t-SNE of prior and posterior means of a fixed
  set of test pairs (each aligned to the first setting's by an orthogonal Procrustes map, so
  moving a control does not spin the picture), generated x_M (uint8, from a prior sample) and x_M decoded at the posterior mean
  for one fixed test pair per class, the coherence of generated x_M, and the training time; the
  fixed pairs' rows and labels; plus provenance (command,
  commit, profile, machine, torch, wall time, whether SVHN was the stand-in).
* **Refusal**: a record written for another grid, profile or data, by another version of the
  code that trains and measures (:data:`CODE_VERSION`), with another schema, or whose settings'
  configs differ from the ones this code builds (:func:`check_configs`: a changed default), is
  refused with a :class:`SweepRecordError` saying what differs, never silently extended or read.

  The code version is a number bumped by hand, not a hash of the files: a record takes hours of
  CPU, and a hash would make it stale at any edit of a docstring. Bump :data:`CODE_VERSION` with
  every change that alters what a setting trains or what the record measures; a changed config
  default is caught without a bump, by the config check. Each sitting also records the commit and
  a hash of the training files (:func:`code_hash`), so which code wrote a record is always known.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import os
import shlex
import subprocess
import sys
import time
import warnings
import zlib
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .coherence import classifier_settings, coherence, coherence_report, modality_classifier
from .config import CLASSIFIER_ONLY, Config, DataConfig, get_config
from .data.paired import PairedSplits, load_paired
from .data.svhn_standin import GENERATOR_VERSION as STANDIN_GENERATOR
from .evaluate import (COLLAPSE_DELTA, accuracy, collapse_curve, generate_missing, kl_per_dimension, latent_parameters,
                       linear_probe_accuracy)
from .latents import decode_posterior_mean, tsne_2d
from .paths import ENV_CACHE_DIR, cache_dir
from .profiles import check_profile
from .store import ArtefactError, read_json, write_json
from .train import train_or_load
from .utils import choose_device, machine_info

SCHEMA = 2  # 2: the fixed test points' rows and labels; x_M decoded at the posterior mean
DEFAULT_OUT = Path("results") / "sweeps"
ACTIVE_NATS = 0.1  # a dimension is active when its mean KL[q || p(z|x_o)] exceeds this many nats
CODE_VERSION = 1  # bump when a change alters what a setting trains or what the record measures
_CODE_FILES = ("model.py", "losses.py", "nets.py", "baselines.py", "train.py", "evaluate.py", "coherence.py",
               "latents.py", "sweeps.py", "data/paired.py", "data/mnist.py", "data/svhn.py", "data/svhn_standin.py")


class SweepRecordError(ArtefactError):
    """A sweep record that does not belong to this grid, profile, data or code, or is malformed."""


@dataclass(frozen=True)
class Grid:
    """A named grid over config fields (the objective's weights, or e.g. the decoder), on one named config."""

    name: str
    config: str
    axes: Mapping[str, tuple[Any, ...]]  # config field (omega, lam, alpha, decoder, ...) -> values
    defaults: Mapping[str, Any]  # the paper's setting: trained first, and where extra seeds run along seed_axis
    # the axis (or axes: their product) along which the extra seeds run, at the defaults of the others
    seed_axis: str | tuple[str, ...] = "omega"
    patience: int = 10  # 5 stopped alpha = 1 after 17 epochs; 10 stops it after 22 at the same best epoch
    overrides: Mapping[str, Any] = field(default_factory=dict)  # common to every setting
    tsne_points: int = 500
    # "product": every combination of the axes; "star": the defaults and each axis's other values
    # with the rest at the defaults (one cause at a time, as an ablation)
    layout: str = "product"

    def settings(self, seeds: Sequence[int]) -> list[dict[str, Any]]:
        """Every (axes..., seed) of this grid: the full product at the first seed, the seed axis
        at the defaults for the other seeds.

        In the order they train, when the defaults name every axis: the defaults first (their
        t-SNE orients every other one's), then the settings one axis away from them, the other
        seeds, then the rest; so a sweep stopped part-way has recorded the most telling settings.
        """
        names = list(self.axes)
        first, *others = seeds
        seed_axes = self.seed_axes
        along = [dict(zip(seed_axes, values)) for values in itertools.product(*(self.axes[a] for a in seed_axes))]
        if self.layout == "star":
            centre = {k: self.defaults[k] for k in names}
            star = [dict(centre, seed=first)] + [dict(centre, **{name: value}, seed=first)
                                                 for name in names for value in self.axes[name] if value != centre[name]]
            return star + [dict(centre, **values, seed=seed) for seed in others for values in along]
        product = [dict(zip(names, values), seed=first) for values in itertools.product(*self.axes.values())]
        extra = [{**{k: v for k, v in self.defaults.items() if k in names}, **values, "seed": seed}
                 for seed in others for values in along]
        if not set(names) <= set(self.defaults):
            return product + extra

        def away(setting: Mapping[str, Any]) -> int:  # axes off the defaults
            return sum(setting[k] != self.defaults[k] for k in names)

        tiers = sorted(product, key=away)  # stable: the product's order within a tier
        return [s for s in tiers if away(s) <= 1] + extra + [s for s in tiers if away(s) > 1]

    @property
    def seed_axes(self) -> tuple[str, ...]:
        return (self.seed_axis,) if isinstance(self.seed_axis, str) else tuple(self.seed_axis)


GRIDS: dict[str, Grid] = {g.name: g for g in (
    # 2-modality MNIST: 6 x 3 x 3 = 54 settings; alpha = 10 is the paper's text, about 1000 what its
    # code's summed cross-entropy amounts to (alpha x batch size).
    Grid("mnist2", "mnist2", {"omega": (0.0, 0.1, 0.4, 0.7, 0.9, 1.0), "lam": (0.0, 100.0, 1000.0),
                              "alpha": (1.0, 10.0, 1000.0)}, {"omega": 0.4, "lam": 1000.0, "alpha": 10.0}),
    # MNIST -> SVHN: 5 x 2 x 2 = 20 settings.
    Grid("mnist_svhn", "mnist_svhn", {"omega": (0.0, 0.1, 0.4, 0.7, 1.0), "lam": (0.0, 1000.0),
                                      "alpha": (10.0, 1000.0)}, {"omega": 0.1, "lam": 1000.0, "alpha": 10.0}),
    # MNIST -> SVHN, the decoder of x_M as the only change (issue: why generated SVHN digits are not
    # of the right class): the learned-variance Gaussian MLP (default), a Bernoulli MLP on the
    # pixels in [0, 1] (no variance to absorb the error), the Table D1 deconvolution decoder.
    Grid("mnist_svhn_decoders", "mnist_svhn", {"decoder": ("gaussian", "bernoulli", "deconv")},
         {"decoder": "gaussian"}, seed_axis="decoder"),
    # MNIST -> SVHN, the candidate causes of low coherence one at a time around the paper's setting
    # (a star, :func:`cause_table`): a decoder without a variance to absorb the error (Bernoulli);
    # the Gaussian's variance bounded lower (exp(-2), exp(-4) instead of exp(2)); training length
    # (at most 10 and 30 epochs); the prior-posterior gap (omega 0 and 1, lambda 0); decoder width.
    # Every setting also records coherence at the prior and the posterior mean.
    Grid("mnist_svhn_causes", "mnist_svhn",
         {"decoder": ("gaussian", "bernoulli"), "decoder_logvar_max": (2.0, -2.0, -4.0), "epochs": (100, 10, 30),
          "omega": (0.1, 0.0, 1.0), "lam": (1000.0, 0.0), "decoder_hidden": ((400,), (1024, 1024))},
         {"decoder": "gaussian", "decoder_logvar_max": 2.0, "epochs": 100, "omega": 0.1, "lam": 1000.0,
          "decoder_hidden": (400,)}, seed_axis="decoder", layout="star"),
    # MNIST -> SVHN, toward coherent generation within the paper's model (what mnist_svhn_causes
    # points to), one change at a time around a Bernoulli decoder with a stronger MMD pull of the
    # posteriors onto the prior (lambda 1e4), at the reference code's classifier weight (alpha =
    # 1000) and the paper's omega = 0.1: the Table D1 deconvolution decoder, lambda 1e3 and 1e5, a
    # wider decoder, and the epoch kept (and early stopping) by the validation objective instead of
    # validation accuracy, which at alpha = 1000 stops before generation has finished learning.
    Grid("mnist_svhn_recipe", "mnist_svhn",
         {"decoder": ("bernoulli", "deconv"), "lam": (10000.0, 1000.0, 100000.0),
          "decoder_hidden": ((400,), (1024, 1024)), "select": ("auto", "val_loss")},
         {"decoder": "bernoulli", "lam": 10000.0, "decoder_hidden": (400,), "select": "auto"},
         seed_axis="decoder", overrides={"alpha": 1000.0}, layout="star"),
    # MNIST -> SVHN, the number of training pairs, around the recipe's centre (mnist_svhn_recipe:
    # Bernoulli decoder, lambda 1e4, alpha 1000, omega 0.1), where at 10,000 pairs the validation
    # objective rises after epoch 48 (overfitting): 10,000, 20,000 and the laptop profile's 50,000
    # pairs, and the Table D1 deconvolution decoder at 50,000. Extra seeds run along the pairs.
    Grid("mnist_svhn_data", "mnist_svhn",
         {"max_train": (50_000, 10_000, 20_000), "decoder": ("bernoulli", "deconv")},
         {"max_train": 50_000, "decoder": "bernoulli"},
         seed_axis="max_train", overrides={"alpha": 1000.0, "lam": 10000.0}, layout="star"),
    # MNIST -> SVHN, coherent generation against omega: what mnist_svhn_data found (the Table D1
    # deconvolution decoder on the laptop profile's 46,678 pairs, lambda 1e4, alpha 1000) at each omega
    # of the mnist_svhn grid; the extra seeds at the centre (omega = 0.1) only, which costs ~20 min a
    # setting on 2 CPU cores.
    Grid("mnist_svhn_generation", "mnist_svhn",
         {"omega": (0.1, 0.0, 0.4, 0.7, 1.0), "decoder": ("deconv",)}, {"omega": 0.1, "decoder": "deconv"},
         seed_axis="decoder", overrides={"alpha": 1000.0, "lam": 10000.0, "max_train": 50_000}, layout="star"),
    # 2-modality MNIST, does CMMD beat a classifier of x_o alone, and where (the paper's central
    # comparative claim, Table 2): CMMD at the paper text's alpha = 10 and at about the reference code's
    # weighting (1000); M-x_o, CMMD's own prior + classifier path trained on x_o alone (equal capacity on
    # the x_o side); and a linear classifier on x_o's pixels (Wang et al.'s M-x_o protocol, behind the
    # paper's 13.1%). Along the width of the x_o network (prior_hidden, which the linear one ignores: its
    # widths share one checkpoint), with its learning curve per epoch; 10,000 pairs and at most 100
    # epochs as in the mnist2 grid. Extra seeds for every model and alpha at the laptop width. The
    # budget is part of the grid (in every profile, as mnist_svhn_generation's pairs): a smoke run
    # scales it down with --override max_train=... --override epochs=....
    Grid("mnist2_budget", "mnist2",
         {"model_type": ("cmmd", "m_xo", "linear_xo"), "alpha": (1000.0, 10.0),
          "prior_hidden": ((400,), (100,), (1024, 1024))},
         {"model_type": "cmmd", "alpha": 1000.0, "prior_hidden": (400,)}, seed_axis=("model_type", "alpha"),
         overrides={"omega": 0.4, "lam": 1000.0, "max_train": 10_000, "epochs": 100}),
    # 2-modality MNIST, what posterior collapse (Fig. 2) depends on, one change at a time from the
    # paper's setting: the size of z, omega, training length. Each setting records per dimension the
    # epsilon from which it counts as collapsed (collapse_nats_per_dim).
    Grid("mnist2_collapse", "mnist2", {"z_dim": (20, 5, 10, 50), "omega": (0.4, 0.1, 1.0), "epochs": (100, 10, 30)},
         {"z_dim": 20, "omega": 0.4, "epochs": 100}, seed_axis="z_dim", layout="star"),
)}


def code_version() -> int:
    """The version of the code that trains and measures a sweep (:data:`CODE_VERSION`)."""
    return CODE_VERSION


def code_hash() -> str:
    """A hash of the library files that decide what a sweep trains and measures (provenance only)."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes())
    return digest.hexdigest()[:16]


def setting_key(setting: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={setting[k]:g}" if isinstance(setting[k], float) else f"{k}={setting[k]}"
                    for k in sorted(setting))


def setting_config(grid: Grid, profile: str, setting: Mapping[str, Any], overrides: Mapping[str, Any]) -> Config:
    return get_config(grid.config, profile, patience=grid.patience, **{**grid.overrides, **overrides, **setting})


# --- what is recorded per setting ---------------------------------------------------------------

def _decimals(values: np.ndarray, places: int) -> list:
    """``values`` rounded to ``places`` decimals as JSON-short floats (rounding a float32 array
    first would write 34.2 as 34.20000076293945, tripling the record's t-SNE)."""
    return np.round(np.asarray(values, dtype=np.float64), places).tolist()


def _uint8_images(images: torch.Tensor) -> dict[str, Any]:
    """Images in [0, 1] as uint8, stored losslessly and small: each row's differences from its left
    neighbour (mod 256), zlib-compressed, base64 (about 0.6x the raw bytes' base64 on SVHN digits)."""
    array = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    deltas = np.diff(array, axis=-1, prepend=np.zeros_like(array[..., :1]))  # uint8 arithmetic wraps
    return {"shape": list(array.shape),
            "uint8_delta_zlib_base64": base64.b64encode(zlib.compress(deltas.tobytes(), 9)).decode("ascii")}


def _encoded_points(points: Any) -> Any:
    """t-SNE coordinates (n, 2), as the record keeps them to 0.1, stored as int16 tenths, zlib, base64
    (about 0.4x the JSON list); a list beyond int16's range is kept as it is. Lossless: the
    coordinates were rounded to one decimal when measured."""
    if isinstance(points, dict):
        return points  # encoded already
    tenths = np.round(np.asarray(points, dtype=np.float64) * 10)
    if tenths.size == 0 or np.abs(tenths).max() > np.iinfo(np.int16).max:
        return points
    return {"shape": list(tenths.shape),
            "int16_tenths_zlib_base64": base64.b64encode(zlib.compress(tenths.astype("<i2").tobytes(), 9)).decode("ascii")}


def decode_points(points: Any) -> np.ndarray:
    """The t-SNE coordinates of a record entry (:func:`_encoded_points`, or a plain list) as (n, 2) floats."""
    if isinstance(points, dict):
        raw = np.frombuffer(zlib.decompress(base64.b64decode(points["int16_tenths_zlib_base64"])), dtype="<i2")
        return raw.reshape(points["shape"]).astype(np.float64) / 10
    return np.asarray(points, dtype=np.float64)


def compact_points(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with every entry's t-SNE encoded (:func:`_encoded_points`); applied whenever a record
    is written, so records written before it shrink when next written (mnist2's 2.5 MB to under 2)."""
    for entry in record["settings"].values():
        if isinstance(entry.get("tsne"), dict):
            entry["tsne"] = {side: _encoded_points(points) for side, points in entry["tsne"].items()}
    return record


def decode_images(entry: Mapping[str, Any]) -> np.ndarray:
    """The uint8 images of a record entry (:func:`_uint8_images`; or plain ``uint8_base64``, the
    encoding of records written before it) as an array."""
    if "uint8_delta_zlib_base64" in entry:
        deltas = np.frombuffer(zlib.decompress(base64.b64decode(entry["uint8_delta_zlib_base64"])), dtype=np.uint8)
        return np.cumsum(deltas.reshape(entry["shape"]), axis=-1, dtype=np.uint8)
    return np.frombuffer(base64.b64decode(entry["uint8_base64"]), dtype=np.uint8).reshape(entry["shape"])


def _procrustes(points: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """``points`` centred and rotated/reflected onto ``reference`` (least squares), or centred."""
    points = points - points.mean(0)
    if reference is None:
        return points
    u, _, vt = np.linalg.svd(points.T @ reference)
    return points @ (u @ vt)


def measure_setting(result, splits: PairedSplits, rows: torch.Tensor, shown: torch.Tensor, classifiers: Mapping,
                    reference: np.ndarray | None, seed: int) -> dict[str, Any]:
    """Everything the record keeps of one trained setting: for a classifier of x_o alone
    (``CLASSIFIER_ONLY``: no posterior, no decoder) its accuracies and training only."""
    model, config, history = result.model, result.config, result.history
    test = splits.test
    trained = {
        "accuracy": accuracy(model, test, n_samples=config.train.eval_samples, seed=seed),
        "probe_accuracy": linear_probe_accuracy(model, splits.train, test, seed=seed),
        "epochs": [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in e.items() if k != "seconds"}
                   for e in history["epochs"]],  # loss terms and validation accuracy per epoch
        "best_epoch": history["best_epoch"], "stopped_early": bool(history.get("stopped_early")),
        "train_seconds": round(history["train_seconds"], 1),
    }
    if config.model.model_type in CLASSIFIER_ONLY:
        return trained
    latents = latent_parameters(model, test)
    kls = kl_per_dimension(latents)
    curves = {kind: collapse_curve(kl.numpy()).round(4).tolist() for kind, kl in kls.items()}
    mean_kl = kls["posterior_vs_prior"].mean(0)
    picked = rows.cpu().numpy()
    embedded = tsne_2d(np.concatenate([latents["mu_p"][picked].numpy(), latents["mu_q"][picked].numpy()]),
                       seed=0)
    embedded = _procrustes(embedded, reference)
    n = len(picked)
    report = coherence_report(model, test, classifiers, seed=seed)
    at_means = {z: coherence(model, test, classifiers, seed=seed, z=z) for z in ("prior_mean", "posterior_mean")}
    generated = generate_missing(model, test, shown, n_samples=1, seed=seed)
    reconstructed = decode_posterior_mean(model, test, shown)
    return {
        **trained,
        "coherence": {m: round(r["coherence"], 4) for m, r in report.items()},
        "coherence_ceiling": {m: round(r["ceiling"], 4) for m, r in report.items()},
        # x_M decoded at mu_p(x_o) and at mu_q(x_o, x_M, y): what separates the causes of low coherence
        "coherence_at": {z: {m: round(v, 4) for m, v in values.items()} for z, values in at_means.items()},
        "collapse": curves,
        "active_dims": int((mean_kl > ACTIVE_NATS).sum()),
        "mean_kl_per_dim": [round(float(v), 3) for v in mean_kl],
        # per kind of KL and dimension, the epsilon (nats) from which Fig. 2 counts it collapsed: the
        # (1 - COLLAPSE_DELTA) quantile over the test points
        "collapse_nats_per_dim": {
            kind: [round(float(v), 3) for v in torch.quantile(kl.double(), 1 - COLLAPSE_DELTA, dim=0)]
            for kind, kl in kls.items()},
        "tsne": {"prior": _decimals(embedded[:n], 1), "posterior": _decimals(embedded[n:], 1)},
        "generated": {m: _uint8_images(images[0]) for m, images in generated.items()},  # x_M from p(z|x_o)
        "reconstructed": {m: _uint8_images(images) for m, images in reconstructed.items()},  # at mu_q
    }


def images_of_the_first_seed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the images (``generated``, ``reconstructed``) of its extra seeds' settings
    emptied: the book shows each setting's first seed, and the images are most of a record's size
    (those of mnist_svhn's 10 extra-seed settings were 0.5 of its 2.3 MB). Their coherence, which the
    error bars use, is kept."""
    first = record["identity"]["seeds"][0]
    for entry in record["settings"].values():
        if entry["setting"]["seed"] != first and "generated" in entry:  # a classifier of x_o alone has none
            entry["generated"], entry["reconstructed"] = {}, {}
    return record


def fixed_points(test, n_points: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, list[int]]]:
    """The test pairs every setting is shown on: ``n_points`` drawn with seed 0 for the t-SNE, and
    the first pair of each class for the images; with their rows and labels as the record keeps them."""
    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:n_points].sort().values
    labels = test.y.cpu()
    shown = torch.tensor([int((labels == c).nonzero()[0, 0]) for c in range(test.n_classes) if (labels == c).any()])
    return rows, shown, {"tsne_rows": rows.tolist(), "tsne_labels": labels[rows].tolist(),  # the t-SNE's pairs
                         "shown_rows": shown.tolist(), "shown_labels": labels[shown].tolist()}  # the images' pairs


def measure_for_record(result, splits: PairedSplits, record: Mapping[str, Any], *, profile: str,
                       seed: int = 0) -> dict[str, Any]:
    """A record entry for a model trained outside the sweep (an explorer's "train this setting"),
    measured as the sweep measures. On the record's data its t-SNE uses the record's fixed test pairs
    and orientation; on other data (another profile's split) its own, kept in the entry
    (``tsne_labels``). The entry says it was trained here (``trained_here``)."""
    same_data = splits.digest() == record["identity"]["data_digest"]
    rows, shown, points = fixed_points(splits.test, len(record["points"]["tsne_rows"]))
    judges = classifier_settings(check_profile(profile))
    classifiers = {m: modality_classifier(splits, m, judges) for m in splits.test.missing}
    measured = measure_setting(result, result.data, rows, shown, classifiers,
                               _reference(record) if same_data else None, seed)
    entry = {"setting": {**{k: getattr(result.config.objective, k) for k in ("omega", "lam", "alpha")}, "seed": seed},
             "config": result.config.to_dict(), **measured, "trained_here": profile}
    if not same_data:
        entry["tsne_labels"] = points["tsne_labels"]
    return json.loads(json.dumps(entry))


# --- the run --------------------------------------------------------------------------------------

def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _identity(grid: Grid, profile: str, seeds: Sequence[int], overrides: Mapping[str, Any], data_digest: str) -> dict:
    """What a record must agree with to be extended or read (as it reads back from JSON: tuples as lists)."""
    return json.loads(json.dumps({"schema": SCHEMA, "grid": grid.name, "config": grid.config,
            "axes": {k: list(v) for k, v in grid.axes.items()}, "defaults": dict(grid.defaults),
            "seed_axis": grid.seed_axis if isinstance(grid.seed_axis, str) else list(grid.seed_axis), "patience": grid.patience, "profile": profile, "seeds": list(seeds),
            "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
            "data_digest": data_digest, "code_version": code_version(),
            **({"layout": grid.layout} if grid.layout != "product" else {})}))  # absent: records before layouts


def load_record(path: Path | str, expected: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A sweep record, validated: its schema, and (with ``expected``, an identity) that it belongs to
    the same grid, profile, data and code. SweepRecordError says what is wrong."""
    path = Path(path)
    record = read_json(path)
    problems = validate_record(record)
    if problems:
        raise SweepRecordError(f"{path} is not a valid sweep record: {'; '.join(problems)}.")
    if expected is not None:
        differs = {k: (record["identity"].get(k), v) for k, v in expected.items() if record["identity"].get(k) != v}
        if differs:
            text = "; ".join(f"{k}: record {a!r} vs now {b!r}" for k, (a, b) in differs.items())
            raise SweepRecordError(f"{path} was written for another grid, profile, data or code version ({text}). "
                                   + _standin_hint(record, differs) +
                                   "Rebuild it (python -m cmmd_lite sweep NAME --rebuild) or write elsewhere (--out).")
    return record


def _standin_hint(record: Mapping[str, Any], differs: Mapping[str, Any]) -> str:
    """Why the data may differ when neither the grid nor the profile did: a record of the SVHN
    stand-in written by another version of its generator (version 1, before 2 made it the same on
    every CPU type, was rendered a little differently from one CPU type to another)."""
    if set(differs) != {"data_digest"} or not record.get("provenance", {}).get("svhn_standin"):
        return ""
    version = record["provenance"].get("svhn_standin_generator", 1)  # not recorded before version 2
    if version != STANDIN_GENERATOR:
        return (f"Its x_M is the SVHN stand-in of generator version {version}, this code draws version "
                f"{STANDIN_GENERATOR} (cmmd_lite.data.svhn_standin): the record can be read, not extended. ")
    cpus = sorted({s.get("machine", {}).get("cpu") for s in record["provenance"].get("sittings", [])} - {None})
    here = machine_info(torch.device("cpu"))["cpu"]
    if not cpus or here in cpus:
        return ""
    return (f"Its x_M is the SVHN stand-in, which this CPU ({here}) renders differently from the one that "
            f"wrote the record ({', '.join(cpus)}), although its generator should not: please report it. ")


def check_configs(record: Mapping[str, Any], path: Path | str = "the record") -> None:
    """Refuse (SweepRecordError) a record whose settings were trained with configs other than the
    ones this code builds for them, e.g. after a default changed (compared as checkpoints are:
    :meth:`~cmmd_lite.config.Config.trains_like`)."""
    identity = record["identity"]
    grid = GRIDS.get(identity["grid"])
    if grid is None:
        raise SweepRecordError(f"{path} is a record of grid {identity['grid']!r}, which this code does not define.")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in identity.get("overrides", {}).items()}
    for key, entry in record["settings"].items():
        setting = {k: tuple(v) if isinstance(v, list) else v for k, v in entry["setting"].items()}  # JSON lists
        now = setting_config(grid, identity["profile"], setting, overrides)
        try:
            then = Config.from_dict(entry["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise SweepRecordError(f"{path}: setting {key} has no readable config ({error}).") from error
        if not then.trains_like(now):
            fields = [k for k in then.diff(now) if k not in ("name", "profile")]
            raise SweepRecordError(f"{path}: setting {key} was trained with another config than this code builds "
                                   f"(differs in {', '.join(fields)}). Rebuild the record "
                                   "(python -m cmmd_lite sweep NAME --rebuild).")


_CLASSIFIER_KEYS = {"setting": dict, "config": dict, "accuracy": float, "probe_accuracy": float, "epochs": list,
                    "train_seconds": float}
_SETTING_KEYS = {**_CLASSIFIER_KEYS, "collapse": dict, "active_dims": int, "tsne": dict, "generated": dict,
                 "reconstructed": dict, "coherence": dict}


def classifier_only(entry: Mapping[str, Any]) -> bool:
    """Whether a record entry is of a classifier of x_o alone (M-x_o, the linear one): no latent measures."""
    model = entry.get("config", {}).get("model", {}) if isinstance(entry.get("config"), dict) else {}
    return isinstance(model, dict) and model.get("model_type") in CLASSIFIER_ONLY


def validate_record(record: Any) -> list[str]:
    """Schema problems of a record (empty when it is valid)."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    problems = [f"missing {key!r}" for key in ("identity", "points", "settings", "provenance") if key not in record]
    if problems:
        return problems
    if record["identity"].get("schema") != SCHEMA:
        return [f"schema {record['identity'].get('schema')!r}, this code reads {SCHEMA}"]
    for key, entry in record["settings"].items():
        for field_name, kind in (_CLASSIFIER_KEYS if classifier_only(entry) else _SETTING_KEYS).items():
            if not isinstance(entry.get(field_name), kind) and not (kind is float and isinstance(entry.get(field_name), int)):
                problems.append(f"setting {key}: {field_name!r} missing or not a {kind.__name__}")
        if isinstance(entry.get("collapse"), dict) and set(entry["collapse"]) != {
                "posterior_vs_prior", "prior_vs_standard", "posterior_vs_standard"}:
            problems.append(f"setting {key}: collapse needs the three curves of Fig. 2")
    return problems


#: how the settings of a sweep run: one after another in this process; in local worker processes;
#: or as tasks of a Ray cluster (an existing one at ``RAY_ADDRESS``, else a local instance).
ENGINES = ("local", "processes", "ray")
_RAY_STARTS = 3  # attempts to start a local Ray node


def _start_ray(ray: Any, workers: int) -> None:
    """Connect to the cluster at ``RAY_ADDRESS``, or start a local Ray node with ``workers`` CPUs.
    Ray gives a local node 30 s to start, too little on a busy machine: a start that timed out is
    tried again, up to :data:`_RAY_STARTS` times."""
    address = os.environ.get("RAY_ADDRESS")
    for attempt in range(1, _RAY_STARTS + 1):
        try:
            ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
            return
        except Exception as error:
            if "timed out during startup" not in str(error) or attempt == _RAY_STARTS:
                raise
            ray.shutdown()
            print(f"[sweep] Ray's local node did not start in time (attempt {attempt} of {_RAY_STARTS}); trying again",
                  file=sys.stderr)


@dataclass
class _Context:
    """What every setting of one sweep is measured with (built once per process)."""

    splits: PairedSplits  # the data of the grid's first setting; its test split, fixed points and judges serve all
    rows: torch.Tensor
    shown: torch.Tensor
    classifiers: dict
    data_config: DataConfig  # what ``splits`` was loaded with
    data_loader: Any = None
    other_data: dict = field(default_factory=dict)  # repr(DataConfig) -> the splits of a setting on other data

    def splits_for(self, config: Config) -> PairedSplits:
        """The data a setting trains on: the context's, or (a grid over e.g. ``max_train``) its own,
        which must share the context's test split, since every setting is measured on the same pairs
        by the same judges."""
        if config.data == self.data_config:
            return self.splits
        key = repr(config.data)
        if key not in self.other_data:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the stand-in warning: the record says so instead
                splits = (self.data_loader or load_paired)(config.data)
            if not same_split(splits.test, self.splits.test):
                raise ValueError(f"a setting's data ({config.data}) has another test split than the grid's first "
                                 "setting; a grid may vary the training data only (e.g. max_train), since every "
                                 "setting is measured on the same test pairs.")
            self.other_data.clear()  # one other dataset at a time
            self.other_data[key] = splits
        return self.other_data[key]


def same_split(a, b) -> bool:
    """Whether two splits hold the same pairs of the same content (roles, indices, labels, sources)."""
    names = a.observed + a.missing
    return (a.observed == b.observed and a.missing == b.missing and torch.equal(a.y.cpu(), b.y.cpu())
            and all(torch.equal(a.index[m].cpu(), b.index[m].cpu()) and a.sources[m].shape == b.sources[m].shape
                    and torch.equal(a.sources[m].cpu(), b.sources[m].cpu()) for m in names))


_CONTEXTS: dict[str, _Context] = {}


def _context(grid: Grid, profile: str, overrides: Mapping[str, Any], data_loader,
             splits: PairedSplits | None = None) -> _Context:
    """The context of a sweep in this process; ``splits``: its data, when the caller loaded it already."""
    key = repr((grid, profile, sorted(overrides.items()), data_loader))
    if key not in _CONTEXTS:
        first = setting_config(grid, profile, grid.settings([0])[0], overrides)
        if splits is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the stand-in warning: the record says so instead
                splits = (data_loader or load_paired)(first.data)
        rows, shown, _ = fixed_points(splits.test, grid.tsne_points)
        judges = classifier_settings(profile)
        _CONTEXTS.clear()  # one sweep's data at a time
        _CONTEXTS[key] = _Context(splits, rows, shown, {m: modality_classifier(splits, m, judges)
                                                        for m in splits.test.missing}, first.data, data_loader)
    return _CONTEXTS[key]


def _train_and_measure(grid: Grid, profile: str, setting: Mapping[str, Any], overrides: Mapping[str, Any],
                       data_loader, device: str | None, reference: np.ndarray | None, progress: bool = False,
                       env: Mapping[str, str] | None = None, threads: int | None = None) -> tuple[dict, bool]:
    """One setting of a sweep, trained (or loaded) and measured: its record entry, and whether it was
    loaded. Runs in this process or in a worker (``env``: the CMMD_* variables to use there)."""
    if env:
        os.environ.update(env)
    if threads:
        torch.set_num_threads(threads)
    context = _context(grid, profile, overrides, data_loader)
    config = setting_config(grid, profile, setting, overrides)
    result = train_or_load(config, data=context.splits_for(config), device=choose_device(device), progress=progress)
    measured = measure_setting(result, result.data, context.rows, context.shown, context.classifiers, reference,
                               setting["seed"])
    entry = {"setting": dict(setting), "config": config.to_dict(), "n_train": len(result.data.train), **measured}
    return json.loads(json.dumps(entry)), result.loaded  # the entry as it reads back


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """In a worker process: exit as soon as the process that started it is gone (a sweep killed with
    ``kill PID`` reaches only the parent; its spawned workers would otherwise train on unseen, holding
    the CPU and the checkpoint locks). The next sweep resumes the interrupted setting from its last epoch."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def _engine(engine: str, workers: int):
    """``submit(function, *args) -> Future`` for ``engine``."""
    if engine == "local":
        def submit(function, *args):
            future: Future = Future()
            future.set_result(function(*args))  # an exception propagates at once: the record is written so far
            return future
        yield submit
    elif engine == "processes":
        import multiprocessing

        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=exit_with_parent) as pool:
            try:
                yield pool.submit
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    else:
        try:
            import ray
        except ImportError as error:
            raise ImportError("engine='ray' needs Ray: pip install 'cmmd-lite[ray]' (or pip install ray).") from error
        if not ray.is_initialized():
            _start_ray(ray, workers)
        remote = ray.remote(num_cpus=1)(_train_and_measure)
        refs = []

        def submit(function, *args):
            refs.append(remote.remote(*args))
            return refs[-1].future()
        try:
            yield submit
        finally:
            for ref in refs:
                ray.cancel(ref)  # no-op for finished tasks


def run_sweep(name: str, profile: str, *, seeds: Sequence[int] = (0,), out: str | Path = DEFAULT_OUT,
              overrides: Mapping[str, Any] | None = None, rebuild: bool = False, device: str | None = None,
              data_loader: Callable[[DataConfig], PairedSplits] | None = None, progress: bool = True,
              limit: int | None = None, log: Callable[[str], None] | None = print, engine: str = "local",
              workers: int = 1, threads_per_worker: int | None = None) -> dict[str, Any]:
    """Train and measure every setting of grid ``name`` (see the module docstring); returns the record.

    ``overrides``: config fields for every setting (``max_train`` to shrink the training set: the
    record says so). ``limit``: stop after that many new settings (the record is complete up to
    there; rerun to continue). ``rebuild``: start a new record even if one exists.

    ``engine`` (:data:`ENGINES`) and ``workers``: settings are independent jobs. ``"processes"`` runs
    ``workers`` of them at once in local processes, ``"ray"`` as Ray tasks (``pip install ray``;
    ``RAY_ADDRESS`` names a cluster, else a local instance with ``workers`` CPUs starts). Each worker
    uses ``threads_per_worker`` torch threads (default: the cores divided by ``workers``). The
    default setting runs first, alone (its t-SNE orients every other); the record keeps the grid's
    order whatever order the jobs finish in, and is the same for every engine.
    """
    if name not in GRIDS:
        raise ValueError(f"unknown sweep {name!r}; choose from: {', '.join(GRIDS)}.")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r}; choose one of {', '.join(ENGINES)}.")
    if int(workers) < 1:
        raise ValueError(f"workers={workers} must be at least 1.")
    grid, profile = GRIDS[name], check_profile(profile)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds={seeds} must be distinct non-negative integers.")
    overrides = dict(overrides or {})
    log = log or (lambda _: None)
    settings = grid.settings(seeds)
    first = setting_config(grid, profile, settings[0], overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stand-in warning: recorded below instead
        splits = (data_loader or load_paired)(first.data)
    identity = _identity(grid, profile, seeds, overrides, splits.digest())
    path = Path(out) / f"{name}-{profile}.json"
    if path.is_file() and not rebuild:
        record = load_record(path, identity)
        check_configs(record, path)
    else:
        record = {"identity": identity, "points": {}, "settings": {}, "provenance": {}}
    torch_device = choose_device(device)
    record["points"] = fixed_points(splits.test, grid.tsne_points)[2]
    if engine == "local":  # the settings run here: on the data loaded above, not loaded again
        _context(grid, profile, overrides, data_loader, splits)
    began = time.perf_counter()
    todo = [s for s in settings if setting_key(s) not in record["settings"]][:limit]
    order = {setting_key(s): i for i, s in enumerate(settings)}
    in_process = engine == "local"
    threads = threads_per_worker or (None if in_process else max(1, (os.cpu_count() or 1) // int(workers)))
    env = {k: v for k, v in os.environ.items() if k.startswith("CMMD_")}
    env[ENV_CACHE_DIR] = str(cache_dir())  # the workers share this process's checkpoints
    bar = tqdm(total=len(settings), initial=len(settings) - len(todo), disable=not progress, unit="setting",
               desc=f"sweep {name} [{profile}]")

    def finished(setting: Mapping[str, Any], done: tuple[dict, bool]) -> None:
        entry, loaded = done
        record["settings"][setting_key(setting)] = entry
        record["settings"] = dict(sorted(record["settings"].items(), key=lambda item: order.get(item[0], len(order))))
        record["provenance"] = _provenance(name, profile, seeds, overrides, out, torch_device, splits,
                                           record["provenance"], time.perf_counter() - began, len(settings),
                                           engine, int(workers))
        write_json(path, compact_points(images_of_the_first_seed(record)), compact=True)  # a few MB to commit
        bar.update(1)
        log(f"[sweep {name}] {setting_key(setting)}: accuracy {entry['accuracy']:.4f}, "
            f"{len(entry['epochs'])} epochs, {'loaded' if loaded else 'trained'}")

    def job(setting: Mapping[str, Any], reference: np.ndarray | None) -> tuple:
        return (grid, profile, setting, overrides, data_loader, None if device is None else str(torch_device),
                reference, progress and in_process, None if in_process else env, threads)

    try:
        with _engine(engine, int(workers)) as submit:
            reference = _reference(record)
            if reference is None and todo:  # the first setting's map (as recorded) orients every other one
                setting = todo.pop(0)
                finished(setting, submit(_train_and_measure, *job(setting, None)).result())
                reference = _reference(record)
            futures = {submit(_train_and_measure, *job(setting, reference)): setting for setting in todo}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    finally:
        bar.close()
    return record


# --- reading a committed record (the book) ----------------------------------------------------------

#: where a record is downloaded from outside a checkout (e.g. on Colab): the repository of the book's
#: _config.yml, at the tag of this version
RECORDS_URL = "https://raw.githubusercontent.com/cmmd-lite/cmmd_lite/v{version}/results/sweeps/{file}"


def recorded(name: str, profile: str = "laptop", *, folder: Path | str | None = None) -> dict[str, Any]:
    """The committed record of grid ``name`` in ``profile``, validated (schema, and that every
    setting's config is the one this code builds: :func:`check_configs`).

    Looked up in ``folder`` (default: ``results/sweeps`` of this source checkout), then in the cache
    (``records/``), else downloaded from :data:`RECORDS_URL` into the cache (unless offline).
    Raises SweepRecordError (what is wrong and how to rebuild it) or MissingRecordError.
    """
    from . import __version__, paths

    if name not in GRIDS:
        raise ValueError(f"unknown sweep {name!r}; choose from: {', '.join(GRIDS)}.")
    file = f"{name}-{check_profile(profile)}.json"
    checkout = Path(paths.__file__).resolve().parent.parent / DEFAULT_OUT
    places = [Path(folder)] if folder is not None else [checkout, paths.cache_dir("records")]
    for place in places:
        if (place / file).is_file():
            return _checked(place / file)
    url = RECORDS_URL.format(version=__version__, file=file)
    if folder is None and not paths.offline():
        import urllib.request

        target = paths.cache_dir("records") / file
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                write_json(target, json.loads(response.read()))
            return _checked(target)
        except (OSError, ValueError) as error:
            reason = f"downloading {url} failed ({type(error).__name__}: {error})"
    else:
        reason = "downloads are off" if folder is None else "no download for an explicit folder"
    raise MissingRecordError(f"no record {file} in {', '.join(map(str, places))}, and {reason}. Record it with "
                             f"python -m cmmd_lite sweep {name} --profile {profile}, or copy it there.")


class MissingRecordError(SweepRecordError, FileNotFoundError):
    """No committed record where :func:`recorded` looks."""


def _checked(path: Path) -> dict[str, Any]:
    record = load_record(path)
    check_configs(record, path)
    return record


_SELECTION_WORDS = {"val_accuracy": "accuracy", "val_loss": "objective"}  # Config.selection() -> what it watches


def describe_record(record: Mapping[str, Any]) -> str:
    """Where a record came from, in one line: grid, profile, settings, training set, machine, dates,
    commits and wall time."""
    identity, provenance = record["identity"], record["provenance"]
    sittings = provenance.get("sittings", [])
    machines = sorted({s["machine"].get("gpu") or f"{s['machine'].get('cpu_cores_usable', '?')} cores of "
                       f"{s['machine'].get('cpu', '?')}" for s in sittings})
    commits = sorted({s.get("commit") or "?" for s in sittings})
    dates = sorted({s["started_utc"][:10] for s in sittings})
    wall = sum(s.get("wall_seconds", 0.0) for s in sittings)
    shrunk = provenance.get("shrunk_training_set")
    cap = next(iter(record["settings"].values()))["config"]["train"]["epochs"] if record["settings"] else "?"
    pairs = {e["n_train"] for e in record["settings"].values() if "n_train" in e}  # a grid over max_train
    watched = {_SELECTION_WORDS[Config.from_dict(e["config"]).selection()] for e in record["settings"].values()}
    return (f"sweep {identity['grid']} ({identity['profile']} profile): {len(record['settings'])} of "
            f"{provenance.get('settings_expected', '?')} settings recorded, each trained until its validation "
            f"{' or '.join(sorted(watched)) or 'accuracy'} had not improved for {identity['patience']} epochs "
            f"(at most {cap})"
            + (f", {shrunk:,} training pairs per setting" if shrunk else "")
            + (f", {min(pairs):,} to {max(pairs):,} training pairs by setting" if len(pairs) > 1 else "")
            + (", SVHN stand-in" if provenance.get("svhn_standin") else "")
            + f"; {len(sittings)} sitting(s) on {', '.join(machines) or '?'}, {', '.join(dates) or '?'}, "
              f"commit {', '.join(commits)}, {wall / 3600:.1f} h of wall time")


def _reference(record: Mapping[str, Any]) -> np.ndarray | None:
    """The recorded t-SNE of the record's first setting (prior and posterior points), if any."""
    if not record["settings"]:
        return None
    first = next(iter(record["settings"].values()))["tsne"]
    return np.concatenate([decode_points(first["prior"]), decode_points(first["posterior"])])


def _provenance(name, profile, seeds, overrides, out, device, splits, previous, wall, n_settings, engine="local",
                workers=1) -> dict[str, Any]:
    command = ["python", "-m", "cmmd_lite", "sweep", name, "--profile", profile, "--seeds", ",".join(map(str, seeds))]
    if engine != "local" or workers != 1:
        command += ["--engine", engine, "--workers", str(workers)]
    for key, value in overrides.items():
        command += ["--override", f"{key}={','.join(map(str, value)) if isinstance(value, (tuple, list)) else value}"]
    command += ["--out", str(out)]
    sittings = list(previous.get("sittings", []))
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not sittings or sittings[-1].get("pid_wall_started") != _SITTING_START:
        sittings.append({"started_utc": _sitting_started_utc(), "pid_wall_started": _SITTING_START, "commit": _commit(),
                         "code_hash": code_hash(), "machine": machine_info(device), "engine": engine,
                         "workers": workers})
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    sittings[-1].update(wall_seconds=round(wall, 1), ended_utc=now,
                        load_1m=[*sittings[-1].get("load_1m", []), load])  # the machine's load after each setting
    return {"command": shlex.join(command), "profile": profile,
            "settings_expected": n_settings, "svhn_standin": splits.uses_standin, "data": splits.summary(),
            **({"svhn_standin_generator": STANDIN_GENERATOR} if splits.uses_standin else {}),
            "shrunk_training_set": overrides.get("max_train"), "sittings": sittings,
            "torch": torch.__version__}


_SITTING_START = f"{os.getpid()}-{time.time():.0f}"  # one sitting: this process


def _sitting_started_utc(sitting_start: str = _SITTING_START) -> str:
    """When a sitting began, read from its ``pid_wall_started`` key (process id, then Unix time)."""
    started = datetime.fromtimestamp(int(sitting_start.rsplit("-", 1)[1]), timezone.utc)
    return started.isoformat(timespec="seconds")


__all__ = ["CODE_VERSION", "ENGINES", "GRIDS", "Grid", "MissingRecordError", "RECORDS_URL", "SweepRecordError", "check_configs",
           "code_hash", "code_version", "describe_record", "fixed_points", "measure_for_record", "recorded", "decode_images", "load_record", "run_sweep",
           "validate_record"]
