"""The linear classifier on x_o's pixels (Wang et al.'s M-x_o protocol), and a sweep over models
(mnist2_budget): classifiers of x_o alone recorded beside CMMD, extra seeds along several axes."""
import numpy as np
import pytest
import torch

import cmmd_lite.sweeps as sweeps
from cmmd_lite import LinearXo, ModelConfig, get_config, linear_probe_accuracy, train_or_load
from cmmd_lite.explore import budget_figure, budget_table, model_settings
from cmmd_lite.sweeps import GRIDS, Grid, load_record, run_sweep, validate_record
from test_baselines import N_CLASSES, X_M, X_O, _batch, _tiny_splits
from test_reproduce import tiny_loader


def test_the_linear_classifier_is_softmax_of_an_affine_map_of_the_pixels():
    torch.manual_seed(0)
    model = LinearXo(X_O, X_M, N_CLASSES, ModelConfig(z_dim=4, prior_hidden=(8, 8), classifier_hidden=(8,))).eval()
    x_o, x_m, y = _batch()
    (layer,) = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]  # one layer, whatever the widths
    assert layer.weight.shape == (N_CLASSES, X_O)
    expected = torch.softmax(layer(x_o), dim=-1)
    torch.testing.assert_close(model.predict_proba(x_o, use_mean=True), expected)
    torch.testing.assert_close(model.predict_proba(x_o, n_samples=3), expected)  # its "z" is x_o, noise ~3e-7
    terms = model.objective(x_o, x_m, y, get_config("mnist2", "smoke", alpha=3.0).objective)
    torch.testing.assert_close(terms.loss, 3.0 * torch.nn.functional.cross_entropy(layer(x_o), y), atol=1e-5, rtol=1e-5)
    assert not model.can_generate and not model.has_posterior


def test_its_checkpoint_key_ignores_what_it_has_no_use_for_and_alpha_zero_is_refused():
    config = get_config("mnist2", "smoke", model_type="linear_xo")
    for unused in ({"prior_hidden": (7,)}, {"encoder_hidden": (9,)}, {"z_dim": 3}, {"omega": 0.9}, {"lam": 5.0},
                   {"dropout": 0.5}, {"decoder": "bernoulli"}, {"kl_warmup_epochs": 3}):
        assert config.with_overrides(**unused).fingerprint() == config.fingerprint(), unused
    for used in ({"alpha": 3.0}, {"lr": 0.01}, {"seed": 1}, {"init_std": 0.01}, {"ce_reduction": "sum"}):
        assert config.with_overrides(**used).fingerprint() != config.fingerprint(), used
    m_xo = get_config("mnist2", "smoke", model_type="m_xo")
    assert m_xo.with_overrides(prior_hidden=(7,)).fingerprint() != m_xo.fingerprint()  # M-x_o has widths
    with pytest.raises(ValueError, match="alpha=0 is not allowed for model_type='linear_xo'"):
        config.with_overrides(alpha=0.0)


def test_it_learns_a_linear_rule_and_not_shuffled_labels(tmp_path):
    splits = _tiny_splits(600)
    config = get_config("mnist2", "smoke", model_type="linear_xo", epochs=15, batch_size=32, lr=0.05)
    result = train_or_load(config, data=splits, checkpoint_root=tmp_path, progress=False)
    from cmmd_lite.evaluate import accuracy

    assert accuracy(result.model, splits.test) > 0.9
    assert linear_probe_accuracy(result.model, splits.train, splits.test) > 0.9  # L-BFGS on the same pixels
    generator = torch.Generator().manual_seed(0)
    splits.train.y = splits.train.y[torch.randperm(len(splits.train.y), generator=generator)]
    shuffled = train_or_load(config, data=splits, checkpoint_root=tmp_path / "shuffled", progress=False)
    assert accuracy(shuffled.model, splits.test) < 0.6


