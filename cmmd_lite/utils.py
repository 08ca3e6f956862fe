"""Setup helpers: seeding and device choice. Nothing global changes on import."""
from __future__ import annotations

import os
import platform
import random

from typing import Any

import numpy as np
import torch

from .validation import check_seed


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and all GPUs); ``seed`` is an int in [0, 2**32)."""
    check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def available_devices() -> list[str]:
    """The devices this machine can run on: ``cpu``, then each CUDA device, then ``mps``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        devices += ["cuda"] + [f"cuda:{i}" for i in range(count)]
    if _mps_available():
        devices.append("mps")
    return devices


def choose_device(preferred: str | torch.device | None = None) -> torch.device:
    """``preferred`` if given (a ValueError if this machine has no such device), else CUDA, then
    Apple MPS, then the CPU."""
    if preferred:
        return _checked_device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked_device(preferred: str | torch.device) -> torch.device:
    def unavailable(why: str) -> ValueError:
        return ValueError(f"device {str(preferred)!r} is not available here ({why}); "
                          f"available: {', '.join(available_devices())}.")

    try:
        device = preferred if isinstance(preferred, torch.device) else torch.device(str(preferred).strip())
    except (RuntimeError, ValueError, TypeError):
        raise unavailable("not a device name torch knows") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise unavailable("no CUDA GPU is visible to torch")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise unavailable(f"this machine has {count} CUDA device{'s' if count != 1 else ''}")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise unavailable("Apple MPS is not available")
        return device
    backend = getattr(torch, device.type, None)  # e.g. torch.xpu
    is_available = getattr(backend, "is_available", None)
    if callable(is_available) and is_available():
        return device
    raise unavailable(f"cmmd_lite runs on cpu, cuda or mps, and no {device.type} backend is available")


def machine_info(device: torch.device) -> dict[str, Any]:
    """What a recorded result ran on: CPU model, usable cores, torch version and threads, Python,
    the device, the GPU's name and CUDA version (None on a CPU)."""
    cpu = platform.processor() or platform.machine() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.lower().startswith("model name")), cpu)
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    device = torch.device(device)
    info = {"cpu": cpu, "cpu_cores_usable": cores, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "device": str(device), "gpu": None}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info
