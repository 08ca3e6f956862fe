"""Training: one function for the CLI, the tests and the notebooks; train-or-load by config.

A checkpoint folder, keyed by the config and a digest of the data, holds ``config.json``,
``state.pt`` (model, optimiser, random states and history: one atomic file per epoch, to resume),
``best.pt`` (the weights of the best *validation* epoch: highest accuracy, or at alpha = 0 lowest
loss, :meth:`~cmmd_lite.config.Config.selection`) and ``history.json`` (a readable copy of the
per-epoch loss terms, validation scores and timings). Every file is
written through :mod:`cmmd_lite.store`: atomically, with a checksum that is verified on load,
under a lock per folder, and tensors are loaded with ``weights_only=True``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from . import paths
from .config import Config, ObjectiveConfig
from .store import ArtefactError, fingerprint, load_tensors, locked, read_json, save_tensors, write_json
from .data.paired import PairedData, PairedSplits, load_paired
from .evaluate import accuracy, evaluating
from .fitting import FitLoop, adam, autocast_for, gradient_step, shuffled_batches
from .baselines import model_class
from .losses import kl_warmup_weight
from .model import MultimodalModel
from .utils import choose_device, seed_everything

TERMS = ("loss", "nll_x_m", "nll_y", "kl", "mmd")
# Seconds between saves of the resumable state (state.pt): a kill loses at most this much training,
# and the paper profile's 390 MB state is not written every epoch. best.pt is written on every improvement.
SAVE_EVERY_S = 120.0
_now = time.monotonic  # the cadence's clock
_CHECK_EVERY = 25  # steps between host syncs (finiteness check, progress bar)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite during training."""


# A checkpoint cannot be used: another config, other data, or a corrupted or unreadable file. The
# store raises the same class for every artefact (classifiers, pairings, sweep records).
CheckpointError = ArtefactError


@dataclass
class TrainResult:
    """What :func:`train_or_load` returns."""

    model: MultimodalModel  # CMMD or a baseline (config.model.model_type)
    config: Config
    history: dict[str, Any]
    data: PairedSplits
    checkpoint_dir: Path | None
    loaded: bool  # True when an existing checkpoint was reused


def build_model(config: Config, data: PairedData) -> MultimodalModel:
    """A fresh model of ``config.model.model_type`` (CMMD or a baseline) sized for ``data``
    (input sizes come from the data, the rest from the config)."""
    return model_class(config.model.model_type)(data.x_o_dim, data.x_m_dim, data.n_classes, config.model,
                                                 x_m_shapes=data.x_m_shapes)


def data_signature(data: PairedSplits) -> dict[str, Any]:
    """What a checkpoint must agree with besides the config: shapes, roles and a digest of the
    content of every split (:meth:`PairedSplits.digest`), so other data never loads this model."""
    train = data.train
    return {"name": data.name, "x_o_dim": train.x_o_dim, "x_m_dim": train.x_m_dim, "n_classes": train.n_classes,
            "n_train": len(train), "n_val": len(data.val), "observed": list(train.observed),
            "missing": list(train.missing), "x_m_shapes": [list(s) for s in train.x_m_shapes],
            "standin": sorted(train.standin), "digest": data.digest()}


def checkpoint_dir_for(config: Config, data: PairedSplits, root: Path | str | None = None) -> Path:
    """``<cache>/checkpoints/<dataset>-<model_type>-<key>``: one folder per trained model, keyed by
    the config's :meth:`~cmmd_lite.config.Config.fingerprint` and the data's digest. Labels (``name``,
    ``profile``) are not part of it, so the book, ``reproduce`` and the CLI share checkpoints."""
    root = Path(root) if root is not None else paths.cache_dir("checkpoints")
    label = f"{config.data.dataset}-{config.model.model_type}"
    return root / f"{label}-{fingerprint([config.fingerprint(), data.digest()])}"


# --- files --------------------------------------------------------------------------------
# config.json  {"config", "data"}: what the folder was trained with
# state.pt     the resumable unit, one atomic file per epoch: model, optimiser, random states, history
# best.pt      {"epoch", "weights"}: the best validation epoch's weights, written when it improves
# history.json a readable copy of the history (written after state.pt; never read to resume)

