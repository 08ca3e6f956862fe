"""Bad inputs fail early with a ValueError naming the argument, the value and what is allowed,
before anything is written to disk (the cases of the "bad inputs" issue, one test each)."""
from __future__ import annotations

import argparse
import errno
import importlib
import inspect
import math
import re
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import cmmd_lite.__main__ as cli
import cmmd_lite.data.paired as paired
import cmmd_lite.train as train_module
from cmmd_lite.config import get_config, parse_value
from cmmd_lite.data.files import MissingDataError
from cmmd_lite.data.paired import PairedData, PairedSplits, paired_from_arrays
from cmmd_lite.train import CheckpointError, NonFiniteLossError, train_or_load
from cmmd_lite.utils import choose_device, seed_everything

evaluate_module = importlib.import_module("cmmd_lite.evaluate")  # cmmd_lite.evaluate is also the function


def _with(config, section, **values):
    """``config`` with fields of one section replaced, *without* validation (as a user can build it)."""
    if section is None:
        return replace(config, **values)
    return replace(config, **{section: replace(getattr(config, section), **values)})


def re_escape(value):
    """A regex matching ``repr(value)`` literally."""
    return re.escape(repr(value))


def _refused_before_writing(config, tmp_path, match):
    """config.validate() and train_or_load both refuse ``config``; nothing is written."""
    with pytest.raises(ValueError, match=match):
        config.validate()
    with pytest.raises(ValueError, match=match):
        train_or_load(config, checkpoint_root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- case 1: seeds ----------------------------------------------------------------------------

@pytest.mark.parametrize("section, field, value", [
    ("train", "seed", -1), ("train", "seed", 1.5), ("train", "seed", 2**32), ("train", "seed", True),
    ("data", "data_seed", -1), ("data", "data_seed", 0.5),
])
def test_bad_seed_is_refused_before_anything_is_written(section, field, value, tmp_path):
    bad = _with(get_config("mnist2", "smoke"), section, **{field: value})
    _refused_before_writing(bad, tmp_path, rf"{field}={value!r} must be a non-negative integer below 2\*\*32")
    with pytest.raises(ValueError, match=r"seed=-1 must be a non-negative integer below 2\*\*32"):
        seed_everything(-1)


# --- case 2: modality names -------------------------------------------------------------------

@pytest.mark.parametrize("dataset, observed", [
    ("mnist2", ("nope",)),  # today silently ignored: mnist2's roles are fixed
    ("mnist2", ("mnist_noisy",)),  # a real modality, but mnist2 ignores the choice
    ("mnist_svhn", ("mnist_rotated",)),  # not a modality of MNIST-SVHN
    ("mnist3", ("nope",)),
    ("mnist3", ()),
    ("mnist3", ("mnist", "mnist")),  # repeats
    ("mnist3", ("mnist", "mnist_rotated", "svhn")),  # nothing left missing
    ("mnist3", "mnist"),  # a bare string, not a tuple of names
])
def test_bad_observed_modalities_are_refused_before_anything_is_written(dataset, observed, tmp_path):
    config = get_config("mnist3" if dataset == "mnist3" else dataset, "smoke")
    bad = _with(config, "data", observed=observed)
    _refused_before_writing(bad, tmp_path, rf"observed={re_escape(observed)}.*{dataset}")
    with pytest.raises(ValueError) as raised:
        bad.validate()
    for name in MODALITIES[dataset]:  # the message lists the dataset's modalities
        assert repr(name) in str(raised.value)


MODALITIES = {"mnist2": ("mnist_rotated", "mnist_noisy"), "mnist_svhn": ("mnist", "svhn"),
              "mnist3": ("mnist", "mnist_rotated", "svhn")}


def test_good_observed_modalities_still_validate():
    for name in ("mnist2", "mnist_svhn", "mnist3", "mnist3_two_observed"):
        get_config(name, "smoke").validate()
    get_config("mnist3", "smoke", observed=("mnist_rotated",)).validate()


# --- case 3: every numeric field: type, finiteness, range ---------------------------------------

@pytest.mark.parametrize("section, field, value, allowed", [
    ("data", "val_fraction", math.nan, r"\(0(\.0)?, 0\.5\]"),
    ("data", "val_fraction", 0.9, r"\(0(\.0)?, 0\.5\]"),
    ("data", "max_train", 2.5, "positive integer or None"),
    ("data", "pairing_multiplier", True, "positive integer"),
    ("model", "z_dim", 8.0, "positive integer"),
    ("model", "encoder_hidden", 400, "tuple of positive integers"),
    ("model", "classifier_hidden", (50, 2.5), "tuple of positive integers"),
    ("model", "dropout", math.nan, r"\[0(\.0)?, 1(\.0)?\)"),
    ("model", "decoder_logvar_min", -math.inf, "finite number"),
    ("model", "init_std", math.nan, r"\(0(\.0)?, inf\)"),
    ("objective", "omega", math.inf, r"\[0(\.0)?, 1(\.0)?\]"),
    ("objective", "lam", "1000", r"\[0(\.0)?, inf\)"),
    ("objective", "alpha", math.nan, r"\[0(\.0)?, inf\)"),
    ("objective", "mmd_bandwidth", math.nan, r"\(0(\.0)?, inf\) or None"),
    ("objective", "importance_samples", 2.0, "positive integer"),
    ("train", "epochs", 2.5, "positive integer"),
    ("train", "batch_size", np.int64(64), "positive integer"),
    ("train", "lr", math.nan, r"\(0(\.0)?, inf\)"),
    ("train", "eval_samples", False, "positive integer"),
    (None, "name", "a/b", "without path separators"),
    (None, "name", 3, "non-empty string"),
])
def test_bad_numeric_and_typed_fields_are_refused_before_anything_is_written(section, field, value, allowed, tmp_path):
    bad = _with(get_config("mnist2", "smoke"), section, **{field: value})
    _refused_before_writing(bad, tmp_path, rf"{field}={re_escape(value)} .*{allowed}")


def test_n_classes_must_be_an_integer():
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 4)), np.arange(30) % 2
    for bad in (2.5, True, math.nan):
        with pytest.raises(ValueError, match=rf"n_classes={re_escape(bad)} must be a positive integer"):
            paired_from_arrays(x, x, y, n_classes=bad)
    assert paired_from_arrays(x, x, y, n_classes=3).train.n_classes == 3


