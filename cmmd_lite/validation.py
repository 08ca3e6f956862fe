"""Argument checks that fail early with a message naming the argument and what is allowed."""
from __future__ import annotations

import math
from typing import Iterable

import torch


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}.")


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, low_open: bool = False) -> None:
    """``low <= value <= high`` (``low < value`` when ``low_open``), and finite."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}={value!r} is out of range; allowed: {bracket}{lo}, {hi}].")


def check_positive_int(name: str, value: int, *, allow_zero: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name}={value!r} must be {kind} integer.")


def check_matrix(name: str, tensor: torch.Tensor, n_cols: int | None = None,
                 n_rows: int | None = None) -> None:
    """A finite floating (N, D) tensor, optionally with the given shape."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, features); got shape {tuple(tensor.shape)}.")
    if n_cols is not None and tensor.shape[1] != n_cols:
        raise ValueError(f"{name} has {tensor.shape[1]} features per row, the model expects {n_cols} "
                         f"(shape {tuple(tensor.shape)}); check which modality you passed.")
    if n_rows is not None and tensor.shape[0] != n_rows:
        raise ValueError(f"{name} has {tensor.shape[0]} rows but the other inputs have {n_rows}.")
    if not torch.is_floating_point(tensor):
        raise ValueError(f"{name} must be a floating tensor (got {tensor.dtype}); scale images to [0, 1] floats.")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the input first.")


def check_labels(name: str, labels: torch.Tensor, n_classes: int, n_rows: int | None = None) -> None:
    """Integer class labels of shape (N,) in [0, n_classes)."""
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{name} must be a 1-D tensor of class indices; got {shape}.")
    if torch.is_floating_point(labels) or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}.")
    if n_rows is not None and labels.shape[0] != n_rows:
        raise ValueError(f"{name} has {labels.shape[0]} entries but the other inputs have {n_rows} rows.")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}]; found values from "
                         f"{int(labels.min())} to {int(labels.max())}.")
