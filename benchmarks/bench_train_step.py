"""Training throughput of cmmd_lite's loop against a plain PyTorch DataLoader loop, same model.

Both loops train a fresh, identically seeded CMMD of the same config with Adam (the config's
learning rate), the same batch size, the same objective config and the same number of samples:

* cmmd_lite -- :func:`cmmd_lite.train.train_epoch` over a :class:`PairedData` whose tensors are on
  the device (a batch is an index gather plus a uint8 -> float cast there; running means of the five
  loss terms, one host sync every 25 steps for the finiteness check), with cmmd_lite's optimiser
  (:func:`cmmd_lite.fitting.adam`: fused Adam), once per ``--precisions`` value (fp32, bf16 autocast).
* baseline  -- ``TensorDataset`` of the materialised float tensors (x_o, x_m, y) on the CPU,
  ``DataLoader(batch_size, shuffle=True, num_workers=--workers)``, each batch moved to the device,
  then ``model.objective(...)``, backward, ``torch.optim.Adam`` step with its defaults, fp32. No loss
  bookkeeping, no syncs.

The same run measures the machine's matrix-multiply peak (fp32 and bf16, 2048^3 products) and the
FLOPs of one training step (``torch.utils.flop_counter``), and prints the fraction of the peak each
loop reaches; and (``--stacked K``) K models trained together with stacked weights
(``torch.func.vmap``) against the same K one after another.

Both skip a last batch of a single pair (the MMD estimate needs two), as ``train_epoch`` does.
After a warm-up of both, each repeat times K epochs (or N steps) of each loop, alternating which
loop goes first; the table gives the median samples/s of each and their ratio.

    CMMD_DATA_DIR=/work/shared/data CMMD_OFFLINE=1 .venv/bin/python benchmarks/bench_train_step.py \\
        --config mnist2 --profile laptop --epochs 1 --repeats 3 --json bench.json
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (StackedSteps, default_device, describe_machine, machine_info, matmul_peak_gflops,  # noqa: E402
                     median, op_census, synthetic_train, timed, train_pairs, training_flops_per_sample, warn_if_busy)

from cmmd_lite.config import PRECISIONS, PROFILES, config_names, get_config  # noqa: E402
from cmmd_lite.data.files import DataFileError  # noqa: E402
from cmmd_lite.data.paired import PairedData, load_paired  # noqa: E402
from cmmd_lite.fitting import adam, gradient_step  # noqa: E402
from cmmd_lite.nets import n_parameters  # noqa: E402
from cmmd_lite.train import build_model, train_epoch  # noqa: E402
from cmmd_lite.utils import seed_everything  # noqa: E402

CMMD, BASE = "cmmd_lite", "baseline"
PEAK_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Samples/s of cmmd_lite's train_epoch vs a plain TensorDataset + DataLoader loop "
                    "(same model, objective, batch size and number of samples).",
        epilog="Data: set CMMD_DATA_DIR (e.g. /work/shared/data) and CMMD_OFFLINE=1 to read the local MNIST mirror; without MNIST the script falls back to random data of the same shapes and says so.")
    parser.add_argument("--config", default="mnist2", choices=config_names(), help="named config (default: %(default)s)")
    parser.add_argument("--profile", default="laptop", choices=PROFILES, help="compute profile (default: %(default)s)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--epochs", type=int, default=None,
                        help="time K full epochs of each loop per repeat (default 1 when --steps is not given)")
    amount.add_argument("--steps", type=int, default=None,
                        help="time N steps of each loop per repeat: one epoch over the first N x batch-size "
                             "training pairs, instead of whole epochs")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats of each loop, alternating which loop runs first (default: %(default)s)")
    parser.add_argument("--warmup-steps", type=int, default=20, help="untimed steps of each loop first (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's batch size")
    parser.add_argument("--max-train", type=int, default=None, help="cap on the training pairs (default: the config's)")
    parser.add_argument("--device", default=default_device(), help="torch device (default here: %(default)s)")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="comma-separated TrainConfig.precision values of the cmmd_lite loop, each timed as its own "
                             "loop against the same fp32 baseline (default: %(default)s)")
    parser.add_argument("--peak-size", type=int, default=2048,
                        help="n of the n x n x n products that measure the machine's peak (default: %(default)s)")
    parser.add_argument("--stacked", type=int, default=6,
                        help="also time K models trained together (stacked weights, torch.func.vmap) against the same K "
                             "one after another; 0 or 1 skips it (default: %(default)s)")
    parser.add_argument("--stacked-steps", type=int, default=30, help="steps per measurement of that comparison (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers of the baseline (default: %(default)s)")
    parser.add_argument("--persistent-workers", action="store_true",
                        help="baseline DataLoader keeps its workers between epochs (needs --workers > 0)")
    parser.add_argument("--pin-memory", action="store_true",
                        help="baseline DataLoader pins batches and copies them with non_blocking=True (CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for both loops (default: torch's; use 1 on a machine another job is using)")
    parser.add_argument("--random-data", action="store_true",
                        help="random uint8 data of the right shapes even if the real dataset can be loaded")
    parser.add_argument("--seed", type=int, default=0, help="seed of both models and both shuffles (default: %(default)s)")
    parser.add_argument("--max-materialise-gb", type=float, default=4.0,
                        help="refuse to materialise a larger float copy of the training set for the baseline (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.epochs is None and args.steps is None:
        args.epochs = 1
    args.precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in args.precisions if p not in PRECISIONS]
    if unknown or not args.precisions:
        parser.error(f"--precisions takes values among {', '.join(PRECISIONS)}; got {unknown or 'none'}")
    for name in ("epochs", "steps", "repeats", "batch_size", "max_train", "threads", "peak_size", "stacked_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup_steps < 0 or args.workers < 0:
        parser.error("--warmup-steps and --workers must not be negative")
    if args.persistent_workers and args.workers == 0:
        parser.error("--persistent-workers needs --workers > 0")
    return args


# --- data -----------------------------------------------------------------------------------------

def load_train(config, random_data: bool) -> tuple[PairedData, str]:
    """The config's training split on the CPU, or random data of its shapes; and where it came from."""
    if not random_data:
        try:
            splits = load_paired(config.data)
            note = f"real data: {splits.name}"
            return splits.train, note
        except DataFileError as error:
            reason = str(error).splitlines()[0]
            print(f"!! the dataset could not be loaded ({type(error).__name__}: {reason})", flush=True)
    n, exact = train_pairs(config)
    note = (f"RANDOM uint8 data with the shapes of {config.data.dataset} ({n:,} pairs{'' if exact else ', estimated count'}); "
            "timings do not depend on pixel values")
    return synthetic_train(config, n, seed=config.data.data_seed), note


