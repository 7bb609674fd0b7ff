"""Figures drawn from the held-out spikes of ``arrays.npz``: rasters, PSTHs and decoded velocity traces.

Each builder takes a :class:`~spikebridge.report.RunData` and returns a
:class:`~spikebridge.report.ReportFigure`, or raises :class:`~spikebridge.report.Absent` naming what the run
lacks. Builders only read; they never train or write.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics import psth
from spikebridge.report._common import (
    COLOURS,
    Absent,
    ReportFigure,
    choose_trials,
    class_colours,
    grid_figure,
    label_colormap,
    time_unit,
    trial_window,
)
from spikebridge.report._load import RunData

__all__ = ["raster_figure", "psth_figure", "velocity_figure"]

_GENERATED = (("rl", "RL"), ("sl", "SL"))


def _require(run: RunData, *names: str) -> None:
    missing = [name for name in names if name not in run.arrays]
    if missing:
        raise Absent(f"arrays.npz lacks {', '.join(f'`{m}`' for m in missing)}.")


def _n_classes(run: RunData) -> int:
    values = [int(run.arrays["labels"].max())]
    decoded = ("decoded_true", "decoded_rl", "decoded_sl")
    values += [int(run.arrays[k].max()) for k in decoded if k in run.arrays]
    return max(1, *values)


def _class_legend(run: RunData, n_classes: int) -> list[Patch]:
    colours = class_colours(n_classes)
    handles = [Patch(facecolor=colours[c - 1], label=run.class_name(c)) for c in range(1, n_classes + 1)]
    return handles + [Patch(facecolor="#f0f0f0", edgecolor="#cccccc", label="unlabelled")]


def raster_figure(run: RunData, *, max_trials: int = 4, max_neurons: int = 16) -> ReportFigure:
    """Spike rasters of the same held-out trials from the healthy truth, RL and SL, with behaviour bands.

    Parameters
    ----------
    run :
        A loaded run; needs ``labels``, ``trial_ids`` and at least one of ``true_downstream``,
        ``rl_spikes``, ``sl_spikes`` in ``arrays.npz``.
    max_trials :
        Trials shown, one per row, spread evenly over the held-out trial ids.
    max_neurons :
        Neurons shown (the first ones) when the decoder reads more.

    Returns
    -------
    figure :
        Named ``rasters``.
    """
    _require(run, "labels", "trial_ids")
    a = run.arrays
    sources: list[tuple[str, str, NDArray, NDArray | None]] = []
    if "true_downstream" in a:
        sources.append(("truth", "Healthy truth", a["true_downstream"], a.get("decoded_true")))
    for key, title in _GENERATED:
        if f"{key}_spikes" in a:
            sources.append((key, title, a[f"{key}_spikes"][0], a.get(f"decoded_{key}")))
    if not sources:
        raise Absent("arrays.npz has none of `true_downstream`, `rl_spikes`, `sl_spikes`.")
    trials = choose_trials(run, max_trials)
    labels = a["labels"]
    n_classes = _n_classes(run)
    cmap, norm = label_colormap(n_classes)
    n_total = sources[0][2].shape[1]
    n_read = min(n_total, max_neurons)
    sources = [(key, title, spikes[:, :n_read], decoded) for key, title, spikes, decoded in sources]
    seconds, unit = time_unit(run)
    legend_rows = -(-(n_classes + 1) // 6)
    row_height = (0.22 if n_read <= 8 else 0.15) * n_read + 0.75
    figure, axes = grid_figure(len(trials), len(sources), panel_size=(2.9, row_height),
                               margins=(0.75, 0.2, 0.3, 0.6 + 0.2 * legend_rows), gaps=(0.35, 0.6),
                               sharey=True)
    for row, trial in enumerate(trials):
        bins, n_context = trial_window(run, trial)
        start = (np.arange(bins.size) - n_context) * seconds
        edges = np.append(start, start[-1] + seconds)
        for col, (key, title, spikes, decoded) in enumerate(sources):
            ax = axes[row, col]
            when, neuron = np.nonzero(spikes[bins] > 0)
            ax.vlines(start[when] + seconds / 2, neuron + 0.6, neuron + 1.4, color=COLOURS[key],
                      linewidth=0.8)
            ax.pcolormesh(edges, [n_read + 0.7, n_read + 1.5], labels[bins][None, :], cmap=cmap, norm=norm)
            heading = f"{title}, trial {trial}"
            if decoded is not None:
                ax.pcolormesh(edges, [n_read + 1.6, n_read + 2.4], decoded[bins][None, :], cmap=cmap,
                              norm=norm)
                labelled = labels[bins] > 0
                if labelled.any():
                    correct = float(np.mean(decoded[bins][labelled] == labels[bins][labelled]))
                    heading += f": {100 * correct:.0f}% of bins decoded right"
            ax.set_title(heading, fontsize=8, color=COLOURS[key])
            if n_context:
                ax.axvline(0.0, color="#888888", linewidth=0.6, linestyle=":")
            ax.set_xlim(edges[0], edges[-1])
            ax.tick_params(labelsize=7)
            if row == len(trials) - 1:
                ax.set_xlabel(f"time from trial start ({unit})", fontsize=8)
    ticks = list(range(1, n_read + 1)) if n_read <= 8 else [1, n_read]
    tick_labels = [f"n{i}" for i in ticks]
    ticks += [n_read + 1.1]
    tick_labels += ["behaviour"]
    has_decoded = any(source[3] is not None for source in sources)
    if has_decoded:
        ticks += [n_read + 2.0]
        tick_labels += ["decoded"]
    axes[0, 0].set_yticks(ticks, tick_labels)
    axes[0, 0].set_ylim(0.4, n_read + 2.5)
    figure.legend(handles=_class_legend(run, n_classes), loc="lower center", bbox_to_anchor=(0.5, 0.0),
                  ncols=min(n_classes + 1, 6), fontsize=8, frameon=False)
    caption = (
        f"Spikes of the {n_total} downstream neurons that the decoder reads, in {len(trials)} held-out test "
        "trials (trials no model was trained on), one trial per row. Columns compare the spikes the healthy "
        "neurons really fired (the truth) with one spike train sampled from each generator: RL, trained "
        "only from whether the decoded behaviour was right, and SL, fitted directly to recorded spikes. "
        "Each tick is one spike; rows n1, n2, ... are the neurons. The coloured band 'behaviour' shows what "
        "the animal was doing in each time bin (colours in the legend; grey = not labelled)."
    )
    if has_decoded:
        caption += (
            " The band 'decoded' shows what the fixed decoder read from that column's spikes; where it "
            "matches the behaviour band, those spikes would have produced the right behaviour. The panel "
            "title gives the percentage of labelled bins decoded right."
        )
    if n_total > n_read:
        caption += f" Only the first {n_read} of the {n_total} read neurons are drawn."
    if any(trial_window(run, t)[1] for t in trials):
        caption += " Bins before time 0 (dotted line) are lead-in context before the trial starts."
    return ReportFigure("rasters", "Spike rasters of held-out trials", caption, figure)


def _first_and_last(indices: NDArray, trial_ids: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Trials among ``indices`` (ascending) and, per trial, the first and the last of its indices."""
    ids = trial_ids[indices]
    trials, first = np.unique(ids, return_index=True)
    _, from_end = np.unique(ids[::-1], return_index=True)
    return trials, indices[first], indices[ids.size - 1 - from_end]


