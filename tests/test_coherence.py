"""Coherence: per-modality classifiers (trained, cached) and scoring generated x_M on tiny synthetic data."""
import numpy as np
import pytest
import torch
from torch import nn

from cmmd_lite import build_model, get_config, paired_from_arrays
from cmmd_lite.coherence import (CoherenceCacheError, ClassifierSettings, cache_path_for, classifier_accuracy,
                                 classifier_settings, coherence, coherence_report, modality_classifier,
                                 modality_images, resolve_arch, train_modality_classifier)
from cmmd_lite.data.paired import PairedData

N_CLASSES, DIM = 4, 24
SETTINGS = ClassifierSettings(hidden=(32,), dropout=0.0, epochs=15, batch_size=64, lr=3e-3)


def _splits(noise: float, n: int = 800, seed: int = 0):
    """x_o == x_m: class c lights up block c of the features, plus Gaussian noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % N_CLASSES
    x = np.zeros((n, DIM), dtype=np.float32)
    block = DIM // N_CLASSES
    for c in range(N_CLASSES):
        x[y == c, c * block:(c + 1) * block] = 0.7
    x = np.clip(x + noise * rng.standard_normal(x.shape).astype(np.float32), 0, 1)
    return paired_from_arrays(x, x.copy(), y.astype(np.int64), name=f"toy noise {noise}")


class _FakeModel(nn.Module):
    """Generates x_M given x_o: the real x_M (x_o == x_m in these data), or uniform noise."""

    can_generate = True

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def generate(self, x_o, n_samples=1, *, generator=None):
        if self.kind == "perfect":
            return x_o.expand(n_samples, *x_o.shape).clone()
        return torch.rand((n_samples, *x_o.shape), generator=generator)


class _NoDecoder(nn.Module):
    can_generate = False


def test_classifier_learns_separable_data_and_ignores_test():
    splits = _splits(noise=0.1)
    classifier = modality_classifier(splits, "x_m", SETTINGS, cache=False)
    assert classifier_accuracy(classifier, splits.test) > 0.97
    assert classifier.info["best_val_accuracy"] > 0.97
    assert classifier.info["n_train_images"] == len(splits.train)
    # the test split plays no part in fitting: other test labels, the same weights and cache key
    other = _splits(noise=0.1)
    other.test.y = other.test.y[torch.randperm(len(other.test), generator=torch.Generator().manual_seed(0))]
    again = train_modality_classifier(other, "x_m", SETTINGS)
    for a, b in zip(classifier.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert cache_path_for(other, "x_m", SETTINGS) == cache_path_for(splits, "x_m", SETTINGS)
    # labels scrambled in training and validation: nothing to learn, so near chance on the true test labels
    scrambled = _splits(noise=0.6)
    for split in (scrambled.train, scrambled.val):
        split.y = split.y[torch.randperm(len(split), generator=torch.Generator().manual_seed(0))]
    bad = train_modality_classifier(scrambled, "x_m", SETTINGS)
    assert classifier_accuracy(bad, scrambled.test) < 0.45


def test_perfect_generator_scores_the_classifier_accuracy_and_noise_scores_chance():
    splits = _splits(noise=0.8)  # overlapping classes: the classifier is good, not perfect
    classifier = train_modality_classifier(splits, "x_m", SETTINGS)
    ceiling = classifier_accuracy(classifier, splits.test)
    assert 0.6 < ceiling < 0.95
    perfect = coherence(_FakeModel("perfect"), splits.test, {"x_m": classifier}, n_samples=2)
    assert perfect["x_m"] == pytest.approx(ceiling, abs=1e-6)
    macro = coherence(_FakeModel("perfect"), splits.test, {"x_m": classifier}, average="macro")
    assert macro["x_m"] == pytest.approx(classifier_accuracy(classifier, splits.test, average="macro"), abs=1e-6)
    noise = coherence(_FakeModel("noise"), splits.test, {"x_m": classifier}, n_samples=5, seed=1)
    assert abs(noise["x_m"] - 1 / N_CLASSES) < 0.12
    report = coherence_report(_FakeModel("perfect"), splits.test, {"x_m": classifier})
    assert report["x_m"]["coherence"] == pytest.approx(report["x_m"]["ceiling"], abs=1e-6)
    assert report["x_m"]["chance"] == pytest.approx(0.25)


def test_coherence_errors():
    splits = _splits(noise=0.1, n=200)
    classifier = train_modality_classifier(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=1))
    with pytest.raises(ValueError, match="no decoder"):
        coherence(_NoDecoder(), splits.test, {"x_m": classifier})
    with pytest.raises(ValueError, match="missing modalities"):
        coherence(_FakeModel("perfect"), splits.test, {"x_o": classifier})
    with pytest.raises(ValueError, match="average"):
        coherence(_FakeModel("perfect"), splits.test, {"x_m": classifier}, average="weighted")
    with pytest.raises(ValueError, match="unknown classifier settings"):
        classifier_settings("smoke", layers=3)


def test_real_model_coherence_runs_and_is_a_fraction():
    splits = _splits(noise=0.1, n=200)
    classifier = train_modality_classifier(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=2))
    config = get_config("mnist2", "smoke", encoder_hidden=(8,), prior_hidden=(8,), decoder_hidden=(8,))
    torch.manual_seed(0)
    model = build_model(config, splits.train)
    value = coherence(model, splits.test, {"x_m": classifier}, n_samples=3)["x_m"]
    assert 0.0 <= value <= 1.0


def test_cache_reuses_the_file_and_detects_mismatch(tmp_path):
    splits = _splits(noise=0.1, n=300)
    settings = ClassifierSettings(hidden=(8,), epochs=2, seed=3)
    first = modality_classifier(splits, "x_m", settings)
    path = cache_path_for(splits, "x_m", settings)
    assert path.is_file() and first.info["cache_file"] == str(path) and not first.info["loaded"]
    mtime = path.stat().st_mtime_ns
    second = modality_classifier(splits, "x_m", settings)
    assert second.info["loaded"] and path.stat().st_mtime_ns == mtime
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)
    # other settings or other data: another file
    assert cache_path_for(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=3, seed=3)) != path
    assert cache_path_for(_splits(noise=0.1, n=300, seed=1), "x_m", settings) != path
    # a file made with other settings, named explicitly: a clear error
    with pytest.raises(CoherenceCacheError, match="other data or settings.*epochs"):
        modality_classifier(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=3, seed=3), path=path)
    # a corrupt file: a clear error, and retrain=True replaces it
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CoherenceCacheError, match="cannot read"):
        modality_classifier(splits, "x_m", settings)
    again = modality_classifier(splits, "x_m", settings, retrain=True)
    assert not again.info["loaded"] and modality_classifier(splits, "x_m", settings).info["loaded"]


def test_training_is_seeded_and_leaves_global_rng_alone():
    splits = _splits(noise=0.3, n=300)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = train_modality_classifier(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=2, seed=5))
    assert torch.equal(torch.get_rng_state(), state)
    b = train_modality_classifier(splits, "x_m", ClassifierSettings(hidden=(8,), epochs=2, seed=5))
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(p, q)


def test_modality_images_counts_each_base_image_once():
    base = torch.arange(5, dtype=torch.uint8)[:, None].repeat(1, 3)
    index = torch.tensor([0, 2, 2, 4, 0, 1])
    y = torch.tensor([0, 1, 1, 0, 0, 1])
    data = PairedData({"a": base, "b": base}, {"a": index, "b": index}, y, observed=("a",), missing=("b",),
                      n_classes=2)
    images, labels = modality_images(data, "b")
    assert images[:, 0].tolist() == [0, 1, 2, 4] and labels.tolist() == [0, 1, 1, 0]


def test_auto_arch_is_a_cnn_for_colour_images_and_it_learns():
    g = torch.Generator().manual_seed(0)
    n = 300
    y = torch.arange(n) % 3
    images = torch.rand(n, 3, 8, 8, generator=g) * 0.3
    for c in range(3):
        images[y == c, c] += 0.6  # class c: a brighter colour channel
    images = images.clamp(0, 1).flatten(1).numpy()
    splits = paired_from_arrays(images, images, y.numpy())
    for name in ("x_o", "x_m"):  # give the arrays their image shape
        splits.train.sources[name] = splits.train.sources[name].reshape(-1, 3, 8, 8)
    classifier = train_modality_classifier(splits, "x_m", ClassifierSettings(hidden=(16,), epochs=8, lr=3e-3))
    assert classifier.arch == "cnn" and classifier.info["arch"] == "cnn"
    assert classifier_accuracy(classifier, splits.test) > 0.9
    assert resolve_arch("auto", (1, 28, 28)) == "mlp" and resolve_arch("auto", (24,)) == "mlp"
    with pytest.raises(ValueError, match="needs images"):
        resolve_arch("cnn", (24,))
