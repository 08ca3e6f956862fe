"""Pairing invariants and the paired datasets of the paper."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from cmmd_lite import DataConfig, PairedData, load_paired, paired_from_arrays
from cmmd_lite.data import svhn, svhn_standin
from cmmd_lite.data.files import MissingDataError, md5sum
from cmmd_lite.data.paired import cached_mmvae_pairs, mmvae_pairs, rotate_images, same_class_partners
from cmmd_lite.data.svhn import write_svhn_mat
from cmmd_lite.data.svhn_standin import StandinWarning


def test_same_class_partners_are_other_items_of_the_class():
    labels = np.array([0, 1, 0, 2, 1, 0, 1, 1, 3])
    partners = same_class_partners(labels, np.random.default_rng(0))
    assert (labels[partners] == labels).all()
    alone = np.isin(labels, [2, 3])  # classes with one member: their own partner
    assert (partners[~alone] != np.arange(len(labels))[~alone]).all()
    assert (partners[alone] == np.flatnonzero(alone)).all()


def test_mmvae_pairing_invariants():
    rng = np.random.default_rng(0)
    labels_a, labels_b = rng.integers(0, 4, 300), rng.integers(0, 4, 200)
    a, b = mmvae_pairs(labels_a, labels_b, 3, np.random.default_rng(1))
    assert (labels_a[a] == labels_b[b]).all()
    expected = sum(min((labels_a == c).sum(), (labels_b == c).sum()) for c in range(4))
    assert len(a) == 3 * expected
    # each chosen item appears exactly `multiplier` times
    assert set(np.unique(np.bincount(a)[np.bincount(a) > 0])) == {3}
    again = mmvae_pairs(labels_a, labels_b, 3, np.random.default_rng(1))
    other = mmvae_pairs(labels_a, labels_b, 3, np.random.default_rng(2))
    assert all((x == y).all() for x, y in zip((a, b), again)) and not (a == other[0]).all()


def test_pairs_are_cached_under_a_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path))
    labels = np.arange(50) % 5
    first = cached_mmvae_pairs(labels, labels[::-1].copy(), 2, seed=0, key="t")
    files = list((tmp_path / "data" / "pairs").glob("t-*.npz"))
    assert len(files) == 1
    second = cached_mmvae_pairs(labels, labels[::-1].copy(), 2, seed=0, key="t")
    assert all((x == y).all() for x, y in zip(first, second))
    cached_mmvae_pairs(labels, labels[::-1].copy(), 3, seed=0, key="t")
    assert len(list((tmp_path / "data" / "pairs").glob("t-*.npz"))) == 2


def test_rotation_moves_ink_and_zero_angle_is_identity():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 4:24, 13:15] = 255  # a vertical bar
    assert (rotate_images(image, np.array([0.0])) == image).all()
    turned = rotate_images(image, np.array([90.0]))[0]
    assert turned[13:15, 6:22].mean() > 200 and turned[4:10, 13:15].mean() < 50  # now horizontal


def test_paired_data_checks_its_inputs():
    sources = {"a": torch.zeros(5, 2), "b": torch.zeros(5, 3)}
    index = {"a": torch.arange(5), "b": torch.arange(5)}
    with pytest.raises(ValueError, match="points outside"):
        PairedData(sources, {"a": torch.arange(5), "b": torch.arange(5) + 1}, torch.zeros(5, dtype=torch.long), ("a",), ("b",))
    with pytest.raises(ValueError, match="one row per pair"):
        PairedData(sources, index, torch.zeros(4, dtype=torch.long), ("a",), ("b",))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 9\]"):
        PairedData(sources, index, torch.full((5,), 10), ("a",), ("b",))
    with pytest.raises(ValueError, match="disjoint"):
        PairedData(sources, index, torch.zeros(5, dtype=torch.long), ("a",), ("a",))


def test_paired_from_arrays_splits_disjointly():
    rng = np.random.default_rng(0)
    x_o, x_m, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 2)), rng.integers(0, 4, 100)
    splits = paired_from_arrays(x_o, x_m, y, seed=1)
    rows = [set(getattr(splits, s).index["x_o"].tolist()) for s in ("train", "val", "test")]
    assert [len(r) for r in rows] == [70, 10, 20] and not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    x_o_batch, x_m_batch, y_batch = splits.train.batch(torch.arange(3))
    assert x_o_batch.shape == (3, 3) and x_m_batch.shape == (3, 2) and x_o_batch.dtype == torch.float32
    first = splits.train.index["x_o"][0]
    np.testing.assert_allclose(x_o_batch[0].numpy(), x_o[first], rtol=1e-6)
    with pytest.raises(ValueError, match="one N"):
        paired_from_arrays(x_o, x_m[:5], y)
    with pytest.raises(ValueError, match="integer class labels"):
        paired_from_arrays(x_o, x_m, y.astype(float))


@pytest.fixture(scope="module")
def mnist2_smoke(real_mnist):
    return load_paired(DataConfig(dataset="mnist2", max_train=2000, max_val=500, max_test=500))


def test_mnist2_is_deterministic_and_well_formed(mnist2_smoke):
    data = mnist2_smoke
    assert (len(data.train), len(data.val), len(data.test)) == (2000, 500, 500)
    x_o, x_m, y = data.train.batch(torch.arange(len(data.train)))
    assert x_o.shape == x_m.shape == (2000, 784) and 0 <= float(x_o.min()) and float(x_m.max()) <= 1
    assert float(x_m.mean()) > float(x_o.mean()) + 0.3  # U[0, 1] noise raises the mean by about 0.45
    again = load_paired(DataConfig(dataset="mnist2", max_train=2000, max_val=500, max_test=500))
    assert torch.equal(again.train.batch()[0], x_o) and torch.equal(again.train.batch()[1], x_m)
    other = load_paired(DataConfig(dataset="mnist2", data_seed=1, max_train=2000, max_val=500, max_test=500))
    assert not torch.equal(other.train.batch()[0], x_o)


def test_mnist2_split_sizes_follow_wang_et_al(real_mnist):
    data = load_paired(DataConfig(dataset="mnist2"))
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 10_000, 10_000)
    # every class is represented in the validation split, carved from the training images
    assert torch.bincount(data.val.y, minlength=10).min() > 800


@pytest.fixture
def tiny_svhn(tmp_path, monkeypatch):
    """Tiny SVHN files in the official format, found through the real loader's source chain."""
    folder = tmp_path / "data" / "SVHN"
    folder.mkdir(parents=True)
    labels = {}
    for split, count in (("train", 600), ("test", 300)):
        rng = np.random.default_rng(len(split))
        images = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
        labels[split] = rng.integers(0, 10, count).astype(np.uint8)
        path = folder / svhn.SVHN_FILES[split].name
        write_svhn_mat(path, images, labels[split])
        monkeypatch.setitem(svhn.SVHN_FILES, split, dataclasses.replace(svhn.SVHN_FILES[split], md5=md5sum(path)))
    import os
    monkeypatch.setenv("CMMD_DATA_DIR", os.pathsep.join([os.environ.get("CMMD_DATA_DIR", ""), str(tmp_path / "data")]))
    return labels