# --- case 4: CLI flag values --------------------------------------------------------------------

@pytest.mark.parametrize("flag, text, expected", [
    ("--omega", "abc", "--omega expects a float (e.g. 0.5), got 'abc'"),
    ("--epochs", "2.5", "--epochs expects an integer (e.g. 1000), got '2.5'"),
    ("--encoder-hidden", "400,x", "--encoder-hidden expects comma-separated integers (e.g. 2500,2500,2500), "
                                  "got '400,x'"),
    ("--max-train", "lots", "--max-train expects an integer or 'none' (e.g. 1000), got 'lots'"),
    ("--init-std", "tiny", "--init-std expects a float or 'none' (e.g. 0.001), got 'tiny'"),
])
def test_bad_flag_values_name_the_flag_and_the_expected_type(flag, text, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--profile", "smoke", flag, text])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert expected in err and "<lambda>" not in err
    with pytest.raises(ValueError):  # the one grammar (config.parse_value) raises ValueError
        parse_value("float", "abc")
    assert parse_value("tuple[int, ...]", "400,400") == (400, 400)
    assert parse_value("int | None", "none") is None


def test_flag_type_functions_raise_argument_type_errors():
    parser = argparse.ArgumentParser()
    cli._add_config_flags(parser)
    omega = next(action for action in parser._actions if "--omega" in action.option_strings)
    with pytest.raises(argparse.ArgumentTypeError, match="--omega expects a float"):
        omega.type("abc")
    assert omega.type("0.25") == 0.25 and omega.type.__name__ != "<lambda>"


# --- case 5: devices ----------------------------------------------------------------------------

@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["cuda", "mps", "cuda:3", "tpu", "cuda:x"])
def test_unavailable_devices_are_refused(device, no_accelerators):
    with pytest.raises(ValueError, match=rf"device {device!r} is not available here.*available: cpu"):
        choose_device(device)
    assert choose_device("cpu") == torch.device("cpu") and choose_device(None) == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")


def test_a_cuda_index_beyond_the_machine_is_refused():
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(ValueError, match=f"'cuda:{count + 5}' is not available here"):
        choose_device(f"cuda:{count + 5}")


# --- case 6: the CLI reports the library's errors in one line -----------------------------------

