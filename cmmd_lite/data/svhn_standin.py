"""A synthetic stand-in for SVHN cropped digits, used only when real SVHN cannot be had.

In the spirit of SynDigits (Ganin & Lempitsky, 2015): each 32x32 colour image shows a
centred digit (the label) rendered from a TrueType font shipped with matplotlib, with
partly visible neighbouring digits left and/or right as in SVHN crops of house numbers,
random colours and polarity, lighting gradients, a sometimes visible plate edge, small
rotation/shear, jitter, blur, resolution loss and noise.

Labels are drawn i.i.d. with the class frequencies of the real SVHN training split
(digit 1 most frequent, about 19%; the rarest, 9, about 6%).

Speed: every (font, digit) glyph is rendered once with Pillow as an alpha mask; images are
then composed in chunks with torch on one CPU thread (``grid_sample`` warps, per-image blur
and resampling as 32x32 matrix products): about 12-14 s for both splits (73,257 + 26,032
images) on a busy 2-core machine. The first :func:`load_svhn_standin` writes them as
uncompressed .mat files (same format, quicker to write); later loads read them back.

Images are composed in float64 and rounded to uint8 once, so they are identical for the same seed
whatever the CPU's vector instructions: measured on 4,096 images, AVX-512, AVX2 and unvectorised
kernels give the same bytes in float64, while in float32 (generator version 1) 0.17% of the images
differed by one level in a pixel or more between AVX-512 and AVX2, enough to change the data's
digest from one CPU type to another (both measured with the instruction sets and the draw of
``tests/test_svhn_standin.py::test_the_same_images_whatever_the_cpus_vector_instructions``; version 1 is
``git show c562a81~1:cmmd_lite/data/svhn_standin.py``). float64 costs about 1.7x the composition
time, once: the splits are cached.
"""
from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .. import paths
from ..store import write_bytes
from .files import PathLike, split_entry
from .svhn import read_svhn_mat, write_svhn_mat

STANDIN_LABEL = "SVHN stand-in (synthetic digits, not real SVHN)"

#: Sizes and seeds of the stand-in splits (sizes as in real SVHN; distinct seeds, so test
#: images are not copies of training images).
STANDIN_SIZES: dict[str, int] = {"train": 73257, "test": 26032}
STANDIN_SEEDS: dict[str, int] = {"train": 20_150_001, "test": 20_150_002}

#: Bump whenever the rendering changes, so cached files are regenerated. 2: composed in float64
#: (the same images on every CPU type; version 1's float32 differed between AVX-512 and AVX2).
GENERATOR_VERSION = 2

#: Images per chunk: each chunk has its own seed, so image i does not depend on n.
CHUNK_SIZE = 1024

#: Image counts per digit 0..9 in the real SVHN training split; the label distribution.
SVHN_TRAIN_CLASS_COUNTS = (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)

#: Fonts from ``matplotlib.get_data_path()/fonts/ttf`` with plain lining digits (not
#: DejaVuSansMono, whose zero is dotted; not cmmi10, whose digits are old-style).
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf",
)

IMAGE_SIZE = 32
_GLYPH_CANVAS = 64  # glyph masks are (64, 64) ...
_GLYPH_HEIGHT = 44  # ... with the digit's ink 44 pixels high, centred
_RENDER_SIZE = 160  # font size at which glyphs are rasterised before downscaling
_STROKE_WIDTHS = (0, 6)  # each font also in a heavier weight (stroke at _RENDER_SIZE)

_REAL_SVHN_HINT = (
    f"To use real SVHN, download train_32x32.mat and test_32x32.mat from "
    f"http://ufldl.stanford.edu/housenumbers/ into a folder and name that folder in "
    f"{paths.ENV_DATA_DIR} (e.g. {paths.ENV_DATA_DIR}=../shared/data), or run online "
    f"(without {paths.ENV_OFFLINE}=1) so they are downloaded."
)


