"""The paper's text versus its reference (Theano) code: one switch per difference, and the
configs and metrics of an ablation over them (book chapter 8).

The library's defaults follow the paper's *text*. The paper's public reference code differs from
it in a handful of places; each is a field of the config whose non-default value does what that
code does (see :class:`cmmd_lite.config.ObjectiveConfig`, ``ModelConfig.init_std`` and
``DataConfig.scaling``). :data:`REFERENCE_SWITCHES` lists them, most consequential first:

* ``ce_reduction="sum"`` -- the cross-entropy is summed over the mini-batch while every other
  term is averaged: an effective classifier weight of alpha times the batch size.
* ``kl_formula="reference"`` -- the KL's variance-ratio term at coefficient 1 instead of 1/2.
* ``classifier_input="prior_mean"`` -- p(y|z) is fed the prior mean, not a prior sample.
* ``mmd_noise="shared"`` -- the MMD's posterior and prior samples share one noise tensor.
* ``mmd_estimator="biased"`` -- the V-statistic, kernel-matrix diagonals included.
* ``init_std=0.001`` -- every weight drawn from N(0, 0.001^2), biases zero.
* ``scaling="per_split_minmax"`` -- a min-max scaler fitted separately on each split.

The reference's wide kernel (bandwidth D^2) is already the library's default
(``mmd_bandwidth=None``); the paper's text only says "a Gaussian kernel". :func:`narrow_kernel`
gives the usual alternative, a bandwidth of a few times D, for comparison.

>>> from cmmd_lite import get_config
>>> configs = ablation_configs(get_config("mnist2", "smoke"), ["ce_reduction"])
>>> list(configs)
['paper text', 'reference code', '+ ce_reduction']
>>> configs["paper text"].diff(configs["+ ce_reduction"])
{'objective.ce_reduction': ('mean', 'sum')}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .config import FIELD_SECTION, SECTIONS, Config
from .data.paired import PairedData
from .evaluate import COLLAPSE_EPSILONS, evaluate, kl_per_dimension, latent_parameters
from .model import MultimodalModel

PAPER_LABEL = "paper text"
REFERENCE_LABEL = "reference code"


def _value(config: Config, key: str) -> Any:
    """The value of the flat field ``key`` in ``config``."""
    return getattr(getattr(config, FIELD_SECTION[key]), key)


@dataclass(frozen=True)
class Switch:
    """One difference between the paper's text and its reference code.

    ``overrides`` are the flat config overrides (:meth:`Config.with_overrides`) that switch
    from the paper's text (the library's default) to what the reference code does.
    """

    name: str
    overrides: Mapping[str, Any]
    paper: str  # what the paper's text (and the library's default) does
    reference: str  # what the reference code does instead

    @property
    def fields(self) -> set[str]:
        """The config fields this switch changes, as ``"section.field"`` (the keys of :meth:`Config.diff`)."""
        return {f"{FIELD_SECTION[key]}.{key}" for key in self.overrides}


REFERENCE_SWITCHES: tuple[Switch, ...] = (
    Switch("ce_reduction", {"ce_reduction": "sum"},
           "cross-entropy averaged over the batch, like every other term",
           "cross-entropy summed over the batch: effective weight alpha * batch size"),
    Switch("kl_formula", {"kl_formula": "reference"},
           "exact KL of two diagonal Gaussians",
           "variance-ratio term at coefficient 1: exact KL + 0.5 sum var_q / var_p"),
    Switch("classifier_input", {"classifier_input": "prior_mean"},
           "classifier fed a sample z ~ p(z|x_o)",
           "classifier fed the prior mean mu_p(x_o)"),
    Switch("mmd_noise", {"mmd_noise": "shared"},
           "independent noise for the MMD's posterior and prior samples",
           "one noise tensor shared by the posterior and the prior samples"),
    Switch("mmd_estimator", {"mmd_estimator": "biased"},
           "unbiased MMD^2 (U-statistic, diagonals left out)",
           "biased MMD^2 (V-statistic, diagonals included)"),
    Switch("init_std", {"init_std": 0.001},
           "PyTorch's default initialisation",
           "weights from N(0, 0.001^2), zero biases"),
    Switch("scaling", {"scaling": "per_split_minmax"},
           "pixels / 255 in every split",
           "a min-max scaler fitted separately on the training and the test split"),
)
SWITCHES_BY_NAME: dict[str, Switch] = {switch.name: switch for switch in REFERENCE_SWITCHES}


def get_switches(names: Sequence[str] | None = None) -> list[Switch]:
    """The switches called ``names`` (default: all of :data:`REFERENCE_SWITCHES`), in that order."""
    if names is None:
        return list(REFERENCE_SWITCHES)
    unknown = [name for name in names if name not in SWITCHES_BY_NAME]
    if unknown:
        raise ValueError(f"unknown switches {unknown}; known: {list(SWITCHES_BY_NAME)}.")
    if len(set(names)) != len(names):
        raise ValueError(f"switches listed twice in {list(names)}.")
    return [SWITCHES_BY_NAME[name] for name in names]


def reference_overrides(names: Sequence[str] | None = None) -> dict[str, Any]:
    """The flat overrides of all the switches called ``names`` together (default: every switch)."""
    overrides: dict[str, Any] = {}
    for switch in get_switches(names):
        overrides.update(switch.overrides)
    return overrides


def reference_config(config: Config) -> Config:
    """``config`` with every difference of :data:`REFERENCE_SWITCHES` switched to the reference code.

    The reference's other settings that the compute profiles change on purpose (network sizes,
    batch size, learning rate, epochs) are left as ``config`` has them.
    """
    return config.with_overrides(**reference_overrides())


def narrow_kernel(config: Config, factor: float = 2.0) -> dict[str, float]:
    """Overrides for an MMD kernel of bandwidth ``factor * D`` (D = z_dim) instead of the default D^2.

    For latents of unit scale the squared distance between two samples is about 2D, so
    ``factor = 2`` is the median heuristic; the reference's D^2 is D / 2 times wider.
    """
    if factor <= 0:
        raise ValueError(f"factor={factor} must be positive.")
    return {"mmd_bandwidth": float(factor * config.model.z_dim)}


def ablation_configs(config: Config, switches: Sequence[str] | None = None, *, reference: bool = True,
                     leave_one_out: Sequence[str] = (),
                     extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Config]:
    """The configs of a one-switch-at-a-time ablation, in order, keyed by a readable label.

    * ``"paper text"``: ``config`` itself, which must follow the paper's text in every switch;
    * ``"reference code"`` (when ``reference``): every switch of :data:`REFERENCE_SWITCHES` on;
    * ``"+ <name>"`` for each switch in ``switches``: the paper text with that one switch on;
    * ``"reference - <name>"`` for each in ``leave_one_out``: the reference with that one switch off;
    * ``extra``: label -> overrides of the paper text (e.g. :func:`narrow_kernel`).

    Raises ValueError when ``config`` already uses a reference choice (then a "one switch" variant
    would change nothing) or when two labels would describe the same config.
    """
    changed = {f"{FIELD_SECTION[key]}.{key}": value for switch in REFERENCE_SWITCHES for key in switch.overrides
               if (value := _value(config, key)) != getattr(SECTIONS[FIELD_SECTION[key]](), key)}
    if changed:
        raise ValueError(f"the base config must follow the paper's text in every switch; it sets {changed}.")
    configs: dict[str, Config] = {PAPER_LABEL: config}
    full = reference_config(config)
    if reference:
        configs[REFERENCE_LABEL] = full
    for switch in get_switches(switches or []):
        configs[f"+ {switch.name}"] = config.with_overrides(**switch.overrides)
    for switch in get_switches(list(leave_one_out)):
        paper_back = {key: _value(config, key) for key in switch.overrides}
        configs[f"{REFERENCE_LABEL} - {switch.name}"] = full.with_overrides(**paper_back)
    for label, overrides in (extra or {}).items():
        if label in configs:
            raise ValueError(f"the label {label!r} is taken.")
        configs[label] = config.with_overrides(**overrides)
    fingerprints: dict[str, str] = {}
    for label, cfg in configs.items():
        other = fingerprints.setdefault(cfg.fingerprint(), label)
        if other != label:
            raise ValueError(f"{other!r} and {label!r} are the same config.")
    return configs


def intended_fields(label: str) -> set[str]:
    """The fields (``"section.field"``) in which the config labelled ``label`` by
    :func:`ablation_configs` should differ from the paper text (not for ``extra`` labels)."""
    if label == PAPER_LABEL:
        return set()
    everything = set().union(*(switch.fields for switch in REFERENCE_SWITCHES))
    if label == REFERENCE_LABEL:
        return everything
    if label.startswith("+ "):
        return set(SWITCHES_BY_NAME[label[2:]].fields)
    prefix = f"{REFERENCE_LABEL} - "
    if label.startswith(prefix):
        return everything - SWITCHES_BY_NAME[label[len(prefix):]].fields
    raise ValueError(f"{label!r} is not a label that ablation_configs makes from a switch.")


def collapse_summary(curve: Sequence[float], epsilons: Sequence[float] = COLLAPSE_EPSILONS) -> dict[str, float]:
    """Two numbers that summarise a posterior-collapse curve (fraction of dimensions collapsed
    against epsilon, :func:`cmmd_lite.collapse_curve`):

    * ``"area"`` -- the mean fraction collapsed over the epsilon grid, in [0, 1]: 0 when no
      dimension counts as collapsed at any epsilon, 1 when all do already at the smallest;
    * ``"eps_half"`` -- the smallest epsilon (nats, linearly interpolated) at which half of the
      dimensions count as collapsed; NaN when fewer than half do even at the largest epsilon.
    """
    curve, epsilons = np.asarray(curve, dtype=np.float64), np.asarray(epsilons, dtype=np.float64)
    if curve.shape != epsilons.shape or curve.ndim != 1 or len(curve) < 2:
        raise ValueError(f"curve {curve.shape} and epsilons {epsilons.shape} must be equal-length 1-D arrays.")
    area = float(np.trapezoid(curve, epsilons) / (epsilons[-1] - epsilons[0]))
    above = np.flatnonzero(curve >= 0.5)
    if not len(above):
        eps_half = float("nan")
    elif above[0] == 0:
        eps_half = float(epsilons[0])
    else:
        i = above[0]
        eps_half = float(np.interp(0.5, curve[i - 1:i + 1], epsilons[i - 1:i + 1]))
    return {"area": area, "eps_half": eps_half}


def ablation_metrics(model: MultimodalModel, data: PairedData, history: Mapping[str, Any], *,
                     n_samples: int = 10, seed: int = 0) -> dict[str, Any]:
    """What the ablation reports for one trained variant, on the split ``data`` (JSON-ready).

    Keys: everything of :func:`cmmd_lite.evaluate` (accuracy from prior samples, accuracy at the
    prior mean, RMSE, collapse curves) plus ``kl_exact`` -- the mean over pairs of the exact
    KL[q(z|x_o,x_M,y) || p(z|x_o)] summed over dimensions, whatever KL formula was trained --
    ``variance_ratio`` -- the median over pairs and dimensions of var_q / var_p, the posterior's
    variance relative to the prior's (1 where a dimension is at its prior under the exact KL, 1/2
    under the reference code's KL, see :func:`cmmd_lite.losses.gaussian_kl`) --
    ``collapse_summary`` (:func:`collapse_summary` of each curve), and ``last_epoch``, the
    training terms of the last epoch as the trainer logged them (with the *trained* KL formula
    and batch reductions).
    """
    metrics = evaluate(model, data, n_samples=n_samples, seed=seed)
    latents = latent_parameters(model, data)
    kl = kl_per_dimension(latents)["posterior_vs_prior"]
    metrics["kl_exact"] = float(kl.sum(1).mean())
    metrics["variance_ratio"] = float((latents["logvar_q"] - latents["logvar_p"]).exp().median())
    metrics["collapse_summary"] = {kind: collapse_summary(curve, metrics["collapse_epsilons"])
                                   for kind, curve in metrics["collapse"].items()}
    metrics["last_epoch"] = dict(history["epochs"][-1])
    return metrics
