"""Per-chapter compute budgets (cmmd_lite.budgets)."""
from __future__ import annotations

import doctest

import pytest

from cmmd_lite import budgets, get_config
from cmmd_lite.budgets import CHAPTER_BUDGETS, chapter_budget, chapter_config, known_chapters

SHARED = ("02_elbo_conditional_prior", "03_information_and_collapse", "04_mmd_objective")


def test_paper_profile_has_no_overrides():
    assert CHAPTER_BUDGETS["paper"] == {}
    for chapter in known_chapters():
        assert chapter_budget(chapter, "paper") == {}
        assert chapter_config("mnist2", chapter, "paper", omega=0.3) == get_config("mnist2", "paper", omega=0.3)


def test_laptop_budget_is_applied():
    for chapter, budget in CHAPTER_BUDGETS["laptop"].items():
        cfg = chapter_config("mnist2", chapter, "laptop")
        assert cfg == get_config("mnist2", "laptop", **budget)
        assert cfg.profile == "laptop"
    cfg = chapter_config("mnist2", "03_information_and_collapse", "laptop")
    assert cfg.train.epochs == CHAPTER_BUDGETS["laptop"]["03_information_and_collapse"]["epochs"]
    assert cfg.train.epochs < get_config("mnist2", "laptop").train.epochs


def test_explicit_overrides_win_over_the_budget():
    cfg = chapter_config("mnist2", "02_elbo_conditional_prior", "laptop", epochs=2, omega=1.0)
    assert cfg.train.epochs == 2 and cfg.objective.omega == 1.0
    # the rest of the budget still applies
    budget = chapter_budget("02_elbo_conditional_prior", "laptop")
    if "max_val" in budget:
        assert cfg.data.max_val == budget["max_val"]


def test_chapters_2_to_4_share_configs():
    # the same setting must give the same checkpoint in each of these chapters
    for profile in ("smoke", "laptop", "paper"):
        fingerprints = {chapter_config("mnist2", c, profile, omega=0.5).fingerprint() for c in SHARED}
        assert len(fingerprints) == 1, profile


def test_unknown_chapter_and_profile_raise():
    with pytest.raises(ValueError, match="no compute budget for chapter '99_nope'.*known chapters"):
        chapter_config("mnist2", "99_nope", "laptop")
    with pytest.raises(ValueError, match="no compute budget"):
        chapter_budget("99_nope", "paper")  # a typo fails in every profile
    with pytest.raises(ValueError, match="unknown profile"):
        chapter_budget(SHARED[0], "huge")


def test_default_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CMMD_PROFILE", "smoke")
    assert chapter_config("mnist2", SHARED[0]).profile == "smoke"
    monkeypatch.setenv("CMMD_PROFILE", "laptop")
    assert chapter_config("mnist2", SHARED[0]) == chapter_config("mnist2", SHARED[0], "laptop")


def test_budget_is_a_copy():
    budget = chapter_budget(SHARED[0], "laptop")
    budget["epochs"] = 10_000
    assert chapter_budget(SHARED[0], "laptop").get("epochs") != 10_000


def test_budgets_are_valid_overrides():
    for profile, chapters in CHAPTER_BUDGETS.items():
        for chapter in chapters:
            chapter_config("mnist2", chapter, profile)  # validates every override


def test_doctests():
    assert doctest.testmod(budgets).failed == 0
