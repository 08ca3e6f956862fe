"""The compute profiles: the one switch for the amount of compute, and the one table of what it changes.

Three profiles, read from ``CMMD_PROFILE`` by :func:`current_profile` (default ``laptop``):

* ``paper``  -- Appendix C architectures and settings; meant for a GPU.
* ``laptop`` -- minutes on a 2-core CPU, results a reader finds meaningful.
* ``smoke``  -- seconds; CI runs every notebook and test in this profile.

Only the entry points resolve the profile (``get_config``, ``chapter_config``, ``reproduce``, the
CLI); everything below them takes the profile, or the settings it selects, as an argument.

:data:`PROFILE_TABLE` is every per-profile setting of the library, as named variants (flat
overrides) per consumer:

* ``"configs"``: config overrides per named config (``"*"``: every config, applied first) that
  turn the paper's Appendix C config into the profile's (:func:`cmmd_lite.config.get_config`);
* ``"chapters"``: the book's per-chapter budgets on top of those (:mod:`cmmd_lite.budgets`);
* ``"coherence"``: the digit classifiers that judge coherence (:mod:`cmmd_lite.coherence`);
* ``"reproduce"``: run options of ``reproduce`` (:mod:`cmmd_lite.reproduce`);
* ``"sweeps"``: the config overrides the book's recorded sweeps use (``--override`` of
  ``python -m cmmd_lite sweep``; :func:`cmmd_lite.budgets.chapter_record` rebuilds with them).

This module imports nothing of cmmd_lite, so every layer can read it.
"""
from __future__ import annotations

import os
from typing import Any

ENV_PROFILE = "CMMD_PROFILE"
PROFILES = ("smoke", "laptop", "paper")

_LAPTOP_WIDTH = (400,)

# 2-modality MNIST, laptop profile (one hidden layer of 400, z = 20, batch 128, lr 1e-3), measured
# on the 2-core CPU: about 14 s per epoch of the 50,000 training pairs when the machine is idle.
# Chapters 2-4 train five models between them (chapter 2 one, chapters 3 and 4 two each; the
# others are loaded). With 5 epochs each, a whole laptop build on the idle machine took 75, 132
# and 126 s for chapters 2, 3 and 4 (commit c9fcb3e), with validation accuracy 0.73-0.93
# depending on the setting and still rising. With 8 epochs they took 101, 178 and 191 s
# (benchmarks/RESULTS.md), each under its 5 minutes. All the pairs for fewer epochs learned
# exactly as much as half the pairs for twice the epochs (test accuracy 0.809 both), and batch 64
# learned more per sample but ran about 1.3x slower per sample, so batch 128 is kept.
# 2,000 validation pairs (model selection after every epoch) and 5,000 test pairs cut the
# evaluation time, which otherwise is a quarter of an epoch each time.
_MNIST2_SHORT = {"epochs": 8, "max_val": 2_000, "max_test": 5_000}

PROFILE_TABLE: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "paper": {
        "configs": {
            # the reference code draws 80,000 training pairs
            "mnist_svhn": {"max_train": 80_000},
            "mnist_svhn_coherent": {"max_train": 80_000},
            "mnist3": {"max_train": 80_000},
            "mnist3_two_observed": {"max_train": 80_000},
        },
        "chapters": {},  # the paper's settings: no overrides
        "coherence": {"*": {"hidden": (1024,), "epochs": 20, "batch_size": 128}},
        "reproduce": {"*": {"tsne_points": 5_000, "probe_max_train": 10_000, "coherence_samples": 1}},
        "sweeps": {},  # the paper's settings, every epoch cap of the paper
    },
    "laptop": {
        "configs": {
            "*": {"z_dim": 20, "encoder_hidden": _LAPTOP_WIDTH, "prior_hidden": _LAPTOP_WIDTH,
                  "decoder_hidden": _LAPTOP_WIDTH, "pairing_multiplier": 1, "epochs": 25, "batch_size": 128,
                  "lr": 1e-3, "importance_samples": 4},  # MMVAE's K: 30 in the paper profile
            "mnist_svhn": {"max_train": 50_000},
            "mnist_svhn_coherent": {"max_train": 50_000},
            "mnist3": {"max_train": 50_000},
            "mnist3_two_observed": {"max_train": 50_000},
        },
        "chapters": {
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
        # well under a minute per modality on 2 cores
        "coherence": {"*": {"hidden": (512,), "epochs": 5, "batch_size": 128}},
        "reproduce": {"*": {"tsne_points": 2_000, "probe_max_train": 10_000, "coherence_samples": 1}},
        # the committed laptop records: 10,000 pairs per setting (so a grid fits in a few sittings on
        # 2 cores), up to 100 epochs (alpha = 10 needs 70 to 100 to plateau there)
        "sweeps": {"*": {"max_train": 10_000, "epochs": 100}},
    },
    "smoke": {
        "configs": {
            "*": {"z_dim": 8, "encoder_hidden": (64,), "prior_hidden": (64,), "decoder_hidden": (64,),
                  "classifier_hidden": (32,), "pairing_multiplier": 1, "max_train": 1024, "max_val": 256,
                  "max_test": 512, "epochs": 3, "batch_size": 64, "lr": 1e-3, "eval_samples": 2,
                  "importance_samples": 2},
        },
        "chapters": {  # the smoke profile is already tiny (seconds per model)
            "02_elbo_conditional_prior": {},
            "03_information_and_collapse": {},
            "04_mmd_objective": {},
            "08_paper_vs_reference_code": {},
            "05_mnist_to_svhn": {},
            "06_collapse_across_models": {},
            "07_three_modalities": {"max_train": 512, "epochs": 2},  # the deconv decoder is not shrunk
        },
        "coherence": {"*": {"hidden": (128,), "epochs": 10, "batch_size": 128}},
        "reproduce": {"*": {"tsne_points": 400, "probe_max_train": 2_000, "coherence_samples": 1}},
        "sweeps": {},
    },
}


def check_profile(profile: str) -> str:
    """``profile`` if it is one, else a ValueError listing them."""
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a compute profile; choose one of {', '.join(PROFILES)}.")
    return profile


def current_profile() -> str:
    """The compute profile named by ``CMMD_PROFILE`` (default ``laptop``): for entry points only."""
    profile = os.environ.get(ENV_PROFILE, "laptop").strip().lower() or "laptop"
    if profile not in PROFILES:
        raise ValueError(f"{ENV_PROFILE}={profile!r} is not a profile; set it to one of {', '.join(PROFILES)}.")
    return profile


def variant(profile: str, consumer: str, name: str = "*") -> dict[str, Any]:
    """The flat overrides ``consumer`` applies in ``profile`` for ``name``: the ``"*"`` entry, then
    the entry of ``name`` (a copy)."""
    table = PROFILE_TABLE[check_profile(profile)][consumer]
    return {**table.get("*", {}), **(table.get(name, {}) if name != "*" else {})}
