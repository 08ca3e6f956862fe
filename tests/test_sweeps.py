"""Sweeps on a tiny grid: the record's content and schema, resume after a kill, refusal of foreign records,
the parallel engines."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import cmmd_lite.sweeps as sweeps
from cmmd_lite.config import FIELD_SECTION
from cmmd_lite.__main__ import main
from cmmd_lite.sweeps import (Grid, SweepRecordError, decode_images, decode_points, load_record, run_sweep,
                              validate_record)
from test_reproduce import tiny_loader

TINY = Grid("tiny", "mnist2", {"omega": (0.0, 1.0), "lam": (0.0, 100.0), "alpha": (10.0,)},
            {"lam": 100.0, "alpha": 10.0}, patience=1, tsne_points=30, overrides={"epochs": 3})


@pytest.fixture(autouse=True)
def _tiny_grid(monkeypatch, tmp_path):
    monkeypatch.setitem(sweeps.GRIDS, "tiny", TINY)
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "cache-a"))


def _run(out, **kwargs):
    return run_sweep("tiny", "smoke", seeds=(0, 1), out=out, data_loader=tiny_loader, progress=False, log=None,
                     **kwargs)


def test_a_sweep_records_every_setting_and_its_measurements(tmp_path):
    record = _run(tmp_path / "out")
    assert len(record["settings"]) == 4 + 2  # the 2 x 2 grid at seed 0, the omega axis at seed 1
    assert validate_record(record) == []
    entry = next(iter(record["settings"].values()))
    assert set(entry["collapse"]) == {"prior_vs_standard", "posterior_vs_standard", "posterior_vs_prior"}
    assert 0 <= entry["active_dims"] <= 8 and 0.0 <= entry["accuracy"] <= 1.0 and 0.0 <= entry["probe_accuracy"] <= 1
    from cmmd_lite.evaluate import COLLAPSE_EPSILONS

    for kind, nats in entry["collapse_nats_per_dim"].items():  # each dimension's epsilon agrees with the curve
        counted = [np.mean(np.asarray(nats) < epsilon) for epsilon in COLLAPSE_EPSILONS]
        assert len(nats) == 8 and np.allclose(counted, entry["collapse"][kind], atol=1 / 8 + 1e-9), kind
    assert decode_points(entry["tsne"]["prior"]).shape == decode_points(entry["tsne"]["posterior"]).shape == (30, 2)
    images = decode_images(entry["generated"]["mnist_noisy"])
    assert images.dtype.name == "uint8" and images.shape == (10, 1, 28, 28)
    assert decode_images(entry["reconstructed"]["mnist_noisy"]).shape == (10, 1, 28, 28)
    extra = [e for e in record["settings"].values() if e["setting"]["seed"] == 1]  # images at the first seed only
    assert extra and all(e["generated"] == e["reconstructed"] == {} and e["coherence"] for e in extra)
    assert all(e["generated"] for e in record["settings"].values() if e["setting"]["seed"] == 0)
    points = record["points"]
    assert len(points["tsne_labels"]) == len(points["tsne_rows"]) == 30 and points["shown_labels"] == list(range(10))
    assert 0.0 <= entry["coherence"]["mnist_noisy"] <= 1.0 and entry["epochs"] and entry["config"]["train"]["patience"] == 1
    prov = record["provenance"]
    assert prov["command"].startswith("python -m cmmd_lite sweep tiny --profile smoke --seeds 0,1")
    assert prov["sittings"][0]["machine"]["torch"] == torch.__version__ and prov["svhn_standin"] is False
    assert record["identity"]["code_version"] == sweeps.CODE_VERSION
    assert prov["sittings"][0]["code_hash"] == sweeps.code_hash()
    # the sitting starts when this process did, before its first setting ended
    sitting = prov["sittings"][0]
    assert sitting["started_utc"] == sweeps._sitting_started_utc(sitting["pid_wall_started"])
    assert sitting["started_utc"] <= sitting["ended_utc"]
    stored = json.loads((tmp_path / "out" / "tiny-smoke.json").read_text())
    assert stored["settings"] == json.loads(json.dumps(record["settings"]))
    assert (tmp_path / "out" / "tiny-smoke.json").stat().st_size < 500_000


def test_a_killed_sweep_resumes_to_the_same_record(tmp_path, monkeypatch):
    straight = _run(tmp_path / "straight")
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "cache-b"))  # nothing trained yet there
    partial = _run(tmp_path / "killed", limit=2)
    assert len(partial["settings"]) == 2
    real, calls = sweeps.measure_setting, []

    def killed_after_training(*args, **kwargs):  # the third setting is trained, then the process dies
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sweeps, "measure_setting", killed_after_training)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "killed")
    resumed = _run(tmp_path / "killed")

    def without_timing(settings):
        return {key: {k: v for k, v in entry.items() if k != "train_seconds"} for key, entry in settings.items()}

    assert list(resumed["settings"]) == list(straight["settings"])
    assert without_timing(resumed["settings"]) == without_timing(straight["settings"])
    assert len(resumed["provenance"]["sittings"]) == 1  # one process here; a new process adds a sitting


def test_a_foreign_or_stale_record_is_refused(tmp_path, monkeypatch):
    _run(tmp_path / "out")
    with pytest.raises(SweepRecordError, match="seeds: record"):
        run_sweep("tiny", "smoke", seeds=(0,), out=tmp_path / "out", data_loader=tiny_loader, progress=False, log=None)
    monkeypatch.setattr(sweeps, "code_version", lambda: "another-version")
    with pytest.raises(SweepRecordError, match="code_version"):
        _run(tmp_path / "out")
    monkeypatch.undo()
    monkeypatch.setitem(sweeps.GRIDS, "tiny", TINY)
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "cache-a"))
    changed_default = Grid(**{**TINY.__dict__, "overrides": {"epochs": 3, "lr": 5e-4}})
    monkeypatch.setitem(sweeps.GRIDS, "tiny", changed_default)  # same identity, another config per setting
    with pytest.raises(SweepRecordError, match="another config than this code builds.*train.lr"):
        _run(tmp_path / "out")
    monkeypatch.setattr(sweeps, "code_version", lambda: "another-version")
    path = tmp_path / "out" / "tiny-smoke.json"
    broken = json.loads(path.read_text())
    del next(iter(broken["settings"].values()))["tsne"]
    broken["identity"]["schema"] = sweeps.SCHEMA
    path.write_text(json.dumps(broken))
    with pytest.raises(SweepRecordError, match="'tsne' missing"):
        load_record(path)
    assert _run(tmp_path / "out", rebuild=True)["identity"]["code_version"] == "another-version"


def test_the_cli_names_the_grids(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert "mnist2: omega [0.0, 0.1, 0.4, 0.7, 0.9, 1.0] x lam [0.0, 100.0, 1000.0] x alpha [1.0, 10.0, 1000.0]" in \
        capsys.readouterr().out.replace("\n", " ").replace("  ", " ")
    assert len(sweeps.GRIDS["mnist2"].settings([0, 1, 2])) == 54 + 2 * 6
    assert len(sweeps.GRIDS["mnist_svhn"].settings([0])) == 20
    ordered = sweeps.GRIDS["mnist2"].settings([0, 1])
    assert ordered[0] == {"omega": 0.4, "lam": 1000.0, "alpha": 10.0, "seed": 0}  # the defaults train first,
    assert all(sum(s[k] != ordered[0][k] for k in ("omega", "lam", "alpha")) == 1 for s in ordered[1:10])  # then one axis off
    assert [s["seed"] for s in ordered[10:16]] == [1] * 6 and len({tuple(s.items()) for s in ordered}) == 54 + 6


@pytest.mark.parametrize("engine", ["processes", pytest.param("ray", marks=[
    pytest.mark.alone, pytest.mark.skipif(not importlib.util.find_spec("ray"), reason="Ray is not installed (the test extra)")])])
def test_the_parallel_engines_record_what_one_process_records(tmp_path, monkeypatch, engine):
    # the first setting alone (it orients the t-SNE), then two at once on two workers
    alone = _run(tmp_path / "alone", limit=3)

    def without_timing(settings):
        return {key: {k: v for k, v in entry.items() if k != "train_seconds"} for key, entry in settings.items()}

    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / f"cache-{engine}"))  # nothing trained there yet
    parallel = _run(tmp_path / engine, engine=engine, workers=2, threads_per_worker=1, limit=3)
    assert (tmp_path / f"cache-{engine}" / "checkpoints").is_dir()  # the workers trained
    assert list(parallel["settings"]) == list(alone["settings"])  # the grid's order, whatever finished first
    assert without_timing(parallel["settings"]) == without_timing(alone["settings"]), engine
    assert parallel["provenance"]["sittings"][0]["engine"] == engine
    assert f"--engine {engine} --workers 2" in parallel["provenance"]["command"]


def test_an_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="engine='threads'"):
        _run(tmp_path / "bad", engine="threads")


def test_a_ray_start_that_timed_out_is_tried_again(monkeypatch):
    calls = []

    class FakeRay:
        def __init__(self, failures, message="The current node timed out during startup."):
            self.failures, self.message = failures, message

        def init(self, **options):
            calls.append(options)
            if sum(c != "shutdown" for c in calls) <= self.failures:
                raise Exception(self.message)

        def shutdown(self):
            calls.append("shutdown")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    sweeps._start_ray(FakeRay(failures=1), workers=2)
    assert calls[0]["num_cpus"] == 2 and calls[1] == "shutdown" and len(calls) == 3
    calls.clear()
    with pytest.raises(Exception, match="timed out"):  # gives up after _RAY_STARTS attempts
        sweeps._start_ray(FakeRay(failures=sweeps._RAY_STARTS), workers=2)
    assert len([c for c in calls if c != "shutdown"]) == sweeps._RAY_STARTS
    calls.clear()
    with pytest.raises(Exception, match="no such cluster"):  # any other error is not retried
        sweeps._start_ray(FakeRay(failures=1, message="no such cluster"), workers=2)
    assert len(calls) == 1


def test_recorded_images_round_trip_losslessly_in_both_encodings():
    import base64

    from cmmd_lite.sweeps import _uint8_images

    images = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = (images * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(decode_images(_uint8_images(images)), expected)
    old = {"shape": list(expected.shape), "uint8_base64": base64.b64encode(expected.tobytes()).decode("ascii")}
    assert np.array_equal(decode_images(old), expected)


STAR = Grid("tiny_star", "mnist2", {"omega": (0.0, 1.0), "decoder_hidden": ((8,), (16, 16))},
            {"omega": 0.0, "decoder_hidden": (8,)}, patience=1, tsne_points=30, overrides={"epochs": 2},
            layout="star")


def test_a_star_grid_changes_one_axis_at_a_time_and_reads_back_as_a_cause_table(tmp_path, monkeypatch, capsys):
    from cmmd_lite.explore import cause_table

    monkeypatch.setitem(sweeps.GRIDS, "tiny_star", STAR)
    settings = STAR.settings([0, 1])
    assert settings == [{"omega": 0.0, "decoder_hidden": (8,), "seed": 0}, {"omega": 1.0, "decoder_hidden": (8,), "seed": 0},
                        {"omega": 0.0, "decoder_hidden": (16, 16), "seed": 0},
                        {"omega": 0.0, "decoder_hidden": (8,), "seed": 1}, {"omega": 1.0, "decoder_hidden": (8,), "seed": 1}]

    def run(**kwargs):
        return run_sweep("tiny_star", "smoke", seeds=(0, 1), out=tmp_path / "out", data_loader=tiny_loader,
                         progress=False, log=None, **kwargs)
    record = run(limit=3)
    assert record["identity"]["layout"] == "star" and "layout" not in _run(tmp_path / "product")["identity"]
    assert record["identity"]["defaults"]["decoder_hidden"] == [8]  # as it reads back from JSON
    wide = next(e for e in record["settings"].values() if e["setting"]["decoder_hidden"] == [16, 16])
    assert wide["config"]["model"]["decoder_hidden"] == [16, 16]
    for entry in record["settings"].values():  # coherence at both means, beside the prior sample's
        assert set(entry["coherence_at"]) == {"prior_mean", "posterior_mean"}
        assert all(0.0 <= v <= 1.0 for at in entry["coherence_at"].values() for v in at.values())
    record = run()  # resumes: the tuple-valued setting is recognised, not retrained or refused
    assert len(record["settings"]) == 5
    table = cause_table(record)
    assert [row["change"] for row in table.rows] == ["the defaults", "omega = 1", "decoder_hidden = (16, 16)"]
    assert [row["seeds"] for row in table.rows] == [2, 2, 1] and "±" in table.rows[0]["accuracy"]
    centre = [e for e in record["settings"].values() if e["setting"]["omega"] == 0.0
              and e["setting"]["decoder_hidden"] == [8]]
    assert table.rows[0]["coherence at μ_q"].startswith(
        f"{np.mean([e['coherence_at']['posterior_mean']['mnist_noisy'] for e in centre]):.3f}")
    assert main(["sweep", "tiny_star", "--profile", "smoke", "--out", str(tmp_path / "out"), "--table"]) == 0
    printed = capsys.readouterr().out
    assert "| decoder_hidden = (16, 16) | 1 |" in printed and "one change at a time from omega = 0" in printed
    from cmmd_lite.explore import cause_images

    figure = cause_images(record)
    assert [trace.type for trace in figure.data] == ["image"] * 3
    assert figure.layout.annotations[1].text.startswith("omega = 1: coherence ")
    with pytest.raises(ValueError, match="no row 'omega = 2'.*its rows: the defaults, omega = 1"):
        cause_images(record, ["omega = 2"])
    from cmmd_lite.explore import grid_table

    product = _run(tmp_path / "product")
    with pytest.raises(ValueError, match="no default for omega"):
        cause_table(product)
    rows = grid_table(product).rows  # any grid: one row per combination of its axes, seeds pooled
    assert [row["setting"] for row in rows] == ["omega = 0, lam = 0, alpha = 10", "omega = 0, lam = 100, alpha = 10",
                                                "omega = 1, lam = 0, alpha = 10", "omega = 1, lam = 100, alpha = 10"]
    assert [row["seeds"] for row in rows] == [1, 2, 1, 2]  # the omega axis at lambda 100 has a second seed
    two_changes = json.loads(json.dumps(record))
    next(iter(two_changes["settings"].values()))["setting"].update(omega=1.0, decoder_hidden=[16, 16])
    with pytest.raises(ValueError, match="changes omega, decoder_hidden from the defaults"):
        cause_table(two_changes)


@pytest.mark.parametrize("name", sorted(set(sweeps.GRIDS) - {"tiny", "tiny_star"}))
def test_every_registered_grid_builds_a_valid_config_for_each_setting(name):
    grid = sweeps.GRIDS[name]
    settings = grid.settings([0, 1])
    assert len({sweeps.setting_key(s) for s in settings}) == len(settings)  # no two settings share a key
    for setting in settings:
        config = sweeps.setting_config(grid, "laptop", setting, {})
        for field_name, value in setting.items():
            if field_name != "seed":
                section = getattr(config, FIELD_SECTION[field_name])
                assert getattr(section, field_name) == value, (name, field_name)


ROOT = Path(__file__).resolve().parents[1]
CAUSE_COLUMNS = ["coherence (z ~ p(z|x_o))", "coherence at μ_p", "coherence at μ_q", "accuracy"]


def assert_readme_table_is_record(record_name: str, header: str, labels: list[list[str]]) -> dict:
    """The README table that starts at ``header``: one line per entry of ``labels`` (the record's
    changes, several joined by " / " in a cell), its cells after the first the record's
    :func:`~cmmd_lite.explore.cause_table` columns. Returns the record's rows by change."""
    from cmmd_lite.explore import cause_table

    rows = {row["change"]: row for row in cause_table(load_record(ROOT / "results/sweeps" / record_name)).rows}
    readme = ROOT.joinpath("README.md").read_text()
    lines = readme[readme.index(header):].splitlines()[2:2 + len(labels)]
    for line, names in zip(lines, labels, strict=True):
        assert line.startswith("| "), line
        cells = [cell.strip() for cell in line.strip("|").split("|")][1:]
        for cell, column in zip(cells, CAUSE_COLUMNS, strict=True):
            assert cell.split(" / ") == [rows[name][column] for name in names], (line, column)
    return rows


