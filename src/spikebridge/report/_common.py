"""Pieces shared by the report's figures: the figure record, colours, trial choice and time axes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from numpy.typing import NDArray

from spikebridge.report._load import RunData

__all__ = [
    "Absent",
    "ReportFigure",
    "COLOURS",
    "new_figure",
    "class_colours",
    "label_colormap",
    "choose_trials",
    "trial_window",
    "time_unit",
]

COLOURS = {
    "truth": "#1a1a1a",
    "rl": "#1f77b4",
    "rl_paper": "#17becf",
    "sl": "#d95f02",
    "recorded": "#555555",
    "upstream_ceiling": "#7b3294",
    "decoded_truth": "#999999",
}
"""One colour per spike source, the same in every figure."""

_CLASS_PALETTE = ("#4daf4a", "#377eb8", "#e41a1c", "#ff7f00", "#984ea3", "#a65628", "#f781bf", "#999999")
_UNLABELLED = "#f0f0f0"


class Absent(Exception):
    """Raised by a figure builder when the run lacks what the figure needs; the message says what."""


@dataclass(frozen=True)
class ReportFigure:
    """One drawn figure and the words that go with it.

    Attributes
    ----------
    name :
        File stem: the figure is saved as ``figures/<name>.png``.
    title :
        Short heading.
    caption :
        Plain-language description of what is plotted and how to read it.
    figure :
        The matplotlib figure (not attached to pyplot).
    """

    name: str
    title: str
    caption: str
    figure: Figure


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure that belongs to no pyplot state, drawn with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def class_colours(n_classes: int) -> list[str]:
    """Colour of behaviour classes ``1..n_classes`` (index 0 is class 1)."""
    return [_CLASS_PALETTE[i % len(_CLASS_PALETTE)] for i in range(n_classes)]


def label_colormap(n_classes: int) -> tuple[ListedColormap, BoundaryNorm]:
    """Colormap and norm that paint label 0 light grey and classes ``1..n_classes`` in their colours."""
    cmap = ListedColormap([_UNLABELLED, *class_colours(n_classes)])
    norm = BoundaryNorm(np.arange(-0.5, n_classes + 1.5), cmap.N)
    return cmap, norm


def choose_trials(run: RunData, max_trials: int) -> list[int]:
    """Up to ``max_trials`` held-out trial ids, evenly spread over the sorted ids, each with a labelled bin."""
    trial_ids = run.arrays.get("trial_ids")
    labels = run.arrays["labels"]
    if trial_ids is None:
        raise Absent("arrays.npz has no `trial_ids`, so single trials cannot be shown.")
    candidates = np.unique(trial_ids[(trial_ids >= 0) & (labels > 0)])
    if candidates.size == 0:
        raise Absent("arrays.npz has no trial (trial_ids >= 0) with a labelled bin.")
    if candidates.size <= max_trials:
        return candidates.tolist()
    picks = np.round(np.linspace(0, candidates.size - 1, max_trials)).astype(int)
    return candidates[picks].tolist()


def trial_window(trial_ids: NDArray, trial: int, max_context_bins: int = 100) -> tuple[NDArray, int]:
    """Bins of ``trial`` plus the lead-in bins just before it that belong to no trial (id < 0).

    Returns
    -------
    bins :
        Indices into the arrays, ascending and contiguous where the data are.
    n_context :
        How many of ``bins`` come before the trial's first bin.
    """
    own = np.flatnonzero(trial_ids == trial)
    first = own[0]
    start = first
    while start > 0 and trial_ids[start - 1] < 0 and first - start < max_context_bins:
        start -= 1
    return np.concatenate([np.arange(start, first), own]), int(first - start)


def time_unit(run: RunData) -> tuple[float, str]:
    """Seconds per bin and the axis label of time; bins when the run gives no ``bin_size``."""
    bin_size = run.bin_size
    return (1.0, "bins") if bin_size is None else (bin_size, "s")
