"""Command line: ``python -m cmmd_lite {train,evaluate,configs,reproduce} ...``.

Every config field is a flag (``--omega 0.1 --epochs 5 --encoder-hidden 400,400``); the named
config (``--config``) and the profile (``--profile``, default ``$CMMD_PROFILE`` or ``laptop``)
give the starting values. ``reproduce NAME`` runs one of the paper's tables or figures
(:mod:`cmmd_lite.reproduce`) and writes JSON and Markdown beside the paper's numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any, Sequence

from .config import PROFILES, SECTIONS, Config, config_names, current_profile, get_config


def _parse_value(annotation: str, text: str) -> Any:
    """Turn a flag's text into the field's type, read from its annotation string."""
    if "None" in annotation and text.strip().lower() == "none":
        return None
    if annotation.startswith("tuple[int"):
        return tuple(int(part) for part in text.split(",") if part.strip())
    if annotation.startswith("tuple[str"):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if annotation.startswith("int"):
        return int(text)
    if annotation.startswith("float"):
        return float(text)
    return text


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="mnist2", choices=config_names(), help="named experiment (paper Appendix C)")
    parser.add_argument("--profile", default=None, choices=PROFILES,
                        help="compute profile (default: $CMMD_PROFILE, else laptop)")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} fields")
        for f in fields(cls):
            group.add_argument(f"--{f.name.replace('_', '-')}", dest=f"field:{f.name}", metavar=str(f.type).upper(),
                               type=lambda text, a=str(f.type): _parse_value(a, text), default=argparse.SUPPRESS,
                               help="(default from the named config and profile)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = {key.split(":", 1)[1]: value for key, value in vars(args).items() if key.startswith("field:")}
    return get_config(args.config, args.profile or current_profile(), **overrides)


def _print_metrics(title: str, metrics: dict[str, Any]) -> None:
    rmse = "n/a (no decoder)" if metrics["rmse"] is None else f"{metrics['rmse']['x_m']:.4f}"
    print(f"{title}: accuracy {metrics['accuracy']:.4f} (prior mean: {metrics['accuracy_prior_mean']:.4f}), "
          f"x_M RMSE {rmse}, pairs {metrics['n_pairs']:,}")
    for name, curve in metrics["collapse"].items():
        eps = metrics["collapse_epsilons"]
        points = ", ".join(f"eps={eps[i]:.1f}: {curve[i]:.2f}" for i in (0, 13, 26, 39))
        print(f"  collapsed fraction of z dims, {name}: {points}")


def _add_reproduce_parser(commands: argparse._SubParsersAction) -> None:
    from .reproduce import DEFAULT_OUT, EXPERIMENTS, MODEL_KEYS

    sub = commands.add_parser(
        "reproduce", help="run one of the paper's tables or figures and write JSON + Markdown",
        description="Experiments: " + "; ".join(f"{e.name}: {e.title}" for e in EXPERIMENTS.values()))
    sub.add_argument("name", metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}")
    sub.add_argument("--profile", default=None, choices=PROFILES,
                     help="compute profile (default: $CMMD_PROFILE, else laptop)")
    sub.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0); data_seed stays 0")
    sub.add_argument("--seeds-of", action="append", default=[], metavar="MODEL=SEEDS",
                     help="other seeds for one model, e.g. mmvae=0 (its row states its n); repeatable")
    sub.add_argument("--models", default=None,
                     help=f"comma-separated subset of the experiment's models ({', '.join(MODEL_KEYS)}); default all")
    sub.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    sub.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                     help="a config field for every model (epochs=1), coherence_<setting> or a run option; repeatable")
    sub.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    sub.add_argument("--progress", action="store_true", help="show a progress bar while training")


def _reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .reproduce import reproduce

    def integers(text: str, option: str) -> list[int]:
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            parser.error(f"{option} takes comma-separated integers (e.g. 0,1,2), got {text!r}")

    seeds = integers(args.seeds, "--seeds")
    seeds_by_model = {}
    for item in args.seeds_of:
        key, _, text = item.partition("=")
        seeds_by_model[key.strip()] = integers(text, f"--seeds-of {key.strip()}=")
    models = [part.strip() for part in args.models.split(",") if part.strip()] if args.models else None
    try:
        reproduce(args.name, args.profile or current_profile(), seeds=seeds, models=models, out=args.out,
                  overrides=args.override, device=args.device, progress=args.progress,
                  seeds_by_model=seeds_by_model)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cmmd_lite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train_parser = commands.add_parser("train", help="train (or load) a model and print its metrics")
    _add_config_flags(train_parser)
    train_parser.add_argument("--retrain", action="store_true", help="ignore an existing checkpoint")
    evaluate_parser = commands.add_parser("evaluate", help="evaluate the checkpoint of a config")
    _add_config_flags(evaluate_parser)
    evaluate_parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    for sub in (train_parser, evaluate_parser):
        sub.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    commands.add_parser("configs", help="list the named configs and their fields (laptop profile)")
    _add_reproduce_parser(commands)
    args = parser.parse_args(argv)

    if args.command == "reproduce":
        return _reproduce(args, parser)

    if args.command == "configs":
        for name in config_names():
            print(json.dumps(get_config(name, "laptop").to_dict()))
        return 0

    from .data.paired import load_paired  # heavy imports only when needed
    from .evaluate import evaluate
    from .train import CheckpointError, checkpoint_dir_for, load_checkpoint, train_or_load

    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    data = load_paired(config.data)
    print(data.summary())
    if args.command == "train":
        result = train_or_load(config, data=data, device=args.device, retrain=args.retrain, progress=not args.quiet)
        history = result.history
        print(f"{'loaded' if result.loaded else 'trained'}: {len(history['epochs'])} epochs, best validation accuracy "
              f"{history['best_val_accuracy']:.4f} at epoch {history['best_epoch']}, "
              f"{history['train_seconds']:.1f} s of training on {history['device']}")
        print(f"checkpoint: {result.checkpoint_dir}")
        model, split_data, split = result.model, result.data.test, "test"
    else:
        folder = checkpoint_dir_for(config)
        try:
            model, _, _ = load_checkpoint(folder, config, data.to("cpu"), device=args.device)
        except CheckpointError as error:
            print(f"error: {error}\nTrain it first: python -m cmmd_lite train {' '.join(sys.argv[2:])}", file=sys.stderr)
            return 2
        split = args.split
        split_data = getattr(data, split).to(next(model.parameters()).device)
        print(f"checkpoint: {folder}")
    metrics = evaluate(model, split_data, n_samples=config.train.eval_samples, seed=config.train.seed)
    _print_metrics(f"{split} ({data.name})", metrics)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"config": config.to_dict(), "split": split, "metrics": metrics}, file, indent=1)
        print(f"metrics written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
