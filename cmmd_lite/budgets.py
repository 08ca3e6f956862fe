"""How much each chapter of the book trains: per-chapter budgets on top of the compute profile.

The compute profile (``CMMD_PROFILE``: smoke, laptop, paper; see :mod:`cmmd_lite.config`) is the
one switch for the amount of compute. Some chapters train several models, and the whole book must
still build in minutes on a laptop CPU, so in the ``laptop`` profile a chapter may shorten its
runs further. Those shortenings are defined here, once, instead of in the notebooks:

* ``CHAPTER_BUDGETS[profile][chapter]`` is a dict of flat config overrides (the names
  :meth:`cmmd_lite.config.Config.with_overrides` takes: ``epochs``, ``max_train``, ...).
* The ``paper`` profile has no overrides: it trains what the paper trains.
* Chapters are keyed by their notebook's file name without the extension
  (``"02_elbo_conditional_prior"``).

Chapters 2, 3 and 4 share one budget on purpose: the same setting gives the same config, hence
the same checkpoint fingerprint, so chapter 3 reuses chapter 2's model at omega = 1 and chapter 4
reuses chapter 3's three models instead of training them again.

>>> chapter_config("mnist2", "03_information_and_collapse", "laptop", omega=0.0).train.epochs
8
>>> chapter_config("mnist2", "03_information_and_collapse", "paper").train.epochs
1000
"""
from __future__ import annotations

from typing import Any

from .config import PROFILES, Config, current_profile, get_config

# 2-modality MNIST, laptop profile (one hidden layer of 400, z = 20, batch 128, lr 1e-3), measured
# on the 2-core CPU: about 14 s per epoch of the 50,000 training pairs when the machine is idle.
# Chapters 2-4 train five models between them (chapter 2 one, chapters 3 and 4 two each; the
# others are loaded). With 5 epochs each, a whole laptop build on the idle machine took 75, 132
# and 126 s for chapters 2, 3 and 4 (commit c9fcb3e), with validation accuracy 0.73-0.93
# depending on the setting and still rising. With 8 epochs they took 101, 178 and 191 s
# (benchmarks/RESULTS.md), each under its 5 minutes. All the pairs for fewer epochs learned
# exactly as much as half the pairs for twice the epochs (test accuracy 0.809 both), and batch 64
# learned more per sample but ran about 1.3x slower per sample,
# so batch 128 is kept.
# 2,000 validation pairs (model selection after every epoch) and 5,000 test pairs cut the
# evaluation time, which otherwise is a quarter of an epoch each time.
_MNIST2_SHORT = {"epochs": 8, "max_val": 2_000, "max_test": 5_000}

CHAPTER_BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {},  # the paper's settings: no overrides
    "laptop": {
        "02_elbo_conditional_prior": _MNIST2_SHORT,
        "03_information_and_collapse": _MNIST2_SHORT,
        "04_mmd_objective": _MNIST2_SHORT,
        # Chapter 8 trains several ablation variants (the list is in the notebook): each makes
        # two passes over the 50,000 training pairs.
        "08_paper_vs_reference_code": {"epochs": 2, "max_val": 2_000, "max_test": 5_000},
        # Chapter 5 trains five MNIST-SVHN models (a 3,072-pixel colour x_M: about 26 s per epoch of
        # the profile's 50,000 pairs when the machine is idle), so each gets 10,000 pairs for 5
        # epochs: about 25 s per model, test accuracy near 0.9 (the jointly trained classifier).
        "05_mnist_to_svhn": {"max_train": 10_000, "max_val": 2_000, "max_test": 5_000, "epochs": 5},
        # Chapter 6 trains CMMD, VCCA, MVAE, MMVAE (IWAE, K = 4) and M-x_o on 2-modality MNIST with the
        # same budget. Measured in CPU seconds of one thread per pass over 50,000 pairs: M-x_o 4.5, CMMD 20,
        # VCCA 18, MVAE 30, MMVAE 85 (MMVAE draws 4 samples from each of its 2 experts and decodes both
        # modalities for each): 20,000 pairs for 3 epochs each, about 200 CPU seconds for the whole chapter,
        # test accuracy near 0.85 for every model (cross-entropy summed over the batch, as the chapter trains).
        "06_collapse_across_models": {"max_train": 20_000, "max_val": 2_000, "max_test": 5_000, "epochs": 3},
        # Chapter 7 trains CMMD on 3-modality MNIST twice (the Table D1 deconvolution decoder: about
        # 0.27 s of one CPU core per batch of 128 with x_o = x_1, 0.5 s with x_o = (x_1, x_2)) and
        # M-x_o twice (seconds): 10,000 triples for 3 epochs each, test accuracy near 0.88 and 0.95.
        "07_three_modalities": {"max_train": 10_000, "max_val": 1_000, "max_test": 5_000, "epochs": 3},
    },
    "smoke": {  # the smoke profile is already tiny (seconds per model)
        "02_elbo_conditional_prior": {},
        "03_information_and_collapse": {},
        "04_mmd_objective": {},
        "08_paper_vs_reference_code": {},
        "05_mnist_to_svhn": {},
        "06_collapse_across_models": {},
        "07_three_modalities": {"max_train": 512, "epochs": 2},  # the deconv decoder is not shrunk
    },
}


def known_chapters() -> list[str]:
    """Every chapter that has a budget in some profile."""
    return sorted({chapter for budgets in CHAPTER_BUDGETS.values() for chapter in budgets})


def chapter_budget(chapter: str, profile: str | None = None) -> dict[str, Any]:
    """The config overrides of ``chapter`` in ``profile`` (default: the current profile), a copy.

    Empty in the ``paper`` profile and wherever a chapter needs no shortening. Raises ValueError
    for a chapter that no profile knows (a typo would otherwise silently train the full budget)
    and for an unknown profile.
    """
    profile = profile or current_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}.")
    chapters = known_chapters()
    if chapter not in chapters:
        raise ValueError(f"no compute budget for chapter {chapter!r}; known chapters: {', '.join(chapters)}. "
                         "Add it to cmmd_lite.budgets.CHAPTER_BUDGETS.")
    return dict(CHAPTER_BUDGETS.get(profile, {}).get(chapter, {}))


def chapter_config(name: str, chapter: str, profile: str | None = None, **overrides: Any) -> Config:
    """The named config for ``chapter``: ``get_config(name, profile, **budget, **overrides)``.

    ``overrides`` (the setting a chapter is about, e.g. ``omega=0.0``) win over the chapter's
    budget, which wins over the profile's defaults.

    >>> chapter_config("mnist2", "04_mmd_objective", "smoke", omega=0.1).objective.omega
    0.1
    """
    profile = profile or current_profile()
    budget = chapter_budget(chapter, profile)
    return get_config(name, profile, **{**budget, **overrides})
