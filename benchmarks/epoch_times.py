"""Seconds per training epoch of each named config x compute profile, from timed training steps.

For every selected config and profile this builds the model the config describes (its parameter
count is reported), makes a training split of random uint8 images with the shapes, modalities and
observed/missing roles of that config's dataset (timing depends on shapes, not on pixel values: no
MNIST or SVHN is loaded), warms up, then times N steps of :func:`cmmd_lite.train.train_epoch` with
Adam at the config's learning rate and batch size. Seconds per epoch = seconds per step x steps
per epoch for the profile's training-set size. When an epoch has no more than N steps the whole
epoch is timed instead and nothing is extrapolated.

An epoch here is the training pass only: ``fit`` also spends a little time per epoch on the
validation accuracy, which is not included.

    .venv/bin/python benchmarks/epoch_times.py --profiles laptop paper --device cpu --markdown epoch_times.md
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (default_device, describe_machine, device_label, machine_info, median,  # noqa: E402
                     steps_per_epoch, synthetic_train, timed, train_pairs, warn_if_busy)

from cmmd_lite.config import PRECISIONS, PROFILES, config_names, get_config  # noqa: E402
from cmmd_lite.fitting import adam  # noqa: E402
from cmmd_lite.nets import n_parameters  # noqa: E402
from cmmd_lite.train import build_model, train_epoch  # noqa: E402
from cmmd_lite.utils import seed_everything  # noqa: E402

DATA_NOTE = ("Data: random uint8 images with each config's shapes (MNIST 1x28x28, SVHN 3x32x32), modalities "
             "and observed/missing roles, for every config including mnist2; no MNIST or SVHN is loaded "
             "(step times depend on shapes, not pixel values).")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Seconds per training epoch (train_epoch) of named configs x compute profiles, "
                    "from N timed steps on data of the right shapes.",
        epilog="Example: %(prog)s --profiles laptop paper --device cpu --markdown epoch_times.md")
    parser.add_argument("--configs", nargs="+", default=config_names(), choices=config_names(), metavar="NAME",
                        help=f"named configs, from {', '.join(config_names())} (default: all)")
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=PROFILES, metavar="PROFILE",
                        help=f"compute profiles, from {', '.join(PROFILES)} (default: all)")
    parser.add_argument("--steps", type=int, default=20,
                        help="timed steps per repeat; an epoch of at most this many steps is timed whole "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings of --steps steps per row; the median is reported (default: %(default)s)")
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--device", default=default_device(), help="torch device (default here: %(default)s)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: torch's; use 1 on a machine another job is using)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="TrainConfig.precision of the timed training (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models and the data (default: %(default)s)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table to this Markdown file")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup_steps < 0:
        parser.error("--warmup-steps must not be negative")
    return args


def row_command(args: argparse.Namespace, name: str, profile: str) -> str:
    parts = ["python", "benchmarks/epoch_times.py", "--configs", name, "--profiles", profile, "--device", args.device,
             "--steps", str(args.steps), "--repeats", str(args.repeats), "--warmup-steps", str(args.warmup_steps)]
    if args.threads:
        parts += ["--threads", str(args.threads)]
    if args.precision != "fp32":
        parts += ["--precision", args.precision]
    return shlex.join(parts)


def measure(name: str, profile: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    config = get_config(name, profile)
    batch = config.train.batch_size
    n_train, exact_pairs = train_pairs(config)
    per_epoch = steps_per_epoch(n_train, batch)
    whole_epoch = per_epoch <= args.steps
    steps = per_epoch if whole_epoch else args.steps
    timed_pairs = n_train if whole_epoch else steps * batch

    seed_everything(args.seed)
    data = synthetic_train(config, timed_pairs, seed=args.seed).to(device)
    model = build_model(config, data).to(device)
    optimizer = adam(model.parameters(), lr=config.train.lr)  # cmmd_lite's optimiser (fused Adam)
    shuffle = torch.Generator().manual_seed(args.seed)
    if args.warmup_steps:
        warm = synthetic_train(config, max(2, args.warmup_steps * batch), seed=args.seed + 1).to(device)
        train_epoch(model, optimizer, warm, config.objective, batch, shuffle, precision=args.precision)
    seconds = [timed(lambda: train_epoch(model, optimizer, data, config.objective, batch, shuffle,
                                         precision=args.precision), device)
               for _ in range(args.repeats)]
    s_per_step = median(seconds) / steps
    return {
        "config": name, "profile": profile, "device": device_label(device), "parameters": n_parameters(model),
        "train_pairs": n_train, "train_pairs_exact": exact_pairs, "batch_size": batch,
        "steps_per_epoch": per_epoch, "steps_timed": steps, "repeats": args.repeats, "seconds": seconds,
        "s_per_step": s_per_step, "s_per_epoch": s_per_step * per_epoch if not whole_epoch else median(seconds),
        "extrapolated": not whole_epoch, "command": row_command(args, name, profile),
    }


def fmt_seconds(value: float) -> str:
    """Seconds as a number, with minutes or hours beside long ones: '162 (2.7 min)'."""
    if value >= 3600:
        return f"{value:,.0f} ({value / 3600:.1f} h)"
    if value >= 120:
        return f"{value:,.0f} ({value / 60:.1f} min)"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def fmt_duration(value: float) -> str:
    """'162 s (2.7 min)'."""
    number, _, rest = fmt_seconds(value).partition(" ")
    return f"{number} s {rest}".rstrip()


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| config | profile | device | params | train pairs | batch | steps timed | s/step | s/epoch | command |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        pairs = f"{r['train_pairs']:,}" if r["train_pairs_exact"] else f"≈{r['train_pairs']:,}"
        timed_steps = f"{r['repeats']}×{r['steps_timed']}" if r["repeats"] > 1 else str(r["steps_timed"])
        epoch = fmt_seconds(r["s_per_epoch"])
        epoch += (f" (extrapolated: {r['steps_per_epoch']:,} steps × s/step)" if r["extrapolated"]
                  else " (measured: whole epoch)")
        lines.append(f"| {r['config']} | {r['profile']} | {r['device']} | {r['parameters']:,} | {pairs} | "
                     f"{r['batch_size']} | {timed_steps} | {r['s_per_step']:.4g} | {epoch} | `{r['command']}` |")
    return "\n".join(lines)


def notes(info: dict[str, Any], command: str) -> str:
    return "\n".join([
        f"Produced by: `{command}`",
        "",
        f"Machine: {describe_machine(info).removeprefix('machine: ')}.",
        "",
        DATA_NOTE,
        "s/step: median over the repeats of (time of the timed steps / steps), after the warm-up. "
        "s/epoch: the training pass of one epoch (train_epoch; fit's per-epoch validation accuracy excluded); "
        "'extrapolated' = s/step × steps per epoch for the profile's training-set size and batch size, "
        "'measured' = a whole epoch was timed. "
        "Train pairs: '≈' marks an estimate (MNIST-SVHN pairings: pairing multiplier × Σ over classes of "
        "min(#MNIST, #SVHN) in the training splits, from the official class counts; within about 1%).",
    ])


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = machine_info(device)
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(["epoch_times", *argv])
    print(describe_machine(info), flush=True)
    warn_if_busy(info, device)
    print(DATA_NOTE, flush=True)
    rows = []
    for profile in args.profiles:
        for name in args.configs:
            began = time.perf_counter()
            row = measure(name, profile, args, device)
            rows.append(row)
            how = (f"extrapolated from {row['steps_timed']} steps" if row["extrapolated"]
                   else f"whole epoch of {row['steps_per_epoch']} steps timed")
            print(f"{name} [{profile}]: {row['parameters']:,} params, {row['s_per_step']:.4g} s/step, "
                  f"{fmt_duration(row['s_per_epoch'])} per epoch ({how}); row took {time.perf_counter() - began:.1f} s",
                  flush=True)
    table = markdown_table(rows)
    print()
    print(table)
    print()
    text = notes(info, command)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(f"# Epoch times\n\n{table}\n\n{text}\n")
        print(f"wrote {args.markdown}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "command": command, "rows": rows}, indent=1))
        print(f"wrote {args.json}")
    return rows


if __name__ == "__main__":
    main()
