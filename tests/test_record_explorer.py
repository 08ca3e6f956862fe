"""The explorer of a recorded sweep: three independent controls over the record, static and live;
finding, checking and describing a committed record; measuring a setting trained outside the sweep."""
import copy
import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("plotly")

import cmmd_lite.sweeps as sweeps  # noqa: E402
from cmmd_lite import train_or_load  # noqa: E402
from cmmd_lite.explore import record_explorer, record_settings, record_traces  # noqa: E402
from cmmd_lite.plotting import CONTROLS_SCRIPT, control_key  # noqa: E402
from cmmd_lite.sweeps import (MissingRecordError, SweepRecordError, describe_record, measure_for_record,  # noqa: E402
                              recorded, run_sweep, setting_config, validate_record)
from test_reproduce import tiny_loader  # noqa: E402
from test_sweeps import TINY  # noqa: E402


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sweeps.GRIDS, "tiny", TINY)
        patch.setenv("CMMD_CACHE_DIR", str(folder / "cache"))
        made = run_sweep("tiny", "smoke", seeds=(0, 1), out=folder / "out", data_loader=tiny_loader, progress=False,
                         log=None)
    torch.set_num_threads(threads)
    return made, folder


@pytest.fixture(autouse=True)
def _tiny_grid(monkeypatch, record):
    monkeypatch.setitem(sweeps.GRIDS, "tiny", TINY)
    monkeypatch.setenv("CMMD_CACHE_DIR", str(record[1] / "cache"))


def test_the_static_explorer_has_one_independent_slider_per_weight(record):
    made, _ = record
    fig = record_explorer(made, live=False)
    assert [len(s.steps) for s in fig.layout.sliders] == [2, 2, 1]  # omega, lambda, alpha of the tiny grid
    assert [s.currentvalue.prefix for s in fig.layout.sliders] == ["ω = ", "λ = ", "α = "]
    assert all(step.method == "skip" for s in fig.layout.sliders for step in s.steps)  # the script moves the view
    assert sorted(f.name for f in fig.frames) == sorted(control_key(s) for s in record_settings(made))
    assert "plotly_sliderchange" in CONTROLS_SCRIPT and "{plot_id}" in CONTROLS_SCRIPT
    page = fig.to_html(post_script=CONTROLS_SCRIPT)
    assert "gd.on('plotly_sliderchange'" in page and "{plot_id}" not in page  # plotly put the figure's id in
    # each frame is one setting's view: the curves, the t-SNE maps and the digits of that setting
    frames = {f.name: f for f in fig.frames}
    a, b = frames["0|0|10"], frames["1|100|10"]
    assert a.data[-1].type == "image" and a.data[-1].source != b.data[-1].source
    assert a.layout.title.text.startswith("ω = 0, λ = 0, α = 10: accuracy")
    partial = copy.deepcopy(made)
    del partial["settings"][next(k for k in partial["settings"] if "omega=1," in k and "lam=0," in k)]
    hidden = {f.name: f for f in record_explorer(partial, live=False).frames}["1|0|10"]
    assert "not in the record yet" in hidden.layout.title.text and all(t.visible is False for t in hidden.data)


def test_the_accuracy_panel_has_error_bars_over_the_seeds(record):
    made, _ = record
    entries = record_settings(made)
    traces = record_traces(made, (0.0, 100.0, 10.0), entries)  # the tiny grid's defaults: seeds 0 and 1
    accuracy = traces[0]
    seeds = [e["accuracy"] for e in entries[(0.0, 100.0, 10.0)]]
    assert list(accuracy.customdata) == [2, 2] and accuracy.y[0] == pytest.approx(sum(seeds) / 2)
    assert accuracy.error_y.array[0] == pytest.approx(abs(seeds[0] - seeds[1]) / 2)
    assert list(record_traces(made, (0.0, 0.0, 10.0), entries)[0].customdata) == [1, 1]  # one seed off the defaults


def test_the_live_explorer_trains_a_setting_the_record_lacks(record):
    pytest.importorskip("ipywidgets")
    made, _ = record
    partial = copy.deepcopy(made)
    key = next(k for k in partial["settings"] if "omega=1," in k and "lam=0," in k)
    missing = partial["settings"].pop(key)
    calls = []

    def train(setting, report):
        report(1, 1)
        calls.append(setting)
        return missing

    box = record_explorer(partial, train=train, live=True)
    omega, lam, alpha = box.children[0].children
    button = box.children[1].children[0]
    omega.value, lam.value = 1.0, 0.0
    assert "not trained yet" in box.children[2].value
    button.click()
    assert calls == [(1.0, 0.0, 10.0)] and "precomputed" in box.children[2].value


def test_a_committed_record_is_found_checked_and_described(record, tmp_path, monkeypatch):
    made, folder = record
    assert recorded("tiny", "smoke", folder=folder / "out")["settings"] == made["settings"]
    text = describe_record(made)
    assert text.startswith("sweep tiny (smoke profile): 6 of 6 settings recorded, each trained until its validation "
                           "accuracy had not improved for 1 epochs (at most 3)") and "1 sitting(s)" in text
    with pytest.raises(MissingRecordError, match="python -m cmmd_lite sweep tiny --profile smoke"):
        recorded("tiny", "smoke", folder=tmp_path)
    tampered = copy.deepcopy(made)
    next(iter(tampered["settings"].values()))["config"]["train"]["lr"] = 0.5
    (tmp_path / "tiny-smoke.json").write_text(json.dumps(tampered))
    with pytest.raises(SweepRecordError, match="another config than this code builds"):
        recorded("tiny", "smoke", folder=tmp_path)
    monkeypatch.setenv("CMMD_OFFLINE", "1")
    with pytest.raises(MissingRecordError, match="downloads are off"):
        recorded("mnist2", "paper")  # not committed: offline, nothing to download