def test_the_readme_cause_table_is_the_committed_record():
    """Every number of the README's table of causes is the committed record's (via cause_table)."""
    assert_readme_table_is_record(
        "mnist_svhn_causes-laptop.json", "| change from the paper's setting |",
        [["the defaults"], ["decoder_logvar_max = -2", "decoder_logvar_max = -4"], ["decoder = bernoulli"],
         ["decoder_hidden = (1024, 1024)"], ["omega = 0", "omega = 1"], ["lam = 0"], ["epochs = 10", "epochs = 30"]])


def test_the_readme_data_table_is_the_committed_record():
    """Every number of the README's table of training pairs is the committed record's, and each
    setting trained on the pairs its row names."""
    rows = assert_readme_table_is_record(
        "mnist_svhn_data-laptop.json", "| change from Bernoulli, lambda 1e4, alpha 1000, 46,678 pairs |",
        [["the defaults"], ["max_train = 10000", "max_train = 20000"], ["decoder = deconv"]])
    record = load_record(ROOT / "results/sweeps/mnist_svhn_data-laptop.json")
    assert sorted(e["n_train"] for e in record["settings"].values()) == [10000, 20000, 46678, 46678]
    assert float(rows["decoder = deconv"]["coherence (z ~ p(z|x_o))"]) > 0.8
    readme = ROOT.joinpath("README.md").read_text()  # what the text around the table reads from it
    ceiling = {round(e["coherence_ceiling"]["svhn"], 3) for e in record["settings"].values()}
    assert ceiling == {0.987} and "accuracy 0.987 on real stand-in images" in readme
    mlp = [float(rows[c]["coherence (z ~ p(z|x_o))"]) for c in ("the defaults", "max_train = 10000", "max_train = 20000")]
    assert f"coherence ({min(mlp):.2f}-{max(mlp):.2f})" in readme


