"""Coherence of generated modalities: is the x_M generated from x_o of the right class?

Protocol (as in MMVAE, Shi et al. 2019, and MultiVae's coherence evaluator): a digit classifier
is trained separately on each modality's *real* images; the model generates x_M from x_o alone
(z ~ p(z | x_o), :func:`cmmd_lite.evaluate.generate_missing`); the classifier of each missing
modality labels the generated images; coherence is the fraction labelled with the pair's true y.
Its ceiling is the same classifier's accuracy on the real x_M of the same pairs
(:func:`classifier_accuracy`); chance is 1 / n_classes.

The classifier (:class:`ModalityClassifier`) standardises each image (its pixels to mean 0,
standard deviation 1) and is, by default (``arch="auto"``), a **multilayer perceptron on the
flattened image** (ReLU hidden layers with dropout) for one-channel images (MNIST and its
variants), and a **small CNN** (two 5x5 stride-2 convolutions with 32 and 64 channels, then the
same MLP head) for colour images (SVHN): on the SVHN stand-in an MLP reached 86 % validation
accuracy where the CNN reached 95 % (10,000 images, 3 epochs), and without the standardisation
the MLP reached 27 %. It is trained with Adam on the images of one modality in the **training**
split only (each distinct image once), keeping the weights of the epoch with the best accuracy
on the **validation** split's images; the test split is never seen while fitting.
Training is seeded and the result cached on disk (``<cache>/coherence``) under a key made of
the dataset name, the modality, a fingerprint of the training and validation images and
labels, and every classifier setting (:class:`ClassifierSettings`, which a compute profile
picks via :func:`classifier_settings`). Cached files are read with ``weights_only=True``; a
stale or unreadable file raises :class:`CoherenceCacheError` saying what to delete.

>>> classifiers = {m: modality_classifier(splits, m, profile="laptop") for m in splits.test.missing}  # doctest: +SKIP
>>> coherence(model, splits.test, classifiers)                                       # doctest: +SKIP
{'svhn': 0.83}
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import paths
from .profiles import variant
from .data.paired import PairedData, PairedSplits, device_and_dtype
from .evaluate import chunks, evaluating, generate_missing
from .fitting import FitLoop, adam, gradient_step, shuffled_batches
from .store import ArtefactError, load_tensors, locked, save_tensors
from .validation import check_choice, check_positive_int, check_range

# bump when the file layout or the training procedure changes. 3: trained by the shared fit loop with
# fused Adam (90f1987, ce9e035), which changed the judge at the rounding level (smoke stand-in judge:
# validation accuracy 0.840 -> 0.855 with the same settings), so files of format 2 are retrained
CACHE_FORMAT = 3
AVERAGES = ("micro", "macro")
ARCHS = ("auto", "mlp", "cnn")


class CoherenceCacheError(ArtefactError):
    """A cached classifier file is unreadable or was made with other settings or data."""


@dataclass(frozen=True)
class ClassifierSettings:
    """How a modality classifier is built and trained (all part of its cache key)."""

    # "mlp", "cnn" (images (C, H, W) only), or "auto": the CNN for colour images, else the MLP.
    arch: str = "auto"
    hidden: tuple[int, ...] = (512,)
    dropout: float = 0.2
    standardize: bool = True  # each image to mean 0, standard deviation 1 over its pixels
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    # Train on at most this many distinct training images (a seeded subset; None: all).
    max_train: int | None = None

    def validate(self) -> "ClassifierSettings":
        check_choice("arch", self.arch, ARCHS)
        if not isinstance(self.standardize, bool):
            raise ValueError(f"standardize={self.standardize!r} must be True or False.")
        for width in self.hidden:
            check_positive_int("hidden entry", width)
        check_range("dropout", self.dropout, 0.0, 1.0)
        if self.dropout >= 1.0:
            raise ValueError("dropout=1.0 drops every unit; allowed: [0, 1).")
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_range("lr", self.lr, 0.0, low_open=True)
        check_range("weight_decay", self.weight_decay, 0.0)
        if not isinstance(self.seed, int):
            raise ValueError(f"seed={self.seed!r} must be an integer.")
        if self.max_train is not None:
            check_positive_int("max_train", self.max_train)
        return self


def classifier_settings(profile: str, **overrides: Any) -> ClassifierSettings:
    """The classifier settings of a compute profile (the ``"coherence"`` variant of
    :data:`cmmd_lite.profiles.PROFILE_TABLE`), with overrides."""
    base = ClassifierSettings(**variant(profile, "coherence"))
    known = set(ClassifierSettings.__dataclass_fields__)
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown classifier settings {sorted(unknown)}; known: {sorted(known)}.")
    overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return replace(base, **overrides).validate()


def resolve_arch(arch: str, input_shape: tuple[int, ...]) -> str:
    """``"auto"``: ``"cnn"`` for colour images (3, H, W), else ``"mlp"``; a CNN needs (C, H, W)."""
    check_choice("arch", arch, ARCHS)
    is_image = len(input_shape) == 3 and min(input_shape[1:]) >= 4
    if arch == "auto":
        return "cnn" if is_image and input_shape[0] == 3 else "mlp"
    if arch == "cnn" and not is_image:
        raise ValueError(f"arch='cnn' needs images (C, H, W) of at least 4x4 pixels; got shape {input_shape}.")
    return arch


class ModalityClassifier(nn.Module):
    """A digit classifier for the images of one modality: image -> class logits.

    ``arch="mlp"``: ReLU layers of widths ``hidden`` with dropout on the flattened image;
    ``"cnn"``: two 5x5 stride-2 convolutions (32, 64 channels) before that MLP head.
    ``standardize``: each image is shifted and scaled to mean 0, standard deviation 1 first.
    ``info`` records how it was made (settings, sizes, best validation accuracy and epoch,
    training seconds, cache file, whether it was loaded from the cache).
    """

    def __init__(self, modality: str, input_shape: tuple[int, ...], n_classes: int,
                 hidden: tuple[int, ...] = (512,), dropout: float = 0.2, arch: str = "auto",
                 standardize: bool = True):
        super().__init__()
        self.modality, self.input_shape, self.n_classes = modality, tuple(input_shape), n_classes
        self.arch, self.standardize = resolve_arch(arch, self.input_shape), standardize
        layers: list[nn.Module] = []
        if self.arch == "cnn":
            channels, height, width_px = self.input_shape
            layers += [nn.Unflatten(1, self.input_shape), nn.Conv2d(channels, 32, 5, 2, 2), nn.ReLU(),
                       nn.Conv2d(32, 64, 5, 2, 2), nn.ReLU(), nn.Flatten()]
            width = 64 * math.ceil(math.ceil(height / 2) / 2) * math.ceil(math.ceil(width_px / 2) / 2)
        else:
            width = math.prod(self.input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)
        self.info: dict[str, Any] = {}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes) for images (B, *input_shape) or flat (B, prod(input_shape)) in [0, 1]."""
        x = images.flatten(1)
        if self.standardize:
            x = (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True).clamp_min(1e-3)
        return self.net(x)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Most probable class (B,) on the CPU; uint8 images are scaled to [0, 1]. Eval mode inside."""
        size = math.prod(self.input_shape)
        if images.dim() < 2 or math.prod(images.shape[1:]) != size:
            raise ValueError(f"the {self.modality!r} classifier expects images of shape {self.input_shape}; "
                             f"got a batch of shape {tuple(images.shape)}.")
        device, dtype = device_and_dtype(self)
        dtype = dtype or torch.float32
        with evaluating(self):
            out = [self(_as_float(images[rows].to(device), dtype)).argmax(1).cpu()
                   for rows in chunks(images.shape[0], batch_size)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


# --- helpers ----------------------------------------------------------------------------------

def _as_float(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return images.to(dtype).div_(255.0) if images.dtype == torch.uint8 else images.to(dtype)


def modality_images(data: PairedData, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct images of ``modality`` used by the pairs of ``data`` and their labels.

    Returns (images (N, *shape) in their stored dtype, labels (N,)), on the CPU. A base image
    used by several pairs (the MNIST-SVHN pairing repeats them) appears once.
    """
    if modality not in data.sources:
        raise ValueError(f"modality {modality!r} is not in this data; available: {sorted(data.sources)}.")
    rows = data.index[modality].cpu().numpy()
    unique, first = np.unique(rows, return_index=True)
    images = data.sources[modality].cpu()[torch.from_numpy(unique)]
    labels = data.y.cpu()[torch.from_numpy(first)]
    return images, labels


