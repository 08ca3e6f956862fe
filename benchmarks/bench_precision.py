"""Does bfloat16 autocast (``TrainConfig.precision = "bf16"``) hold accuracy? fp32 and bf16 side by side.

For each seed, trains a named config twice through :func:`cmmd_lite.train_or_load` (so the runs are
checkpointed, resume when killed, and are reused by a second invocation): once with
``precision="fp32"``, once with ``precision="bf16"``, everything else equal. Reports, per precision,
the test accuracy of the joint classifier (:func:`cmmd_lite.evaluate.accuracy` on the test split, the
kept epoch chosen by validation accuracy), its mean and spread over the seeds, the epochs trained and
the training seconds per epoch; and the verdict against the issue's rule: bf16 is acceptable where
its mean test accuracy is at most 0.3 points below fp32's.

    CMMD_DATA_DIR=/work/shared/data CMMD_OFFLINE=1 .venv/bin/python benchmarks/bench_precision.py \\
        --config mnist2 --profile laptop --seeds 0,1,2 --threads 1 --json benchmarks/results/precision_mnist2_laptop_cpu.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_device, describe_machine, machine_info, warn_if_busy  # noqa: E402

from cmmd_lite import train_or_load  # noqa: E402
from cmmd_lite.config import PRECISIONS, PROFILES, config_names, get_config, parse_overrides  # noqa: E402
from cmmd_lite.data.paired import load_paired  # noqa: E402
from cmmd_lite.evaluate import accuracy  # noqa: E402
from cmmd_lite.sweeps import _commit  # noqa: E402

ALLOWED_LOSS = 0.003  # the rule: bf16 may cost at most 0.3 points of test accuracy


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Test accuracy with fp32 and with bf16 autocast, same configs and seeds.")
    parser.add_argument("--config", default="mnist2", choices=config_names())
    parser.add_argument("--profile", default="laptop", choices=PROFILES)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="config override applied to both precisions (repeatable)")
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (1 on a busy machine)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if not args.seeds:
        parser.error("--seeds names no seed")
    return args


def summary(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = machine_info(device)
    print(describe_machine(info), flush=True)
    warn_if_busy(info, device)
    overrides = parse_overrides(args.override)
    base = get_config(args.config, args.profile, **overrides)
    splits = load_paired(base.data)
    began = time.time()
    runs = []
    for seed in args.seeds:
        for precision in PRECISIONS:
            config = base.with_overrides(seed=seed, precision=precision)
            result = train_or_load(config, data=splits, device=device, progress=False)
            history = result.history
            epochs = history["epochs"]
            run = {"seed": seed, "precision": precision, "test_accuracy": accuracy(result.model, result.data.test),
                   "best_epoch": history["best_epoch"], "epochs": len(epochs),
                   "seconds_per_epoch": statistics.median(e["seconds"] for e in epochs),
                   "loaded": result.loaded, "checkpoint": result.checkpoint_dir.name if result.checkpoint_dir else None}
            runs.append(run)
            print(f"seed {seed} {precision}: test accuracy {run['test_accuracy']:.4f} (epoch {run['best_epoch']} of "
                  f"{run['epochs']}), {run['seconds_per_epoch']:.1f} s/epoch{' (loaded)' if result.loaded else ''}",
                  flush=True)
    by = {p: [r for r in runs if r["precision"] == p] for p in PRECISIONS}
    table = {p: {"test_accuracy": summary([r["test_accuracy"] for r in rs]),
                 "seconds_per_epoch": summary([r["seconds_per_epoch"] for r in rs])} for p, rs in by.items()}
    loss = table["fp32"]["test_accuracy"]["mean"] - table["bf16"]["test_accuracy"]["mean"]
    speedup = table["fp32"]["seconds_per_epoch"]["mean"] / table["bf16"]["seconds_per_epoch"]["mean"]
    verdict = "holds accuracy" if loss <= ALLOWED_LOSS else "costs accuracy"
    print(f"\n{args.config} [{args.profile}], seeds {args.seeds}:")
    for p in PRECISIONS:
        acc, sec = table[p]["test_accuracy"], table[p]["seconds_per_epoch"]
        print(f"  {p}: test accuracy {acc['mean']:.4f} (min {acc['min']:.4f}, max {acc['max']:.4f}); "
              f"{sec['mean']:.1f} s per epoch")
    print(f"  bf16 - fp32: {-loss * 100:+.2f} points; bf16 epochs {speedup:.2f}x as fast; "
          f"rule (at most {ALLOWED_LOSS * 100:.1f} points lost): bf16 {verdict}", flush=True)
    out = {"command": shlex.join([sys.executable, *sys.argv]), "commit": _commit(), "machine": info,
           "config": args.config, "profile": args.profile, "overrides": overrides, "seeds": args.seeds,
           "data": splits.name, "runs": runs, "summary": table, "accuracy_points_lost": loss * 100,
           "epoch_speedup": speedup, "verdict": verdict, "wall_seconds": time.time() - began}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
