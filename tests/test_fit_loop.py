"""The one training loop (cmmd_lite.fitting) behind fit and the coherence classifiers: its rules, and that
both callers train exactly as the hand-written loops they replaced (the same weights, bit for bit, so that
checkpoints and cached classifiers trained before it stay valid)."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cmmd_lite.train as train_module
from cmmd_lite import get_config, paired_from_arrays, train_or_load
from cmmd_lite.coherence import ClassifierSettings, ModalityClassifier, modality_images, train_modality_classifier
from cmmd_lite.data.paired import PairedSplits
from cmmd_lite.evaluate import accuracy
from cmmd_lite.fitting import FitLoop, adam, gradient_step, shuffled_batches
from cmmd_lite.losses import kl_warmup_weight
from cmmd_lite.train import build_model, fit, validation_loss
from cmmd_lite.utils import seed_everything
from test_store import _toy_data


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# --- the loop's rules -------------------------------------------------------------------------------

def _scripted(scores, loop=None, **kwargs):
    """Run a FitLoop (a new one, or ``loop``) over scripted scores; each epoch sets the weight to its number."""
    loop, ran = loop or FitLoop(nn.Linear(1, 1, bias=False), **kwargs), []
    model = loop.model
    for epoch in loop.epochs(len(scores)):
        with torch.no_grad():
            model.weight.fill_(epoch)
        ran.append(epoch)
        loop.end_epoch(scores[epoch - 1])
    loop.keep_best()
    return loop, ran, float(model.weight.detach())


def test_the_best_epoch_must_be_strictly_better_and_its_weights_are_kept():
    loop, ran, weight = _scripted([0.5, 0.7, 0.7, 0.6, 0.65])
    assert ran == [1, 2, 3, 4, 5] and loop.best_epoch == 2 and loop.best_score == 0.7 and weight == 2.0
    loop, _, weight = _scripted([3.0, 2.0, 2.0, 2.5, 1.0], minimize=True)
    assert loop.best_epoch == 5 and loop.best_score == 1.0 and weight == 5.0


def test_patience_stops_after_that_many_epochs_without_a_better_one():
    loop, ran, weight = _scripted([0.5, 0.7, 0.7, 0.6, 0.9, 0.95], patience=2)
    assert ran == [1, 2, 3, 4] and loop.patience_ran_out and loop.best_epoch == 2 and weight == 2.0
    loop, ran, _ = _scripted([0.5, 0.7, 0.6, 0.8], patience=2)
    assert ran == [1, 2, 3, 4] and not loop.patience_ran_out


def test_without_a_score_the_last_epoch_and_the_models_own_weights_are_kept():
    loop, ran, weight = _scripted([None, None, None])
    assert ran == [1, 2, 3] and loop.best_epoch == 3 and loop.best_score is None and loop.best_weights is None
    assert weight == 3.0


def test_a_resumed_loop_goes_on_as_if_it_had_not_stopped():
    scores = [0.5, 0.8, 0.6, 0.7, 0.75, 0.78]
    straight, ran, weight = _scripted(scores, patience=4)
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(3.0)  # the weights after epoch 3; epoch 2's were kept
    loop = FitLoop(model, patience=4)
    loop.resume(3, 2, 0.8, {"weight": torch.full((1, 1), 2.0)})
    loop, resumed, resumed_weight = _scripted(scores, loop)
    assert resumed == ran[3:] == [4, 5, 6]
    assert (loop.best_epoch, loop.best_score) == (straight.best_epoch, straight.best_score) == (2, 0.8)
    assert resumed_weight == weight == 2.0 and loop.patience_ran_out
    # a run that had run out of patience has no epochs left
    done = FitLoop(model, patience=1)
    done.resume(3, 2, 0.8, None)
    assert list(done.epochs(10)) == []


def test_shuffled_batches_are_one_seeded_permutation_cut_in_order():
    batches = shuffled_batches(10, 4, torch.Generator().manual_seed(7))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(7))
    assert [b.tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]
    shuffle = torch.Generator().manual_seed(7)
    first, second = shuffled_batches(10, 4, shuffle), shuffled_batches(10, 4, shuffle)
    assert torch.cat(first).tolist() != torch.cat(second).tolist()  # a new order every epoch
    assert sorted(torch.cat(second).tolist()) == list(range(10))


def test_gradient_step_resets_the_gradients_first():
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.weight.grad = torch.full_like(model.weight, 100.0)  # a stale gradient
    before = model.weight.detach().clone()
    x = torch.ones(1, 2)
    gradient_step(optimizer, model(x).sum())
    torch.testing.assert_close(model.weight.detach(), before - 0.1 * x, rtol=0, atol=1e-7)


# --- the coherence classifiers: the same weights as the loop they had before ------------------------

def _reference_classifier(splits: PairedSplits, modality: str, settings: ClassifierSettings):
    """train_modality_classifier's own loop before it used FitLoop, written out (float images, CPU)."""
    images, labels = modality_images(splits.train, modality)
    val_images, val_labels = modality_images(splits.val, modality) if len(splits.val) else (None, None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = ModalityClassifier(modality, tuple(images.shape[1:]), splits.train.n_classes, settings.hidden,
                                   settings.dropout, settings.arch, settings.standardize)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay, fused=True)
        shuffle = torch.Generator().manual_seed(settings.seed)
        best_val, best_epoch, best_state = -1.0, 0, None
        for epoch in range(1, settings.epochs + 1):
            model.train()
            order = torch.randperm(len(labels), generator=shuffle)
            for start in range(0, len(labels), settings.batch_size):
                batch = order[start:start + settings.batch_size]
                loss = F.cross_entropy(model(images[batch].float()), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if val_images is None:
                best_epoch, best_state = epoch, None
                continue
            val_accuracy = float((model.predict(val_images) == val_labels).float().mean())
            if val_accuracy > best_val:
                best_val, best_epoch = val_accuracy, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    return model, (None if val_images is None else best_val), best_epoch


def _image_splits(shape, n=150, seed=0):
    """Random images with random labels (validation accuracy wanders, so the best epoch is not the last)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, math.prod(shape), generator=g).numpy()
    y = torch.randint(0, 3, (n,), generator=g).numpy()
    splits = paired_from_arrays(images, images, y, val_fraction=0.3)
    for name in ("x_o", "x_m"):  # the splits share their sources: give them their image shape
        splits.train.sources[name] = splits.train.sources[name].reshape(-1, *shape)
    return splits


@pytest.mark.parametrize("arch, shape", [("mlp", (20,)), ("cnn", (3, 8, 8))])
def test_classifier_training_is_the_hand_written_loop_bit_for_bit(arch, shape):
    splits = _image_splits(shape)
    settings = ClassifierSettings(arch=arch, hidden=(8,), dropout=0.3, epochs=5, batch_size=16, lr=1e-2,
                                  weight_decay=1e-3, seed=4)
    assert len(splits.train) % settings.batch_size  # a short last batch
    no_val = PairedSplits(splits.train, splits.val.subset(slice(0, 0)), splits.test, splits.name)
    selected = []
    for data in (splits, no_val):
        trained = train_modality_classifier(data, "x_m", settings)
        reference, best_val, best_epoch = _reference_classifier(data, "x_m", settings)
        _assert_same_weights(trained, reference)
        assert (trained.info["best_val_accuracy"], trained.info["best_epoch"]) == (best_val, best_epoch)
        selected.append(best_epoch)
    assert selected[0] < settings.epochs and selected[1] == settings.epochs  # both ways of keeping an epoch ran


# --- fit: the same weights as the loop it had before, and a resume that keeps the best score ----------

def _reference_fit(cfg, data):
    """fit's loop before it used FitLoop, written out without checkpoints, checks and progress bar."""
    seed_everything(0)
    model = build_model(cfg, data.train)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=True)
    shuffle = torch.Generator().manual_seed(cfg.train.seed)
    seed_everything(cfg.train.seed)
    train, batch_size, by_loss = data.train, cfg.train.batch_size, cfg.selection() == "val_loss"
    scores, best_epoch, best_score, best_state = [], None, None, None
    for epoch in range(1, cfg.train.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=shuffle)
        n_steps = math.ceil(len(train) / batch_size)
        for step in range(n_steps):
            rows = order[step * batch_size:(step + 1) * batch_size]
            if len(rows) < 2:
                continue
            kl_weight = kl_warmup_weight(cfg.objective.kl_warmup_epochs, epoch, step / n_steps)
            terms = model.objective(*train.batch(rows), cfg.objective, validate=False, kl_weight=kl_weight)
            optimizer.zero_grad(set_to_none=True)
            terms.loss.backward()
            optimizer.step()
        score = accuracy(model, data.val, n_samples=cfg.train.eval_samples, seed=cfg.train.seed)
        if by_loss:
            score = validation_loss(model, data.val, cfg.objective, batch_size, seed=cfg.train.seed)
        scores.append(score)
        if best_score is None or (score < best_score if by_loss else score > best_score):
            best_epoch, best_score, best_state = epoch, score, _weights(model)
        if cfg.train.patience is not None and epoch - best_epoch >= cfg.train.patience:
            break
    model.load_state_dict(best_state)
    return model, scores, best_epoch