def data_fingerprint(splits: PairedSplits, modality: str) -> str:
    """A hash of the training and validation images and labels of one modality (what fitting sees)."""
    digest = hashlib.sha256()
    for split in ("train", "val"):
        images, labels = modality_images(getattr(splits, split), modality)
        digest.update(f"{split}/{tuple(images.shape)}/{images.dtype}".encode())
        digest.update(images.contiguous().numpy().tobytes())
        digest.update(labels.numpy().astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:40] or "data"


def _accuracy(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int, average: str) -> float:
    """Micro (all items) or macro (mean over the classes present of per-class accuracy) accuracy."""
    check_choice("average", average, AVERAGES)
    predicted, labels = predicted.reshape(-1).cpu(), labels.reshape(-1).cpu()
    if labels.numel() == 0:
        raise ValueError("no items to score.")
    correct = (predicted == labels).float()
    if average == "micro":
        return float(correct.mean())
    totals = torch.bincount(labels, minlength=n_classes).float()
    hits = torch.bincount(labels, weights=correct, minlength=n_classes)
    present = totals > 0
    return float((hits[present] / totals[present]).mean())


# --- training and caching -----------------------------------------------------------------------

def train_modality_classifier(splits: PairedSplits, modality: str, settings: ClassifierSettings, *,
                              device: str | torch.device | None = None) -> ModalityClassifier:
    """Fit a :class:`ModalityClassifier` on the training images of ``modality`` (no caching).

    Adam on cross-entropy, shuffled by a generator seeded with ``settings.seed``, in the loop
    that fits every model (:mod:`cmmd_lite.fitting`); the weights of the epoch with the best
    validation accuracy are kept (the last epoch's when there is no validation image). Global
    random states are restored afterwards.
    """
    settings = settings.validate()
    device = torch.device(device) if device is not None else torch.device("cpu")
    images, labels = modality_images(splits.train, modality)
    if settings.max_train is not None and settings.max_train < len(labels):
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(settings.seed))[:settings.max_train]
        keep = keep.sort().values
        images, labels = images[keep], labels[keep]
    if len(labels) < 2:
        raise ValueError(f"the training split has {len(labels)} {modality!r} images; at least 2 are needed.")
    val_images, val_labels = modality_images(splits.val, modality) if len(splits.val) else (None, None)
    n_classes = splits.train.n_classes
    began = time.perf_counter()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        model = ModalityClassifier(modality, tuple(images.shape[1:]), n_classes, settings.hidden,
                                   settings.dropout, settings.arch, settings.standardize).to(device)
        optimizer = adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        shuffle = torch.Generator().manual_seed(settings.seed)
        loop = FitLoop(model)
        for _ in loop.epochs(settings.epochs):
            model.train()
            for batch in shuffled_batches(len(labels), settings.batch_size, shuffle):
                logits = model(_as_float(images[batch].to(device)))
                gradient_step(optimizer, F.cross_entropy(logits, labels[batch].to(device)))
            loop.end_epoch(None if val_images is None else
                           _accuracy(model.predict(val_images), val_labels, n_classes, "micro"))
    loop.keep_best()
    model.eval()
    model.info = {"modality": modality, "settings": _settings_dict(settings), "arch": model.arch,
                  "n_train_images": len(labels),
                  "n_val_images": 0 if val_labels is None else len(val_labels),
                  "best_val_accuracy": loop.best_score, "best_epoch": loop.best_epoch,
                  "train_seconds": time.perf_counter() - began, "loaded": False, "cache_file": None}
    return model