def test_the_records_url_is_the_books_repository():
    config = (Path(__file__).resolve().parents[1] / "_config.yml").read_text()
    url = next(line.split("url:", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("url:"))
    owner_repo = url.removeprefix("https://github.com/").rstrip("/")
    assert sweeps.RECORDS_URL.startswith(f"https://raw.githubusercontent.com/{owner_repo}/")


def test_a_setting_trained_outside_the_sweep_is_measured_like_the_sweep(record):
    made, _ = record
    splits = tiny_loader(setting_config(TINY, "smoke", {"omega": 0.5, "lam": 0.0, "alpha": 10.0, "seed": 0}, {}).data)
    config = setting_config(TINY, "smoke", {"omega": 0.5, "lam": 0.0, "alpha": 10.0, "seed": 0}, {})
    entry = measure_for_record(train_or_load(config, data=splits, progress=False), splits, made, profile="smoke")
    assert entry["setting"] == {"omega": 0.5, "lam": 0.0, "alpha": 10.0, "seed": 0} and entry["trained_here"] == "smoke"
    extended = copy.deepcopy(made)
    extended["settings"]["omega=0.5,trained here"] = entry
    assert validate_record(extended) == [] and "tsne_labels" not in entry  # the record's data: its own points


def test_the_committed_records_use_the_profile_tables_sweep_overrides(monkeypatch):
    from cmmd_lite import budgets
    from cmmd_lite.profiles import variant

    committed = recorded("mnist2", "laptop")  # results/sweeps of this checkout
    overrides = {k: v for k, v in committed["identity"]["overrides"].items()}
    assert overrides == variant("laptop", "sweeps") and committed["identity"]["seeds"] == [0, 1, 2]
    calls = []
    monkeypatch.setattr(sweeps, "run_sweep", lambda *args, **kwargs: calls.append((args, kwargs)) or committed)
    monkeypatch.setenv(budgets.ENV_SWEEPS, "rebuild")
    monkeypatch.setenv("CMMD_PROFILE", "laptop")
    budgets.chapter_record("mnist2")  # rebuilds what was committed, in the current profile
    (args, kwargs), = calls
    assert args == ("mnist2", "laptop") and kwargs["overrides"] == overrides and kwargs["seeds"] == (0, 1, 2)
    monkeypatch.setenv(budgets.ENV_SWEEPS, "sometimes")
    with pytest.raises(ValueError, match="CMMD_SWEEPS='sometimes'"):
        budgets.chapter_record("mnist2")


def test_a_record_of_the_svhn_standin_says_so_in_every_view(record):
    from cmmd_lite.data.svhn_standin import STANDIN_LABEL
    from cmmd_lite.explore import record_axis_figure, record_layout, record_title, record_x_m_label

    made, _ = record
    setting = next(iter(record_settings(made)))
    assert "STAND-IN" not in record_title(made, setting) and record_x_m_label(made) == "noisy MNIST"
    standin = copy.deepcopy(made)
    standin["provenance"]["svhn_standin"] = True
    for entry in standin["settings"].values():  # as a MNIST -> SVHN record holds them
        for kind in ("generated", "reconstructed"):
            entry[kind] = {"svhn": images for images in entry[kind].values()}  # empty at the extra seeds
    assert record_x_m_label(standin) == STANDIN_LABEL
    assert STANDIN_LABEL in record_layout(standin)["annotations"][0]["text"]
    assert "SVHN STAND-IN" in record_title(standin, setting)
    assert "SVHN STAND-IN" in record_axis_figure(standin).layout.title.text


def test_the_axis_figure_draws_one_line_per_grid_line_and_each_reference(record):
    from cmmd_lite.explore import record_axis_figure

    made, _ = record
    lines = {s[1:] for s in record_settings(made)}
    plain = record_axis_figure(made, "accuracy")
    assert len(plain.data) == len(lines)
    marked = record_axis_figure(made, "accuracy", reference={"paper": 0.976, "other": 0.957})
    assert len(marked.data) == len(lines) + 2
    assert [t.y for t in marked.data[-2:]] == [(0.976, 0.976), (0.957, 0.957)] and "paper" in marked.data[-2].name
    with pytest.raises(ValueError, match="choose one of"):
        record_axis_figure(made, "nonsense")


def test_a_grid_along_omega_alone_reads_its_fixed_weights_from_the_configs(record):
    from cmmd_lite.explore import record_axis_figure

    made, _ = record
    along = copy.deepcopy(made)
    along["identity"]["defaults"] = {}  # no lambda or alpha among them
    lam, alpha = next(iter(record_settings(made)))[1:]
    along["settings"] = {k: e for k, e in along["settings"].items()
                         if (e["setting"]["lam"], e["setting"]["alpha"]) == (lam, alpha)}
    for entry in along["settings"].values():  # as mnist_svhn_generation: lambda and alpha are not axes
        entry["config"]["objective"].update(lam=entry["setting"].pop("lam"), alpha=entry["setting"].pop("alpha"))
    assert {s[1:] for s in record_settings(along)} == {(lam, alpha)}
    (line,) = record_axis_figure(along, "accuracy").data
    assert line.line.width == 4 and "mean ± sd over seeds" in line.name  # its one line is the main one
