"""Command line: ``python -m cmmd_lite {train,evaluate,configs,reproduce,sweep} ...``.

Every config field is a flag (``--omega 0.1 --epochs 5 --encoder-hidden 400,400``); the named
config (``--config``) and the profile (``--profile``, default ``$CMMD_PROFILE`` or ``laptop``)
give the starting values. ``reproduce NAME`` runs one of the paper's tables or figures
(:mod:`cmmd_lite.reproduce`) and writes JSON and Markdown beside the paper's numbers.
"""
from __future__ import annotations

import argparse
import errno
import inspect
import json
import sys
from dataclasses import fields
from typing import Any, Callable, Sequence

from .config import (PROFILES, SECTIONS, Config, config_names, current_profile, field_example, get_config,
                     parse_value)

def _flag_type(flag: str, annotation: str, example: str | None) -> Callable[[str], Any]:
    """argparse ``type`` of one config flag: parses, or raises ArgumentTypeError naming the flag."""
    def parse(text: str) -> Any:
        try:
            return parse_value(annotation, text, flag, example)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = annotation  # argparse names a type by its __name__ in some messages
    return parse


def _positive_int_flag(flag: str, example: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} expects a positive integer (e.g. {example}), got {text!r}")
        return value

    parse.__name__ = "positive int"
    return parse


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="mnist2", choices=config_names(), help="named experiment (paper Appendix C)")
    parser.add_argument("--profile", default=None, choices=PROFILES,
                        help="compute profile (default: $CMMD_PROFILE, else laptop)")
    for section, cls in SECTIONS.items():
        group = parser.add_argument_group(f"{section} fields")
        for f in fields(cls):
            flag = f"--{f.name.replace('_', '-')}"
            group.add_argument(flag, dest=f"field:{f.name}", metavar=str(f.type).upper(),
                               type=_flag_type(flag, str(f.type), field_example(f)), default=argparse.SUPPRESS,
                               help="(default from the named config and profile)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = {key.split(":", 1)[1]: value for key, value in vars(args).items() if key.startswith("field:")}
    return get_config(args.config, args.profile or current_profile(), **overrides)


def _print_metrics(title: str, metrics: dict[str, Any], n_samples: int) -> None:
    rmse = "n/a (no decoder)" if metrics["rmse"] is None else f"{metrics['rmse']['x_m']:.4f}"
    print(f"{title}: accuracy {metrics['accuracy']:.4f} ({n_samples} prior samples; prior mean: "
          f"{metrics['accuracy_prior_mean']:.4f}), x_M RMSE {rmse}, pairs {metrics['n_pairs']:,}")
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
    sub.add_argument("--compare-to", default=None, metavar="DIR",
                     help="after the run, compare its numbers seed by seed with the record NAME-PROFILE.json in DIR "
                          "(e.g. results/reproduce; --out must be another folder); exit 1 if any differs")
    sub.add_argument("--tolerance", type=float, default=0.0,
                     help="with --compare-to: the absolute difference still counted as equal (default 0)")


def _integers(parser: argparse.ArgumentParser, text: str, option: str) -> list[int]:
    """A comma-separated integer list of a flag (--seeds, --seeds-of); a usage error otherwise."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        parser.error(f"{option} takes comma-separated integers (e.g. 0,1,2), got {text!r}")


def _reproduce(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .reproduce import reproduce

    seeds = _integers(parser, args.seeds, "--seeds")
    seeds_by_model = {}
    for item in args.seeds_of:
        key, _, text = item.partition("=")
        seeds_by_model[key.strip()] = _integers(parser, text, f"--seeds-of {key.strip()}=")
    models = [part.strip() for part in args.models.split(",") if part.strip()] if args.models else None
    profile = args.profile or current_profile()
    recorded = None
    if args.compare_to is not None:
        from pathlib import Path

        from .store import read_json

        if Path(args.compare_to).resolve() == Path(args.out).resolve():
            parser.error("--compare-to and --out are the same folder: the run would overwrite the record it is "
                         "compared with; pass another --out.")
        recorded_path = Path(args.compare_to) / f"{args.name}-{profile}.json"
        if not recorded_path.is_file():
            parser.error(f"--compare-to: no record {recorded_path} to compare with.")
        recorded = read_json(recorded_path)
    # errors of the library are reported by main()
    payload = reproduce(args.name, profile, seeds=seeds, models=models, out=args.out, overrides=args.override,
                        device=args.device, progress=args.progress, seeds_by_model=seeds_by_model)
    if recorded is None:
        return 0
    from .reproduce import compare_runs, comparison_markdown

    comparison = compare_runs(recorded, payload, tolerance=args.tolerance)
    print(comparison_markdown(comparison, recorded_path), end="")
    return 1 if comparison["differ"] or comparison["only_recorded"] else 0


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    from .sweeps import DEFAULT_OUT, ENGINES, GRIDS

    sub = commands.add_parser(
        "sweep", help="train and measure every setting of an omega x lambda x alpha grid; write its record",
        description="Grids: " + "; ".join(f"{g.name}: " + " x ".join(f"{k} {list(v)}" for k, v in g.axes.items())
                                           for g in GRIDS.values()))
    sub.add_argument("name", metavar="NAME", help=f"one of: {', '.join(GRIDS)}")
    sub.add_argument("--profile", default=None, choices=PROFILES,
                     help="compute profile (default: $CMMD_PROFILE, else laptop)")
    sub.add_argument("--seeds", default="0", help="comma-separated seeds: all settings at the first, the grid's "
                                                  "seed axis (omega for mnist2 and mnist_svhn) at the others, "
                                                  "at the defaults (default 0)")
    sub.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    sub.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                     help="a config field for every setting, e.g. max_train=20000 (recorded); repeatable")
    sub.add_argument("--limit", type=int, default=None, help="stop after this many new settings (rerun to go on)")
    sub.add_argument("--rebuild", action="store_true", help="start a new record even if one exists")
    sub.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    sub.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_argument("--engine", default="local", choices=ENGINES,
                     help="local: one setting after another; processes: --workers local processes; ray: Ray tasks "
                          "(RAY_ADDRESS names a cluster, else a local instance starts)")
    sub.add_argument("--workers", type=int, default=1, help="settings trained at once (default 1)")
    sub.add_argument("--table", action="store_true",
                     help="train nothing: print the record's table (one row per change from the defaults for a "
                          "one-axis-at-a-time grid, along omega at the default lambda and alpha for an omega x "
                          "lambda x alpha grid, else one row per setting)")


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .config import parse_overrides
    from .sweeps import GRIDS, load_record, run_sweep

    if args.table:
        from pathlib import Path

        from .explore import SWEEP_AXES, budget_table, cause_table, grid_table, record_table

        if args.name not in GRIDS:
            parser.error(f"unknown sweep {args.name!r}; choose from: {', '.join(GRIDS)}.")
        record = load_record(Path(args.out) / f"{args.name}-{args.profile or current_profile()}.json")
        grid = GRIDS[args.name]
        table = (budget_table if "model_type" in grid.axes
                 else cause_table if grid.layout == "star" or len(grid.axes) == 1
                 else record_table if set(grid.axes) == set(SWEEP_AXES) else grid_table)
        print(table(record).markdown())
        return 0
    record = run_sweep(args.name, args.profile or current_profile(), seeds=_integers(parser, args.seeds, "--seeds"),
                       out=args.out,
                       overrides=parse_overrides(args.override), rebuild=args.rebuild, device=args.device,
                       progress=not args.quiet, limit=args.limit, engine=args.engine, workers=args.workers)
    print(f"{len(record['settings'])} of {record['provenance'].get('settings_expected')} settings recorded")
    return 0


def _library_errors() -> tuple[type[BaseException], ...]:
    """The exception types the CLI reports in one line (tracebacks stay for everything else)."""
    from .data.files import DataFileError  # MissingDataError is one (and a FileNotFoundError)
    from .train import CheckpointError, NonFiniteLossError

    return ValueError, DataFileError, CheckpointError, NonFiniteLossError, OSError


def _error_message(error: BaseException) -> str:
    from .data.files import DataFileError
    from .paths import ENV_CACHE_DIR

    if isinstance(error, OSError) and not isinstance(error, DataFileError) and error.strerror:
        where = "".join(f" {name!r}" for name in (error.filename, error.filename2) if name is not None)
        message = f"{error.strerror}:{where}" if where else error.strerror
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            message += f" (the disk is full: free some space, or set {ENV_CACHE_DIR} to a folder on another disk)"
        elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            message += f" (the folder is not writable: set {ENV_CACHE_DIR} to a writable folder)"
        return message
    return str(error).strip() or type(error).__name__


def _report(error: BaseException) -> None:
    """``error: <message>`` on stderr; the continuation lines of a long message indented below it."""
    first, *rest = _error_message(error).splitlines() or [type(error).__name__]
    print(f"error: {first}", file=sys.stderr)
    for line in rest:
        print(f"  {line}", file=sys.stderr)


def _train_command(argv: Sequence[str]) -> str:
    """The ``train`` command line for the config of an ``evaluate`` command line."""
    words, skip = [], False
    for word in argv[1:]:
        if skip or word == "--split" or word.startswith("--split="):
            skip = word == "--split"
            continue
        words.append(word)
    return " ".join(["python -m cmmd_lite train", *words])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2, with one ``error:`` line, for the library's
    own errors: bad values, missing data files, unusable checkpoints, non-finite losses, disk errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
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
        sub.add_argument("--samples", default=None, type=_positive_int_flag("--samples", "10"),
                         help="prior samples averaged by the predictive classifier (default: the same "
                              "as cmmd_lite.evaluate())")
    commands.add_parser("configs", help="list the named configs and their fields (laptop profile)")
    _add_reproduce_parser(commands)
    _add_sweep_parser(commands)
    args = parser.parse_args(argv)
    try:
        return _run(args, parser, argv)
    except Exception as error:  # noqa: BLE001 - the library's own errors get one line, others a traceback
        if not isinstance(error, _library_errors()):
            raise
        _report(error)
        return 2


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    if args.command == "reproduce":
        return _reproduce(args, parser)
    if args.command == "sweep":
        return _sweep(args, parser)

    if args.command == "configs":
        for name in config_names():
            print(json.dumps(get_config(name, "laptop").to_dict()))
        return 0

    from .data.paired import load_paired  # heavy imports only when needed
    from .evaluate import evaluate
    from .train import CheckpointError, checkpoint_dir_for, load_checkpoint, train_or_load
    from .utils import choose_device

    config = config_from_args(args)
    choose_device(args.device)  # an unavailable device fails here, before any data is loaded
    # The same number of prior samples as cmmd_lite.evaluate() unless --samples says otherwise.
    n_samples = args.samples or inspect.signature(evaluate).parameters["n_samples"].default
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
        folder = checkpoint_dir_for(config, data)  # keyed by the config and the data
        try:
            model, _, _ = load_checkpoint(folder, config, data, device=args.device)
        except CheckpointError as error:
            raise CheckpointError(f"{error} Train it first: {_train_command(argv)}") from error
        split = args.split
        split_data = getattr(data, split)  # evaluate() moves it to the model's device
        print(f"checkpoint: {folder}")
    metrics = evaluate(model, split_data, n_samples=n_samples, seed=config.train.seed)
    _print_metrics(f"{split} ({data.name})", metrics, n_samples)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"config": config.to_dict(), "split": split, "n_samples": n_samples, "metrics": metrics},
                      file, indent=1)
        print(f"metrics written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