def _settings_dict(settings: ClassifierSettings) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}


def _cache_key(splits: PairedSplits, modality: str, settings: ClassifierSettings) -> dict[str, Any]:
    return {"format": CACHE_FORMAT, "dataset": splits.name, "modality": modality,
            "data": data_fingerprint(splits, modality), "shape": list(splits.train.shape_of(modality)),
            "n_classes": splits.train.n_classes, "settings": _settings_dict(settings)}


def _path_for_key(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return paths.cache_dir("coherence") / f"{_slug(key['dataset'])}-{_slug(key['modality'])}-{digest}.pt"


def cache_path_for(splits: PairedSplits, modality: str, settings: ClassifierSettings) -> Path:
    """``<cache>/coherence/<dataset>-<modality>-<hash of the key>.pt`` for these data and settings."""
    settings = settings.validate()
    return _path_for_key(_cache_key(splits, modality, settings))


def _load_cached(path: Path, key: dict[str, Any], device: torch.device) -> ModalityClassifier:
    try:
        stored = load_tensors(path, device)
        meta = json.loads(stored["meta"])
        state = stored["state"]
    except Exception as error:  # noqa: BLE001 - any unreadable or corrupted file gets the same advice
        raise CoherenceCacheError(f"cannot read the cached classifier {path} ({type(error).__name__}: {error}); "
                                  f"delete it to retrain.") from error
    if meta.get("key") != key:
        stored_key = meta.get("key") or {}
        changes = "; ".join(f"{k}: file {stored_key.get(k)!r} vs requested {key[k]!r}"
                            for k in key if stored_key.get(k) != key[k])
        raise CoherenceCacheError(f"the cached classifier {path} was made for other data or settings ({changes}); "
                                  f"delete it (or pass retrain=True) to retrain.")
    settings = ClassifierSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in key["settings"].items()})
    model = ModalityClassifier(key["modality"], tuple(key["shape"]), key["n_classes"], settings.hidden,
                               settings.dropout, settings.arch, settings.standardize).to(device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CoherenceCacheError(f"the weights in {path} do not fit the classifier they describe: {error}; "
                                  f"delete the file to retrain.") from error
    model.eval()
    model.info = {**meta["info"], "loaded": True, "cache_file": str(path)}
    return model


def modality_classifier(splits: PairedSplits, modality: str, settings: ClassifierSettings | None = None, *,
                        profile: str | None = None, device: str | torch.device | None = None,
                        cache: bool = True, path: str | Path | None = None,
                        retrain: bool = False) -> ModalityClassifier:
    """The classifier of ``modality`` for these splits: loaded from the cache, else trained and cached.

    Args:
        settings, profile: the classifier's settings, or the compute profile whose settings to use
            (``classifier_settings(profile)``); one of the two is needed.
        cache: False trains without reading or writing any file.
        path: a file to use instead of the automatic cache path; it must have been made with the
            same data and settings (else :class:`CoherenceCacheError`).
        retrain: ignore (and overwrite) an existing file.
    """
    if settings is None and profile is None:
        raise ValueError("modality_classifier needs settings=classifier_settings(profile) or profile= "
                         "(e.g. profile=current_profile()): the classifier's size depends on the compute profile.")
    settings = (settings or classifier_settings(profile)).validate()
    device = torch.device(device) if device is not None else torch.device("cpu")
    if not cache:
        return train_modality_classifier(splits, modality, settings, device=device)
    key = _cache_key(splits, modality, settings)
    path = _path_for_key(key) if path is None else Path(path)
    with locked(path.with_name(f".{path.name}.lock"), what=f"the {modality} classifier"):
        if path.is_file() and not retrain:
            return _load_cached(path, key, device)
        model = train_modality_classifier(splits, modality, settings, device=device)
        info = {k: v for k, v in model.info.items() if k not in ("loaded", "cache_file")}
        save_tensors(path, {"meta": json.dumps({"key": key, "info": info}), "state": model.state_dict()})
    model.info.update(cache_file=str(path))
    return model


# --- scoring ------------------------------------------------------------------------------------

def _check_classifiers(data: PairedData, classifiers: Mapping[str, ModalityClassifier]) -> None:
    if not classifiers:
        raise ValueError(f"no classifiers given; pass one per missing modality of {list(data.missing)}.")
    for name, classifier in classifiers.items():
        if name not in data.missing:
            raise ValueError(f"a classifier for {name!r} was given, but the missing modalities are {list(data.missing)}.")
        if tuple(classifier.input_shape) != tuple(data.shape_of(name)):
            raise ValueError(f"the {name!r} classifier expects images {classifier.input_shape}, "
                             f"the data has {data.shape_of(name)}.")


def classifier_accuracy(classifier: ModalityClassifier, data: PairedData, *, average: str = "micro",
                        batch_size: int = 4096) -> float:
    """The classifier's accuracy on the *real* images of its modality for the pairs of ``data``
    (one score per pair, as coherence is counted): the ceiling of coherence on that split."""
    check_choice("average", average, AVERAGES)
    name = classifier.modality
    predicted = torch.cat([classifier.predict(data.modality(name, rows)) for rows in chunks(len(data), batch_size)])
    return _accuracy(predicted, data.y, data.n_classes, average)


def coherence(model: nn.Module, data: PairedData, classifiers: Mapping[str, ModalityClassifier], *,
              n_samples: int = 1, seed: int = 0, average: str = "micro",
              batch_size: int = 1024, z: str = "prior_sample") -> dict[str, float]:
    """Fraction of x_M generated from x_o whose classifier label is the pair's true y, per modality.

    ``classifiers`` maps missing modalities to their classifiers (a subset of ``data.missing``).
    Every pair is generated ``n_samples`` times (z ~ p(z | x_o)); all samples count. ``average``:
    ``"micro"`` over all generated images, or ``"macro"``: the mean over classes of the per-class
    coherence (as MultiVae reports it). ``z``: where x_M is decoded
    (:data:`~cmmd_lite.evaluate.Z_SOURCES`; at a mean, one image per pair whatever ``n_samples``).
    Raises ValueError for a model that cannot generate x_M.
    """
    check_choice("average", average, AVERAGES)
    check_positive_int("n_samples", n_samples)
    n_samples = n_samples if z == "prior_sample" else 1
    if not getattr(model, "can_generate", False):
        raise ValueError(f"{type(model).__name__} has no decoder of x_M, so coherence is not defined for it.")
    _check_classifiers(data, classifiers)
    data = data.for_model(model)
    predicted: dict[str, list[torch.Tensor]] = {name: [] for name in classifiers}
    labels = []
    for chunk, rows in enumerate(chunks(len(data), batch_size)):
        generated = generate_missing(model, data, rows, n_samples=n_samples, seed=seed + chunk, z=z)
        for name, classifier in classifiers.items():
            images = generated[name]  # (n_samples, B, *shape)
            predicted[name].append(classifier.predict(images.flatten(0, 1)).reshape(n_samples, -1))
        labels.append(data.y[rows].cpu())
    y = torch.cat(labels).expand(n_samples, -1)
    return {name: _accuracy(torch.cat(parts, dim=1), y, data.n_classes, average) for name, parts in predicted.items()}


def coherence_report(model: nn.Module, data: PairedData, classifiers: Mapping[str, ModalityClassifier], *,
                     n_samples: int = 1, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Per missing modality: coherence (micro and macro), the classifier's ceiling on the real
    images of the same pairs (micro and macro), chance, and the classifier's ``info``. JSON-ready."""
    micro = coherence(model, data, classifiers, n_samples=n_samples, seed=seed, average="micro")
    macro = coherence(model, data, classifiers, n_samples=n_samples, seed=seed, average="macro")
    return {name: {"coherence": micro[name], "coherence_macro": macro[name],
                   "ceiling": classifier_accuracy(classifier, data),
                   "ceiling_macro": classifier_accuracy(classifier, data, average="macro"),
                   "chance": 1.0 / data.n_classes, "n_pairs": len(data), "n_samples": n_samples,
                   "classifier": classifier.info}
            for name, classifier in classifiers.items()}
