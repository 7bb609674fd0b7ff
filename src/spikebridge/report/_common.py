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
    "grid_figure",
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
    """Return a constrained-layout figure that belongs to no pyplot state, drawn with the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def grid_figure(
    n_rows: int,
    n_cols: int,
    *,
    panel_size: tuple[float, float],
    margins: tuple[float, float, float, float] = (0.8, 0.2, 0.35, 0.5),
    gaps: tuple[float, float] = (0.3, 0.3),
    **subplot_kwargs: object,
) -> tuple[Figure, NDArray]:
    """Return a grid of equal panels laid out by fixed margins in inches (cheaper than constrained layout).

    Parameters
    ----------
    n_rows, n_cols :
        Panels down and across.
    panel_size :
        Width and height of each panel.
    margins :
        Left, right, top and bottom margins; the bottom one also holds any figure legend.
    gaps :
        Horizontal and vertical space between panels.
    **subplot_kwargs :
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``sharey``).

    Returns
    -------
    figure, axes :
        The figure and its axes, shape ``(n_rows, n_cols)``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    (panel_width, panel_height), (left, right, top, bottom), (gap_x, gap_y) = panel_size, margins, gaps
    width = left + n_cols * panel_width + (n_cols - 1) * gap_x + right
    height = top + n_rows * panel_height + (n_rows - 1) * gap_y + bottom
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    axes = figure.subplots(
        n_rows, n_cols, squeeze=False,
        gridspec_kw=dict(left=left / width, right=1 - right / width, top=1 - top / height,
                         bottom=bottom / height, wspace=gap_x / panel_width, hspace=gap_y / panel_height),
        **subplot_kwargs,
    )
    return figure, axes


def class_colours(n_classes: int) -> list[str]:
    """Colour of behaviour classes ``1..n_classes`` (index 0 is class 1)."""
    return [_CLASS_PALETTE[i % len(_CLASS_PALETTE)] for i in range(n_classes)]


def label_colormap(n_classes: int) -> tuple[ListedColormap, BoundaryNorm]:
    """Colormap and norm that paint label 0 light grey and classes ``1..n_classes`` in their colours."""
    cmap = ListedColormap([_UNLABELLED, *class_colours(n_classes)])
    norm = BoundaryNorm(np.arange(-0.5, n_classes + 1.5), cmap.N)
    return cmap, norm


def choose_trials(run: RunData, max_trials: int) -> list[int]:
    """Up to ``max_trials`` held-out trial ids with a labelled bin, spread evenly over the sorted ids."""
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


def trial_window(run: RunData, trial: int, max_context_bins: int = 100) -> tuple[NDArray, int]:
    """Bins of one held-out trial: its labelled span plus the unlabelled lead-in just before it.

    The arrays are trial windows laid end to end, each a contiguous stretch of the recording; where
    ``bins`` (recording indices) is given, a window ends wherever ``bins`` stops counting up by one, so
    lead-in bins copied from a neighbouring trial are never mistaken for this trial's.

    Returns
    -------
    bins :
        Indices into the arrays, contiguous.
    n_context :
        How many of ``bins`` come before the trial's first labelled bin.
    """
    labels, trial_ids = run.arrays["labels"], run.arrays["trial_ids"]
    own = np.flatnonzero((trial_ids == trial) & (labels > 0))
    first = int(own[0])
    segment_start, segment_stop = 0, labels.size
    recording_bins = run.arrays.get("bins")
    if recording_bins is not None and recording_bins.size > 1:
        breaks = np.flatnonzero(np.diff(recording_bins) != 1) + 1
        segment_start = int(breaks[breaks <= first].max(initial=0))
        segment_stop = int(breaks[breaks > first].min(initial=labels.size))
    own = own[own < segment_stop]
    # stop at the first bin of another labelled trial, in case two windows happen to be contiguous
    others = np.flatnonzero((labels > 0) & (trial_ids != trial))
    after = others[(others > first) & (others < segment_stop)]
    last = int(own[own < after.min()].max() if after.size else own.max())
    start = first
    while start > segment_start and labels[start - 1] == 0 and first - start < max_context_bins:
        start -= 1
    return np.arange(start, last + 1), first - start


def time_unit(run: RunData) -> tuple[float, str]:
    """Seconds per bin and the axis label of time; bins when the run gives no ``bin_size``."""
    bin_size = run.bin_size
    return (1.0, "bins") if bin_size is None else (bin_size, "s")