def first_rows(data: PairedData, n: int) -> PairedData:
    return data.subset(torch.arange(min(n, len(data))))


def trained_samples(n_pairs: int, batch_size: int) -> int:
    """Pairs one epoch trains on: a last batch of one pair is skipped by both loops."""
    return n_pairs - 1 if n_pairs % batch_size == 1 else n_pairs


# --- the two loops --------------------------------------------------------------------------------

class CmmdLoop:
    """cmmd_lite's loop: train_epoch over tensors already on the device."""

    def __init__(self, model, optimizer, train: PairedData, objective, batch_size: int, seed: int,
                 precision: str = "fp32"):
        self.model, self.optimizer, self.train = model, optimizer, train
        self.objective, self.batch_size, self.precision = objective, batch_size, precision
        self.shuffle = torch.Generator().manual_seed(seed)

    def run(self, epochs: int, data: PairedData | None = None) -> None:
        for _ in range(epochs):
            train_epoch(self.model, self.optimizer, data if data is not None else self.train, self.objective,
                        self.batch_size, self.shuffle, precision=self.precision)


class BaselineLoop:
    """A plain loop: TensorDataset + DataLoader(shuffle=True) on the CPU, batches moved to the device."""

    def __init__(self, model, optimizer, tensors: tuple[torch.Tensor, ...], objective, batch_size: int, seed: int,
                 device: torch.device, workers: int, pin_memory: bool, persistent_workers: bool):
        self.model, self.optimizer, self.objective, self.device = model, optimizer, objective, device
        self.batch_size, self.workers, self.pin_memory = batch_size, workers, pin_memory
        self.persistent_workers = persistent_workers
        self.generator = torch.Generator().manual_seed(seed)
        self.loader = self.make_loader(tensors)

    def make_loader(self, tensors: tuple[torch.Tensor, ...]) -> DataLoader:
        return DataLoader(TensorDataset(*tensors), batch_size=self.batch_size, shuffle=True,
                          num_workers=self.workers, pin_memory=self.pin_memory,
                          persistent_workers=self.persistent_workers, generator=self.generator)

    def run(self, epochs: int, loader: DataLoader | None = None) -> None:
        model, optimizer, device = self.model, self.optimizer, self.device
        non_blocking = self.pin_memory and device.type == "cuda"
        model.train()
        for _ in range(epochs):
            for x_o, x_m, y in loader if loader is not None else self.loader:
                if len(y) < 2:  # as train_epoch: the MMD estimate needs two samples
                    continue
                x_o = x_o.to(device, non_blocking=non_blocking)
                x_m = x_m.to(device, non_blocking=non_blocking)
                y = y.to(device, non_blocking=non_blocking)
                terms = model.objective(x_o, x_m, y, self.objective, validate=False)
                optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                optimizer.step()


