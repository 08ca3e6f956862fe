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


# --- the machine's arithmetic peak and the model's arithmetic ----------------------------------------

def matmul_peak_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n x n x n matrix product in ``dtype`` on ``device`` (median of ``repeats`` after a
    warm-up), with the torch threads the caller set: the machine's own measured peak, taken in the
    same run as the figures it scales."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    a @ b
    seconds = [timed(lambda: a @ b, device) for _ in range(repeats)]
    return 2 * n ** 3 / median(seconds) / 1e9


def training_flops_per_sample(model: torch.nn.Module, batch: tuple[torch.Tensor, ...], objective,
                              precision: str = "fp32") -> float:
    """FLOPs of one training step (forward and backward of ``model.objective``; the optimiser's
    elementwise update is not counted) per sample, counted by ``torch.utils.flop_counter`` (matrix
    products and convolutions, the arithmetic that matters here)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cmmd_lite.fitting import autocast_for

    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter:
        with autocast_for(precision, device):
            loss = model.objective(*batch, objective, validate=False).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(batch[-1])


# --- K models of one architecture trained together ------------------------------------------------

class StackedSteps:
    """K models of one architecture trained as one: their weights stacked (``torch.func.stack_module_state``),
    one ``vmap``-ed ``functional_call`` of the objective per step (each model its own dropout and noise),
    the K losses summed for one backward pass, one Adam over the stacked tensors (Adam is elementwise,
    so this is K independent Adams). Every model sees the same batch; the benchmark only times it."""

    def __init__(self, models: Sequence[torch.nn.Module], objective, lr: float):
        import copy

        from torch.func import functional_call, stack_module_state, vmap

        params, buffers = stack_module_state(list(models))
        self.params = {k: v.detach().requires_grad_() for k, v in params.items()}
        self.buffers = buffers
        template = copy.deepcopy(models[0]).to("meta")
        template.forward = template.objective

        def loss(p, b, x_o, x_m, y):
            return functional_call(template, (p, b), (x_o, x_m, y), {"objective": objective, "validate": False}).loss

        self.losses = vmap(loss, in_dims=(0, 0, None, None, None), randomness="different")
        self.optimizer = torch.optim.Adam(self.params.values(), lr=lr)

    def step(self, x_o: torch.Tensor, x_m: torch.Tensor, y: torch.Tensor) -> None:
        losses = self.losses(self.params, self.buffers, x_o, x_m, y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()


# --- what a GPU would be asked to do per step -------------------------------------------------------

VIEW_OPS = {"view", "_unsafe_view", "reshape", "expand", "t", "transpose", "permute", "slice", "select", "split",
            "split_with_sizes", "chunk", "unsqueeze", "squeeze", "alias", "detach", "as_strided", "unbind",
            "lift_fresh", "_reshape_alias", "empty", "empty_strided", "empty_like"}


def op_census(run, steps: int) -> dict[str, float]:
    """Per training step of ``run()`` (which takes ``steps`` steps): the tensor operations that
    would be device kernels (aten operators other than views and allocations; a fused or foreach
    operator counts once) and the scalar reads (``.item()``, ``float(t)``, a tensor in an ``if``).
    Counted with a ``TorchDispatchMode`` on whatever device the model is on, so a CPU run gives the
    launch count a GPU step would have. On a GPU a scalar read is a host sync, except foreach Adam's
    reads of its step counts, which it keeps on the host there. Not seen here: ``train_epoch``'s
    ``.tolist()`` of its running means, one sync every 25 steps."""
    from torch.utils._python_dispatch import TorchDispatchMode

    counts = {"kernels": 0, "scalar_reads": 0}

    class Census(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name == "_local_scalar_dense":
                counts["scalar_reads"] += 1
            elif name not in VIEW_OPS:
                counts["kernels"] += 1
            return func(*args, **(kwargs or {}))

    with Census():
        run()
    return {k: v / steps for k, v in counts.items()}
