"""Argument checks that fail early with a message naming the argument and what is allowed."""
from __future__ import annotations

import math
import numbers
from typing import Iterable, Sequence

import torch


SEED_LIMIT = 2**32  # numpy's seeds are below 2**32


def _got(value: object, expected: tuple[type, ...] = (int, float)) -> str:
    """``value`` as a message reports it: its repr, and its type when that is not an ``expected`` one."""
    kind = type(value)
    if kind in expected:
        return repr(value)
    module = "" if kind.__module__ == "builtins" else kind.__module__.split(".")[0] + "."
    article = "an" if kind.__name__[:1] in "aeiou" else "a"
    return f"{value!r} ({article} {module}{kind.__name__})"


def _is_int(value: object) -> bool:
    """A Python int, not a bool (numpy integers are refused: configs are stored as JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    lo = "-inf" if low is None else f"{low}"
    hi = "inf" if high is None else f"{high}"
    return f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # an unhashable or incomparable value
        ok = False
    if not ok:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}.")


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, high_open: bool = False, allow_none: bool = False) -> None:
    """``low <= value <= high`` (``low < value`` when ``low_open``, ``value < high`` when
    ``high_open``), finite, and a number (an int or a float, not a bool). None passes when
    ``allow_none``."""
    if allow_none and value is None:
        return
    interval = _interval(low, high, low_open, high_open)
    if not _is_number(value) or not math.isfinite(value):
        where = "" if low is None and high is None else f" in {interval}"
        raise ValueError(f"{name}={value!r} must be a finite number{where}{' or None' if allow_none else ''}; "
                         f"got {_got(value)}.")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name}={value!r} is out of range; allowed: {interval}{' or None' if allow_none else ''}.")


def check_positive_int(name: str, value: int, *, allow_zero: bool = False, allow_none: bool = False) -> None:
    """A Python int >= 1 (>= 0 when ``allow_zero``); not a bool, a float or a numpy integer.
    None passes when ``allow_none``."""
    if allow_none and value is None:
        return
    if not _is_int(value) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name}={value!r} must be {kind} integer{' or None' if allow_none else ''}; "
                         f"got {_got(value, (int,))}.")


def check_seed(name: str, value: int) -> None:
    """A seed: a Python int in [0, 2**32) (what numpy accepts; torch takes the same)."""
    if not _is_int(value) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name}={value!r} must be a non-negative integer below 2**32 (it seeds numpy and "
                         f"torch); got {_got(value, (int,))}.")


def check_int_tuple(name: str, value: tuple[int, ...], *, example: str = "(400, 400)") -> None:
    """A tuple (possibly empty) of positive Python ints, e.g. the hidden widths of an MLP."""
    bad = None
    if not isinstance(value, tuple):
        bad = f"got {_got(value, (tuple,))}"
    else:
        wrong = [v for v in value if not _is_int(v) or v < 1]
        if wrong:
            bad = f"entry {_got(wrong[0], (int,))} is not"
    if bad is not None:
        raise ValueError(f"{name}={value!r} must be a tuple of positive integers (e.g. {example}); {bad}.")


def check_names(name: str, value: tuple[str, ...], allowed: Sequence[str], what: str) -> None:
    """A non-empty tuple of distinct names, each in ``allowed``; ``what`` ends the message."""
    problem = None
    if not isinstance(value, tuple):
        problem = f"got {_got(value, (tuple,))}, not a tuple of names"
    elif not value:
        problem = "got an empty tuple"
    elif not all(isinstance(v, str) for v in value):
        problem = f"entry {_got(next(v for v in value if not isinstance(v, str)), (str,))} is not a name"
    elif len(set(value)) != len(value):
        problem = "a name is repeated"
    else:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            problem = f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not one of them"
    if problem is not None:
        raise ValueError(f"{name}={value!r} is not allowed: {what}; {problem}.")


def check_folder_name(name: str, value: str) -> None:
    """A non-empty string usable as (part of) one folder name: no path separators, not . or .."""
    if not isinstance(value, str) or not value.strip() or value in (".", "..") or any(c in value for c in "/\\\0"):
        raise ValueError(f"{name}={value!r} must be a non-empty string without path separators (it becomes part "
                         f"of a folder name); got {_got(value, (str,))}.")


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
    """Integer class labels of shape (N,) in [0, n_classes); ``n_classes`` a positive int."""
    if not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 1:
        raise ValueError(f"n_classes={n_classes!r} must be a positive integer (the number of classes); "
                         f"got {_got(n_classes, (int,))}.")
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