class StandinWarning(UserWarning):
    """Warns that synthetic stand-in digits are used instead of real SVHN."""


# --- glyphs ------------------------------------------------------------------------------

def _rasterise(font: ImageFont.FreeTypeFont, text: str, stroke_width: int) -> np.ndarray:
    size = 2 * _RENDER_SIZE
    image = Image.new("L", (size, size))
    ImageDraw.Draw(image).text((size // 2, size // 2), text, fill=255, font=font, anchor="mm",
                               stroke_width=stroke_width, stroke_fill=255)
    return np.asarray(image)


def _has_plain_digits(font: ImageFont.FreeTypeFont) -> bool:
    """True if the font draws ten distinct, non-empty digits unlike its missing-glyph box."""
    missing = _rasterise(font, "\ue000", 0)
    digits = [_rasterise(font, str(d), 0) for d in range(10)]
    return (all(d.any() and not np.array_equal(d, missing) for d in digits)
            and len({d.tobytes() for d in digits}) == 10)


def _normalised_glyph(font: ImageFont.FreeTypeFont, digit: int, stroke_width: int) -> tuple[np.ndarray, float]:
    """The digit's ink scaled to ``_GLYPH_HEIGHT`` and centred in the glyph canvas, and its width."""
    ink = _rasterise(font, str(digit), stroke_width)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = Image.fromarray(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    width = max(1, min(_GLYPH_CANVAS - 4, round(crop.width * _GLYPH_HEIGHT / crop.height)))
    scaled = crop.resize((width, _GLYPH_HEIGHT), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (_GLYPH_CANVAS, _GLYPH_CANVAS))
    canvas.paste(scaled, ((_GLYPH_CANVAS - width) // 2, (_GLYPH_CANVAS - _GLYPH_HEIGHT) // 2))
    return np.asarray(canvas, dtype=np.float32) / 255.0, float(width)


@lru_cache(maxsize=1)
def _glyph_bank() -> tuple[torch.Tensor, np.ndarray]:
    """Alpha masks (styles * 10, 1, 64, 64) float32 and ink widths (styles, 10), where a
    style is a usable font in one stroke weight; glyph of (style s, digit d) is row 10 s + d."""
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    masks, widths = [], []
    for name in FONT_FILES:
        path = font_dir / name
        if not path.is_file():
            continue
        font = ImageFont.truetype(str(path), _RENDER_SIZE)
        if not _has_plain_digits(font):
            continue
        for stroke_width in _STROKE_WIDTHS:
            style = [_normalised_glyph(font, digit, stroke_width) for digit in range(10)]
            masks += [mask for mask, _ in style]
            widths.append([width for _, width in style])
    if not masks:
        raise RuntimeError(f"no usable digit fonts found in {font_dir}")
    return torch.from_numpy(np.stack(masks)[:, None]), np.asarray(widths, dtype=np.float32)


# --- optics: blur and resolution loss as per-image 32x32 matrices -------------------------

_BLUR_SIGMAS = np.linspace(0.0, 1.6, 9)  # pixels
_LOW_RESOLUTIONS = (32, 24, 20, 16)  # sizes the image is reduced to and enlarged back from


def _resample_matrix(size_out: int, size_in: int) -> np.ndarray:
    """(size_out, size_in) matrix resampling a signal, area-averaging when shrinking."""
    mode = "area" if size_out < size_in else "linear"
    identity = torch.eye(size_in)[None]
    return F.interpolate(identity, size=size_out, mode=mode)[0].T.numpy()


def _gaussian_matrix(sigma: float, size: int = IMAGE_SIZE) -> np.ndarray:
    """(size, size) Gaussian blur, rows renormalised at the borders; identity for sigma 0."""
    if sigma == 0:
        return np.eye(size, dtype=np.float32)
    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return (kernel / kernel.sum(1, keepdims=True)).astype(np.float32)


@lru_cache(maxsize=1)
def _optics_bank() -> torch.Tensor:
    """(resolutions, sigmas, 32, 32): blur after shrinking to a resolution and back."""
    bank = np.empty((len(_LOW_RESOLUTIONS), len(_BLUR_SIGMAS), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for r, resolution in enumerate(_LOW_RESOLUTIONS):
        round_trip = _resample_matrix(IMAGE_SIZE, resolution) @ _resample_matrix(resolution, IMAGE_SIZE)
        for s, sigma in enumerate(_BLUR_SIGMAS):
            bank[r, s] = _gaussian_matrix(sigma) @ round_trip
    return torch.from_numpy(bank)


# --- random parameters -------------------------------------------------------------------

@dataclass
class _SceneParams:
    """Per-image random parameters of a chunk (every field has the chunk's length first)."""

    label: np.ndarray
    neighbour_digits: np.ndarray  # (n, 2): left, right
    neighbour_shown: np.ndarray  # (n, 2) bool
    style: np.ndarray
    glyph_to_image: np.ndarray  # (n, 2, 2): glyph-canvas pixels -> image pixels
    shift: np.ndarray  # (n, 2): centre digit's offset from the image centre, pixels
    neighbour_offsets: np.ndarray  # (n, 2, 2): neighbour centres in glyph-canvas pixels
    foreground: np.ndarray  # (n, 3) RGB in [0, 1]
    background: np.ndarray  # (n, 3)
    edge_colour: np.ndarray  # (n, 3)
    edge_shown: np.ndarray  # (n,) bool
    edge_horizontal: np.ndarray  # (n,) bool
    edge_position: np.ndarray  # (n,) pixels
    edge_half_width: np.ndarray  # (n,) pixels
    shading: np.ndarray  # (n, 4, 4): coarse relative brightness change (gradient + noise)
    optics_x: np.ndarray  # (n, 2): indices into the optics bank (resolution, sigma) along x
    optics_y: np.ndarray  # (n, 2) along y
    noise_std: np.ndarray  # (n,)

    def head(self, count: int) -> _SceneParams:
        """The parameters of the first ``count`` images."""
        return _SceneParams(**{f.name: getattr(self, f.name)[:count] for f in fields(self)})


_LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 weights of R, G, B


def _random_colours(rng: np.random.Generator, luma: np.ndarray, max_saturation: float) -> np.ndarray:
    """(n, 3) RGB colours in [0, 1] of the given lumas, random hues, mostly low saturation."""
    n = len(luma)
    axis_a = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    axis_b = np.array([1.0, 1.0, -2.0]) / np.sqrt(6)
    hue = rng.uniform(0, 2 * np.pi, n)
    saturation = max_saturation * rng.random(n) ** 2
    tint = saturation[:, None] * (np.cos(hue)[:, None] * axis_a + np.sin(hue)[:, None] * axis_b)
    return np.clip(luma[:, None] + tint - (tint @ _LUMA)[:, None], 0, 1)


def _draw_params(rng: np.random.Generator, n: int, glyph_widths: np.ndarray) -> _SceneParams:
    """Random scene parameters for ``n`` images."""
    class_probabilities = np.asarray(SVHN_TRAIN_CLASS_COUNTS) / sum(SVHN_TRAIN_CLASS_COUNTS)
    label = rng.choice(10, size=n, p=class_probabilities)
    neighbour_digits = rng.integers(0, 10, size=(n, 2))
    neighbour_shown = rng.random((n, 2)) < 0.6
    style = rng.integers(0, len(glyph_widths), size=n)

    # Geometry: digit height, aspect, shear, rotation, jitter, spacing.
    height = rng.uniform(16.0, 29.0, n)
    scale = height / _GLYPH_HEIGHT
    aspect = np.exp(rng.uniform(-0.2, 0.15, n))
    shear = rng.uniform(-0.2, 0.2, n)
    angle = np.clip(rng.normal(0.0, np.deg2rad(5), n), -np.deg2rad(12), np.deg2rad(12))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear_aspect = np.zeros((n, 2, 2))
    shear_aspect[:, 0, 0], shear_aspect[:, 0, 1], shear_aspect[:, 1, 1] = aspect, shear, 1.0
    glyph_to_image = scale[:, None, None] * rotation @ shear_aspect
    shift = np.clip(rng.normal(0.0, 1.0, (n, 2)), -2.5, 2.5)
    widths = glyph_widths[style[:, None], np.concatenate([label[:, None], neighbour_digits], 1)]
    gaps = rng.uniform(0.0, 0.3, (n, 2)) * _GLYPH_HEIGHT
    neighbour_offsets = np.empty((n, 2, 2))
    neighbour_offsets[:, :, 0] = (widths[:, :1] / 2 + gaps + widths[:, 1:] / 2) * [-1, 1]
    neighbour_offsets[:, :, 1] = rng.normal(0.0, 1.0, (n, 2))

    # Colours: lumas `contrast` apart, either polarity, with some hue.
    contrast = rng.uniform(0.2, 0.6, n)
    dark = rng.uniform(0.05, 0.9 - contrast)
    dark_on_light = rng.random(n) < 0.5
    foreground = _random_colours(rng, np.where(dark_on_light, dark, dark + contrast), 0.2)
    background = _random_colours(rng, np.where(dark_on_light, dark + contrast, dark), 0.3)
    edge_mix = rng.uniform(0.3, 1.0, n)[:, None]
    edge_colour = edge_mix * foreground + (1 - edge_mix) * background

    # Plate edge: a line near one border, in front of nothing but the background.
    edge_shown = rng.random(n) < 0.25
    edge_horizontal = rng.random(n) < 0.6
    near_border = rng.uniform(0.0, 4.0, n)
    edge_position = np.where(rng.random(n) < 0.5, near_border, IMAGE_SIZE - 1 - near_border)
    edge_half_width = rng.uniform(0.4, 1.5, n)

    # Lighting and optics.
    cells = np.arange(4) * 8 - 12.0  # the 4x4 shading cells' centres, pixels from the image centre
    slope = rng.normal(0.0, 0.006, (n, 2, 1, 1))
    shading = (slope[:, 0] * cells[None, :] + slope[:, 1] * cells[:, None]
               + rng.normal(0.0, 1.0, (n, 4, 4)) * rng.uniform(0.0, 0.08, (n, 1, 1)))
    resolution = rng.choice(len(_LOW_RESOLUTIONS), size=n, p=[0.4, 0.2, 0.2, 0.2])
    sigma = rng.integers(0, len(_BLUR_SIGMAS), size=(n, 2))
    sigma[:, 1] = np.clip(sigma[:, 0] + rng.integers(-1, 2, n), 0, len(_BLUR_SIGMAS) - 1)
    optics_x = np.stack([resolution, sigma[:, 0]], 1)
    optics_y = np.stack([resolution, sigma[:, 1]], 1)
    noise_std = rng.uniform(0.0, 0.04, n)  # of uniform pixel noise
    return _SceneParams(label, neighbour_digits, neighbour_shown, style, glyph_to_image, shift,
                        neighbour_offsets, foreground, background, edge_colour, edge_shown,
                        edge_horizontal, edge_position, edge_half_width, shading, optics_x, optics_y, noise_std)


# --- rendering ---------------------------------------------------------------------------

def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))


def _glyph_ink(params: _SceneParams) -> torch.Tensor:
    """(n, 1, 32, 32) alpha of each image's centre digit and shown neighbours."""
    masks = _glyph_bank()[0].double()
    image_to_glyph = np.linalg.inv(params.glyph_to_image)
    # Sampling grid in normalised coordinates: image pixel p (2 p / 32) -> glyph pixel q (2 q / 64),
    # q = image_to_glyph (p - shift) for the centre digit, minus the offset for a neighbour.
    # It is separable: grid[n, row, column] = along_x[n, column] + along_y[n, row].
    steps = (np.arange(IMAGE_SIZE) * 2 + 1) / IMAGE_SIZE - 1
    linear = image_to_glyph * (IMAGE_SIZE / _GLYPH_CANVAS)
    along_x = _tensor(linear[:, None, :, 0] * steps[None, :, None])[:, None]  # (n, 1, 32, 2)
    along_y = linear[:, None, :, 1] * steps[None, :, None] - (2 / _GLYPH_CANVAS) * np.einsum(
        "nij,nj->ni", image_to_glyph, params.shift)[:, None]  # (n, 32, 2)

    def warped(digits: np.ndarray, offset: np.ndarray) -> torch.Tensor:
        grid = along_x + _tensor(along_y - (2 / _GLYPH_CANVAS) * offset[:, None])[:, :, None]
        glyphs = masks[torch.from_numpy(params.style * 10 + digits)]
        return F.grid_sample(glyphs, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    ink = warped(params.label, np.zeros((len(params.label), 2)))
    shown = _tensor(params.neighbour_shown)
    for side in range(2):
        neighbour = warped(params.neighbour_digits[:, side], params.neighbour_offsets[:, side])
        ink = torch.maximum(ink, neighbour * shown[:, side, None, None, None])
    return ink


def _edge_alpha(params: _SceneParams) -> torch.Tensor:
    """(n, 1, 32, 32) alpha of the plate-edge line (zero where none is shown)."""
    distance = np.abs(np.arange(IMAGE_SIZE)[None, :] - params.edge_position[:, None])  # (n, 32)
    profile = _tensor(np.clip(params.edge_half_width[:, None] + 0.5 - distance, 0, 1) * params.edge_shown[:, None])
    horizontal = torch.from_numpy(params.edge_horizontal)[:, None, None, None]
    return torch.where(horizontal, profile[:, None, :, None], profile[:, None, None, :])


def _render(params: _SceneParams, pixel_noise: np.ndarray) -> np.ndarray:
    """uint8 images (n, 3, 32, 32) from scene parameters and int8 (n, 3, 32, 32) uniform noise.

    The image is background + ink (fg - bg) + edge (1 - ink) (edge colour - bg), blurred,
    shaded as image (1 + s) + s / 2. Blur is linear and keeps constants, so only the two
    alpha maps are blurred, and colouring with the shading is one 4-term sum per pixel."""
    n, pixels = len(params.label), IMAGE_SIZE * IMAGE_SIZE
    ink = _glyph_ink(params)
    alphas = torch.cat([ink, _edge_alpha(params) * (1 - ink)], 1)  # (n, 2, 32, 32)

    optics = _optics_bank().double()
    blur_x = optics[tuple(torch.from_numpy(params.optics_x).T)]
    blur_y = optics[tuple(torch.from_numpy(params.optics_y).T)]
    alphas = blur_y[:, None] @ alphas @ blur_x[:, None].transpose(-1, -2)

    upsample = torch.from_numpy(_resample_matrix(IMAGE_SIZE, 4)).double()
    shading = (upsample @ _tensor(params.shading) @ upsample.T).view(n, 1, pixels)
    lit = 1 + shading
    maps = torch.cat([alphas.view(n, 2, pixels) * lit, lit, shading], 1)  # (n, 4, 1024)
    background = params.background
    colours = np.stack([params.foreground - background, params.edge_colour - background,
                        background + 0.5 / 255, np.full_like(background, 0.5 - 0.5 / 255)], 2)  # +0.5: rounding
    image = torch.bmm(_tensor(255 * colours), maps).view(n, 3, IMAGE_SIZE, IMAGE_SIZE)
    noise_scale = _tensor(params.noise_std * 255 * np.sqrt(3) / 128).view(n, 1, 1, 1)
    image.addcmul_(torch.from_numpy(pixel_noise).double(), noise_scale)
    return image.clamp_(0, 255).to(torch.uint8).numpy()


@contextmanager
def _single_threaded_torch() -> Iterator[None]:
    """Run torch on one thread: chunks of small images gain little from more, and on a busy
    2-core machine the threads' synchronisation made generation 2-3x slower (measured)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def make_svhn_standin(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic street-number crops: images uint8 (n, 3, 32, 32) and labels uint8 (n,)
    in 0..9 (SVHN training class frequencies).

    Deterministic in ``seed``; image i depends only on ``seed`` and i, so the first k images
    are the same for every n >= k."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _, glyph_widths = _glyph_bank()
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    labels = np.empty(n, np.uint8)
    with torch.no_grad(), _single_threaded_torch():
        for chunk, start in enumerate(range(0, n, CHUNK_SIZE)):
            count = min(CHUNK_SIZE, n - start)
            rng = np.random.default_rng([seed, chunk])
            # Parameters are drawn for a full chunk, so the generator state (and image i) does not depend on n.
            params = _draw_params(rng, CHUNK_SIZE, glyph_widths).head(count)
            pixel_noise = rng.integers(-128, 128, size=(count, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.int8)
            images[start:start + count] = _render(params, pixel_noise)
            labels[start:start + count] = params.label
    return images, labels


# --- cached splits -----------------------------------------------------------------------

def standin_path(split: str, cache: PathLike | None = None) -> Path:
    """Where the stand-in ``split`` is cached, in the official SVHN .mat format."""
    split_entry(STANDIN_SIZES, split, "SVHN stand-in")
    root = Path(cache).expanduser() if cache is not None else paths.cache_dir("data")
    return root / "svhn_standin" / f"{split}_32x32.mat"


def _atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(temporary_path)`` in a scratch folder, then store its bytes at ``target``
    atomically (:func:`cmmd_lite.store.write_bytes`)."""
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch) / target.name
        write(tmp)
        write_bytes(target, tmp.read_bytes())


def load_svhn_standin(split: str, *, cache: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in ``split`` ("train" or "test"): images uint8 (N, 3, 32, 32), labels uint8
    (N,) in 0..9, with N as in real SVHN. Always warns with :class:`StandinWarning`.

    Generated once and cached as ``<cache>/svhn_standin/<split>_32x32.mat`` in the official
    SVHN format (default cache: ``paths.cache_dir("data")``); a ``.json`` file beside it
    records the generator version, seed and size, and the file is regenerated when they differ."""
    path = standin_path(split, cache)
    recipe = {"generator_version": GENERATOR_VERSION, "seed": STANDIN_SEEDS[split], "n": STANDIN_SIZES[split]}
    recipe_path = path.with_suffix(".json")
    try:
        cached = path.is_file() and json.loads(recipe_path.read_text()) == recipe
    except (OSError, ValueError):
        cached = False
    if not cached:
        images, labels = make_svhn_standin(recipe["n"], recipe["seed"])
        _atomic_write(path, lambda tmp: write_svhn_mat(tmp, images, labels, compress=False))
        _atomic_write(recipe_path, lambda tmp: tmp.write_text(json.dumps(recipe)))
    warnings.warn(
        f"\n{'!' * 78}\n  USING THE SVHN STAND-IN: synthetic digits rendered from fonts, NOT real SVHN.\n"
        f"  Numbers on it are not comparable with the CMMD paper. ({path})\n  {_REAL_SVHN_HINT}\n{'!' * 78}",
        StandinWarning, stacklevel=2)
    return read_svhn_mat(path)


def save_sample_grid(path: PathLike, *, per_class: int = 10, seed: int = 0) -> None:
    """Save a PNG grid of stand-in samples: one row per digit 0..9, ``per_class`` columns."""
    images, labels = make_svhn_standin(40 * per_class, seed)
    rows = [images[labels == digit][:per_class] for digit in range(10)]
    grid = np.concatenate([np.concatenate(list(row.transpose(0, 2, 3, 1)), 1) for row in rows], 0)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.Resampling.NEAREST).save(path)