def _tiny_mnist2() -> PairedSplits:
    splits = []
    for offset, n in enumerate((40, 20, 20)):
        g = torch.Generator().manual_seed(offset)
        y = torch.arange(n) % 10
        sources = {m: torch.randint(0, 255, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
                   for m in ("mnist_rotated", "mnist_noisy")}
        splits.append(PairedData(sources, {m: torch.arange(n) for m in sources}, y,
                                 ("mnist_rotated",), ("mnist_noisy",)))
    return PairedSplits(*splits, name="2-modality MNIST")


def _raiser(error):
    def raise_it(*args, **kwargs):
        raise error
    return raise_it


def _cli_exit_code(argv):
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(paired, "load_paired", lambda cfg, device=None: _tiny_mnist2())
    return monkeypatch


TRAIN = ["train", "--profile", "smoke", "--quiet", "--epochs", "1"]


@pytest.mark.parametrize("argv, patch, error", [
    (TRAIN + ["--seed", "-1"], None, None),  # ValueError from the config
    (TRAIN + ["--observed", "nope"], None, None),  # ValueError from the config
    (["evaluate", "--profile", "smoke", "--quiet"], None, None),  # CheckpointError: nothing trained yet
    (TRAIN, "load_paired", MissingDataError("Dataset file 'train-images-idx3-ubyte.gz' was not found.")),
    (TRAIN, "load_paired", ValueError("dataset says no")),
    (TRAIN, "train_or_load", CheckpointError("the checkpoint in /x was trained with another config")),
    (TRAIN, "train_or_load", NonFiniteLossError("the loss term 'kl' became nan in epoch 1")),
    (TRAIN, "train_or_load", OSError(errno.ENOSPC, "No space left on device", "/x/checkpoints/last.pt")),
    (TRAIN, "train_or_load", PermissionError(errno.EACCES, "Permission denied", "/read-only/checkpoints")),
])
def test_cli_reports_library_errors_in_one_line(argv, patch, error, cli_env, capsys):
    if patch == "load_paired":
        cli_env.setattr(paired, "load_paired", _raiser(error))
    elif patch == "train_or_load":
        cli_env.setattr(train_module, "train_or_load", _raiser(error))
    code = _cli_exit_code(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    if error is not None:
        assert (error.strerror if isinstance(error, OSError) and error.strerror else str(error)) in lines[0]
        if isinstance(error, OSError) and error.filename:
            assert error.filename in lines[0]


def test_cli_keeps_continuation_lines_of_a_long_message_indented(cli_env, capsys):
    cli_env.setattr(paired, "load_paired", _raiser(MissingDataError("file x was not found.\nTo fix:\n  - set Y")))
    assert _cli_exit_code(TRAIN) == 2
    lines = capsys.readouterr().err.rstrip("\n").splitlines()
    assert lines[0] == "error: file x was not found." and all(line.startswith("  ") for line in lines[1:])


def test_cli_keeps_tracebacks_for_unexpected_errors(cli_env):
    cli_env.setattr(train_module, "train_or_load", _raiser(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(TRAIN)


def test_cli_refuses_an_unavailable_device_before_loading_data(cli_env, no_accelerators, capsys):
    cli_env.setattr(paired, "load_paired", _raiser(AssertionError("data must not be loaded")))
    assert _cli_exit_code(TRAIN + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: device 'cuda' is not available here") and "Traceback" not in err


# --- case 7: the CLI evaluates with the library's default number of prior samples ---------------

def test_cli_evaluates_with_the_library_default_number_of_samples(cli_env, tmp_path, capsys):
    calls = []
    library_default = inspect.signature(evaluate_module.evaluate).parameters["n_samples"].default

    def fake_evaluate(model, data, *, n_samples=library_default, seed=0):  # the library's signature
        calls.append(n_samples)
        return {"accuracy": 0.5, "accuracy_prior_mean": 0.5, "rmse": None, "n_pairs": len(data),
                "collapse": {}, "collapse_epsilons": []}

    history = {"epochs": [{}], "best_val_accuracy": 0.5, "best_epoch": 1, "train_seconds": 0.1, "device": "cpu"}
    cli_env.setattr(train_module, "train_or_load", lambda config, **kw: SimpleNamespace(
        model=torch.nn.Linear(1, 1), history=history, loaded=False, checkpoint_dir=tmp_path, data=_tiny_mnist2()))
    cli_env.setattr(evaluate_module, "evaluate", fake_evaluate)
    assert get_config("mnist2", "smoke").train.eval_samples != library_default  # the smoke profile differs

    assert cli.main(TRAIN) == 0
    assert calls == [library_default] and f"{library_default} prior samples" in capsys.readouterr().out
    assert cli.main(TRAIN + ["--samples", "3"]) == 0
    assert calls[-1] == 3 and "3 prior samples" in capsys.readouterr().out
    assert _cli_exit_code(TRAIN + ["--samples", "0"]) == 2
    assert "--samples expects a positive integer" in capsys.readouterr().err