def _psth_windows(labels: NDArray, trial_ids: NDArray) -> tuple[int, dict[int, int]]:
    """Bins shown before each onset, and after it per class: the median time left in the trial after it."""
    labelled = (labels > 0) & (trial_ids >= 0)
    trials, first, last = _first_and_last(np.flatnonzero(labelled), trial_ids)
    n_before = int(min(20, np.median(last - first + 1) // 5))
    windows = {}
    for c in np.unique(labels[labelled]).tolist():
        with_class, onsets, _ = _first_and_last(np.flatnonzero(labelled & (labels == c)), trial_ids)
        remaining = last[np.searchsorted(trials, with_class)] - onsets + 1
        windows[c] = int(np.clip(np.median(remaining), 10, 150))
    return n_before, windows


def _joined(curves: dict[int, dict[str, NDArray]], source: str, neuron: int) -> NDArray:
    """One neuron's PSTHs of every class, end to end."""
    return np.concatenate([by_source[source][:, neuron] for by_source in curves.values()])


def _pearson(first: NDArray, second: NDArray) -> float:
    keep = np.isfinite(first) & np.isfinite(second)
    if keep.sum() < 3 or np.ptp(first[keep]) == 0 or np.ptp(second[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(first[keep], second[keep])[0, 1])


def psth_figure(
    run: RunData, *, max_neurons: int = 6, max_classes: int = 8, smoothing_sigma_bins: float = 5.0
) -> ReportFigure:
    """Class-aligned PSTHs of each decoder-read neuron: healthy truth against RL and SL (sample mean).

    Each class is shown from a little before its onset to the median time its trials last after the onset.

    Parameters
    ----------
    run :
        Needs ``labels``, ``trial_ids``, ``true_downstream`` and ``rl_spikes`` or ``sl_spikes``.
    max_neurons :
        Neurons shown (the first ones), one per row.
    max_classes :
        Behaviour classes shown (the lowest labels), one per column.
    smoothing_sigma_bins :
        Gaussian smoothing width in bins, as in :func:`spikebridge.metrics.psth`.

    Returns
    -------
    figure :
        Named ``psth``.
    """
    _require(run, "labels", "trial_ids", "true_downstream")
    a = run.arrays
    generated = [(key, title, a[f"{key}_spikes"]) for key, title in _GENERATED if f"{key}_spikes" in a]
    if not generated:
        raise Absent("arrays.npz has neither `rl_spikes` nor `sl_spikes` to compare with the truth.")
    labels, trial_ids, truth = a["labels"], a["trial_ids"], a["true_downstream"]
    n_before, windows = _psth_windows(labels, trial_ids)
    n_classes = len(windows)
    windows = dict(list(windows.items())[:max_classes])
    curves: dict[int, dict[str, NDArray]] = {}
    for c, n_window in windows.items():
        options = dict(n_bins_window=n_window, n_bins_before=n_before,
                       smoothing_sigma_bins=smoothing_sigma_bins, classes=[c])
        try:
            curves[c] = {"truth": psth(truth, labels, trial_ids, **options)[0]}
            for key, _, spikes in generated:
                curves[c][key] = psth(spikes, labels, trial_ids, **options)[0]
        except DataFormatError:
            curves.pop(c, None)
    if not curves:
        raise Absent("no behaviour class has an onset inside a held-out trial.")
    classes = list(curves)
    seconds, unit = time_unit(run)
    scale, rate_unit = (1.0, "spikes/bin") if run.bin_size is None else (1.0 / seconds, "spikes/s")
    n_read = truth.shape[1]
    shown = list(range(min(n_read, max_neurons)))
    figure, axes = grid_figure(len(shown), len(classes), panel_size=(2.4, 1.3),
                               margins=(0.75, 0.15, 0.3, 0.5), gaps=(0.15, 0.15), sharex="col", sharey="row")
    for row, neuron in enumerate(shown):
        for col, c in enumerate(classes):
            ax = axes[row, col]
            time = np.arange(-n_before, windows[c]) * seconds
            ax.plot(time, scale * curves[c]["truth"][:, neuron], color=COLOURS["truth"], linewidth=1.6,
                    label="healthy truth")
            for key, title, _ in generated:
                ax.plot(time, scale * curves[c][key][:, neuron], color=COLOURS[key], linewidth=1.1,
                        label=title)
            ax.axvline(0.0, color="#888888", linewidth=0.6, linestyle="--")
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(f"onset of '{run.class_name(c)}'", fontsize=8)
            if row == len(shown) - 1:
                ax.set_xlabel(f"time from onset ({unit})", fontsize=8)
        true_curve = _joined(curves, "truth", neuron)
        r_text = ", ".join(
            f"{title} {_pearson(_joined(curves, key, neuron), true_curve):.2f}"
            for key, title, _ in generated)
        axes[row, -1].text(0.98, 0.96, f"PSTH r: {r_text}", transform=axes[row, -1].transAxes, fontsize=7,
                           ha="right", va="top")
        axes[row, 0].set_ylabel(f"n{neuron + 1} ({rate_unit})", fontsize=8)
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper left")
    n_samples = ", ".join(f"{spikes.shape[0]} for {title}" for _, title, spikes in generated)
    caption = (
        "Peri-stimulus time histograms (PSTHs): the average firing rate of each decoder-read neuron "
        "(rows n1, n2, ...) around the start of each behaviour (columns), averaged over the held-out trials "
        f"and smoothed with a Gaussian of {smoothing_sigma_bins:g} bins"
        + ("" if run.bin_size is None else f" ({1000 * smoothing_sigma_bins * seconds:.0f} ms)")
        + ". Black is the healthy truth; coloured lines are the generators, averaged over their sampled "
        f"spike trains ({n_samples}). The dashed line marks the behaviour onset; each column runs until "
        "the typical end of the trial. A generator that mimics the biology follows the black curve in every "
        "column. 'PSTH r' is the Pearson correlation between that neuron's generated and true PSTHs over "
        "all behaviours (1 = same shape; the overall firing level is not compared)."
    )
    if n_read > len(shown):
        caption += f" Only the first {len(shown)} of the {n_read} read neurons are shown."
    if n_classes > len(windows):
        caption += f" Only the first {len(windows)} of the {n_classes} behaviour classes are shown."
    return ReportFigure("psth", "Firing rates around each behaviour (PSTHs)", caption, figure)


def velocity_figure(run: RunData, *, max_trials: int = 3) -> ReportFigure:
    """Plot decoded hand velocity in a few held-out reach trials: truth against RL and SL spikes decoded.

    Parameters
    ----------
    run :
        Needs ``labels``, ``trial_ids``, ``velocity_true`` or ``velocity_decoded_true``, and
        ``velocity_rl`` or ``velocity_sl``.
    max_trials :
        Trials shown, one per column.

    Returns
    -------
    figure :
        Named ``velocity``.
    """
    _require(run, "labels", "trial_ids")
    a = run.arrays
    lines = [
        ("velocity_true", "actual hand velocity", COLOURS["truth"], "-", 1.6),
        ("velocity_decoded_true", "decoded from healthy spikes", COLOURS["decoded_truth"], "-", 1.2),
        ("velocity_rl", "decoded from RL spikes", COLOURS["rl"], "-", 1.1),
        ("velocity_sl", "decoded from SL spikes", COLOURS["sl"], "-", 1.1),
    ]
    present = [line for line in lines if line[0] in a]
    if not {"velocity_true", "velocity_decoded_true"} & {p[0] for p in present}:
        raise Absent("arrays.npz has no true velocity (`velocity_true` or `velocity_decoded_true`).")
    if not {"velocity_rl", "velocity_sl"} & {p[0] for p in present}:
        raise Absent("arrays.npz has no generated velocity (`velocity_rl` or `velocity_sl`).")
    trials = choose_trials(run, max_trials)
    seconds, unit = time_unit(run)
    figure, axes = grid_figure(2, len(trials), panel_size=(2.7, 1.5), margins=(0.75, 0.15, 0.3, 0.8),
                               gaps=(0.15, 0.15), sharex="col", sharey="row")
    for col, trial in enumerate(trials):
        bins, n_context = trial_window(run, trial)
        time = (np.arange(bins.size) - n_context) * seconds
        for row, component in enumerate(("horizontal (x)", "vertical (y)")):
            ax = axes[row, col]
            for name, label, colour, style, width in present:
                ax.plot(time, a[name][bins, row], color=colour, linestyle=style, linewidth=width, label=label)
            ax.axhline(0.0, color="#cccccc", linewidth=0.5)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(f"trial {trial}", fontsize=8)
            else:
                ax.set_xlabel(f"time from trial start ({unit})", fontsize=8)
            if col == 0:
                ax.set_ylabel(f"{component} velocity", fontsize=8)
    figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, 0.0),
                  ncols=min(len(present), 2 * len(trials)), fontsize=8, frameon=False)
    caption = (
        f"Hand velocity in {len(trials)} held-out reach trials (columns), split into its horizontal (top) "
        "and vertical (bottom) components, in the recording's velocity units. Black is the velocity the "
        "animal actually made, when known; grey is what the fixed decoder reads from the healthy spikes "
        "(the best a perfect generator could reach through this decoder); blue and orange are what the "
        "same decoder reads from spikes sampled from RL and SL. The closer a coloured line follows grey "
        "and black, the better those generated spikes would restore the movement."
    )
    return ReportFigure("velocity", "Decoded reach velocity", caption, figure)
