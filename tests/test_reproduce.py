"""`reproduce`: JSON + Markdown with the paper's numbers, stand-in flagged, CLI errors (tiny data, 1 epoch)."""
import json
import re

import pytest
import torch

import cmmd_lite.reproduce as reproduce_module
from cmmd_lite.config import MODEL_TYPES
from cmmd_lite.__main__ import main
from cmmd_lite.data.paired import PairedData, PairedSplits
from cmmd_lite.data.svhn_standin import STANDIN_LABEL
from cmmd_lite.reproduce import EXPERIMENTS, markdown, parse_overrides, reproduce

SHAPES = {"mnist": (1, 28, 28), "mnist_rotated": (1, 28, 28), "mnist_noisy": (1, 28, 28), "svhn": (3, 32, 32)}
ROLES = {"mnist2": (("mnist_rotated",), ("mnist_noisy",)), "mnist_svhn": (("mnist",), ("svhn",))}
TINY = {"epochs": 1, "coherence_epochs": 1, "probe_max_train": 64, "tsne_points": 40}


def tiny_loader(config):
    """Paired splits with the config's modalities and image shapes: class c brightens row band c."""
    observed, missing = ROLES[config.dataset]
    splits = {}
    for offset, (split, n) in enumerate((("train", 96), ("val", 40), ("test", 60))):
        g = torch.Generator().manual_seed(offset)
        y = torch.arange(n) % 10
        sources = {}
        for name in observed + missing:
            images = torch.randint(0, 60, (n, *SHAPES[name]), generator=g, dtype=torch.uint8)
            for c in range(10):
                images[y == c, :, 2 * c:2 * c + 3, :] = 230
            sources[name] = images
        standin = frozenset({"svhn"}) & set(sources)
        splits[split] = PairedData(sources, {m: torch.arange(n) for m in sources}, y, observed, missing,
                                   standin=frozenset(standin))
    name = "tiny " + config.dataset + (f" [x_M uses the {STANDIN_LABEL}]" if "svhn" in missing else "")
    return PairedSplits(splits["train"], splits["val"], splits["test"], name)


def _check_tables(text):
    """Every row of every Markdown table has as many cells as its header (pipes in cells escaped)."""
    widths = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            widths.append(len(re.split(r"(?<!\\)\|", line)))
        elif widths:
            assert len(set(widths)) == 1, text
            widths = []


def _run(name, tmp_path, **kwargs):
    kwargs.setdefault("overrides", TINY)
    return reproduce(name, "smoke", out=tmp_path, data_loader=tiny_loader, log=None, **kwargs)


def test_table2_writes_json_and_markdown_with_the_paper_numbers(tmp_path):
    payload = _run("table2", tmp_path, models=["m_xo", "linear_xo", "cmmd"])
    stored = json.loads((tmp_path / "table2-smoke.json").read_text())
    text = (tmp_path / "table2-smoke.md").read_text()
    assert stored["experiment"] == "table2" and stored["profile"] == "smoke" and stored["seeds"] == [0]
    assert stored["svhn_standin"] is False and stored["overrides"]["epochs"] == 1
    rows = {row["label"]: row for row in stored["rows"]}
    assert [row["label"] for row in stored["rows"]] == ["M-x_o", "M-x_o, linear on x_o pixels", "VCCA", "MVAE",
                                                        "MMVAE IWAE", "CMMD"]
    linear = rows["M-x_o, linear on x_o pixels"]
    assert linear["paper"] == 13.1 and linear["per_seed"][0]["config"]["model"]["model_type"] == "linear_xo"
    assert "rmse_x_m" not in linear["metrics"]  # it cannot generate
    assert rows["CMMD"]["paper"] == 2.4 and rows["M-x_o"]["paper"] == 13.1 and rows["MMVAE IWAE"]["paper"] == 12.3
    assert rows["VCCA"]["status"] == "not run" and "metrics" not in rows["VCCA"]
    cmmd = rows["CMMD"]["per_seed"][0]
    assert cmmd["error_percent"] == pytest.approx(100 * (1 - cmmd["accuracy"]))
    assert cmmd["epochs_run"] == 1 and cmmd["config"]["train"]["seed"] == 0
    assert rows["M-x_o"]["per_seed"][0]["config"]["model"]["model_type"] == "m_xo"
    assert stored["machine"]["torch"] == torch.__version__ and stored["machine"]["torch_threads"] == 1
    assert rows["CMMD"]["wall_seconds"] > 0
    for number in ("13.1", "3.0", "6.0", "12.3", "2.4"):
        assert f"| {number} (" in text
    assert text.count("not run") >= 3 and "profile `smoke`" in text and "usable cores" in text
    assert markdown(stored) == text  # the Markdown is a function of the JSON
    _check_tables(text)
    assert payload["files"] == [str(tmp_path / "table2-smoke.json"), str(tmp_path / "table2-smoke.md")]


