"""Reports of a finished run: figures plus ``report.html`` / ``report.md``, read from the run directory only.

A report never trains. :func:`write_report` reads ``results.json`` (required) and ``arrays.npz`` (optional),
draws the figures with matplotlib's Agg canvas (no pyplot state), and writes every file atomically.
"""

from spikebridge.report._common import Absent, ReportFigure
from spikebridge.report._load import RunData, load_run
from spikebridge.report.biomimicry_figures import (
    TradeoffStudy,
    embedding_figure,
    load_tradeoff,
    matched_raster_figure,
    mi_modulation_bars_figure,
    neuron_scatter_figure,
    tradeoff_figure,
    write_biomimicry_report,
)
from spikebridge.report.spike_figures import psth_figure, raster_figure, velocity_figure
from spikebridge.report.summary_figures import biomimicry_figure, learning_curve_figure, success_figure
from spikebridge.report.write import write_report

__all__ = [
    "Absent",
    "ReportFigure",
    "RunData",
    "TradeoffStudy",
    "embedding_figure",
    "load_tradeoff",
    "matched_raster_figure",
    "mi_modulation_bars_figure",
    "neuron_scatter_figure",
    "tradeoff_figure",
    "write_biomimicry_report",
    "biomimicry_figure",
    "learning_curve_figure",
    "load_run",
    "psth_figure",
    "raster_figure",
    "success_figure",
    "velocity_figure",
    "write_report",
]