def test_the_readme_generation_table_is_the_committed_record():
    """Every number of the README's table of coherence against omega is the committed record's, and
    so are the numbers of the text below it (the paper setting's fall is the mnist_svhn record's)."""
    rows = assert_readme_table_is_record(
        "mnist_svhn_generation-laptop.json", "| change from deconv, lambda 1e4, alpha 1000, omega 0.1, 46,678 pairs |",
        [["the defaults"], ["omega = 0", "omega = 0.4"], ["omega = 0.7", "omega = 1"]])
    sample = {c: float(r["coherence (z ~ p(z|x_o))"]) for c, r in rows.items()}
    readme = ROOT.joinpath("README.md").read_text()
    assert f"rises* with omega ({min(sample.values()):.2f} to {max(sample.values()):.2f})" in readme
    assert min(sample.values()) > 0.8 and sample["omega = 1"] == max(sample.values())
    from cmmd_lite.explore import record_table

    main = {r["ω"]: r["coherence"].split(" ")[0] for r in record_table(load_record(ROOT / "results/sweeps/mnist_svhn-laptop.json")).rows}
    assert f"falls with it ({float(main['0']):.2f} at omega 0 to {float(main['1']):.2f} at omega 1" in readme


def test_the_readme_recipe_table_is_the_committed_record():
    """Every number of the README's recipe table is the committed record's, and so is what its
    text reads from the training histories: selection by validation accuracy and by the
    validation objective keep the same epoch, after which the validation objective rises."""
    rows = assert_readme_table_is_record(
        "mnist_svhn_recipe-laptop.json", "| change from Bernoulli, lambda 1e4, alpha 1000 |",
        [["the defaults"], ["decoder = deconv"], ["lam = 1000", "lam = 100000"],
         ["decoder_hidden = (1024, 1024)"], ["select = val_loss"]])
    assert len(rows) == 6
    record = load_record(ROOT / "results/sweeps/mnist_svhn_recipe-laptop.json")
    by_selection = {entry["setting"]["select"]: entry for entry in record["settings"].values()
                    if entry["setting"]["decoder"] == "bernoulli" and entry["setting"]["lam"] == 10000.0
                    and tuple(entry["setting"]["decoder_hidden"]) == (400,)}
    epochs = by_selection["val_loss"]["epochs"]
    val_loss = [e["val_loss"] for e in epochs]
    best = int(np.argmin(val_loss)) + 1
    assert best == by_selection["val_loss"]["best_epoch"] == by_selection["auto"]["best_epoch"]
    readme = ROOT.joinpath("README.md").read_text()
    assert f"both peak at epoch {best}" in readme
    assert min(val_loss[best:]) > val_loss[best - 1]  # it rises after the kept epoch
    assert "until its validation accuracy or objective had not improved" in sweeps.describe_record(record)


