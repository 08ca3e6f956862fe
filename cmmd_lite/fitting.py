"""The training loop shared by every model of the package: CMMD, the baselines (:func:`cmmd_lite.train.fit`)
and the coherence classifiers (:func:`cmmd_lite.coherence.train_modality_classifier`).

Each epoch is one pass over the training items in an order drawn from a seeded generator
(:func:`shuffled_batches`), one optimiser step per batch (:func:`gradient_step`); after it a
validation score decides, in :class:`FitLoop`, which epoch's weights are kept and when to stop::

    loop = FitLoop(model, patience=None)
    for epoch in loop.epochs(n_epochs):  # 1, 2, ...; none once the patience has run out
        model.train()
        for rows in shuffled_batches(n_items, batch_size, shuffle):
            gradient_step(optimizer, loss(rows))
        loop.end_epoch(validation_score())
    loop.keep_best()  # the model gets the kept epoch's weights

What the callers add around it is theirs: :func:`~cmmd_lite.train.fit` its loss terms, checks for
non-finite values, progress bar and resumable checkpoints; the classifiers their cross-entropy.
"""
from __future__ import annotations

from typing import Iterable, Iterator

import torch
from torch import nn


def shuffled_batches(n: int, batch_size: int, shuffle: torch.Generator,
                     device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
    """One epoch's batches: the row indices ``0 .. n-1`` in an order drawn from ``shuffle`` (one
    ``randperm`` per epoch, so a seeded generator gives the same epochs), cut into consecutive
    batches of ``batch_size`` (the last one holds the remainder). ``device``: where the indices
    go (that of the tensors they index), moved there once per epoch."""
    order = torch.randperm(n, generator=shuffle)
    if device is not None:
        order = order.to(device)
    return order.split(batch_size)


def autocast_for(precision: str, device: torch.device | str):
    """The context a training pass runs in for ``TrainConfig.precision``: bfloat16 autocast on
    ``device``'s type for ``"bf16"`` (matrix products and convolutions in bfloat16; the networks
    hand float32 outputs to the loss terms, :class:`cmmd_lite.nets.MLP`), nothing for ``"fp32"``."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def adam(parameters: Iterable[nn.Parameter], lr: float, **options) -> torch.optim.Adam:
    """The optimiser of every fit (Appendix C: Adam): PyTorch's Adam, with its fused kernel (one
    kernel for the whole update instead of about ten elementwise passes per parameter group) where
    the parameters live on a CPU or a CUDA device. The update is Adam's either way, to rounding
    (tests/test_fit_loop.py); the kernel census of benchmarks/bench_train_step.py counts what it
    saves. ``options``: Adam's other arguments."""
    parameters = list(parameters)
    fused = bool(parameters) and all(p.device.type in ("cpu", "cuda") for p in parameters)
    return torch.optim.Adam(parameters, lr=lr, fused=fused, **options)


def gradient_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step of ``optimizer`` down the gradient of ``loss`` (the gradients are reset first)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class FitLoop:
    """The epochs of a fit, and which epoch's weights it keeps.

    After each epoch, :meth:`end_epoch` takes its validation score: the best epoch is the first
    with the highest score (the lowest with ``minimize``): a later epoch must beat it strictly, and
    a copy of its weights is kept. Without a score (nothing to validate on) the latest epoch counts
    as the best and the model's own weights are kept. With ``patience``, :meth:`epochs` stops once
    that many epochs have passed since the best one. :meth:`keep_best` gives the model the kept
    weights. :meth:`resume` continues a run from its saved counts (the optimiser's and the
    shuffle's states are the caller's to restore).
    """

    def __init__(self, model: nn.Module, *, minimize: bool = False, patience: int | None = None):
        self.model, self.minimize, self.patience = model, minimize, patience
        self.epochs_done = 0
        self.best_epoch: int | None = None
        self.best_score: float | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def resume(self, epochs_done: int, best_epoch: int | None, best_score: float | None,
               best_weights: dict[str, torch.Tensor] | None) -> None:
        """Continue after ``epochs_done`` epochs whose best was ``best_epoch`` (its score, its weights)."""
        self.epochs_done, self.best_epoch, self.best_score, self.best_weights = (
            epochs_done, best_epoch, best_score, best_weights)

    def epochs(self, n: int) -> Iterator[int]:
        """The epochs still to run, counted from 1, up to ``n``; none once the patience has run out.
        Call :meth:`end_epoch` once in each."""
        for epoch in range(self.epochs_done + 1, n + 1):
            if self.patience_ran_out:
                return
            yield epoch

    def end_epoch(self, score: float | None) -> bool:
        """Close the current epoch with its validation score; whether it is now the kept one."""
        self.epochs_done += 1
        if score is None:
            self.best_epoch, self.best_score, self.best_weights = self.epochs_done, None, None
            return True
        if self.best_score is not None and not (score < self.best_score if self.minimize else score > self.best_score):
            return False
        self.best_epoch, self.best_score = self.epochs_done, score
        self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return True

    @property
    def patience_ran_out(self) -> bool:
        """``patience`` epochs have passed since the best one."""
        return (self.patience is not None and self.best_epoch is not None
                and self.epochs_done - self.best_epoch >= self.patience)

    def keep_best(self) -> None:
        """Load the kept epoch's weights into the model (nothing to do when they are its own)."""
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