def fresh_model(config, train: PairedData, device: torch.device, seed: int, plain: bool = False):
    """A seeded model and its optimiser: cmmd_lite's (:func:`cmmd_lite.fitting.adam`), or with
    ``plain`` the ``torch.optim.Adam`` defaults a plain loop uses."""
    seed_everything(seed)
    model = build_model(config, train).to(device)
    return model, (torch.optim.Adam(model.parameters(), lr=config.train.lr) if plain else adam(model.parameters(), lr=config.train.lr))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def step_census(config, train: PairedData, device: torch.device, args) -> dict[str, Any]:
    """Kernels and scalar reads per step of cmmd_lite's loop (:func:`op_census`), with the default
    foreach Adam and with cmmd_lite's fused one, over 50 steps (two finiteness checks)."""
    steps = min(50, max(1, len(train) // config.train.batch_size))
    data = first_rows(train, steps * config.train.batch_size)
    out = {}
    for label, plain in (("foreach Adam", True), ("fused Adam (cmmd_lite)", False)):
        model, optimizer = fresh_model(config, data, device, args.seed, plain=plain)
        shuffle = torch.Generator().manual_seed(args.seed)
        out[label] = op_census(lambda: train_epoch(model, optimizer, data, config.objective, config.train.batch_size,
                                                   shuffle), steps)
    print("\nper training step (" + f"{steps} steps counted): " + "; ".join(
        f"{label}: {c['kernels']:.0f} kernels, {c['scalar_reads']:.2f} scalar reads" for label, c in out.items()), flush=True)
    return out


def stacked_comparison(config, train: PairedData, device: torch.device, args) -> dict[str, Any]:
    """K models (seeds seed .. seed+K-1) trained on the same batches one after another (K optimiser
    steps per batch) and stacked into one (:class:`StackedSteps`), fp32, alternating which goes first."""
    k, steps, batch_size = args.stacked, args.stacked_steps, config.train.batch_size
    gen = torch.Generator().manual_seed(args.seed)
    batches = [train.batch(torch.randint(0, len(train), (batch_size,), generator=gen).to(device)) for _ in range(steps)]
    alone = [fresh_model(config, train, device, args.seed + i) for i in range(k)]
    together = StackedSteps([fresh_model(config, train, device, args.seed + i)[0] for i in range(k)],
                            config.objective, config.train.lr)

    def one_after_another(n: int) -> None:
        for batch in batches[:n]:
            for model, optimizer in alone:
                model.train()
                gradient_step(optimizer, model.objective(*batch, config.objective, validate=False).loss)

    def stacked(n: int) -> None:
        for batch in batches[:n]:
            together.step(*batch)

    runs = {"one after another": one_after_another, "stacked": stacked}
    for run in runs.values():
        timed(lambda: run(min(5, steps)), device)  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name in (list(runs) if repeat % 2 == 0 else list(runs)[::-1]):
            seconds[name].append(timed(lambda: runs[name](steps), device))
    rates = {name: k * steps * batch_size / median(s) for name, s in seconds.items()}
    ratio = rates["stacked"] / rates["one after another"]
    print(f"\n{k} models of this architecture, {steps} steps of batch {batch_size}, fp32: one after another "
          f"{rates['one after another']:,.0f} samples/s, stacked (torch.func.vmap) {rates['stacked']:,.0f} samples/s: "
          f"ratio {ratio:.2f}x", flush=True)
    return {"k": k, "steps": steps, "seconds": seconds, "samples_per_second": rates, "ratio_stacked_over_sequential": ratio}


# --- main -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    overrides: dict[str, Any] = {}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.max_train:
        overrides["max_train"] = args.max_train
    config = get_config(args.config, args.profile, **overrides)
    batch_size = config.train.batch_size
    info = machine_info(device)
    print(describe_machine(info), flush=True)
    warn_if_busy(info, device)

    began = time.perf_counter()
    train_cpu, data_note = load_train(config, args.random_data)
    if args.steps is not None:
        if args.steps * batch_size > len(train_cpu):
            print(f"!! --steps {args.steps} x batch {batch_size} exceeds the {len(train_cpu):,} training pairs; "
                  f"timing whole epochs of {math.ceil(len(train_cpu) / batch_size)} steps instead", flush=True)
        train_cpu = first_rows(train_cpu, args.steps * batch_size)
    n_pairs = len(train_cpu)
    if n_pairs < 2:
        raise SystemExit("need at least 2 training pairs")
    float_gb = n_pairs * (train_cpu.x_o_dim + train_cpu.x_m_dim) * 4 / 1e9
    if float_gb > args.max_materialise_gb:
        raise SystemExit(f"the baseline would materialise {float_gb:.1f} GB of float tensors "
                         f"(> --max-materialise-gb {args.max_materialise_gb}); use --steps or --max-train.")
    x_o, x_m, y = train_cpu.batch(None)  # the same float values train.batch gives on the device
    train_dev = train_cpu.to(device)
    passes = args.epochs if args.epochs is not None else 1
    per_pass = trained_samples(n_pairs, batch_size)
    per_measurement = passes * per_pass
    print(f"data: {data_note}; loaded and prepared in {time.perf_counter() - began:.1f} s", flush=True)

    cmmd_names = {precision: CMMD if precision == "fp32" else f"{CMMD} {precision}" for precision in args.precisions}
    models = {name: fresh_model(config, train_dev, device, args.seed, plain=name == BASE)
              for name in [*cmmd_names.values(), BASE]}
    identical = all(same_weights(models[BASE][0], model) for model, _ in models.values())
    loops: dict[str, Any] = {name: CmmdLoop(*models[name], train_dev, config.objective, batch_size, args.seed, precision)
                             for precision, name in cmmd_names.items()}
    loops[BASE] = BaselineLoop(*models[BASE], (x_o, x_m, y), config.objective, batch_size, args.seed, device,
                               args.workers, args.pin_memory, args.persistent_workers)
    base = loops[BASE]
    unit = f"{passes} epoch(s)" if args.steps is None else f"{math.ceil(n_pairs / batch_size)} steps"
    print(f"config: {config.name} [{config.profile}] ({config.fingerprint()}); {n_parameters(models[BASE][0]):,} parameters; "
          f"identical initial weights: {'yes' if identical else 'NO'}; device: {device}", flush=True)
    print(f"each measurement: {unit} of {n_pairs:,} pairs, batch {batch_size} -> {per_measurement:,} samples; "
          f"{args.repeats} repeat(s) per loop after {args.warmup_steps} warm-up steps each; "
          f"baseline DataLoader: num_workers={args.workers}, pin_memory={args.pin_memory}, "
          f"persistent_workers={args.persistent_workers}", flush=True)

    # The machine's matrix-multiply peak and the model's arithmetic, measured in this run.
    peaks = {p: matmul_peak_gflops(PEAK_DTYPES[p], device, n=args.peak_size) for p in args.precisions}
    flops = training_flops_per_sample(fresh_model(config, train_dev, device, args.seed)[0],
                                      train_dev.batch(torch.arange(min(batch_size, n_pairs), device=device)),
                                      config.objective)
    print(f"matrix-multiply peak ({args.peak_size}^3, this run): " + ", ".join(f"{p} {g:,.0f} GFLOP/s" for p, g in peaks.items())
          + f"; training step: {flops / 1e6:.2f} MFLOP per sample (forward + backward)", flush=True)

    if args.warmup_steps:
        rows = min(n_pairs, max(2, args.warmup_steps * batch_size))
        warm = first_rows(train_dev, rows)
        warm_loader = base.make_loader((x_o[:rows], x_m[:rows], y[:rows]))
        warm_seconds = {name: timed(lambda: loop.run(1, warm_loader if name == BASE else warm), device)
                        for name, loop in loops.items()}
        print("warm-up: " + ", ".join(f"{n} {s:.2f} s" for n, s in warm_seconds.items()), flush=True)

    seconds: dict[str, list[float]] = {name: [] for name in loops}
    for repeat in range(args.repeats):
        order = list(loops) if repeat % 2 == 0 else list(loops)[::-1]
        for name in order:
            seconds[name].append(timed(lambda: loops[name].run(passes), device))
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in order),
              flush=True)
    info["load_average_1m_after"] = machine_info(device).get("load_average_1m")
    if not identical:
        print("!! the models did not start from the same weights", flush=True)

    rates = {n: [per_measurement / s for s in seconds[n]] for n in seconds}
    ratios = {n: median(rates[n]) / median(rates[BASE]) for n in cmmd_names.values()}
    pair_ratios = {n: [c / b for c, b in zip(rates[n], rates[BASE])] for n in cmmd_names.values()}
    precision_of = {**{name: p for p, name in cmmd_names.items()}, BASE: "fp32"}
    peak_fraction = {n: median(rates[n]) * flops / 1e9 / peaks.get(precision_of[n], peaks.get("fp32") or float("nan"))
                     for n in loops}
    labels = {**{name: f"cmmd_lite train_epoch (data on device, {p})" for p, name in cmmd_names.items()},
              BASE: f"DataLoader baseline (num_workers={args.workers}, fp32)"}
    print()
    print("| loop | samples/s (median) | min - max | s per measurement (median) | ratio to baseline | fraction of the matmul peak |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in loops:
        ratio = ratios.get(name, 1.0)
        print(f"| {labels[name]} | {median(rates[name]):,.0f} | {min(rates[name]):,.0f} - {max(rates[name]):,.0f} "
              f"| {median(seconds[name]):.3f} | {ratio:.2f}x | {peak_fraction[name]:.0%} of {precision_of[name]} |")
    for name, ratio in ratios.items():
        print(f"ratio {name} / baseline (median samples/s): {ratio:.3f}x  "
              f"(per-repeat ratios {min(pair_ratios[name]):.3f} - {max(pair_ratios[name]):.3f}; > 1: cmmd_lite is faster)")
    print(f"device: {device}; {data_note}")
    stacked = stacked_comparison(config, train_dev, device, args) if args.stacked > 1 else None
    census = step_census(config, train_dev, device, args)

    result = {
        "machine": info, "command": shlex.join(["python", *sys.argv]), "config": config.name, "profile": config.profile,
        "fingerprint": config.fingerprint(), "parameters": n_parameters(models[BASE][0]), "device": str(device),
        "data": data_note, "batch_size": batch_size, "train_pairs": n_pairs,
        "measurement": {"epochs": args.epochs, "steps": args.steps, "samples": per_measurement},
        "repeats": args.repeats, "warmup_steps": args.warmup_steps, "identical_initial_weights": identical,
        "baseline_loader": {"num_workers": args.workers, "pin_memory": args.pin_memory,
                            "persistent_workers": args.persistent_workers},
        "matmul_peak_gflops": peaks, "training_flops_per_sample": flops, "fraction_of_peak": peak_fraction,
        "seconds": seconds, "samples_per_second": rates,
        "median_samples_per_second": {n: median(r) for n, r in rates.items()},
        "ratio_over_baseline": ratios, "per_repeat_ratios": pair_ratios,
        "ratio_cmmd_over_baseline": ratios[CMMD] if CMMD in ratios else None, "stacked": stacked,
        "per_step": census,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