def test_table3_flags_the_standin_and_scores_probe_and_coherence(tmp_path):
    _run("table3", tmp_path, models=["m_xo", "cmmd"])
    stored = json.loads((tmp_path / "table3-smoke.json").read_text())
    text = (tmp_path / "table3-smoke.md").read_text()
    assert stored["svhn_standin"] is True and "NOT SVHN" in stored["svhn_note"]
    assert STANDIN_LABEL in text.splitlines()[0]  # in the table's title
    rows = {row["key"]: row for row in stored["rows"]}
    cmmd = rows["cmmd"]["metrics"]
    for key in ("accuracy_percent", "probe_accuracy_percent", "coherence_percent", "coherence_ceiling_percent"):
        assert 0.0 <= cmmd[key]["mean"] <= 100.0
    assert "coherence_percent" not in rows["m_xo"]["metrics"] and "n/a (no decoder)" in text
    assert rows["cmmd"]["paper"] == 97.6 and rows["cmmd"]["paper_std"] == 0.08 and rows["mmvae"]["paper"] == 91.3
    assert "97.6 ± 0.08" in text and "linear probe" in text
    _check_tables(text)
    assert list(stored["coherence_classifiers"].values())[0]["settings"]["epochs"] == 1


def test_seeds_give_mean_and_std_and_checkpoints_are_reused(tmp_path):
    payload = _run("table2", tmp_path, models=["cmmd"], seeds=(0, 1))
    row = next(r for r in payload["rows"] if r["key"] == "cmmd")
    assert row["metrics"]["error_percent"]["n"] == 2 and row["metrics"]["error_percent"]["std"] is not None
    assert [r["seed"] for r in row["per_seed"]] == [0, 1]
    assert row["per_seed"][0]["config_fingerprint"] != row["per_seed"][1]["config_fingerprint"]
    assert " ± " in (tmp_path / "table2-smoke.md").read_text()
    again = _run("table2", tmp_path, models=["cmmd"], seeds=(0, 1))
    row_again = next(r for r in again["rows"] if r["key"] == "cmmd")
    assert all(r["loaded_checkpoint"] for r in row_again["per_seed"])
    assert row_again["metrics"]["error_percent"]["values"] == row["metrics"]["error_percent"]["values"]


def test_a_model_can_have_its_own_seeds(tmp_path):
    payload = _run("table2", tmp_path, models=["m_xo", "cmmd"], seeds=(0, 1), seeds_by_model={"cmmd": [0]})
    rows = {r["key"]: r for r in payload["rows"]}
    assert [r["seed"] for r in rows["m_xo"]["per_seed"]] == [0, 1] and rows["m_xo"]["metrics"]["accuracy"]["n"] == 2
    assert [r["seed"] for r in rows["cmmd"]["per_seed"]] == [0] and rows["cmmd"]["metrics"]["accuracy"]["n"] == 1
    stored = json.loads((tmp_path / "table2-smoke.json").read_text())
    assert stored["seeds"] == [0, 1] and stored["seeds_by_model"] == {"cmmd": [0]}
    assert "--models m_xo,cmmd --seeds-of cmmd=0 --override" in stored["command"]
    text = (tmp_path / "table2-smoke.md").read_text()
    assert "Seeds (train.seed): 0, 1; CMMD: 0;" in text and markdown(stored) == text
    with pytest.raises(ValueError, match=r"names \['vcca'\], which this run does not train"):
        _run("table2", tmp_path, models=["cmmd"], seeds_by_model={"vcca": [0]})
    with pytest.raises(ValueError, match="non-empty list of distinct"):
        _run("table2", tmp_path, models=["cmmd"], seeds_by_model={"cmmd": [1, 1]})


def test_figures_write_png_and_json(tmp_path):
    pytest.importorskip("sklearn")
    fig2 = _run("fig2", tmp_path, models=["m_xo", "vcca", "cmmd"])
    curves = fig2["figure"]["curves_mean_over_seeds"]
    assert set(curves["CMMD"]) == {"prior_vs_standard", "posterior_vs_standard", "posterior_vs_prior"}
    assert set(curves["M-x_o"]) == {"prior_vs_standard"} and len(curves["CMMD"]["prior_vs_standard"]) == 40
    assert (tmp_path / "fig2-smoke.png").stat().st_size > 1000
    f1 = _run("figF1", tmp_path, models=["cmmd"])
    record = next(r for r in f1["rows"] if r["key"] == "cmmd")["per_seed"][0]
    assert len(record["tsne"]["x"]) == len(record["tsne"]["y"]) == 40 and -1 <= record["tsne_silhouette"] <= 1
    stored = (tmp_path / "figF1-smoke.json").read_text()
    assert json.loads(stored)["rows"][0]["per_seed"][0]["tsne"]["labels"] == record["tsne"]["labels"]
    assert len(stored.splitlines()) < 400  # lists of numbers on one line each
    g1 = _run("figG1", tmp_path, models=["cmmd", "mvae"])
    assert g1["svhn_standin"] and len(g1["figure"]["test_rows"]) == 10
    assert (tmp_path / "figG1-smoke.png").is_file() and STANDIN_LABEL in (tmp_path / "figG1-smoke.md").read_text()