@pytest.mark.parametrize("overrides", [dict(model_type="cmmd", kl_warmup_epochs=2),
                                       dict(model_type="vcca", alpha=0.0, patience=1, lr=2e-2)])
def test_fit_trains_as_the_hand_written_loop_bit_for_bit(overrides):
    data = _toy_data(n=230)
    cfg = get_config("mnist2", "smoke", epochs=5, batch_size=32, z_dim=4, encoder_hidden=(16,), prior_hidden=(16,),
                     decoder_hidden=(16,), classifier_hidden=(8,), eval_samples=2, **overrides)
    assert len(data.train) % cfg.train.batch_size == 1  # a last batch of one pair, which is skipped
    reference, scores, best_epoch = _reference_fit(cfg, data)
    seed_everything(0)
    model = build_model(cfg, data.train)
    history = fit(model, data, cfg, progress=False)
    assert [e[history["selection"]] for e in history["epochs"]] == scores
    assert history["best_epoch"] == best_epoch
    _assert_same_weights(model, reference)


def test_a_resumed_fit_keeps_the_best_validation_loss_it_had(tmp_path, monkeypatch):
    """Scripted validation losses: epoch 2's 2.0 stays the best after a resume from epoch 2."""
    data = _toy_data(n=240)
    cfg = get_config("mnist2", "smoke", model_type="vcca", alpha=0.0, epochs=5, patience=3, batch_size=32,
                     z_dim=4, encoder_hidden=(16,), prior_hidden=(16,), decoder_hidden=(16,), eval_samples=2)
    losses = [3.0, 2.0, 2.5, 2.2, 2.1]
    script = iter(losses)
    monkeypatch.setattr(train_module, "validation_loss", lambda *args, **kwargs: next(script))
    straight = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "straight", progress=False, device="cpu")

    def interrupt(record, model):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    script = iter(losses)
    with pytest.raises(KeyboardInterrupt):
        train_or_load(cfg, data=data, checkpoint_root=tmp_path / "resumed", progress=False, device="cpu",
                      on_epoch=interrupt, save_every_s=0.0)
    resumed = train_or_load(cfg, data=data, checkpoint_root=tmp_path / "resumed", progress=False, device="cpu")
    assert not resumed.loaded and next(script, None) is None  # epochs 3 to 5 were trained after the resume

    def without_timings(history):
        history = json.loads(json.dumps(history))
        history.pop("train_seconds")
        for record in history["epochs"]:
            record.pop("seconds")
        return history

    assert without_timings(resumed.history) == without_timings(straight.history)
    assert resumed.history["best_epoch"] == 2 and resumed.history["best_val_loss"] == 2.0
    assert resumed.history["best_val_accuracy"] == resumed.history["epochs"][1]["val_accuracy"]
    _assert_same_weights(resumed.model, straight.model)


def test_the_optimiser_is_fused_adam_and_takes_adams_steps():
    """cmmd_lite.fitting.adam is Adam with the fused kernel on the CPU: the same update as the
    default (foreach) Adam to rounding, and not the same object as a plain SGD would give."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.Softplus(), nn.Linear(7, 3))
    twin = copy.deepcopy(net)
    fused, plain = adam(net.parameters(), lr=1e-2), torch.optim.Adam(twin.parameters(), lr=1e-2)
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    for _ in range(20):
        for model, optimizer in ((net, fused), (twin, plain)):
            gradient_step(optimizer, nn.functional.cross_entropy(model(x), y))
    moved = max((a - b).abs().max().item() for a, b in zip(net.parameters(), copy.deepcopy(twin).parameters()))
    assert moved < 1e-5
    start = nn.Sequential(nn.Linear(5, 7), nn.Softplus(), nn.Linear(7, 3))
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(net.parameters(), start.parameters()))