DATA = Grid("tiny_data", "mnist2", {"max_train": (96, 48)}, {"max_train": 96}, seed_axis="max_train", patience=1,
            tsne_points=30, overrides={"epochs": 2}, layout="star")


def _capped_loader(config):
    """tiny_loader's splits with the training split cut to the config's max_train."""
    splits = tiny_loader(config)
    n = config.max_train or len(splits.train)
    return type(splits)(splits.train.subset(slice(0, n)), splits.val, splits.test, splits.name)


@pytest.mark.parametrize("engine", ["local", "processes"])
def test_a_grid_over_the_training_set_trains_each_setting_on_its_own_data(tmp_path, monkeypatch, engine):
    monkeypatch.setitem(sweeps.GRIDS, "tiny_data", DATA)
    record = run_sweep("tiny_data", "smoke", seeds=(0,), out=tmp_path / "out", data_loader=_capped_loader,
                       progress=False, log=None, engine=engine, workers=1)
    assert {e["setting"]["max_train"]: e["n_train"] for e in record["settings"].values()} == {96: 96, 48: 48}
    assert "48 to 96 training pairs by setting" in sweeps.describe_record(record)


def test_a_grid_whose_settings_change_the_test_split_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(sweeps.GRIDS, "tiny_data", DATA)

    def other_test_split(config):
        splits = _capped_loader(config)
        n = 30 if config.max_train == 48 else len(splits.test)
        return type(splits)(splits.train, splits.val, splits.test.subset(slice(0, n)), splits.name)
    with pytest.raises(ValueError, match="another test split"):
        run_sweep("tiny_data", "smoke", seeds=(0,), out=tmp_path / "out", data_loader=other_test_split,
                  progress=False, log=None)
    assert len(load_record(tmp_path / "out" / "tiny_data-smoke.json")["settings"]) == 1  # the first one is kept