MODELS = Grid("tiny_models", "mnist2", {"model_type": ("cmmd", "m_xo", "linear_xo"), "prior_hidden": ((8,), (4,))},
              {"model_type": "cmmd", "prior_hidden": (8,)}, seed_axis=("model_type",), patience=1, tsne_points=30,
              overrides={"epochs": 2})


def test_extra_seeds_run_along_the_product_of_several_axes():
    grid = Grid("g", "mnist2", {"a": (1, 2), "b": (3, 4), "c": (5, 6)}, {"a": 1, "b": 3, "c": 5}, seed_axis=("a", "b"))
    extra = [s for s in grid.settings([0, 7]) if s["seed"] == 7]
    assert extra == [{"a": a, "b": b, "c": 5, "seed": 7} for a in (1, 2) for b in (3, 4)]
    star = Grid("s", "mnist2", grid.axes, grid.defaults, seed_axis=("a", "c"), layout="star")
    assert [s for s in star.settings([0, 7]) if s["seed"] == 7] == [
        {"a": a, "b": 3, "c": c, "seed": 7} for a in (1, 2) for c in (5, 6)]
    assert grid.settings([0, 7])[:1] == [{"a": 1, "b": 3, "c": 5, "seed": 0}]
    assert GRIDS["mnist2"].seed_axes == ("omega",)  # a single axis as before


def test_a_sweep_over_models_records_classifiers_of_x_o_beside_cmmd(tmp_path, monkeypatch):
    monkeypatch.setitem(sweeps.GRIDS, "tiny_models", MODELS)
    monkeypatch.setenv("CMMD_CACHE_DIR", str(tmp_path / "cache"))
    record = run_sweep("tiny_models", "smoke", seeds=(0, 1), out=tmp_path / "out", data_loader=tiny_loader,
                       progress=False, log=None)
    assert len(record["settings"]) == 6 + 3 and validate_record(record) == []
    by_model = {}
    for entry in record["settings"].values():
        by_model.setdefault(entry["setting"]["model_type"], []).append(entry)
    assert {len(v) for v in by_model.values()} == {3}  # two widths at seed 0, the default width at seed 1
    for model_type in ("m_xo", "linear_xo"):
        for entry in by_model[model_type]:
            assert "tsne" not in entry and "collapse" not in entry and "generated" not in entry
            assert 0.0 <= entry["accuracy"] <= 1.0 and entry["epochs"] and entry["epochs"][0]["val_accuracy"] >= 0.0
    assert all("tsne" in e and "collapse" in e for e in by_model["cmmd"])
    broken = load_record(tmp_path / "out" / "tiny_models-smoke.json")
    key = next(k for k, e in broken["settings"].items() if e["setting"]["model_type"] == "cmmd")
    del broken["settings"][key]["collapse"]
    assert any("'collapse' missing" in p for p in validate_record(broken))  # CMMD entries still need their latents
    rows = budget_table(record).rows
    assert [(r["model"], r["x_o width"], r["seeds"]) for r in rows] == [
        ("CMMD", "(4,)", 1), ("CMMD", "(8,)", 2), ("M-x_o (CMMD's x_o path alone)", "(4,)", 1),
        ("M-x_o (CMMD's x_o path alone)", "(8,)", 2), ("linear on x_o pixels", "–", 2)]
    from cmmd_lite.explore import _model_order  # widths by their units, not as text
    assert sorted([(("CMMD", "(400,)"), 0), (("CMMD", "(1024, 1024)"), 0), (("CMMD", "(100,)"), 0)],
                  key=_model_order) == [(("CMMD", w), 0) for w in ("(100,)", "(400,)", "(1024, 1024)")]
    linear = [e for e in by_model["linear_xo"] if e["setting"]["seed"] == 0]
    assert len({e["accuracy"] for e in linear}) == 1  # its two widths are one model, trained once
    cmmd = model_settings(record)[("CMMD", "(8,)")]
    assert rows[1]["test error %"] == (f"{np.mean([100 * (1 - e['accuracy']) for e in cmmd]):.2f} ± "
                                       f"{np.std([100 * (1 - e['accuracy']) for e in cmmd], ddof=1):.2f}")
    figure = budget_figure(record)
    assert {t.name for t in figure.data if t.name} >= {"CMMD (n=2)", "linear on x_o pixels (n=2)"}