def test_mnist_svhn_pairs_share_the_class(real_mnist, tiny_svhn):
    data = load_paired(DataConfig(dataset="mnist_svhn", observed=("mnist",), pairing_multiplier=2, svhn_source="real"))
    assert not data.uses_standin
    train = data.train
    x_o, x_m, _ = train.batch(torch.arange(10))
    assert x_o.shape == (10, 784) and x_m.shape == (10, 3 * 32 * 32)
    counts = torch.bincount(train.index["svhn"])
    assert set(counts[counts > 0].tolist()) == {2}  # each SVHN image used appears `multiplier` times
    # the SVHN side's label, looked up in the file by the image's bytes, is the pair's label
    file_images, file_labels = svhn.load_svhn_real("train")
    label_of = {image.tobytes(): int(label) for image, label in zip(file_images, file_labels)}
    svhn_side = [label_of[train.sources["svhn"][row].numpy().tobytes()] for row in train.index["svhn"].tolist()]
    assert svhn_side == train.y.tolist()
    assert (torch.bincount(data.test.index["mnist"]) <= 1).all()  # each test image at most once


def test_missing_real_svhn_is_an_error_or_a_labelled_standin(real_mnist, monkeypatch):
    monkeypatch.setattr(svhn_standin, "STANDIN_SIZES", {"train": 400, "test": 200}, raising=False)
    with pytest.raises(MissingDataError, match="train_32x32.mat"):
        load_paired(DataConfig(dataset="mnist_svhn", observed=("mnist",), svhn_source="real"))
    with pytest.warns(StandinWarning):
        data = load_paired(DataConfig(dataset="mnist_svhn", observed=("mnist",), svhn_source="auto",
                                      pairing_multiplier=1, max_train=500, max_val=100, max_test=100))
    assert data.uses_standin and "stand-in" in data.name and "stand-in" in data.train.label("svhn")
    assert data.train.label("mnist") == "MNIST"


