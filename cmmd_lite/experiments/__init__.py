"""The registry of the paper's tables and figures: one module per experiment, one line here each.

Each module defines ``EXPERIMENT``, an :class:`~cmmd_lite.experiments.base.Experiment` that owns its
rows (configs and the paper's numbers), what it measures, its figure and its report;
:func:`cmmd_lite.reproduce.reproduce` runs any of them. To add one: write ``<name>.py`` with its
``EXPERIMENT`` and add it to the tuple below.
"""
from __future__ import annotations

from . import fig2, fig_f1, fig_g1, table2, table3, table4
from .base import MODEL_KEYS, Experiment, Row, model_row

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    table2.EXPERIMENT,
    table3.EXPERIMENT,
    table4.EXPERIMENT,
    fig2.EXPERIMENT,
    fig_f1.EXPERIMENT,
    fig_g1.EXPERIMENT,
)}

__all__ = ["EXPERIMENTS", "MODEL_KEYS", "Experiment", "Row", "model_row"]