def test_the_budget_grid_trains_what_it_says():
    grid = GRIDS["mnist2_budget"]
    settings = grid.settings([0, 1, 2])
    configs = [sweeps.setting_config(grid, "laptop", s, {}) for s in settings]
    assert {c.data.max_train for c in configs} == {10_000} and {c.train.epochs for c in configs} == {100}
    assert settings[0] == {"model_type": "cmmd", "alpha": 1000.0, "prior_hidden": (400,), "seed": 0}
    assert {c.model.model_type for c in configs} == {"cmmd", "m_xo", "linear_xo"}
    # the linear classifier's three widths are one model per alpha and seed
    linear = {(c.objective.alpha, c.train.seed): c.fingerprint() for c in configs if c.model.model_type == "linear_xo"}
    assert len({c.fingerprint() for c in configs if c.model.model_type == "linear_xo"}) == len(linear)


def test_a_refused_record_of_the_standin_says_which_generator_drew_it(tmp_path, monkeypatch):
    import json

    from cmmd_lite.data.svhn_standin import GENERATOR_VERSION

    record = {"identity": {"grid": "g", "data_digest": "aaaa"}, "points": {}, "settings": {},
              "provenance": {"svhn_standin": True, "sittings": [{"machine": {"cpu": "Some Other CPU"}}]}}
    monkeypatch.setattr(sweeps, "validate_record", lambda r: [])
    path = tmp_path / "g-laptop.json"
    path.write_text(json.dumps(record))  # written before the generator version was recorded: version 1
    with pytest.raises(sweeps.SweepRecordError, match=rf"stand-in of generator version 1, this code draws version "
                                                      rf"{GENERATOR_VERSION} .*can be read, not extended"):
        load_record(path, {"grid": "g", "data_digest": "bbbb"})
    record["provenance"]["svhn_standin_generator"] = GENERATOR_VERSION
    path.write_text(json.dumps(record))
    with pytest.raises(sweeps.SweepRecordError, match=r"renders differently from the one that wrote the record "
                                                      r"\(Some Other CPU\), although its generator should not"):
        load_record(path, {"grid": "g", "data_digest": "bbbb"})
    with pytest.raises(sweeps.SweepRecordError) as refused:  # another grid as well: no stand-in hint
        load_record(path, {"grid": "h", "data_digest": "bbbb"})
    assert "stand-in" not in str(refused.value)


def test_the_committed_budget_record_draws_each_classifier_of_x_o_once():
    from pathlib import Path

    record = load_record(Path(__file__).resolve().parents[1] / "results/sweeps/mnist2_budget-laptop.json")
    sweeps.check_configs(record)
    names = [t.name for t in budget_figure(record).data if t.name and t.showlegend is not False]
    assert names == ["CMMD, α = 1000 (n=3)", "CMMD, α = 10 (n=3)", "M-x_o (CMMD's x_o path alone), α = 1000 (n=3)",
                     "linear on x_o pixels, α = 1000 (n=3)"]  # alpha 10 of the last two: the same curves
    rows = budget_table(record).rows
    assert len(rows) == 6 + 6 + 2 and rows[0]["model"].startswith("CMMD") and rows[-1]["model"].startswith("linear")


