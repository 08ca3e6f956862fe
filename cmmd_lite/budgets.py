"""How much each chapter of the book trains: per-chapter budgets on top of the compute profile.

The compute profile (``CMMD_PROFILE``: smoke, laptop, paper; see :mod:`cmmd_lite.config`) is the
one switch for the amount of compute. Some chapters train several models, and the whole book must
still build in minutes on a laptop CPU, so in the ``laptop`` profile a chapter may shorten its
runs further. Those shortenings are defined once, in the profile table, instead of in the notebooks:

* ``CHAPTER_BUDGETS[profile][chapter]`` (the ``"chapters"`` entries of
  :data:`cmmd_lite.profiles.PROFILE_TABLE`) is a dict of flat config overrides (the names
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
from .profiles import PROFILE_TABLE, variant

# Per profile, per chapter: the "chapters" variants of the one profile table (measurements there).
CHAPTER_BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    profile: tables["chapters"] for profile, tables in PROFILE_TABLE.items()}


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


# --- the recorded sweeps the chapters read --------------------------------------------------------

#: ``committed`` (default): the chapters read the committed laptop record of each sweep;
#: ``rebuild``: they run the sweep in the current profile instead (hours on a CPU; resumable).
ENV_SWEEPS = "CMMD_SWEEPS"


def chapter_record(name: str) -> dict[str, Any]:
    """The record of sweep ``name`` a chapter explores: the committed ``laptop`` record
    (:func:`cmmd_lite.sweeps.recorded`), or with ``CMMD_SWEEPS=rebuild`` the sweep run here in the
    current profile, with the profile's ``"sweeps"`` overrides (those of the committed record in the
    laptop profile), into the cache (``records/rebuilt``; a rerun resumes it)."""
    import os

    from .paths import cache_dir
    from .sweeps import recorded, run_sweep

    mode = os.environ.get(ENV_SWEEPS, "committed").strip().lower() or "committed"
    if mode == "committed":
        return recorded(name, "laptop")
    if mode == "rebuild":
        profile = current_profile()
        return run_sweep(name, profile, seeds=(0, 1, 2), overrides=variant(profile, "sweeps"),
                         out=cache_dir("records", "rebuilt"))
    raise ValueError(f"{ENV_SWEEPS}={mode!r}: set it to 'committed' (read the committed record) or 'rebuild'.")


def chapter_trainer(record: dict[str, Any], data: Any, config_for: Any, profile: str | None = None) -> Any:
    """The "train this setting" of a record explorer: ``train(setting, report)`` trains
    ``config_for(setting)`` on ``data`` (the chapter's budget), reporting each epoch, and returns
    its record entry (:func:`cmmd_lite.sweeps.measure_for_record`)."""
    from .sweeps import measure_for_record
    from .train import train_or_load

    profile = profile or current_profile()

    def train(setting: tuple, report: Any) -> dict[str, Any]:
        config = config_for(setting)
        result = train_or_load(config, data=data,
                               on_epoch=lambda epoch, model: report(epoch["epoch"], config.train.epochs))
        return measure_for_record(result, data, record, profile=profile, seed=config.train.seed)

    return train
