"""Training: one function for the CLI, the tests and the notebooks; train-or-load by config.

A checkpoint folder holds ``config.json``, ``history.json`` (per-epoch loss terms, validation
accuracy, timings), ``best.pt`` (the state_dict of the epoch with the best *validation*
accuracy) and ``last.pt`` (model, optimiser and random states, to resume). Tensors are loaded
with ``weights_only=True``.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from . import paths
from .config import Config, ObjectiveConfig
from .data.paired import PairedData, PairedSplits, load_paired
from .evaluate import accuracy
from .baselines import model_class
from .model import MultimodalModel
from .utils import choose_device, seed_everything

TERMS = ("loss", "nll_x_m", "nll_y", "kl", "mmd")
_CHECK_EVERY = 25  # steps between host syncs (finiteness check, progress bar)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite during training."""


class CheckpointError(ValueError):
    """A checkpoint cannot be used: another config, other data, or an unreadable file."""


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
    """What a checkpoint must agree with besides the config."""
    train = data.train
    return {"name": data.name, "x_o_dim": train.x_o_dim, "x_m_dim": train.x_m_dim, "n_classes": train.n_classes,
            "n_train": len(train), "n_val": len(data.val), "observed": list(train.observed),
            "missing": list(train.missing), "x_m_shapes": [list(s) for s in train.x_m_shapes],
            "standin": sorted(train.standin)}


def checkpoint_dir_for(config: Config, root: Path | None = None) -> Path:
    """``<cache>/checkpoints/<name>[-<model_type>]-<profile>-<fingerprint>``: one folder per distinct config."""
    root = Path(root) if root is not None else paths.cache_dir("checkpoints")
    model_type = config.model.model_type
    label = config.name if model_type == "cmmd" else f"{config.name}-{model_type}"
    return root / f"{label}-{config.profile}-{config.fingerprint()}"


# --- files --------------------------------------------------------------------------------

def _save_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".json":
        tmp.write_text(json.dumps(obj, indent=1))
    else:
        torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_tensors(path: Path, device: torch.device) -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
        raise CheckpointError(f"cannot read checkpoint file {path} ({type(error).__name__}: {error}). "
                              f"It is corrupted or not a cmmd_lite checkpoint; move it away to retrain.") from error


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read {path} ({error}); move the folder {path.parent} away to retrain.") from error


def _check_matches(folder: Path, config: Config | None, signature: dict[str, Any] | None) -> Config:
    """The config stored in ``folder``; CheckpointError if it differs from ``config`` or the data."""
    stored = _read_json(folder / "config.json")
    stored_config = Config.from_dict(stored["config"])
    if config is not None and stored_config != config:
        changes = "; ".join(f"{k}: checkpoint {a!r} vs requested {b!r}" for k, (a, b) in stored_config.diff(config).items())
        raise CheckpointError(f"the checkpoint in {folder} was trained with another config ({changes}). "
                              "Train one for this config (train_or_load does), or load it without a config.")
    if signature is not None and stored.get("data") != signature:
        raise CheckpointError(f"the checkpoint in {folder} was trained on other data: {stored.get('data')} "
                              f"vs now {signature}.")
    return stored_config


def load_checkpoint(folder: Path | str, config: Config | None = None, data: PairedSplits | None = None,
                    device: str | torch.device | None = None) -> tuple[MultimodalModel, Config, dict[str, Any]]:
    """(model with the best validation weights, its config, its history) from a checkpoint folder.

    Passing ``config`` and/or ``data`` checks that the checkpoint was trained with exactly them.
    """
    folder, device = Path(folder), choose_device(str(device) if device else None)
    if not (folder / "config.json").is_file() or not (folder / "best.pt").is_file():
        raise CheckpointError(f"{folder} holds no finished checkpoint (config.json and best.pt are needed).")
    stored_config = _check_matches(folder, config, data_signature(data) if data is not None else None)
    stored_data = _read_json(folder / "config.json")["data"]
    model = model_class(stored_config.model.model_type)(
        stored_data["x_o_dim"], stored_data["x_m_dim"], stored_data["n_classes"], stored_config.model,
        x_m_shapes=[tuple(s) for s in stored_data["x_m_shapes"]]).to(device)
    state = _load_tensors(folder / "best.pt", device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"the weights in {folder / 'best.pt'} do not fit the model its config describes: {error}") from error
    return model, stored_config, _read_json(folder / "history.json")


# --- the training loop ----------------------------------------------------------------------

