"""The benchmark scripts run end to end on tiny inputs, and their counters count what they claim
(timings themselves are not tested: benchmarks/RESULTS.md has the measured figures)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_train_step  # noqa: E402
from _common import StackedSteps, op_census, synthetic_train, training_flops_per_sample  # noqa: E402

from cmmd_lite.config import get_config  # noqa: E402
from cmmd_lite.train import build_model  # noqa: E402


def test_the_step_benchmark_prints_every_comparison_on_a_tiny_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench_train_step.main(["--config", "mnist2", "--profile", "smoke", "--random-data", "--max-train", "200",
                           "--steps", "2", "--repeats", "1", "--warmup-steps", "1", "--threads", "1",
                           "--stacked", "2", "--stacked-steps", "2", "--peak-size", "256", "--json", str(out)])
    result = json.loads(out.read_text())
    assert set(result["ratio_over_baseline"]) == {"cmmd_lite", "cmmd_lite bf16"}
    assert result["matmul_peak_gflops"]["fp32"] > 0 and result["training_flops_per_sample"] > 0
    assert result["stacked"]["k"] == 2 and result["stacked"]["ratio_stacked_over_sequential"] > 0
    assert result["per_step"]["fused Adam (cmmd_lite)"]["scalar_reads"] == 0
    assert "fraction of the matmul peak" in capsys.readouterr().out


def test_the_census_counts_kernels_and_scalar_reads():
    a = torch.randn(4, 4)
    counts = op_census(lambda: [(a @ a).sum().item() for _ in range(3)], steps=3)
    assert counts == {"kernels": 2, "scalar_reads": 1}


def test_the_flop_count_is_the_matrix_products_of_forward_and_backward():
    config = get_config("mnist2", "smoke")
    data = synthetic_train(config, 16)
    model = build_model(config, data)
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    # forward 2*in*out per sample per layer; backward twice that (input and weight gradients), except
    # the first layer of a network fed by data, whose input gradient is not needed.
    forward = sum(2 * m.in_features * m.out_features for m in linear)
    flops = training_flops_per_sample(model, data.batch(torch.arange(16)), config.objective)
    assert 2 * forward < flops <= 3 * forward


def test_stacked_models_take_a_step_each():
    config = get_config("mnist2", "smoke", dropout=0.0)
    data = synthetic_train(config, 32)
    models = [build_model(config, data) for _ in range(2)]
    before = [p.detach().clone() for p in models[0].parameters()]
    stacked = StackedSteps(models, config.objective, lr=1e-2)
    stacked.step(*data.batch(torch.arange(32)))
    first = next(iter(stacked.params.values()))
    assert first.shape[0] == 2 and not torch.equal(first[0], before[0])