def _check_matches(folder: Path, config: Config | None, signature: dict[str, Any] | None) -> Config:
    """The config stored in ``folder``; CheckpointError if it differs from ``config`` or the data."""
    stored = read_json(folder / "config.json")
    try:
        stored_config = Config.from_dict(stored["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{folder / 'config.json'} does not describe a cmmd_lite config ({error}); "
                              f"move {folder} away (or pass retrain=True) to rebuild it.") from error
    if config is not None and not stored_config.trains_like(config):
        changes = "; ".join(f"{k}: checkpoint {a!r} vs requested {b!r}"
                            for k, (a, b) in stored_config.diff(config).items() if k not in ("name", "profile"))
        raise CheckpointError(f"the checkpoint in {folder} was trained with another config ({changes}). "
                              "Train one for this config (train_or_load does), or load it without a config.")
    if signature is not None and stored.get("data") != signature:
        differs = sorted(k for k in set(signature) | set(stored.get("data") or {})
                         if (stored.get("data") or {}).get(k) != signature.get(k))
        raise CheckpointError(f"the checkpoint in {folder} was trained on other data (differs in: "
                              f"{', '.join(differs)}): {stored.get('data')} vs now {signature}.")
    return stored_config


def _best_weights(folder: Path, history: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The weights of ``history``'s best epoch, from best.pt (checked to be that epoch's)."""
    best_epoch = history.get("best_epoch")
    if best_epoch is None or not (folder / "best.pt").is_file():
        raise CheckpointError(f"{folder} names no best epoch or lacks best.pt; it holds no finished checkpoint.")
    best = load_tensors(folder / "best.pt", device)
    if not isinstance(best, dict) or "weights" not in best:  # a checkpoint written before this format
        return best
    if best.get("epoch") != best_epoch:
        raise CheckpointError(f"{folder} is inconsistent: its history names epoch {best_epoch} as the best, but "
                              f"best.pt holds epoch {best.get('epoch')}. Move the folder away (or pass retrain=True).")
    return best["weights"]


def load_checkpoint(folder: Path | str, config: Config | None = None, data: PairedSplits | None = None,
                    device: str | torch.device | None = None) -> tuple[MultimodalModel, Config, dict[str, Any]]:
    """(model with the best validation weights, its config, its history) from a checkpoint folder.

    Passing ``config`` and/or ``data`` checks that the checkpoint was trained with exactly them.
    Every weights file is verified against its checksum before it is loaded.
    """
    folder, device = Path(folder), choose_device(str(device) if device else None)
    if not (folder / "config.json").is_file() or not (folder / "best.pt").is_file():
        raise CheckpointError(f"{folder} holds no finished checkpoint (config.json and best.pt are needed).")
    stored_config = _check_matches(folder, config, data_signature(data) if data is not None else None)
    stored_data = read_json(folder / "config.json")["data"]
    model = model_class(stored_config.model.model_type)(
        stored_data["x_o_dim"], stored_data["x_m_dim"], stored_data["n_classes"], stored_config.model,
        x_m_shapes=[tuple(s) for s in stored_data["x_m_shapes"]]).to(device)
    history = read_json(folder / "history.json")
    state = _best_weights(folder, history, device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"the weights in {folder / 'best.pt'} do not fit the model its config describes: {error}") from error
    return model, stored_config, history


# --- the training loop ----------------------------------------------------------------------

def fit(model: MultimodalModel, data: PairedSplits, config: Config, *, checkpoint_dir: Path | None = None,
        progress: bool = True, on_epoch: Callable[[dict[str, Any], MultimodalModel], None] | None = None,
        save_every_s: float = SAVE_EVERY_S) -> dict[str, Any]:
    """Minimise the negative of Eq. 5 with Adam; keep the weights of the best validation epoch
    (the loop of :mod:`cmmd_lite.fitting`, which also fits the coherence classifiers).

    The best epoch is chosen by :meth:`Config.selection <cmmd_lite.config.Config.selection>`: the
    highest validation accuracy (``history["selection"] == "val_accuracy"``), or at alpha = 0, where
    the classifier is never trained, the lowest :func:`validation_loss` (``"val_loss"``, recorded per
    epoch as ``val_loss``, the best as ``best_val_loss``); ``patience`` counts epochs since it.
    ``best_val_accuracy`` is the kept epoch's validation accuracy. With ``kl_warmup_epochs`` the KL
    weight ramps up step by step (:func:`~cmmd_lite.losses.kl_warmup_weight`).

    Batches are sliced from tensors on the model's device (``data`` is moved there once), in an
    order drawn from a seeded generator. With ``checkpoint_dir`` the resumable state (model,
    optimiser, random states, history and the best weights so far) is saved as one atomic file at
    the end of the first epoch that finishes ``save_every_s`` seconds after the last save (0: every
    epoch) and at the end; the best weights are written to best.pt whenever they improve. A run
    interrupted midway resumes from its last saved state and, being seeded, retrains the epochs
    since then to the same result. ``on_epoch(record, model)`` is called
    after each epoch (live plots, early stopping by raising). Raises NonFiniteLossError naming the
    terms and the epoch when a loss term stops being finite (finished epochs stay on disk).
    """
    config.validate()
    device = next(model.parameters()).device
    data = data.for_model(model)
    train, val = data.train, data.val
    if len(train) < 2:
        raise ValueError(f"the training split has {len(train)} pairs; at least 2 are needed.")
    selection = config.selection()
    if len(val) < (2 if selection == "val_loss" else 1):
        raise ValueError(f"the validation split has {len(val)} pairs: model selection by {selection} needs "
                         f"{'two (the MMD estimate needs two samples)' if selection == 'val_loss' else 'one'} "
                         "(raise DataConfig.val_fraction, or pass a larger val split).")
    optimizer = adam(model.parameters(), lr=config.train.lr)
    shuffle = torch.Generator().manual_seed(config.train.seed)
    loop = FitLoop(model, minimize=selection == "val_loss", patience=config.train.patience)
    seed_everything(config.train.seed)
    history: dict[str, Any] = {"epochs": [], "best_epoch": None, "best_val_accuracy": -1.0, "completed": False,
                               "device": str(device), "train_seconds": 0.0, "selection": selection}
    if selection == "val_loss":
        history["best_val_loss"] = None
    if checkpoint_dir is not None and (checkpoint_dir / "state.pt").is_file():
        state = load_tensors(checkpoint_dir / "state.pt", device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        history = json.loads(state["history"])
        history.setdefault("selection", "val_accuracy")  # a state saved before the history named it
        loop.resume(len(history["epochs"]), history["best_epoch"], history[f"best_{selection}"], state.get("best"))

    batch_size, n_train, start_epoch = config.train.batch_size, len(train), loop.epochs_done
    steps_per_epoch = math.ceil(n_train / batch_size)
    last_save, saved_epochs = _now(), start_epoch
    bar = tqdm(total=config.train.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
               disable=not progress, desc=f"{config.name} [{config.profile}]", unit="step", mininterval=1.0)
    try:
        for epoch in loop.epochs(config.train.epochs):  # none when a resumed run had run out of patience
            began = time.perf_counter()

            def report(steps_done: int, means: dict[str, float]) -> None:
                bar.update((epoch - 1) * steps_per_epoch + steps_done - bar.n)
                bar.set_postfix({t: f"{v:.3g}" for t, v in means.items()}, refresh=False)

            try:
                means = train_epoch(model, optimizer, train, config.objective, batch_size, shuffle,
                                    epoch=epoch, precision=config.train.precision, report=report)
            except NonFiniteLossError as error:
                if checkpoint_dir is None:
                    kept = "No checkpoint folder was given, so nothing was saved."
                elif saved_epochs == 0:
                    kept = "No training state had been saved yet, so no checkpoint was kept."
                else:
                    kept = f"The state after epoch {saved_epochs} is kept in {checkpoint_dir}."
                raise NonFiniteLossError(f"{error} {kept}") from None
            record = {"epoch": epoch, **means}
            record["val_accuracy"] = accuracy(model, val, n_samples=config.train.eval_samples, seed=config.train.seed)
            if selection == "val_loss":
                record["val_loss"] = validation_loss(model, val, config.objective, batch_size, seed=config.train.seed)
                if not math.isfinite(record["val_loss"]):
                    raise NonFiniteLossError(f"the validation loss became {record['val_loss']} in epoch {epoch}. "
                                             "Try a smaller learning rate (lr), or check the inputs for extreme values.")
            record["seconds"] = time.perf_counter() - began
            history["epochs"].append(record)
            history["train_seconds"] += record["seconds"]
            bar.set_postfix({"loss": f"{record['loss']:.4g}", "val_acc": f"{record['val_accuracy']:.4f}",
                             **({"val_loss": f"{record['val_loss']:.4g}"} if selection == "val_loss" else {})})
            improved = loop.end_epoch(record[selection])
            if improved:
                history["best_val_accuracy"], history["best_epoch"] = record["val_accuracy"], epoch
                if selection == "val_loss":
                    history["best_val_loss"] = record["val_loss"]
            stopping = loop.patience_ran_out
            if stopping:
                history["stopped_early"] = True
            if checkpoint_dir is not None:
                # best.pt when the weights improve; state.pt (where a resumed run starts; it carries its
                # own copy of the best weights) on the cadence and after the last epoch
                if improved:
                    save_tensors(checkpoint_dir / "best.pt", {"epoch": epoch, "weights": loop.best_weights})
                now = _now()
                if now - last_save >= save_every_s or epoch == config.train.epochs or stopping:
                    save_tensors(checkpoint_dir / "state.pt",
                                 _resume_state(model, optimizer, shuffle, device, history, loop.best_weights))
                    last_save, saved_epochs = now, epoch
                write_json(checkpoint_dir / "history.json", history)
            if on_epoch is not None:
                on_epoch(record, model)
    finally:
        bar.close()
    loop.keep_best()
    history["completed"] = True
    if checkpoint_dir is not None:
        write_json(checkpoint_dir / "history.json", history)
    return history


def _resume_state(model: MultimodalModel, optimizer: torch.optim.Optimizer, shuffle: torch.Generator,
                  device: torch.device, history: dict[str, Any],
                  best_state: dict[str, torch.Tensor] | None) -> dict[str, Any]:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "shuffle_rng": shuffle.get_state(), "torch_rng": torch.get_rng_state(), "history": json.dumps(history),
             "best": best_state}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


@torch.no_grad()
def validation_loss(model: MultimodalModel, val: PairedData, objective: ObjectiveConfig, batch_size: int, *,
                    seed: int = 0) -> float:
    """The model's own objective on ``val``, averaged per pair: what ``fit`` selects epochs by at alpha = 0.

    The training loss (negative Eq. 5 for CMMD, the baseline's bound), without warm-up (full KL
    weight, so that epochs are comparable) and with the classifier's term weighted by ``alpha``, in
    evaluation mode (dropout off), with noise drawn from ``seed`` (the same draws every epoch) without
    touching the training's random state. Batches hold at least ``batch_size`` pairs (the last one
    absorbs the remainder), as the MMD is a batch statistic. MMVAE's DReG is a gradient estimator of
    the IWAE bound, so its value is that bound's.
    """
    device = next(model.parameters()).device
    val = val.for_model(model)
    if objective.mmvae_bound == "dreg":
        objective = replace(objective, mmvae_bound="iwae")  # the surrogate's value is not the bound
    total = 0.0
    batches = torch.arange(len(val), device=device).tensor_split(max(1, len(val) // batch_size))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), evaluating(model):
        torch.manual_seed(seed)
        for rows in batches:  # summed on the device, read back once
            total = total + model.objective(*val.batch(rows), objective, validate=False).loss * len(rows)
    return float(total) / len(val)


def train_epoch(model: MultimodalModel, optimizer: torch.optim.Optimizer, train: PairedData, objective: ObjectiveConfig,
                batch_size: int, shuffle: torch.Generator, *, epoch: int = 1, precision: str = "fp32",
                report: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """One pass over ``train`` in an order drawn from ``shuffle``; the mean of each term of Eq. 5.

    The KL weight of each step is :func:`~cmmd_lite.losses.kl_warmup_weight` at epoch ``epoch``
    (counted from 1) and the fraction of its steps done before it. ``precision``: that of
    ``TrainConfig.precision`` (:func:`~cmmd_lite.fitting.autocast_for`).

    Batches are index gathers on tensors already on the model's device. Every ``_CHECK_EVERY``
    steps the running means are read back once (one host sync), checked for NaN/inf and passed
    to ``report(steps_done, means)``.
    """
    device = next(model.parameters()).device
    model.train()
    batches = shuffled_batches(len(train), batch_size, shuffle, device)
    sums = torch.zeros(len(TERMS), device=device)
    seen, n_steps = 0, len(batches)
    for step, rows in enumerate(batches):
        if len(rows) >= 2:  # the MMD estimate needs two samples
            kl_weight = kl_warmup_weight(objective.kl_warmup_epochs, epoch, step / n_steps)
            with autocast_for(precision, device):
                terms = model.objective(*train.batch(rows), objective, validate=False, kl_weight=kl_weight)
            gradient_step(optimizer, terms.loss)
            sums += torch.stack([getattr(terms, t).detach() for t in TERMS]) * len(rows)
            seen += len(rows)
        if (step + 1) % _CHECK_EVERY == 0 or step + 1 == n_steps:
            means = dict(zip(TERMS, (sums / seen).tolist()))
            bad = [t for t, v in means.items() if not math.isfinite(v)]
            if bad:
                culprit = next((t for t in bad if t != "loss"), "loss")
                raise NonFiniteLossError(
                    f"the loss term {culprit!r} became {means[culprit]} in epoch {epoch} (non-finite terms: {bad}). "
                    "Try a smaller learning rate (lr), a smaller lam or alpha, or check the inputs for extreme values.")
            if report is not None:
                report(step + 1, means)
    return means


def train_or_load(config: Config, *, data: PairedSplits | None = None, device: str | torch.device | None = None,
                  checkpoint_root: Path | str | None = None, retrain: bool = False, progress: bool = True,
                  on_epoch: Callable[[dict[str, Any], MultimodalModel], None] | None = None,
                  save_every_s: float = SAVE_EVERY_S) -> TrainResult:
    """Reuse the finished checkpoint trained with exactly this config and data, else train (resuming
    an interrupted run) and save one. ``data`` defaults to ``load_paired(config.data)``.

    The checkpoint folder is locked while it is built: a second run of the same config and data
    waits for the first and then loads its result. A finished checkpoint in a read-only cache
    loads. ``retrain=True`` trains into a fresh folder and replaces the old one only once the new
    one is finished, so nothing is lost when retraining fails.
    """
    config.validate()
    device = choose_device(str(device) if device else None)
    data = (data or load_paired(config.data)).to(device)
    signature = data_signature(data)
    folder = checkpoint_dir_for(config, data, Path(checkpoint_root) if checkpoint_root else None)
    with locked(folder.parent / f".{folder.name}.lock", what=f"the checkpoint of {config.name}"):
        if not retrain and _finished(folder):
            model, _, history = load_checkpoint(folder, config, data, device)
            return TrainResult(model, config, history, data, folder, loaded=True)
        target = folder.with_name(f".{folder.name}.retrain-{os.getpid()}") if retrain else folder
        if retrain and target.exists():
            shutil.rmtree(target)
        if (target / "config.json").is_file():
            _check_matches(target, config, signature)
        else:
            write_json(target / "config.json", {"config": config.to_dict(), "data": signature})
        seed_everything(config.train.seed)  # identical initial weights for identical configs
        model = build_model(config, data.train).to(device)
        history = fit(model, data, config, checkpoint_dir=target, progress=progress, on_epoch=on_epoch,
                      save_every_s=save_every_s)
        if retrain:
            _replace_folder(target, folder)
    return TrainResult(model, config, history, data, folder, loaded=False)


def _finished(folder: Path) -> bool:
    if not ((folder / "history.json").is_file() and (folder / "best.pt").is_file()):
        return False
    return bool(read_json(folder / "history.json").get("completed"))


def _replace_folder(new: Path, old: Path) -> None:
    """Put the finished folder ``new`` where ``old`` is (two renames; the old one is then deleted)."""
    retired = old.with_name(f".{old.name}.old-{os.getpid()}")
    if old.exists():
        os.replace(old, retired)
    os.replace(new, old)
    shutil.rmtree(retired, ignore_errors=True)