def test_the_readme_budget_table_is_the_committed_record():
    """Every number of the README's table of CMMD against classifiers of x_o alone is the record's."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rows = {(r["model"], r["x_o width"]): r["test error %"]
            for r in budget_table(load_record(root / "results/sweeps/mnist2_budget-laptop.json")).rows}
    readme = (root / "README.md").read_text()
    lines = readme[readme.index("| test error %, 10,000 pairs |"):].splitlines()[2:6]
    models = ["CMMD, α = 1000", "CMMD, α = 10", "M-x_o (CMMD's x_o path alone), α = 1000"]
    for line, model in zip(lines, models):
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        assert cells == [rows[(model, w)] for w in ("(100,)", "(400,)", "(1024, 1024)")], line
    assert [c.strip() for c in lines[3].strip("|").split("|")][1:] == ["", rows[("linear on x_o pixels, α = 1000", "–")], ""]
    text = " ".join(readme[readme.index("The answer on this data:"):].split("Chapter 6 draws")[0].split())
    errors = {k: float(v.split(" ")[0]) for k, v in rows.items()}
    gaps = [errors[(models[2], w)] - errors[(models[0], w)] for w in ("(100,)", "(400,)", "(1024, 1024)")]
    assert all(g > 0 for g in gaps) and f"ahead by {min(gaps):.1f}-{max(gaps):.1f}" in text
    assert all(errors[(models[1], w)] > errors[(models[2], w)] for w in ("(100,)", "(400,)", "(1024, 1024)"))
    linear = errors[("linear on x_o pixels, α = 1000", "–")]
    assert all(11 <= linear - errors[(m, "(400,)")] < 12.5 for m in (models[0], models[2])) and "by 11-12 points" in text
    found = model_settings(load_record(root / "results/sweeps/mnist2_budget-laptop.json"))
    per_seed = [{e["setting"]["seed"]: e["accuracy"] for e in found[(m, "(400,)")]} for m in (models[0], models[2])]
    assert sum(per_seed[0][s] > per_seed[1][s] for s in per_seed[0]) == 1 and "ahead at only one of the three seeds" in text


def test_the_coherent_mnist_svhn_config_is_the_recorded_setting_that_reached_the_goal():
    """``mnist_svhn_coherent`` trains like mnist_svhn_generation's centre (coherence > 0.8 there)."""
    from pathlib import Path

    from cmmd_lite.config import Config
    from cmmd_lite.explore import cause_table

    record = load_record(Path(__file__).resolve().parents[1] / "results/sweeps/mnist_svhn_generation-laptop.json")
    centre = next(e for e in record["settings"].values()
                  if e["setting"] == {**record["identity"]["defaults"], "seed": 0})
    config = get_config("mnist_svhn_coherent", "laptop", epochs=100, precision="bf16", patience=10)
    assert config.trains_like(Config.from_dict(centre["config"]))
    assert float(cause_table(record).rows[0]["coherence (z ~ p(z|x_o))"]) > 0.8
    paper = get_config("mnist_svhn", "laptop")
    assert set(paper.diff(get_config("mnist_svhn_coherent", "laptop"))) == {
        "name", "model.decoder", "objective.lam", "objective.alpha"}  # within the paper's model


def test_the_same_setting_trained_on_two_cpu_types_gave_the_same_accuracy():
    """What the README says of the mnist2 record: CMMD at the budget grid's centre and at alpha 10 is
    the mnist2 grid's (omega 0.4, lambda 1000) setting, trained there on an AMD EPYC and here on an
    Intel Xeon; the accuracies agree to the last digit."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results/sweeps"
    budget, grid = (load_record(root / f"{n}-laptop.json") for n in ("mnist2_budget", "mnist2"))
    cpus = lambda r: {s["machine"]["cpu"] for s in r["provenance"]["sittings"]}  # noqa: E731
    for alpha in (1000.0, 10.0):
        mine = next(e for e in budget["settings"].values() if e["setting"] == {
            "model_type": "cmmd", "alpha": alpha, "prior_hidden": [400], "seed": 0})
        theirs = next(e for e in grid["settings"].values() if e["setting"] == {
            "omega": 0.4, "lam": 1000.0, "alpha": alpha, "seed": 0})
        assert sweeps.Config.from_dict(mine["config"]).trains_like(sweeps.Config.from_dict(theirs["config"]))
        assert mine["accuracy"] == theirs["accuracy"]
    assert cpus(budget) == {"Intel(R) Xeon(R) Processor"} and "AMD EPYC" in cpus(grid)
    assert "settings trained on both gave the same accuracy to the last digit" in " ".join(
        (root.parents[1] / "README.md").read_text().split())