def fit(model: MultimodalModel, data: PairedSplits, config: Config, *, checkpoint_dir: Path | None = None,
        progress: bool = True, on_epoch: Callable[[dict[str, Any], MultimodalModel], None] | None = None) -> dict[str, Any]:
    """Minimise the negative of Eq. 5 with Adam; keep the weights of the best validation epoch.

    Batches are sliced from tensors on the model's device (``data`` is moved there once), in an
    order drawn from a seeded generator. With ``checkpoint_dir`` the state is saved after every epoch and a run
    interrupted midway resumes from its last finished epoch. ``on_epoch(record, model)`` is called
    after each epoch (live plots, early stopping by raising). Raises NonFiniteLossError naming the
    term and epoch when a loss term stops being finite (the last good epoch stays on disk).
    """
    config.validate()
    device = next(model.parameters()).device
    data = data.for_model(model)
    train, val = data.train, data.val
    if len(train) < 2:
        raise ValueError(f"the training split has {len(train)} pairs; at least 2 are needed.")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    shuffle = torch.Generator().manual_seed(config.train.seed)
    seed_everything(config.train.seed)
    history: dict[str, Any] = {"epochs": [], "best_epoch": None, "best_val_accuracy": -1.0, "completed": False,
                               "device": str(device), "train_seconds": 0.0}
    start_epoch, best_state = 0, None
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        last = checkpoint_dir / "last.pt"
        if last.is_file():
            state = _load_tensors(last, device)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            shuffle.set_state(state["shuffle_rng"].cpu())
            torch.set_rng_state(state["torch_rng"].cpu())
            if device.type == "cuda" and "cuda_rng" in state:
                torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
            history = _read_json(checkpoint_dir / "history.json")
            start_epoch = len(history["epochs"])
            if (checkpoint_dir / "best.pt").is_file():
                best_state = _load_tensors(checkpoint_dir / "best.pt", device)

    batch_size, n_train = config.train.batch_size, len(train)
    steps_per_epoch = math.ceil(n_train / batch_size)
    bar = tqdm(total=config.train.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
               disable=not progress, desc=f"{config.name} [{config.profile}]", unit="step", mininterval=1.0)
    try:
        for epoch in range(start_epoch, config.train.epochs):
            began = time.perf_counter()

            def report(steps_done: int, means: dict[str, float]) -> None:
                bar.update(epoch * steps_per_epoch + steps_done - bar.n)
                bar.set_postfix({t: f"{v:.3g}" for t, v in means.items()}, refresh=False)

            try:
                means = train_epoch(model, optimizer, train, config.objective, batch_size, shuffle,
                                    epoch=epoch + 1, report=report)
            except NonFiniteLossError as error:
                kept = (f"The last finished epoch is kept in {checkpoint_dir}." if checkpoint_dir is not None
                        else "No checkpoint folder was given, so nothing was saved.")
                raise NonFiniteLossError(f"{error} {kept}") from None
            record = {"epoch": epoch + 1, **means}
            record["val_accuracy"] = accuracy(model, val, n_samples=config.train.eval_samples, seed=config.train.seed)
            record["seconds"] = time.perf_counter() - began
            history["epochs"].append(record)
            history["train_seconds"] += record["seconds"]
            bar.set_postfix({"loss": f"{record['loss']:.4g}", "val_acc": f"{record['val_accuracy']:.4f}"})
            if record["val_accuracy"] > history["best_val_accuracy"]:
                history["best_val_accuracy"], history["best_epoch"] = record["val_accuracy"], epoch + 1
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                if checkpoint_dir is not None:
                    _save_atomic(best_state, checkpoint_dir / "best.pt")
            if checkpoint_dir is not None:
                _save_atomic(_resume_state(model, optimizer, shuffle, device), checkpoint_dir / "last.pt")
                _save_atomic(history, checkpoint_dir / "history.json")
            if on_epoch is not None:
                on_epoch(record, model)
    finally:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["completed"] = True
    if checkpoint_dir is not None:
        _save_atomic(history, checkpoint_dir / "history.json")
    return history


def _resume_state(model: MultimodalModel, optimizer: torch.optim.Optimizer, shuffle: torch.Generator,
                  device: torch.device) -> dict[str, Any]:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "shuffle_rng": shuffle.get_state(), "torch_rng": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    return state


def train_epoch(model: MultimodalModel, optimizer: torch.optim.Optimizer, train: PairedData, objective: ObjectiveConfig,
                batch_size: int, shuffle: torch.Generator, *, epoch: int = 1,
                report: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """One pass over ``train`` in an order drawn from ``shuffle``; the mean of each term of Eq. 5.

    Batches are index gathers on tensors already on the model's device. Every ``_CHECK_EVERY``
    steps the running means are read back once (one host sync), checked for NaN/inf and passed
    to ``report(steps_done, means)``.
    """
    device = next(model.parameters()).device
    model.train()
    order = torch.randperm(len(train), generator=shuffle).to(device)
    sums = torch.zeros(len(TERMS), device=device)
    seen, n_steps = 0, math.ceil(len(train) / batch_size)
    for step in range(n_steps):
        rows = order[step * batch_size:(step + 1) * batch_size]
        if len(rows) >= 2:  # the MMD estimate needs two samples
            terms = model.objective(*train.batch(rows), objective, validate=False)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimizer.step()
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
                  on_epoch: Callable[[dict[str, Any], MultimodalModel], None] | None = None) -> TrainResult:
    """Reuse the finished checkpoint trained with exactly this config and data, else train (resuming
    an interrupted run) and save one. ``data`` defaults to ``load_paired(config.data)``."""
    config.validate()
    device = choose_device(str(device) if device else None)
    data = (data or load_paired(config.data)).to(device)
    signature = data_signature(data)
    folder = checkpoint_dir_for(config, Path(checkpoint_root) if checkpoint_root else None)
    if not retrain and (folder / "history.json").is_file() and (folder / "best.pt").is_file():
        history = _read_json(folder / "history.json")
        if history.get("completed"):
            model, _, history = load_checkpoint(folder, config, data, device)
            return TrainResult(model, config, history, data, folder, loaded=True)
    if retrain and folder.exists():
        for name in ("last.pt", "best.pt", "history.json"):
            (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "config.json").is_file():
        _check_matches(folder, config, signature)
    _save_atomic({"config": config.to_dict(), "data": signature}, folder / "config.json")
    seed_everything(config.train.seed)  # identical initial weights for identical configs
    model = build_model(config, data.train).to(device)
    history = fit(model, data, config, checkpoint_dir=folder, progress=progress, on_epoch=on_epoch)
    return TrainResult(model, config, history, data, folder, loaded=False)