def test_mnist3_roles(real_mnist, monkeypatch):
    monkeypatch.setattr(svhn_standin, "STANDIN_SIZES", {"train": 400, "test": 200}, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StandinWarning)
        one = load_paired(DataConfig(dataset="mnist3", observed=("mnist",), svhn_source="standin", max_train=300))
        two = load_paired(DataConfig(dataset="mnist3", observed=("mnist", "mnist_rotated"), svhn_source="standin",
                                     max_train=300))
    assert one.train.missing == ("mnist_rotated", "svhn") and one.train.x_m_shapes == [(1, 28, 28), (3, 32, 32)]
    assert two.train.missing == ("svhn",) and two.train.x_o_dim == 2 * 784
    with pytest.raises(ValueError, match="proper subset"):
        load_paired(DataConfig(dataset="mnist3", observed=("mnist", "mnist_rotated", "svhn")))


def test_per_split_min_max_fits_each_split_on_its_own_pairs():
    """The reference code's scaling: each split is min-max scaled with its own statistics."""
    rng = np.random.default_rng(0)
    n = 400
    x_o = rng.uniform(0.2, 0.6, size=(n, 3)).astype(np.float32)
    x_o[:, 2] = 0.5  # a constant feature keeps scale 1 (MinMaxScaler), only shifted by its min
    x_m = rng.uniform(0.0, 1.0, size=(n, 2)).astype(np.float32)
    splits = paired_from_arrays(x_o, x_m, rng.integers(0, 2, n), seed=0)
    for split in (splits.train, splits.test):
        scaled = split.fit_min_max()
        raw_o, scaled_o = split.batch()[0], scaled.batch()[0]
        torch.testing.assert_close(scaled_o[:, :2].amin(0), torch.zeros(2))
        torch.testing.assert_close(scaled_o[:, :2].amax(0), torch.ones(2))
        torch.testing.assert_close(scaled_o[:, 2], torch.zeros(len(split)))
        # the same affine map for every pair of the split, fitted on that split only
        low, high = raw_o[:, 0].min(), raw_o[:, 0].max()
        torch.testing.assert_close(scaled_o[:, 0], (raw_o[:, 0] - low) / (high - low))
        assert scaled.subset(slice(0, 5)).feature_ranges is scaled.feature_ranges
    train_low = splits.train.fit_min_max().feature_ranges["x_o"][0]
    test_low = splits.test.fit_min_max().feature_ranges["x_o"][0]
    assert not torch.equal(train_low, test_low)  # different statistics: the train/test shift


def test_scaling_switch_reaches_the_data_and_the_fingerprint():
    from cmmd_lite import get_config

    fixed = get_config("mnist2", "smoke")
    per_split = get_config("mnist2", "smoke", scaling="per_split_minmax")
    assert fixed.fingerprint() != per_split.fingerprint()
    with pytest.raises(ValueError, match="scaling"):
        get_config("mnist2", "smoke", scaling="zscore")
