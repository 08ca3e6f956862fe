"""The mixed-precision switch (TrainConfig.precision): what runs in bfloat16, what stays float32,
what the checkpoint records, and that it leaves the fp32 fingerprints alone (tiny synthetic data)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cmmd_lite import Config, train_or_load
from cmmd_lite.baselines import MMVAE, MVAE, VCCA
from cmmd_lite.fitting import autocast_for
from cmmd_lite.model import CMMD
from cmmd_lite.utils import seed_everything
from test_store import _config, _toy_data

MODELS = {"cmmd": CMMD, "vcca": VCCA, "mvae": MVAE, "mmvae": MMVAE}


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g), torch.rand(n, 12, generator=g), torch.arange(n) % 3


def _linear_output_dtypes(model: nn.Module) -> tuple[set, list]:
    seen, hooks = set(), []
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            hooks.append(layer.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype)))
    return seen, hooks


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_bf16_runs_the_matrix_products_in_bfloat16_and_the_loss_terms_in_float32(kind):
    config = _config(model_type=kind, importance_samples=3)
    seed_everything(0)
    model = MODELS[kind](6, 12, 3, config.model)
    seen, hooks = _linear_output_dtypes(model)
    torch.manual_seed(1)
    with autocast_for("bf16", "cpu"):
        low = model.objective(*_batch(), config.objective)
    assert seen == {torch.bfloat16}
    for name in ("loss", "nll_x_m", "nll_y", "kl", "mmd"):
        assert getattr(low, name).dtype == torch.float32, name
    seen.clear()
    torch.manual_seed(1)
    with autocast_for("fp32", "cpu"):
        full = model.objective(*_batch(), config.objective)
    assert seen == {torch.float32}
    for hook in hooks:
        hook.remove()
    # Same weights, same noise: bfloat16 products (8-bit mantissa) move the loss by well under 5 %.
    assert low.loss.item() == pytest.approx(full.loss.item(), rel=0.05)
    low.loss.backward()
    assert all(p.grad is None or (p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all())
               for p in model.parameters())


def test_the_fp32_fingerprint_is_the_one_from_before_the_switch_and_bf16_has_its_own():
    config = _config()
    stored = config.to_dict()
    del stored["train"]["precision"]  # a config written before the field existed
    assert Config.from_dict(stored) == config
    assert "precision" not in config.training_key()["train"]
    bf16 = config.with_overrides(precision="bf16")
    assert bf16.training_key()["train"]["precision"] == "bf16"
    assert bf16.fingerprint() != config.fingerprint()


def test_an_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"precision.*fp16.*bf16"):
        _config(precision="fp16")


def test_a_bf16_checkpoint_records_its_precision_and_reloads_as_bf16(tmp_path):
    data = _toy_data()
    config = _config(precision="bf16", epochs=4)
    result = train_or_load(config, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert json.loads((result.checkpoint_dir / "config.json").read_text())["config"]["train"]["precision"] == "bf16"
    losses = [epoch["loss"] for epoch in result.history["epochs"]]
    assert losses[-1] < losses[0]  # it learns
    again = train_or_load(config, data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert again.loaded and again.config.train.precision == "bf16"
    fp32 = train_or_load(_config(epochs=4), data=data, checkpoint_root=tmp_path, progress=False, device="cpu")
    assert not fp32.loaded and fp32.checkpoint_dir != result.checkpoint_dir


def test_the_deconv_decoder_hands_float32_logits_to_the_loss_under_bf16():
    from cmmd_lite.nets import DeconvDecoder

    decoder = DeconvDecoder(10, [(1, 28, 28), (3, 32, 32)])
    with autocast_for("bf16", "cpu"):
        logits = decoder(torch.randn(4, 10))
    assert logits.dtype == torch.float32 and logits.shape == (4, 28 * 28 + 3 * 32 * 32)
    assert decoder(torch.randn(2, 10, dtype=torch.float64).float()).dtype == torch.float32
