"""cmmd_lite.latents (t-SNE of prior/posterior means) and cmmd_lite.explore (mosaics, grid explorer),
on tiny tensors."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("plotly")

from cmmd_lite import get_config, paired_from_arrays  # noqa: E402
from cmmd_lite.explore import grid_explorer, image_mosaic, image_trace, png_data_uri  # noqa: E402
from cmmd_lite.latents import (TSNE_LAYOUT, class_separation, decode_posterior_mean, latent_tsne,  # noqa: E402
                               subsample_rows, tsne_embeddings, tsne_traces)
from cmmd_lite.plotting import slider_figure  # noqa: E402
from cmmd_lite.train import build_model  # noqa: E402


def clustered(n: int = 60, dim: int = 5, n_classes: int = 3, seed: int = 0):
    """Means in well separated clusters, one per class; the posterior = prior + small noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % n_classes
    centres = 10.0 * torch.randn(n_classes, dim, generator=g)
    mu_p = centres[y] + 0.3 * torch.randn(n, dim, generator=g)
    mu_q = mu_p + 0.1 * torch.randn(n, dim, generator=g)
    return mu_p, mu_q, y


def test_subsample_rows_is_seeded_sorted_and_capped():
    a, b = subsample_rows(100, 10, seed=3), subsample_rows(100, 10, seed=3)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 10 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, subsample_rows(100, 10, seed=4))
    assert np.array_equal(subsample_rows(5, 10), np.arange(5))
    with pytest.raises(ValueError):
        subsample_rows(5, 0)


def test_tsne_embeddings_shapes_seed_and_separation():
    mu_p, mu_q, y = clustered()
    first = tsne_embeddings(mu_p, mu_q, y, n_points=40, seed=1)
    assert first["prior"].shape == (40, 2) and first["posterior"].shape == (40, 2)
    assert first["y"].shape == (40,) and np.array_equal(first["y"], y.numpy()[first["rows"]])
    assert np.isfinite(first["prior"]).all() and np.isfinite(first["posterior"]).all()
    again = tsne_embeddings(mu_p, mu_q, y, n_points=40, seed=1)
    assert np.allclose(first["prior"], again["prior"]) and np.array_equal(first["rows"], again["rows"])
    # well separated clusters stay separated in the map, in both halves
    assert class_separation(first["prior"], first["y"], k=5) > 0.9
    assert class_separation(first["posterior"], first["y"], k=5) > 0.9


def test_tsne_embeddings_rejects_bad_input():
    mu_p, mu_q, y = clustered(n=12)
    with pytest.raises(ValueError):
        tsne_embeddings(mu_p, mu_q[:, :3], y)
    with pytest.raises(ValueError):
        tsne_embeddings(mu_p, mu_q, y[:5])
    bad = mu_p.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError):
        tsne_embeddings(bad, mu_q, y)


def test_class_separation_of_random_labels_is_low():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 2))
    assert class_separation(points, rng.integers(0, 5, size=200), k=10) < 0.3
    with pytest.raises(ValueError):
        class_separation(points[:5], np.zeros(5), k=10)


def test_latent_tsne_on_a_tiny_model():
    rng = np.random.default_rng(0)
    splits = paired_from_arrays(rng.random((50, 6), dtype=np.float32), rng.random((50, 4), dtype=np.float32),
                                rng.integers(0, 3, size=50), n_classes=3)
    config = get_config("mnist2", "smoke")
    model = build_model(config, splits.train)
    result = latent_tsne(model, splits.test, n_points=8, seed=0)
    assert result["prior"].shape == (8, 2) and np.all(result["rows"] < len(splits.test))
    assert np.array_equal(result["y"], splits.test.y.numpy()[result["rows"]])
    model.train()
    decoded = decode_posterior_mean(model, splits.test, torch.arange(3))
    assert list(decoded) == ["x_m"] and decoded["x_m"].shape == (3, 4)
    assert float(decoded["x_m"].min()) >= 0.0 and float(decoded["x_m"].max()) <= 1.0
    assert model.training  # the previous mode is restored
    x_o, x_m, y = splits.test.batch(torch.arange(3))
    model.eval()
    with torch.no_grad():
        by_hand = model.decoder.mean(model.decode(x_o, model.posterior(x_o, x_m, y)[0])).clamp(0, 1)
    assert torch.allclose(decoded["x_m"], by_hand)
    # the other sources of z: the prior mean is impute(); a prior sample is seeded; a bad source is refused
    from cmmd_lite.evaluate import generate_missing

    at_mu_q = generate_missing(model, splits.test, torch.arange(3), n_samples=2, z="posterior_mean")["x_m"]
    assert at_mu_q.shape == (2, 3, 4) and torch.equal(at_mu_q[0], decoded["x_m"]) and torch.equal(at_mu_q[1], at_mu_q[0])
    at_mu_p = generate_missing(model, splits.test, torch.arange(3), z="prior_mean")["x_m"][0]
    assert torch.allclose(at_mu_p, model.impute(x_o).clamp(0, 1)) and not torch.allclose(at_mu_p, decoded["x_m"])
    sampled = [generate_missing(model, splits.test, torch.arange(3), seed=s)["x_m"][0] for s in (1, 1, 2)]
    assert torch.equal(sampled[0], sampled[1]) and not torch.allclose(sampled[0], sampled[2])
    assert not torch.allclose(sampled[0], at_mu_p)
    with pytest.raises(ValueError, match="z='prior_median'; choose one of prior_sample, prior_mean, posterior_mean"):
        generate_missing(model, splits.test, torch.arange(3), z="prior_median")
    m_x_o = build_model(get_config("mnist2", "smoke", model_type="m_xo"), splits.train)
    with pytest.raises(ValueError):  # no decoder of x_M, or no posterior: said, not a crash
        generate_missing(m_x_o, splits.test, torch.arange(3), z="posterior_mean")


