"""with_observed: the same pairs with other modalities observed (the two scenarios of Table 4)."""
from __future__ import annotations

import warnings

import pytest
import torch

from cmmd_lite import DataConfig, PairedData, PairedSplits, load_paired
from cmmd_lite.data import svhn_standin
from cmmd_lite.data.paired import with_observed
from cmmd_lite.data.svhn_standin import StandinWarning


def _three_modalities(n: int = 12, seed: int = 0) -> PairedSplits:
    g = torch.Generator().manual_seed(seed)
    sources = {"a": torch.rand(n, 1, 4, 4, generator=g), "b": torch.rand(n, 1, 4, 4, generator=g),
               "c": torch.rand(n, 3, 2, 2, generator=g)}
    rows = torch.arange(n)
    data = PairedData(sources, {k: rows.roll(i) for i, k in enumerate(sources)}, torch.arange(n) % 3,
                      observed=("a",), missing=("b", "c"), n_classes=3, standin=frozenset({"c"}))
    return PairedSplits(data.subset(slice(0, 6)), data.subset(slice(6, 9)), data.subset(slice(9, 12)), "toy")


def test_with_observed_changes_only_the_roles():
    splits = _three_modalities()
    two = with_observed(splits, ("a", "b"))
    for split in ("train", "val", "test"):
        old, new = getattr(splits, split), getattr(two, split)
        assert new.observed == ("a", "b") and new.missing == ("c",)
        assert torch.equal(new.y, old.y) and new.standin == old.standin
        x_o_old, x_m_old, _ = old.batch()
        x_o_new, x_m_new, _ = new.batch()
        # x_o gains b's pixels, x_M loses them; c is the same in both
        assert torch.equal(x_o_new, torch.cat([x_o_old, x_m_old[:, :16]], dim=1))
        assert torch.equal(x_m_new, x_m_old[:, 16:])
    assert two.name == splits.name and len(two.train) == len(splits.train)
    # and back: the modality order of the sources, not of the argument
    back = with_observed(two, ("a",))
    assert back.train.missing == ("b", "c")
    assert with_observed(splits, ("b", "a")).train.missing == ("c",)


@pytest.mark.parametrize("observed", [(), ("a", "b", "c"), ("a", "a"), ("z",)])
def test_with_observed_rejects_bad_roles(observed):
    with pytest.raises(ValueError, match="proper subset"):
        with_observed(_three_modalities(), observed)


def test_with_observed_equals_loading_the_other_scenario(real_mnist, monkeypatch):
    monkeypatch.setattr(svhn_standin, "STANDIN_SIZES", {"train": 400, "test": 200}, raising=False)
    caps = dict(dataset="mnist3", svhn_source="standin", max_train=200, max_val=50, max_test=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandinWarning)
        one = load_paired(DataConfig(observed=("mnist",), **caps))
        two = load_paired(DataConfig(observed=("mnist", "mnist_rotated"), **caps))
    derived = with_observed(one, ("mnist", "mnist_rotated"))
    assert derived.name == two.name
    for split in ("train", "val", "test"):
        a, b = getattr(derived, split), getattr(two, split)
        assert (a.observed, a.missing) == (b.observed, b.missing)
        for x, y in zip(a.batch(), b.batch()):
            assert torch.equal(x, y)
