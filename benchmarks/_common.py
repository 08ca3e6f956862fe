"""Helpers shared by the benchmark scripts (not part of the ``cmmd_lite`` package).

* :func:`machine_info` -- CPU model, cores, torch threads, GPU name: printed with every result.
* :func:`synthetic_train` -- a :class:`PairedData` of random uint8 images with the shapes,
  modalities and observed/missing roles a config's real dataset has (timing does not depend on
  pixel values, only on shapes).
* :func:`train_pairs` -- how many training pairs a config's training split holds (exactly for
  2-modality MNIST; an estimate for the MNIST-SVHN pairings, whose count depends on SVHN labels).
"""
from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any, Sequence

import torch

from cmmd_lite.config import Config
from cmmd_lite.data.paired import PairedData
from cmmd_lite.utils import machine_info as library_machine_info

# Images per modality and the class counts used to size the MMVAE pairing without loading SVHN.
MODALITY_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28), "mnist_rotated": (1, 28, 28), "mnist_noisy": (1, 28, 28), "svhn": (3, 32, 32)}
MNIST_TRAIN_IMAGES = 60_000
MNIST_TRAIN_CLASS_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)  # official
SVHN_TRAIN_CLASS_COUNTS = (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)  # official, label 10 -> 0
MMVAE_MAX_PER_CLASS = 10_000  # cmmd_lite.data.paired.mmvae_pairs' default


# --- the machine --------------------------------------------------------------------------------

def machine_info(device: torch.device) -> dict[str, Any]:
    """cmmd_lite's record of the machine, plus the 1-minute load average before the run."""
    info = library_machine_info(device)
    try:
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    return info


def describe_machine(info: dict[str, Any]) -> str:
    text = (f"machine: {info['cpu']}; {info['cpu_cores_usable']} usable cores; torch {info['torch']} with "
            f"{info['torch_threads']} thread{'' if info['torch_threads'] == 1 else 's'}")
    if info.get("gpu"):
        text += f"; GPU: {info['gpu']} (CUDA {info['cuda']})"
    if "load_average_1m" in info:
        text += f"; load average (1 min) before the run: {info['load_average_1m']}"
    return text


def warn_if_busy(info: dict[str, Any], device: torch.device) -> bool:
    """Print a warning when other processes keep the CPU busy (CPU timings then mean little)."""
    load = info.get("load_average_1m")
    if load is None or load < 0.75:
        return False
    threads, cores = info["torch_threads"], info["cpu_cores_usable"]
    advice = ("--threads 1 keeps torch's threads from fighting the other jobs for the cores"
              if device.type == "cpu" and threads > 1 else "figures will vary between runs")
    print(f"!! the machine is busy before the run (load average {load} on {cores} cores): other processes "
          f"compete for the CPU, so timings are noisy; run on an idle machine, or {advice}.", flush=True)
    return True


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'' if n == 1 else 's'})"
    return str(device)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    """Seconds ``fn()`` takes, with the device synchronised before and after."""
    synchronize(device)
    began = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - began


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --- data of the right shapes --------------------------------------------------------------------

def modalities(config: Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(observed, missing) modality names of a config's dataset, in the order cmmd_lite uses."""
    dataset = config.data.dataset
    if dataset == "mnist2":
        return ("mnist_rotated",), ("mnist_noisy",)
    if dataset == "mnist_svhn":
        return ("mnist",), ("svhn",)
    if dataset == "mnist3":
        allowed = ("mnist", "mnist_rotated", "svhn")
        observed = tuple(config.data.observed)
        return observed, tuple(m for m in allowed if m not in observed)
    raise ValueError(f"no synthetic stand-in for dataset {dataset!r}")


def synthetic_train(config: Config, n_pairs: int, *, n_base: int | None = None, seed: int = 0) -> PairedData:
    """``n_pairs`` random pairs shaped like ``config``'s training split (uint8 images, 10 classes).

    Each modality has a base of ``n_base`` random images (default: ``min(n_pairs, 8192)``) and the
    pairs index into it at random, as the MNIST-SVHN pairings do; the gather cost per batch is that
    of the real data.
    """
    observed, missing = modalities(config)
    n_base = n_base or max(2, min(n_pairs, 8192))
    gen = torch.Generator().manual_seed(seed)
    sources, index = {}, {}
    for name in observed + missing:
        sources[name] = torch.randint(0, 256, (n_base, *MODALITY_SHAPES[name]), dtype=torch.uint8, generator=gen)
        index[name] = torch.randint(0, n_base, (n_pairs,), generator=gen)
    y = torch.randint(0, 10, (n_pairs,), generator=gen)
    return PairedData(sources, index, y, observed=observed, missing=missing, n_classes=10)


def train_pairs(config: Config) -> tuple[int, bool]:
    """(number of training pairs of ``config``'s training split, exact?).

    2-modality MNIST: every official training image not held out for validation (exact). MNIST-SVHN
    and 3-modality MNIST: ``pairing_multiplier`` x sum over classes of min(#MNIST, #SVHN, 10,000) in
    the training splits, from the official class counts times (1 - val_fraction) -- an estimate
    (within about 1%) unless ``max_train`` caps it.
    """
    data = config.data
    keep = 1.0 - data.val_fraction
    if data.dataset == "mnist2":
        n = MNIST_TRAIN_IMAGES - int(round(MNIST_TRAIN_IMAGES * data.val_fraction))
        exact = True
    elif data.dataset in ("mnist_svhn", "mnist3"):
        per_class = sum(min(round(m * keep), round(s * keep), MMVAE_MAX_PER_CLASS)
                        for m, s in zip(MNIST_TRAIN_CLASS_COUNTS, SVHN_TRAIN_CLASS_COUNTS))
        n = per_class * data.pairing_multiplier
        exact = False
    else:
        raise ValueError(f"cannot size dataset {data.dataset!r}")
    if data.max_train is not None and data.max_train <= n:
        return data.max_train, exact or data.max_train < 0.95 * n  # a cap well below the estimate binds
    return n, exact


def steps_per_epoch(n_pairs: int, batch_size: int) -> int:
    return math.ceil(n_pairs / batch_size)