_ORPHAN_SCRIPT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from cmmd_lite.sweeps import exit_with_parent

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=exit_with_parent)
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 120)
    time.sleep(0.5)
    os.kill(os.getpid(), 9)  # as `kill -9 PID` of a sweep: the pool gets no chance to stop its worker
"""


def test_a_sweep_worker_exits_when_its_sweep_is_killed(tmp_path):
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    worker = int(run.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        time.sleep(0.2)
    alive = Path(f"/proc/{worker}").exists()
    if alive:
        import os
        import signal
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the worker of a killed sweep kept running"


def test_the_tsne_encoding_is_lossless_and_smaller_and_old_lists_still_read():
    rng = np.random.default_rng(0)
    points = np.round(rng.normal(scale=40, size=(500, 2)), 1)
    listed = sweeps._decimals(points, 1)
    encoded = sweeps._encoded_points(listed)
    assert np.array_equal(decode_points(encoded), points) and np.array_equal(decode_points(listed), points)
    assert len(json.dumps(encoded)) < 0.5 * len(json.dumps(listed))
    assert sweeps._encoded_points(encoded) is encoded  # idempotent
    assert sweeps._encoded_points([[4000.0, 0.0]]) == [[4000.0, 0.0]]  # beyond int16 tenths: kept as a list
    record = {"settings": {"a": {"tsne": {"prior": listed, "posterior": listed}}}}
    assert np.array_equal(decode_points(sweeps.compact_points(record)["settings"]["a"]["tsne"]["prior"]), points)
