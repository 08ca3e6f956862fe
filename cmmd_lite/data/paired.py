"""Paired multimodal datasets (paper Sec. 4.1), deterministic given a seed, held as tensors.

A :class:`PairedData` keeps each modality's *base* images once (uint8 or float tensors) and,
per pair, an index into each base. A mini-batch is a gather plus a cast, done on the device
where the tensors live: no per-sample Python, and MNIST-SVHN's million pairs cost a few MB
of indices instead of gigabytes of copies.

Splits: validation pairs come from the official *training* images (``val_fraction`` of
them, seeded); the official test images only ever make the test split.
"""
from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import paths
from ..config import DataConfig
from ..store import StorageError, fingerprint, tensor_digest, write_bytes
from ..validation import check_labels
from .files import MissingDataError
from .mnist import load_mnist
from .svhn import load_svhn_real
from .svhn_standin import STANDIN_LABEL, StandinWarning, load_svhn_standin

MODALITY_LABELS = {"mnist": "MNIST", "mnist_rotated": "rotated MNIST", "mnist_noisy": "noisy MNIST",
                   "svhn": "SVHN", "x_o": "x_o", "x_m": "x_M"}


@dataclass
class PairedData:
    """One split of paired data: ``x_o`` (observed at test time), ``x_M`` (missing), ``y``.

    Args:
        sources: modality name -> base tensor (n_base, *shape); uint8 images are scaled to [0, 1].
        index: modality name -> LongTensor (n_pairs,) of rows into that modality's base.
        y: LongTensor (n_pairs,) of class labels.
        observed, missing: modality names making up x_o and x_M, in order.
    """

    sources: dict[str, torch.Tensor]
    index: dict[str, torch.Tensor]
    y: torch.Tensor
    observed: tuple[str, ...]
    missing: tuple[str, ...]
    n_classes: int = 10
    standin: frozenset[str] = field(default_factory=frozenset)  # modalities replaced by a stand-in
    # modality -> (min, max) per feature, each (*shape), in [0, 1] units: min-max scaling fitted on
    # this split (DataConfig.scaling="per_split_minmax", the reference code's); None: x / 255 only.
    feature_ranges: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
    # the floating dtype of the batches (x_o, x_m) this split hands out: the model's parameter dtype
    dtype: torch.dtype = torch.float32

    def __post_init__(self) -> None:
        self.observed, self.missing = tuple(self.observed), tuple(self.missing)
        names = self.observed + self.missing
        if not self.observed or not self.missing or len(set(names)) != len(names):
            raise ValueError(f"observed={self.observed} and missing={self.missing} must be non-empty and disjoint.")
        for name in names:
            if name not in self.sources or name not in self.index:
                raise ValueError(f"modality {name!r} has no source or index; available: {sorted(self.sources)}.")
            rows = self.index[name]
            if rows.dim() != 1 or rows.shape[0] != self.y.shape[0]:
                raise ValueError(f"index[{name!r}] must have one row per pair ({self.y.shape[0]}), got {tuple(rows.shape)}.")
            if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= self.sources[name].shape[0]):
                raise ValueError(f"index[{name!r}] points outside its base of {self.sources[name].shape[0]} rows.")
            base = self.sources[name]
            if torch.is_floating_point(base) and not torch.isfinite(base).all():
                raise ValueError(f"modality {name!r} contains NaN or infinite values.")
        check_labels("y", self.y, self.n_classes)

    # --- shapes -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.y.shape[0])

    def shape_of(self, name: str) -> tuple[int, ...]:
        return tuple(self.sources[name].shape[1:])

    @property
    def x_o_dim(self) -> int:
        return sum(math.prod(self.shape_of(m)) for m in self.observed)

    @property
    def x_m_dim(self) -> int:
        return sum(math.prod(self.shape_of(m)) for m in self.missing)

    @property
    def x_m_shapes(self) -> list[tuple[int, ...]]:
        return [self.shape_of(m) for m in self.missing]

    @property
    def device(self) -> torch.device:
        return self.y.device

    def label(self, name: str) -> str:
        """Human-readable modality name; stand-ins are labelled as such."""
        if name in self.standin:
            return STANDIN_LABEL
        return MODALITY_LABELS.get(name, name)

    # --- batches ----------------------------------------------------------------------------
    def modality(self, name: str, rows: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Float tensor (B, *shape) of one modality for the given pair rows (all when None)."""
        index = self.index[name] if rows is None else self.index[name][rows]
        values = self.sources[name][index]
        values = values.to(self.dtype).div_(255.0) if values.dtype == torch.uint8 else values.to(self.dtype)
        if self.feature_ranges is not None:
            low, high = (bound.to(self.dtype) for bound in self.feature_ranges[name])
            span = high - low
            # sklearn's MinMaxScaler leaves a constant feature's scale at 1
            values = (values - low) / torch.where(span > 0, span, torch.ones_like(span))
        return values

    def batch(self, rows: torch.Tensor | slice | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_o (B, x_o_dim), x_m (B, x_m_dim), y (B,)) for the given pair rows."""
        x_o = torch.cat([self.modality(m, rows).flatten(1) for m in self.observed], dim=1)
        x_m = torch.cat([self.modality(m, rows).flatten(1) for m in self.missing], dim=1)
        y = self.y if rows is None else self.y[rows]
        return x_o, x_m, y

    def split_x_m(self, x_m: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cut a flat x_M batch (B, x_m_dim) back into images per missing modality."""
        parts, start = {}, 0
        for name in self.missing:
            shape = self.shape_of(name)
            size = math.prod(shape)
            parts[name] = x_m[:, start:start + size].reshape(-1, *shape)
            start += size
        return parts

    # --- copies -----------------------------------------------------------------------------
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "PairedData":
        """This split on ``device`` handing out batches of ``dtype``; ``self`` when nothing changes."""
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating dtype (the batches' dtype), got {dtype}.")
        if _same_device(device, self.device) and dtype == self.dtype:
            return self
        move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
        ranges = (None if self.feature_ranges is None else
                  {k: (lo.to(device), hi.to(device)) for k, (lo, hi) in self.feature_ranges.items()})
        sources = {k: v if v.dtype == torch.uint8 else v.to(dtype) for k, v in move(self.sources).items()}
        return PairedData(sources, move(self.index), self.y.to(device), self.observed,
                          self.missing, self.n_classes, self.standin, ranges, dtype)

    def for_model(self, model: torch.nn.Module) -> "PairedData":
        """This split on the device of ``model``, with batches of its parameters' dtype: what every
        function that feeds a model a split calls first, so data and model can never disagree."""
        return self.to(*device_and_dtype(model))

    def subset(self, rows: torch.Tensor | slice) -> "PairedData":
        """The pairs at ``rows`` (shares the base tensors)."""
        return PairedData(self.sources, {k: v[rows] for k, v in self.index.items()}, self.y[rows],
                          self.observed, self.missing, self.n_classes, self.standin, self.feature_ranges, self.dtype)

    def with_roles(self, observed: Sequence[str], missing: Sequence[str]) -> "PairedData":
        """The same pairs with other modalities observed / missing."""
        return PairedData(self.sources, self.index, self.y, tuple(observed), tuple(missing),
                          self.n_classes, self.standin, self.feature_ranges, self.dtype)

    def fit_min_max(self, chunk: int = 8192) -> "PairedData":
        """A copy scaled by per-feature min-max fitted on this split's own pairs (the reference
        code fits one MinMaxScaler on the training pairs and another on the test pairs)."""
        unscaled = replace(self, feature_ranges=None)
        ranges = {}
        for name in self.observed + self.missing:
            rows = torch.unique(self.index[name])  # min/max over pairs = over the base rows they use
            parts = [unscaled.sources[name][rows[i:i + chunk]].float() for i in range(0, len(rows), chunk)]
            scale = 255.0 if unscaled.sources[name].dtype == torch.uint8 else 1.0
            ranges[name] = (torch.stack([p.amin(0) for p in parts]).amin(0) / scale,
                            torch.stack([p.amax(0) for p in parts]).amax(0) / scale)
        return replace(self, feature_ranges=ranges)


@dataclass
class PairedSplits:
    """Train, validation and test splits of one paired dataset."""

    train: PairedData
    val: PairedData
    test: PairedData
    name: str

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "PairedSplits":
        return PairedSplits(self.train.to(device, dtype), self.val.to(device, dtype), self.test.to(device, dtype),
                            self.name)

    def for_model(self, model: torch.nn.Module) -> "PairedSplits":
        """Every split on the model's device and dtype (see :meth:`PairedData.for_model`)."""
        return self.to(*device_and_dtype(model))

    def digest(self) -> str:
        """SHA-256 of the content of every split (images, pair indices, labels, roles, scaling):
        the part of a checkpoint's key that says which data it was trained on. Each base tensor
        is hashed once while it lives (about 1 s per GB on a CPU)."""
        described, tensors = [], []
        for split in (self.train, self.val, self.test):
            names = split.observed + split.missing
            described.append([list(split.observed), list(split.missing), split.n_classes, sorted(split.standin)])
            tensors += [split.sources[m] for m in names] + [split.index[m] for m in names] + [split.y]
            if split.feature_ranges is not None:
                tensors += [bound for m in names for bound in split.feature_ranges[m]]
        return fingerprint([described, tensor_digest(tensors)], length=16)

    @property
    def uses_standin(self) -> bool:
        return bool(self.train.standin)

    def summary(self) -> str:
        parts = ", ".join(f"{s}: {len(getattr(self, s)):,} pairs" for s in ("train", "val", "test"))
        roles = (f"x_o = {' + '.join(self.train.label(m) for m in self.train.observed)}; "
                 f"x_M = {' + '.join(self.train.label(m) for m in self.train.missing)}")
        return f"{self.name} ({parts}); {roles}"


# --- building blocks ------------------------------------------------------------------------

def device_and_dtype(model: torch.nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    """The device and floating dtype of ``model``'s first parameter (or buffer); (None, None) for a
    module without tensors, which then takes its inputs wherever they are."""
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    if tensor is None:
        return None, None
    return tensor.device, tensor.dtype if tensor.is_floating_point() else None


def _same_device(a: torch.device, b: torch.device) -> bool:
    """``cuda`` and ``cuda:0`` (the current device) are the same place."""
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        current = torch.cuda.current_device() if a.type == "cuda" and torch.cuda.is_available() else 0
        return (a.index if a.index is not None else current) == (b.index if b.index is not None else current)
    return a.index == b.index


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator keyed by the seed and a purpose, so streams do not depend on call order."""
    digest = hashlib.sha256("/".join((str(seed),) + keys).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def rotate_images(images: np.ndarray, angles_deg: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Rotate (N, H, W) uint8 images about their centres by ``angles_deg`` (bilinear, zero fill)."""
    n, height, width = images.shape
    # pixel-centre coordinates in [-1, 1], as affine_grid(align_corners=False) makes them
    xs = (2 * torch.arange(width, dtype=torch.float32) + 1) / width - 1
    ys = (2 * torch.arange(height, dtype=torch.float32) + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    out = np.empty_like(images)
    for start in range(0, n, chunk):
        block = torch.tensor(images[start:start + chunk], dtype=torch.float32)[:, None]  # (B, 1, H, W)
        theta = torch.from_numpy(np.deg2rad(angles_deg[start:start + chunk])).float()[:, None, None]
        cos, sin = torch.cos(theta), torch.sin(theta)
        grid = torch.stack([cos * grid_x - sin * grid_y, sin * grid_x + cos * grid_y], dim=-1)  # (B, H, W, 2)
        rotated = F.grid_sample(block, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[start:start + chunk] = rotated[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def same_class_partners(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each item, the index of another random item of the same class (itself only if alone)."""
    partners = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) == 1:
            partners[members] = members
            continue
        # shift by a random non-zero offset within the class: never the item itself
        offsets = rng.integers(1, len(members), size=len(members))
        partners[members] = members[(np.arange(len(members)) + offsets) % len(members)]
    return partners


def mmvae_pairs(labels_a: np.ndarray, labels_b: np.ndarray, multiplier: int, rng: np.random.Generator,
                max_per_class: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """The MMVAE (Shi et al. 2019) MNIST-SVHN pairing, seeded.

    Per class c, n_c = min(#a_c, #b_c, max_per_class) items are chosen on each side (MMVAE takes
    the first n_c; we take a seeded random n_c), then ``multiplier`` independent random
    permutations of each side are concatenated. Returns index arrays (pairs,) into a and b;
    every pair has the same class on both sides.
    """
    rows_a, rows_b = [], []
    for label in np.union1d(labels_a, labels_b):
        members_a, members_b = np.flatnonzero(labels_a == label), np.flatnonzero(labels_b == label)
        n = min(len(members_a), len(members_b), max_per_class)
        if n == 0:
            continue
        chosen_a = rng.choice(members_a, n, replace=False)
        chosen_b = rng.choice(members_b, n, replace=False)
        for _ in range(multiplier):
            rows_a.append(rng.permutation(chosen_a))
            rows_b.append(rng.permutation(chosen_b))
    return np.concatenate(rows_a), np.concatenate(rows_b)


def cached_mmvae_pairs(labels_a: np.ndarray, labels_b: np.ndarray, multiplier: int, seed: int,
                       key: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mmvae_pairs`, cached on disk under a hash of its inputs."""
    digest = hashlib.sha256()
    for part in (labels_a.tobytes(), labels_b.tobytes(), f"{multiplier}/{seed}/{key}".encode()):
        digest.update(part)
    path = paths.cache_dir("data", "pairs") / f"{key}-{digest.hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path) as stored:
                return stored["a"], stored["b"]
        except (OSError, ValueError, KeyError, EOFError):
            pass  # unreadable cache: rebuilt below and overwritten
    a, b = mmvae_pairs(labels_a, labels_b, multiplier, _rng(seed, "mmvae", key))
    buffer = io.BytesIO()
    np.savez(buffer, a=a, b=b)  # zip members carry CRCs: a corrupted file fails to load and is rebuilt
    try:
        write_bytes(path, buffer.getvalue())
    except StorageError as error:  # a read-only or full cache: the pairs are still returned
        warnings.warn(f"the pairing was not cached: {error}", stacklevel=2)
    return a, b


def _split_train_val(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _cap_rows(n: int, cap: int | None, seed: int, split: str) -> np.ndarray:
    """A seeded random, sorted subset of ``cap`` of ``n`` rows (all rows when None or n <= cap)."""
    if cap is None or cap >= n:
        return np.arange(n)
    return np.sort(_rng(seed, "cap", split).permutation(n)[:cap])


def _cap(data: PairedData, cap: int | None, seed: int, split: str) -> PairedData:
    """A seeded random subset of ``cap`` pairs (all when None or when there are fewer)."""
    if cap is None or cap >= len(data):
        return data
    return data.subset(torch.from_numpy(_cap_rows(len(data), cap, seed, split)))


def _long(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))


def _images(array: np.ndarray) -> torch.Tensor:
    """(N, H, W) -> (N, 1, H, W); (N, C, H, W) unchanged."""
    tensor = torch.from_numpy(np.array(array, copy=not array.flags.writeable, order="C"))
    return tensor[:, None] if tensor.dim() == 3 else tensor


def load_svhn(split: str, source: str = "auto") -> tuple[np.ndarray, np.ndarray, bool]:
    """SVHN images (N, 3, 32, 32) uint8 and labels; the flag says whether the stand-in was used.

    ``source="auto"`` uses real SVHN when it can be found or downloaded, otherwise the synthetic
    stand-in, with a loud :class:`StandinWarning`.
    """
    if source in ("auto", "real"):
        try:
            images, labels = load_svhn_real(split)
            return images, labels, False
        except MissingDataError as error:
            if source == "real":
                raise
            warnings.warn(f"Real SVHN could not be had, so the SYNTHETIC SVHN STAND-IN is used for "
                          f"the {split} split; every result that uses it is labelled so.\n{error}",
                          StandinWarning, stacklevel=2)
    images, labels = load_svhn_standin(split)
    return images, labels, True


# --- the datasets of the paper --------------------------------------------------------------

def _mnist_pools(cfg: DataConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    train_images, train_labels = load_mnist("train")
    test_images, test_labels = load_mnist("test")
    fit, val = _split_train_val(len(train_labels), cfg.val_fraction, _rng(cfg.data_seed, "mnist-val"))
    return {"train": (train_images[fit], train_labels[fit]), "val": (train_images[val], train_labels[val]),
            "test": (test_images, test_labels)}


def _svhn_pools(cfg: DataConfig) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], bool]:
    train_images, train_labels, standin = load_svhn("train", cfg.svhn_source)
    test_images, test_labels, test_standin = load_svhn("test", cfg.svhn_source)
    fit, val = _split_train_val(len(train_labels), cfg.val_fraction, _rng(cfg.data_seed, "svhn-val"))
    pools = {"train": (train_images[fit], train_labels[fit]), "val": (train_images[val], train_labels[val]),
             "test": (test_images, test_labels)}
    return pools, standin or test_standin


def make_mnist2(cfg: DataConfig) -> PairedSplits:
    """2-modality MNIST (Wang et al. 2015; paper Sec. 4.1).

    x_o: an MNIST digit rotated by an angle drawn uniformly from [-45, 45] degrees.
    x_M: another random image of the same class (same split), unrotated, plus U[0, 1] noise per
    pixel, clipped to [0, 1] and stored at 8 bits like any image file.
    Capped splits (``max_*``) pick their pairs first and only build those.
    """
    caps = {"train": cfg.max_train, "val": cfg.max_val, "test": cfg.max_test}
    splits = {}
    for split, (images, labels) in _mnist_pools(cfg).items():
        chosen = _cap_rows(len(labels), caps[split], cfg.data_seed, split)
        rng = _rng(cfg.data_seed, "mnist2", split)
        angles = rng.uniform(-45.0, 45.0, size=len(images))
        partners = same_class_partners(labels, rng)[chosen]  # partners come from the whole split
        rotated = rotate_images(images[chosen], angles[chosen])
        noise = rng.random(size=(len(chosen), *images.shape[1:]), dtype=np.float32) * 255.0  # U[0, 1] in pixels
        noisy = np.minimum(images[partners] + noise, 255.0).round().astype(np.uint8)
        rows = torch.arange(len(chosen))
        splits[split] = PairedData({"mnist_rotated": _images(rotated), "mnist_noisy": _images(noisy)},
                                   {"mnist_rotated": rows, "mnist_noisy": rows}, _long(labels[chosen]),
                                   observed=("mnist_rotated",), missing=("mnist_noisy",))
    return _finish(splits, cfg, "2-modality MNIST")


def make_mnist_svhn(cfg: DataConfig) -> PairedSplits:
    """MNIST (x_o) paired with SVHN (x_M) of the same class: the MMVAE pairing (Shi et al. 2019).

    Training pairs use ``pairing_multiplier`` permutations per side (the paper: 20); validation
    and test pairs use one, so each image is evaluated once.
    """
    mnist, (svhn, standin) = _mnist_pools(cfg), _svhn_pools(cfg)
    splits = {}
    for split in ("train", "val", "test"):
        (m_images, m_labels), (s_images, s_labels) = mnist[split], svhn[split]
        multiplier = cfg.pairing_multiplier if split == "train" else 1
        rows_m, rows_s = cached_mmvae_pairs(m_labels, s_labels, multiplier, cfg.data_seed, f"mnist_svhn-{split}")
        splits[split] = PairedData({"mnist": _images(m_images), "svhn": _images(s_images)},
                                   {"mnist": _long(rows_m), "svhn": _long(rows_s)}, _long(m_labels[rows_m]),
                                   observed=("mnist",), missing=("svhn",),
                                   standin=frozenset({"svhn"}) if standin else frozenset())
    return _finish(splits, cfg, "MNIST-SVHN")


def make_mnist3(cfg: DataConfig) -> PairedSplits:
    """3-modality MNIST (paper Table 4): MNIST (x_1), rotated MNIST (x_2), SVHN (x_3), one class per triple.

    MNIST and SVHN are paired as in :func:`make_mnist_svhn`; x_2 is *another* random MNIST image
    of the same class from the same split, rotated by U[-45, 45] degrees (as x_o of 2-modality
    MNIST). ``cfg.observed`` picks x_o: ("mnist",) or ("mnist", "mnist_rotated").
    """
    allowed = ("mnist", "mnist_rotated", "svhn")
    if not set(cfg.observed) < set(allowed) or not cfg.observed:
        raise ValueError(f"observed={cfg.observed} must be a non-empty proper subset of {allowed} for mnist3.")
    mnist, (svhn, standin) = _mnist_pools(cfg), _svhn_pools(cfg)
    splits = {}
    for split in ("train", "val", "test"):
        (m_images, m_labels), (s_images, s_labels) = mnist[split], svhn[split]
        rng = _rng(cfg.data_seed, "mnist3", split)
        rotated = rotate_images(m_images, rng.uniform(-45.0, 45.0, size=len(m_images)))
        partners = same_class_partners(m_labels, rng)
        multiplier = cfg.pairing_multiplier if split == "train" else 1
        rows_m, rows_s = cached_mmvae_pairs(m_labels, s_labels, multiplier, cfg.data_seed, f"mnist3-{split}")
        splits[split] = PairedData(
            {"mnist": _images(m_images), "mnist_rotated": _images(rotated), "svhn": _images(s_images)},
            {"mnist": _long(rows_m), "mnist_rotated": _long(partners[rows_m]), "svhn": _long(rows_s)},
            _long(m_labels[rows_m]), observed=cfg.observed,
            missing=tuple(m for m in allowed if m not in cfg.observed),
            standin=frozenset({"svhn"}) if standin else frozenset())
    return _finish(splits, cfg, "3-modality MNIST")


def paired_from_arrays(x_o: np.ndarray, x_m: np.ndarray, y: np.ndarray, *, n_classes: int | None = None,
                       val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                       name: str = "user arrays") -> PairedSplits:
    """Wrap user-provided paired features (e.g. the paper's XRMB or Flickr features) as splits.

    ``x_o`` (N, D_o) and ``x_m`` (N, D_M) are float arrays (or uint8 images, scaled to [0, 1]);
    ``y`` (N,) integer labels. Splits are a seeded random partition.
    """
    x_o, x_m, y = np.asarray(x_o), np.asarray(x_m), np.asarray(y)
    if x_o.ndim != 2 or x_m.ndim != 2 or y.ndim != 1 or not (len(x_o) == len(x_m) == len(y)):
        raise ValueError(f"need x_o (N, D_o), x_m (N, D_M) and y (N,) with one N; got {x_o.shape}, "
                         f"{x_m.shape} and {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}.")
    if val_fraction <= 0 or test_fraction <= 0 or val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be positive "
                         "and leave some data for training.")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a if a.dtype == np.uint8 else a.astype(np.float32)))  # noqa: E731
    everything = PairedData({"x_o": as_tensor(x_o), "x_m": as_tensor(x_m)},
                            {"x_o": torch.arange(len(y)), "x_m": torch.arange(len(y))}, _long(y),
                            observed=("x_o",), missing=("x_m",), n_classes=n_classes)
    order = _rng(seed, "arrays", name).permutation(len(y))
    n_test, n_val = int(round(len(y) * test_fraction)), int(round(len(y) * val_fraction))
    pick = lambda rows: everything.subset(torch.from_numpy(np.sort(rows)))  # noqa: E731
    return PairedSplits(pick(order[n_test + n_val:]), pick(order[n_test:n_test + n_val]), pick(order[:n_test]), name)


def _finish(splits: dict[str, PairedData], cfg: DataConfig, name: str) -> PairedSplits:
    caps = {"train": cfg.max_train, "val": cfg.max_val, "test": cfg.max_test}
    capped = {split: _cap(data, caps[split], cfg.data_seed, split) for split, data in splits.items()}
    if cfg.scaling == "per_split_minmax":
        capped = {split: data.fit_min_max() for split, data in capped.items()}
    result = PairedSplits(capped["train"], capped["val"], capped["test"], name)
    if result.uses_standin:
        name = f"{name} [x_M uses the {STANDIN_LABEL}]"
        result.name = name
    return result


BUILDERS = {"mnist2": make_mnist2, "mnist_svhn": make_mnist_svhn, "mnist3": make_mnist3}


def load_paired(cfg: DataConfig, device: torch.device | str | None = None) -> PairedSplits:
    """The paired dataset a :class:`DataConfig` describes, optionally moved to ``device``."""
    cfg.validate()
    if cfg.dataset not in BUILDERS:
        raise ValueError(f"dataset={cfg.dataset!r} is built from your own arrays: call "
                         f"paired_from_arrays(x_o, x_m, y) and pass the splits to training directly.")
    splits = BUILDERS[cfg.dataset](cfg)
    return splits.to(device) if device is not None else splits


def with_observed(splits: PairedSplits, observed: Sequence[str]) -> PairedSplits:
    """The same pairs of every split with ``observed`` as x_o and the splits' other modalities as x_M.

    Only the roles change, so one loaded 3-modality MNIST serves both scenarios of the paper's
    Table 4: ``with_observed(data, ("mnist", "mnist_rotated"))`` equals
    ``load_paired(get_config("mnist3_two_observed").data)`` for the same caps and seed, without
    building the data a second time. x_M keeps the order of the modalities in the data's sources
    (the order :func:`make_mnist3` uses).
    """
    train = splits.train
    names = [m for m in train.sources if m in train.observed + train.missing]
    observed = tuple(observed)
    unknown = [m for m in observed if m not in names]
    if unknown or not observed or len(set(observed)) != len(observed) or len(observed) >= len(names):
        raise ValueError(f"observed={observed} must be a non-empty proper subset, without repeats, of the "
                         f"modalities {tuple(names)}.")
    missing = tuple(m for m in names if m not in observed)
    return PairedSplits(*(getattr(splits, s).with_roles(observed, missing) for s in ("train", "val", "test")),
                        splits.name)
