"""Spike-based figures of a biomimicry trade-off study: the PCA embedding and the matched rasters.

Each builder takes a :class:`~spikebridge.report.TradeoffStudy`, reads fold 0's scored test spikes and
returns a :class:`~spikebridge.report.ReportFigure`, or raises :class:`~spikebridge.report.Absent` naming
what the study lacks; malformed input raises :class:`~spikebridge.exceptions.DataFormatError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.patches import Patch
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.report._common import Absent, ReportFigure, class_colours, grid_figure, label_colormap
from spikebridge.report._tradeoff_load import (
    _SOURCE_COLOURS,
    MATCHING_RULE,
    SpikeFile,
    TradeoffStudy,
    _match,
)

__all__ = ["embedding_figure", "matched_raster_figure"]


def _aligned(
    study: TradeoffStudy, entry: dict[str, Any], fold: int, n_recorded: int
) -> tuple[NDArray, SpikeFile]:
    """Sample-mean generated spikes, column ``j`` for recorded neuron ``j``: ``(n_bins, n_recorded)``."""
    test = study.test_spikes(entry, fold)
    mean = test.spikes.mean(axis=0)
    match = _match(entry, fold, mean.shape[1]) if study.population else None
    if match is None:
        if mean.shape[1] != n_recorded:
            raise DataFormatError(f"{entry['run_dir']}/fold_{fold}: {mean.shape[1]} generated neurons but "
                                  f"{n_recorded} recorded, and no matched_recorded_neuron to pair them.")
        return mean, test
    if match.max(initial=-1) >= n_recorded:
        raise DataFormatError(
            f"matched_recorded_neuron[{fold}] names a neuron beyond the {n_recorded} recorded."
        )
    out = np.zeros((mean.shape[0], n_recorded))
    out[:, match] = mean
    return out, test


def _check_same_bins(reference: SpikeFile, other: SpikeFile, where: str) -> None:
    if not (np.array_equal(reference.labels, other.labels)
            and np.array_equal(reference.trial_ids, other.trial_ids)):
        raise DataFormatError(f"{where}: `labels` / `trial_ids` differ from the recording's; the spike "
                              "files of one fold must cover the same test bins.")


def _trial_patterns(counts: NDArray, labels: NDArray, trial_ids: NDArray, window: int, n_windows: int
                    ) -> tuple[NDArray, NDArray]:
    """Counts per trial and class in ``n_windows`` windows from its onset, ``(n_patterns, n_windows * n)``."""
    patterns, classes = [], []
    for trial in np.unique(trial_ids[(trial_ids >= 0) & (labels > 0)]):
        rows = np.flatnonzero(trial_ids == trial)
        end = rows[np.flatnonzero(np.diff(rows) != 1)[0]] + 1 if np.any(np.diff(rows) != 1) else rows[-1] + 1
        for c in np.unique(labels[rows][labels[rows] > 0]):
            onset = int(rows[labels[rows] == c][0])
            if onset + window * n_windows > end:
                continue  # the trial is too short after this onset
            block = counts[onset:onset + window * n_windows]
            patterns.append(block.reshape(n_windows, window, -1).sum(axis=1).ravel())
            classes.append(int(c))
    return np.array(patterns, dtype=float), np.array(classes, dtype=np.int64)


def embedding_figure(
    study: TradeoffStudy, *, n_windows: int = 5, window_seconds: float = 0.1
) -> ReportFigure:
    """2-D PCA embedding of single-trial spike patterns of fold 0: recorded and generated trials per class.

    Parameters
    ----------
    study :
        Needs fold 0's recorded test spikes and at least one of RL w=0, RL with prior, SL.
    n_windows :
        Consecutive windows counted from each class onset.
    window_seconds :
        Window width; windows are 10 bins when the bin size is unknown.

    Returns
    -------
    figure :
        Named ``embedding``.
    """
    if "recorded" not in study.references:
        raise Absent("tradeoff.json has no `references.recorded` to fit the embedding on.")
    recorded = study.test_spikes(study.references["recorded"], 0)
    window = 10 if study.bin_size is None else max(1, int(round(window_seconds / study.bin_size)))
    truth = recorded.spikes[0].astype(float)
    patterns, classes = _trial_patterns(truth, recorded.labels, recorded.trial_ids, window, n_windows)
    if len(patterns) < 3:
        raise Absent(f"fold 0 has fewer than 3 trial onsets followed by {n_windows} full windows.")
    generated = []
    for key, label, entry in study.sources():
        if key not in ("rl_0", "rl_prior", "sl"):
            continue
        try:
            counts, test = _aligned(study, entry, 0, truth.shape[1])
        except Absent:
            continue
        _check_same_bins(recorded, test, f"{entry['run_dir']}/fold_0")
        gen_patterns = _trial_patterns(counts, test.labels, test.trial_ids, window, n_windows)
        generated.append((key, label, *gen_patterns))
    if not generated:
        raise Absent("fold 0 has no generated test spikes (RL or SL) to embed.")
    centre = patterns.mean(axis=0)
    _, singular, components = np.linalg.svd(patterns - centre, full_matrices=False)
    components = components[:2]
    explained = singular[:2] ** 2 / max(float((singular**2).sum()), 1e-12)
    project = lambda x: (x - centre) @ components.T  # noqa: E731
    n_classes = int(max(classes.max(), *(g[3].max(initial=0) for g in generated)))
    colours = class_colours(n_classes)
    figure, axes = grid_figure(1, 1 + len(generated), panel_size=(2.4, 2.4), margins=(0.6, 0.2, 0.3, 0.9),
                               gaps=(0.2, 0.3), sharex=True, sharey=True)
    truth_xy = project(patterns)
    panels = [("recorded", "recorded", patterns, classes), *generated]
    for ax, (key, label, gen_patterns, gen_classes) in zip(axes[0], panels):
        if key != "recorded":
            ax.scatter(*truth_xy.T, s=10, color="#bbbbbb", zorder=1)
        if len(gen_patterns):
            xy = project(gen_patterns)
            ax.scatter(*xy.T, s=12, c=[colours[c - 1] for c in gen_classes], zorder=2, edgecolors="none")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}%)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel(f"PC 2 ({100 * explained[1]:.0f}%)" if explained.size > 1 else "PC 2", fontsize=8)
    handles = [Patch(color=colours[c - 1], label=_class_name(study, c)) for c in range(1, n_classes + 1)]
    handles.append(Patch(color="#bbbbbb", label="recorded trials"))
    figure.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=7, frameon=False)
    unit = "bins" if study.bin_size is None else f"{1000 * window * study.bin_size:.0f} ms"
    caption = (
        "Single-trial spike patterns of the held-out trials of fold 0 only (one fold keeps the figure "
        f"simple). Each point is one trial and one behaviour: the spike count of every neuron in {n_windows} "
        f"consecutive windows of {window} bins ({unit}) from the behaviour's onset; onsets without "
        f"{n_windows} full windows before the trial ends are skipped. The two axes are the first principal "
        "components fitted on the recorded trials only; generated trials (mean over sampled spike trains) "
        "are projected onto the same axes, coloured by behaviour, with the recorded trials in grey behind "
        "them. Generated clouds that overlap the recorded ones, class by class, have recording-like spike "
        "patterns."
    )
    if study.population:
        caption += " Generated neurons are placed on the recorded neuron they are paired with. "
        caption += MATCHING_RULE
    return ReportFigure("embedding", "Embedding of single-trial spike patterns", caption, figure)


def _class_name(study: TradeoffStudy, label: int) -> str:
    names = study.spec.get("class_names")
    if isinstance(names, list) and 0 < label <= len(names):
        return str(names[label - 1])
    return f"class {label}"


def matched_raster_figure(study: TradeoffStudy, *, max_trials: int = 3, max_unread: int = 3) -> ReportFigure:
    """Rasters of matched neurons in a few test trials of fold 0: recorded, RL w=0 and RL with the prior.

    Parameters
    ----------
    study :
        Needs fold 0's recorded test spikes and RL w=0 or RL with prior test spikes.
    max_trials :
        Trials shown, one per row, spread evenly over the test trials.
    max_unread :
        With the whole population generated, unread matched neurons shown besides the read ones.

    Returns
    -------
    figure :
        Named ``matched_rasters``.
    """
    if "recorded" not in study.references:
        raise Absent("tradeoff.json has no `references.recorded` to show.")
    recorded = study.test_spikes(study.references["recorded"], 0)
    n_recorded = recorded.spikes.shape[2]
    columns = [("recorded", "recorded", recorded.spikes[0], np.arange(n_recorded))]
    for key, label, entry in study.sources():
        if key not in ("rl_0", "rl_prior"):
            continue
        try:
            test = study.test_spikes(entry, 0)
        except Absent:
            continue
        _check_same_bins(recorded, test, f"{entry['run_dir']}/fold_0")
        match = _match(entry, 0, test.spikes.shape[2]) if study.population else None
        if match is None and test.spikes.shape[2] != n_recorded:
            raise DataFormatError(f"{entry['run_dir']}/fold_0: {test.spikes.shape[2]} generated neurons but "
                                  f"{n_recorded} recorded, and no matched_recorded_neuron to pair them.")
        columns.append((key, label, test.spikes[0], np.arange(n_recorded) if match is None else match))
    if len(columns) < 2:
        raise Absent("fold 0 has no RL test spikes to compare with the recording.")
    read = study.read_neurons if study.population else list(range(n_recorded))
    if read is None:  # unknown: the first outputs every column pairs with a recorded neuron
        read = []
    matched_everywhere = [r for r in range(n_recorded) if all(r in col[3] for col in columns)]
    shown = [r for r in read if r in matched_everywhere]
    shown += [r for r in matched_everywhere if r not in shown][:max_unread if study.population else 0]
    if not shown:
        raise Absent("no recorded neuron is paired with an output of every generator.")
    candidates = np.unique(recorded.trial_ids[(recorded.trial_ids >= 0) & (recorded.labels > 0)])
    picks = np.round(np.linspace(0, candidates.size - 1, min(max_trials, candidates.size))).astype(int)
    trials = candidates[np.unique(picks)]
    n_classes = max(1, int(recorded.labels.max()))
    cmap, norm = label_colormap(n_classes)
    seconds, unit = (1.0, "bins") if study.bin_size is None else (study.bin_size, "s")
    n = len(shown)
    figure, axes = grid_figure(len(trials), len(columns), panel_size=(2.6, 0.2 * n + 0.6),
                               margins=(0.7, 0.2, 0.3, 0.8), gaps=(0.25, 0.5), sharey=True)
    for row, trial in enumerate(trials):
        rows = np.flatnonzero(recorded.trial_ids == trial)
        if np.any(np.diff(rows) != 1):
            rows = rows[:np.flatnonzero(np.diff(rows) != 1)[0] + 1]
        first = int(np.flatnonzero(recorded.labels[rows] > 0)[0])
        start = (np.arange(rows.size) - first) * seconds
        edges = np.append(start, start[-1] + seconds)
        for col, (key, label, spikes, match) in enumerate(columns):
            ax = axes[row, col]
            outputs = [int(np.flatnonzero(match == r)[0]) for r in shown]
            when, neuron = np.nonzero(spikes[rows][:, outputs] > 0)
            ax.vlines(start[when] + seconds / 2, neuron + 0.6, neuron + 1.4, color=_SOURCE_COLOURS[key],
                      lw=0.8)
            ax.pcolormesh(edges, [n + 0.7, n + 1.5], recorded.labels[rows][None, :], cmap=cmap, norm=norm)
            ax.set_title(f"{label}, trial {trial}", fontsize=8, color=_SOURCE_COLOURS[key])
            ax.set_xlim(edges[0], edges[-1])
            ax.tick_params(labelsize=7)
            if row == len(trials) - 1:
                ax.set_xlabel(f"time from trial start ({unit})", fontsize=8)
    names = [f"r{r}*" if study.population and r in read else f"r{r}" for r in shown]
    axes[0, 0].set_yticks([*range(1, n + 1), n + 1.1], names + ["behaviour"], fontsize=7)
    axes[0, 0].set_ylim(0.4, n + 1.6)
    handles = [Patch(color=c, label=_class_name(study, i + 1))
               for i, c in enumerate(class_colours(n_classes))]
    figure.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=7, frameon=False)
    caption = (
        f"Spikes of matched neurons in {len(trials)} held-out test trials of fold 0 (rows), recorded against "
        "one sampled spike train of RL without and with the biomimetic prior (columns). Row r<j> is "
        "recorded neuron j and, in a generated column, the generated neuron paired with it; the band at the "
        "top is the behaviour (colours in the legend, light grey = unlabelled)."
    )
    if study.population:
        caption += " Rows marked * are the neurons the decoder reads; the others are unread neurons. "
        caption += MATCHING_RULE
    else:
        caption += " All rows are the neurons the decoder reads, which keep their identity."
    return ReportFigure("matched_rasters", "Rasters of matched neurons", caption, figure)