def test_tsne_traces_fixed_count_and_axes():
    emb = {"prior": np.zeros((4, 2)), "posterior": np.ones((4, 2)), "y": np.array([0, 0, 2, 2])}
    traces = tsne_traces(emb, n_classes=3)
    assert len(traces) == 6  # 2 panels x 3 classes, class 1 empty
    assert [t.xaxis for t in traces] == ["x"] * 3 + ["x2"] * 3
    assert len(traces[1].x) == 0 and len(traces[0].x) == 2
    assert sum(bool(t.showlegend) for t in traces) == 3
    fig = slider_figure({"a": traces, "b": tsne_traces(emb, n_classes=3)}, layout=TSNE_LAYOUT)
    assert len(fig.frames) == 2
    moved = tsne_traces(emb, n_classes=3, axes=(("x2", "y2"), ("x3", "y3")))
    assert [t.xaxis for t in moved] == ["x2"] * 3 + ["x3"] * 3 and moved[3].yaxis == "y3"
    with pytest.raises(ValueError):
        tsne_traces(emb, n_classes=3, class_names=["a"])
    with pytest.raises(ValueError):
        tsne_traces(emb, n_classes=3, axes=(("x", "y"),))


def test_image_mosaic_layout_and_png():
    images = torch.zeros(5, 3, 4, 6)
    images[1] = 1.0
    picture = image_mosaic(images, n_cols=3, pad=1)
    assert picture.shape == (2 * 5 + 1, 3 * 7 + 1, 3) and picture.dtype == np.uint8
    assert picture[1, 1].tolist() == [0, 0, 0]  # first image, black
    assert picture[1, 8].tolist() == [255, 255, 255]  # second image, white
    grey = image_mosaic(torch.full((2, 1, 3, 3), 0.5), n_cols=2, pad=0)
    assert grey.shape == (3, 6, 3) and np.all(grey == 128)
    uri = png_data_uri(picture)
    from PIL import Image
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert np.array_equal(decoded, picture)
    assert image_trace(picture, xaxis="x2").source == uri
    with pytest.raises(ValueError):
        image_mosaic(torch.zeros(2, 2, 4, 4), n_cols=2)
    with pytest.raises(ValueError):
        png_data_uri(np.zeros((4, 4), dtype=np.uint8))


def _bar_traces(setting):
    import plotly.graph_objects as go
    return [go.Bar(x=["a"], y=[sum(setting)])]


def test_grid_explorer_static_has_a_slider_per_axis():
    settings = [(0.1, 10.0), (0.5, 10.0), (0.5, 1.0)]
    fig = grid_explorer(_bar_traces, settings, axes={"omega": [0.1, 0.5], "alpha": [1.0, 10.0]},
                        title=lambda s: f"sum {sum(s)}", live=False, active=1)
    frames = {f.name: f for f in fig.frames}
    assert sorted(frames) == ["0.1|1", "0.1|10", "0.5|1", "0.5|10"]  # every combination of the sliders
    assert frames["0.5|1"].data[0].y == (1.5,) and frames["0.5|1"].layout.title.text == "sum 1.5"
    assert frames["0.1|1"].data[0].visible is False and "not trained yet" in frames["0.1|1"].layout.title.text
    assert [s.active for s in fig.layout.sliders] == [1, 1] and fig.layout.title.text == "sum 10.5"
    assert [s.currentvalue.prefix for s in fig.layout.sliders] == ["omega = ", "alpha = "]
    with pytest.raises(ValueError):  # a setting off the sliders' values
        grid_explorer(_bar_traces, [(0.2, 10.0)], axes={"omega": [0.1], "alpha": [10.0]}, live=False)
    # without per-setting titles, a shown frame puts the figure's own title back after a hidden one's
    plain = grid_explorer(_bar_traces, settings, axes={"omega": [0.1, 0.5], "alpha": [1.0, 10.0]}, live=False,
                          layout={"title": {"text": "sums"}})
    frames = {f.name: f for f in plain.frames}
    assert frames["0.5|1"].layout.title.text == "sums" and "not trained yet" in frames["0.1|1"].layout.title.text


def test_grid_explorer_live_sliders_and_train_button():
    pytest.importorskip("ipywidgets")
    drawn, trained = [], []
    results = {(0.1, 10.0): 1.0}

    def traces(setting):
        drawn.append(setting)
        return _bar_traces(setting)

    def train(setting, report):
        for epoch in range(1, 4):
            report(epoch, 3)
        results[setting] = 2.0
        trained.append(setting)

    box = grid_explorer(traces, list(results), axes={"omega": [0.1, 0.5], "alpha": [10.0]}, train=train,
                        available=lambda s: s in results, live=True)
    sliders = box.children[0].children
    button, bar = box.children[1].children
    message = box.children[2]
    assert drawn == [(0.1, 10.0)] and "precomputed" in message.value
    sliders[0].value = 0.5  # not trained: nothing drawn, a hint to train
    assert drawn == [(0.1, 10.0)] and "not trained" in message.value
    button.click()
    assert trained == [(0.5, 10.0)] and drawn[-1] == (0.5, 10.0) and bar.value == 3 and bar.max == 3
    assert not button.disabled and "precomputed" in message.value