def test_parse_overrides_types_and_errors():
    parsed = parse_overrides(["encoder_hidden=16,16", "lr=0.01", "max_train=None", "coherence_epochs=2",
                              "tsne_points=50"])
    assert parsed == {"encoder_hidden": (16, 16), "lr": 0.01, "max_train": None, "coherence_epochs": 2,
                      "tsne_points": 50}
    with pytest.raises(ValueError, match="unknown override 'colour'.*epochs"):
        parse_overrides(["colour=red"])
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(ValueError, match="--models"):
        parse_overrides(["model_type=vcca"])


def test_cli_errors_list_the_choices(capsys, tmp_path):
    assert main(["reproduce", "table9", "--profile", "smoke", "--out", str(tmp_path)]) == 2
    assert "table2, table3, table4, fig2, figF1, figG1" in capsys.readouterr().err
    assert main(["reproduce", "table2", "--profile", "smoke", "--models", "cmmd,dcca", "--out", str(tmp_path)]) == 2
    assert "m_xo, linear_xo, vcca, mvae, mmvae, cmmd" in capsys.readouterr().err
    assert main(["reproduce", "table4", "--profile", "smoke", "--models", "vcca", "--out", str(tmp_path)]) == 2
    assert "choose from: cmmd" in capsys.readouterr().err
    assert main(["reproduce", "table2", "--profile", "smoke", "--override", "nope=1", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["reproduce", "table2", "--seeds", "zero"])
    with pytest.raises(SystemExit):
        main(["reproduce", "table2", "--seeds-of", "cmmd=one"])
    assert main(["reproduce", "table2", "--profile", "smoke", "--models", "cmmd", "--seeds-of", "vcca=0",
                 "--out", str(tmp_path)]) == 2
    assert "which this run does not train" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written on an error


def test_cli_runs_an_experiment(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(reproduce_module, "load_paired", tiny_loader)
    assert main(["reproduce", "table2", "--profile", "smoke", "--models", "m_xo",
                 "--override", "epochs=1", "--out", str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert json.loads((tmp_path / "table2-smoke.json").read_text())["command"].startswith(
        "python -m cmmd_lite reproduce table2 --profile smoke --seeds 0 --models m_xo --override epochs=1")


def test_a_rerun_is_compared_with_its_record_seed_by_seed(monkeypatch, tmp_path, capsys):
    import copy

    from cmmd_lite.reproduce import compare_runs

    monkeypatch.setattr(reproduce_module, "load_paired", tiny_loader)
    flags = ["reproduce", "table2", "--profile", "smoke", "--models", "m_xo", "--override", "epochs=1"]
    assert main(flags + ["--out", str(tmp_path / "a")]) == 0
    # a fresh cache: the rerun trains again, and equal seeds give equal numbers
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "other-cache"))
    assert main(flags + ["--out", str(tmp_path / "b"), "--compare-to", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert " 0 differ." in printed and "measured numbers" in printed
    recorded = json.loads((tmp_path / "a" / "table2-smoke.json").read_text())
    now = json.loads((tmp_path / "b" / "table2-smoke.json").read_text())
    assert not any(r["loaded_checkpoint"] for row in now["rows"] for r in row.get("per_seed", []))
    changed = copy.deepcopy(now)
    run = changed["rows"][0]["per_seed"][0]
    run["accuracy"] += 0.01
    run["config"]["train"]["lr"] = 0.5
    comparison = compare_runs(recorded, changed)
    assert [(d["metric"], d["config_changed"]) for d in comparison["differ"]] == [("accuracy", ["train.lr"])]
    assert compare_runs(recorded, changed, tolerance=0.02)["differ"] == []
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "table2-smoke.json").write_text(json.dumps(changed))
    assert main(flags + ["--out", str(tmp_path / "d"), "--compare-to", str(tmp_path / "c")]) == 1
    assert "| m_xo | 0 | accuracy |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(flags + ["--out", str(tmp_path / "a"), "--compare-to", str(tmp_path / "a")])  # would overwrite it
    # the payload in memory (tuples) compares as its JSON does; fields added later at their old value
    # are no change; a judge trained differently is named
    in_memory = _run("table2", tmp_path / "e", models=["m_xo"], overrides={"epochs": 1})
    changed = copy.deepcopy(recorded)
    run = changed["rows"][0]["per_seed"][0]
    run["accuracy"] += 0.01
    del run["config"]["train"]["precision"]  # as a record written before the field existed
    assert compare_runs(changed, in_memory)["differ"][0]["config_changed"] == []
    judge = {"settings": {"epochs": 10}, "best_val_accuracy": 0.84}
    judges = compare_runs({**recorded, "coherence_classifiers": {"svhn": judge}},
                          {**recorded, "coherence_classifiers": {"svhn": {**judge, "best_val_accuracy": 0.86}}})
    assert judges["judges_changed"] == ["svhn: best_val_accuracy 0.84 -> 0.86"]


def test_every_experiment_names_its_models():
    for experiment in EXPERIMENTS.values():
        assert experiment.rows and all(row.key in MODEL_TYPES for row in experiment.rows)
    assert [r.paper for r in EXPERIMENTS["table4"].rows] == [97.5, 98.9]
