"""Figures and page of a biomimicry trade-off study (``spikebridge biomimicry``), read from its directory.

The study directory holds ``tradeoff.json`` (one entry per RL prior weight, plus the reference methods) and,
per entry and fold, the scored test spikes ``<run_dir>/fold_<k>/<method>_test_spikes.npz``. Each figure
builder takes a :class:`TradeoffStudy` and returns a :class:`~spikebridge.report.ReportFigure`, or raises
:class:`~spikebridge.report.Absent` naming what the study lacks; malformed input raises
:class:`~spikebridge.exceptions.DataFormatError`. Builders only read; :func:`write_biomimicry_report` writes.
Loading lives in :mod:`spikebridge.report._tradeoff_load` and the spike-based figures (embedding, matched
rasters) in :mod:`spikebridge.report.tradeoff_spike_figures`; their public names are re-exported here.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from spikebridge._io import atomic_write_bytes, atomic_write_text
from spikebridge.exceptions import DataFormatError
from spikebridge.report._common import COLOURS, Absent, ReportFigure, grid_figure
from spikebridge.report._document import (
    Block,
    BulletList,
    FigureBlock,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from spikebridge.report._tradeoff_load import (
    _SOURCE_COLOURS,
    MATCHING_RULE,
    SpikeFile,  # noqa: F401  (re-exported: it was defined here)
    TradeoffStudy,
    _is_number,
    _match,
    load_tradeoff,
)
from spikebridge.report.tradeoff_spike_figures import embedding_figure, matched_raster_figure

__all__ = [
    "TradeoffStudy",
    "load_tradeoff",
    "tradeoff_figure",
    "mi_modulation_bars_figure",
    "neuron_scatter_figure",
    "embedding_figure",
    "matched_raster_figure",
    "points_table",
    "write_biomimicry_report",
]


_LABELS = {
    "mutual_information": "mutual information (bits)", "modulation_depth": "modulation depth",
    "psth_correlation_median": "median PSTH correlation", "firing_rate_hz": "firing rate (Hz)",
    "participation_ratio": "participation ratio", "pairwise_correlation": "pairwise correlation",
    "subspace_angle_deg": "subspace angle (deg)", "time_bin_success": "time-bin success",
    "trial_success": "trial success",
}
_TABLE_METRICS = ("time_bin_success", "trial_success", "mutual_information", "modulation_depth",
                  "psth_correlation_median", "firing_rate_hz", "participation_ratio", "pairwise_correlation",
                  "subspace_angle_deg")
_MARKERS = {"sl": "s", "rl_paper": "D", "recorded": "*"}


def _metric(entry: dict[str, Any], metric: str) -> NDArray[np.float64] | None:
    """Per-fold values of a metric (success or biomimicry scalar), or None."""
    success = metric in ("time_bin_success", "trial_success")
    values = entry.get(metric) if success else entry["biomimicry"].get(metric)
    return None if values is None else np.asarray([np.nan if v is None else v for v in values], dtype=float)


def _mean_sd(values: NDArray[np.float64] | None) -> tuple[float, float] | None:
    """Mean and sample sd (0 for one value) over the finite folds, or None."""
    if values is None:
        return None
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else 0.0


def _has(study: TradeoffStudy, metric: str) -> bool:
    entries = [*study.points, *study.references.values()]
    return any(_mean_sd(_metric(e, metric)) is not None for e in entries)


def tradeoff_figure(study: TradeoffStudy) -> ReportFigure:
    """Time-bin success against each biomimicry metric, for every prior weight and the references.

    Parameters
    ----------
    study :
        A loaded study; needs RL points with ``time_bin_success``.

    Returns
    -------
    figure :
        Named ``tradeoff``; one panel per metric present (MI, modulation depth, median PSTH correlation,
        firing rate, and participation ratio and pairwise correlation with the whole population generated).
    """
    metrics = [m for m in ("mutual_information", "modulation_depth", "psth_correlation_median",
                           "firing_rate_hz", "participation_ratio", "pairwise_correlation") if _has(study, m)]
    rl = [p for p in study.points if _mean_sd(_metric(p, "time_bin_success")) is not None]
    if not rl or not metrics:
        raise Absent("tradeoff.json has no RL point with both a time-bin success and a biomimicry metric.")
    n_cols = min(3, len(metrics))
    figure, axes = grid_figure(-(-len(metrics) // n_cols), n_cols, panel_size=(2.8, 2.4),
                               margins=(0.7, 0.2, 0.3, 0.9), gaps=(0.55, 0.6), sharey=True)
    highlight = study.spec.get("highlight_weight")
    for ax, metric in zip(axes.flat, metrics):
        xs, ys = [], []
        for p in rl:
            x, y = _mean_sd(_metric(p, metric)), _mean_sd(_metric(p, "time_bin_success"))
            if x is None or y is None:
                continue
            xs.append(x)
            ys.append(y)
            ax.annotate(f"w={p['prior_weight']:g}", (x[0], y[0]), xytext=(3, 3), textcoords="offset points",
                        fontsize=6, color=COLOURS["rl"])
            if _is_number(highlight) and np.isclose(p["prior_weight"], highlight):
                ax.plot(x[0], y[0], "o", ms=10, mfc="none", mec=COLOURS["rl"])
        if xs:
            (x_mean, x_sd), (y_mean, y_sd) = np.array(xs).T, np.array(ys).T
            ax.errorbar(x_mean, y_mean, xerr=x_sd, yerr=y_sd, fmt="-o", ms=4, lw=1, capsize=2,
                        color=COLOURS["rl"], label="RL, one point per prior weight")
        for name, entry in study.references.items():
            x, y = _mean_sd(_metric(entry, metric)), _mean_sd(_metric(entry, "time_bin_success"))
            if y is None:
                continue
            colour = COLOURS.get(name, "#333333")
            if name == "recorded":
                ax.axhline(y[0], color=colour, ls="--", lw=0.8)
                if x is not None:
                    ax.axvline(x[0], color=colour, ls="--", lw=0.8)
            if x is not None:
                ax.errorbar(x[0], y[0], xerr=x[1], yerr=y[1], fmt=_MARKERS.get(name, "^"), ms=11 if name ==
                            "recorded" else 6, capsize=2, color=colour, label=_reference_label(name))
        ax.set_xlabel(_LABELS[metric], fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("time-bin success", fontsize=8)
    handles: dict[str, Any] = {}
    for ax in axes.flat[:len(metrics)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncols=min(len(handles), 4),
                  fontsize=7, frameon=False)
    caption = (
        "The trade-off between restoring behaviour and looking like the recorded neurons. Each panel puts "
        "one biomimicry metric on the x-axis and the decoder's time-bin success on the y-axis, both the mean "
        "over the held-out folds with error bars of one standard deviation over folds. Blue points are RL "
        "generators trained with the biomimetic prior at increasing weight w (connected in weight order; the "
        "circled one is the default shown in the bar figure). The star and the dashed lines mark the "
        "recording itself: a generator that matches the biology and restores behaviour sits at the crossing "
        "of the dashed lines. Squares are SL (fitted to recordings a patient would not have) and diamonds "
        "the paper's RL algorithm. The median PSTH correlation compares generated and recorded neurons, so "
        "the recording has no point there (its value would be 1)."
    )
    return ReportFigure("tradeoff", "Success against biomimicry across prior weights", caption, figure)


def _reference_label(name: str) -> str:
    return {"recorded": "recorded", "sl": "SL", "rl_paper": "paper's RL"}.get(name, name)


def mi_modulation_bars_figure(study: TradeoffStudy) -> ReportFigure:
    """Mutual information and modulation depth per method: bars of the mean ± sd over folds, dots per fold.

    Parameters
    ----------
    study :
        A loaded study; needs at least one of recorded, RL (w=0 or ``highlight_weight``), SL, paper with MI or
        modulation depth.

    Returns
    -------
    figure :
        Named ``mi_modulation``.
    """
    sources = [s for s in study.sources() if any(_mean_sd(_metric(s[2], m)) for m in
                                                 ("mutual_information", "modulation_depth"))]
    if not sources:
        raise Absent("no method has a mutual information or modulation depth.")
    figure, axes = grid_figure(1, 2, panel_size=(0.55 * len(sources) + 1.0, 2.4),
                               margins=(0.7, 0.2, 0.3, 1.1), gaps=(0.7, 0.3))
    recorded = study.references.get("recorded")
    for ax, metric in zip(axes[0], ("mutual_information", "modulation_depth")):
        reference = None if recorded is None else _mean_sd(_metric(recorded, metric))
        for i, (key, label, entry) in enumerate(sources):
            values, summary = _metric(entry, metric), _mean_sd(_metric(entry, metric))
            if summary is None:
                continue
            ax.bar(i, summary[0], yerr=summary[1], color=_SOURCE_COLOURS[key], capsize=3, width=0.7)
            ax.plot(np.full(values.size, i) + np.linspace(-0.15, 0.15, values.size), values, "k.", ms=3)
            if reference is not None and key != "recorded" and reference[0] != 0:
                change = 100 * (summary[0] / reference[0] - 1)
                ax.text(i, summary[0] + summary[1], f"{round(change) + 0:+d}%", ha="center", va="bottom",
                        fontsize=7)
        if reference is not None:
            ax.axhline(reference[0], color=COLOURS["recorded"], ls="--", lw=0.8)
        ax.set_xticks(range(len(sources)), [s[1] for s in sources], rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(_LABELS[metric], fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    caption = (
        "Mutual information between each decoder-read neuron's spikes and the behaviour (left) and its "
        "modulation depth, how strongly its rate changes between behaviours (right), averaged over read "
        "neurons: bars are the mean over held-out folds with one standard deviation, dots the single folds. "
        "The dashed line is the recording; the percentage above a bar is that method's difference from it. A "
        "biomimetic generator matches the recording in both: more modulation than recorded means the "
        "generator over-drives its neurons to please the decoder."
    )
    return ReportFigure("mi_modulation", "Information and modulation depth per method", caption, figure)


def _per_neuron(entry: dict[str, Any], key: str, metric: str, fold: int) -> NDArray[np.float64] | None:
    table = entry["biomimicry"].get(key)
    try:
        return np.asarray(table[metric][fold], dtype=float)  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        return None
    except ValueError as error:
        raise DataFormatError(
            f"tradeoff.json: biomimicry.{key}.{metric}[{fold}] must be a list of numbers."
        ) from error


def _neuron_pairs(study: TradeoffStudy, entry: dict[str, Any], metric: str) -> tuple[list, list]:
    """Recorded-generated value pairs, pooled over folds: read neurons, then matched unread ones."""
    recorded = study.references["recorded"]
    read_pairs, unread_pairs = [], []
    for fold in range(study.spec["n_folds"]):
        rec = _per_neuron(recorded, "per_neuron", metric, fold)
        gen = _per_neuron(entry, "per_neuron", metric, fold)
        if rec is None or gen is None:
            continue
        if rec.shape != gen.shape or rec.ndim != 1:
            raise DataFormatError(
                f"tradeoff.json: per_neuron.{metric}[{fold}] of {entry['run_dir']!r} has shape {gen.shape}, "
                f"the recording's {rec.shape}; both must list the same read neurons."
            )
        read_pairs += list(zip(rec, gen))
        rec_all = _per_neuron(recorded, "per_neuron_all_neurons", metric, fold)
        gen_all = _per_neuron(entry, "per_neuron_all_neurons", metric, fold)
        match = _match(entry, fold, None if gen_all is None else gen_all.size)
        read = study.read_neurons
        if rec_all is None or gen_all is None or match is None or read is None:
            continue
        if match.max(initial=-1) >= rec_all.size:
            raise DataFormatError(f"tradeoff.json: matched_recorded_neuron[{fold}] names a neuron beyond the "
                                  f"{rec_all.size} recorded.")
        unread_pairs += [(rec_all[match[i]], gen_all[i]) for i in range(gen_all.size) if i not in read]
    return read_pairs, unread_pairs


def neuron_scatter_figure(study: TradeoffStudy) -> ReportFigure:
    """Per-neuron generated against recorded MI, modulation depth and firing rate, pooled over folds.

    Parameters
    ----------
    study :
        Needs the recording's and at least one generator's (RL w=0, RL with prior, SL) ``per_neuron`` lists.

    Returns
    -------
    figure :
        Named ``neuron_scatter``.
    """
    if "recorded" not in study.references:
        raise Absent("tradeoff.json has no `references.recorded` to compare single neurons with.")
    sources = [s for s in study.sources() if s[0] in ("rl_0", "rl_prior", "sl")]
    metrics = ("mutual_information", "modulation_depth", "firing_rate_hz")
    pairs = {(key, m): _neuron_pairs(study, entry, m) for key, _, entry in sources for m in metrics}
    if not any(read or unread for read, unread in pairs.values()):
        raise Absent("no generator has per-neuron values paired with the recording's.")
    figure, axes = grid_figure(1, 3, panel_size=(2.5, 2.5), margins=(0.6, 0.2, 0.3, 0.9), gaps=(0.6, 0.3))
    any_unread = False
    for ax, metric in zip(axes[0], metrics):
        everything = []
        for key, label, _ in sources:
            read, unread = pairs[key, metric]
            colour = _SOURCE_COLOURS[key]
            if read:
                ax.plot(*np.array(read).T, "o", ms=4, color=colour, alpha=0.8, label=label)
            if unread:
                any_unread = True
                ax.plot(*np.array(unread).T, "o", ms=4, mfc="none", mec=colour, alpha=0.6)
            everything += read + unread
        if everything:
            values = np.array(everything, dtype=float)
            low, high = np.nanmin(values), np.nanmax(values)
            ax.plot([low, high], [low, high], color="#888888", lw=0.8, ls=":")
        ax.set_xlabel(f"recorded {_LABELS[metric]}", fontsize=8)
        ax.set_ylabel(f"generated {_LABELS[metric]}", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if any_unread:
        handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="#555555"))
        labels.append("unread neuron, matched")
    figure.legend(handles, labels, loc="lower center", ncols=len(labels), fontsize=7, frameon=False)
    caption = (
        "Single neurons: each point is one generated neuron in one held-out fold (all folds pooled), its "
        "value plotted against that of the recorded neuron it stands for; points on the dotted identity line "
        "match the recording exactly. Filled points are the neurons the decoder reads."
    )
    if any_unread:
        caption += " Hollow points are the other generated neurons, paired with recorded ones. "
        caption += MATCHING_RULE
    return ReportFigure("neuron_scatter", "Generated against recorded, neuron by neuron", caption, figure)


def _cell(entry: dict[str, Any], metric: str) -> str:
    summary = _mean_sd(_metric(entry, metric))
    if summary is None:
        return "—"
    digits = 2 if metric in ("firing_rate_hz", "subspace_angle_deg") else 3
    return f"{summary[0]:.{digits}f} ± {summary[1]:.{digits}f}"


def points_table(study: TradeoffStudy) -> Table:
    """One row per RL prior weight and reference: each metric's mean ± sd over folds."""
    metrics = [m for m in _TABLE_METRICS if _has(study, m)]
    rows = []
    for name in ("recorded", "sl", "rl_paper", *[n for n in study.references if n not in ("recorded", "sl",
                                                                                           "rl_paper")]):
        if name in study.references:
            rows.append((_reference_label(name), "—", *(_cell(study.references[name], m) for m in metrics)))
    for point in study.points:
        label = point.get("label") or "RL"
        rows.append((str(label), f"{point['prior_weight']:g}", *(_cell(point, m) for m in metrics)))
    return Table(("method", "prior weight", *(_LABELS[m] for m in metrics)), tuple(rows))


def write_biomimicry_report(study_dir: str | os.PathLike[str], *, dpi: int = 100) -> dict[str, Path]:
    """Write ``figures/<name>.png``, ``report.md`` and ``report.html`` of a trade-off study, atomically.

    Figures whose inputs are missing (a reference method, a spike file) are left out and the page says why.

    Parameters
    ----------
    study_dir :
        A folder written by ``spikebridge biomimicry --out``; the report is written into it.
    dpi :
        Resolution of the PNG figures.

    Returns
    -------
    paths :
        ``{"html": ..., "markdown": ..., <figure name>: study_dir/figures/<figure name>.png, ...}`` with
        figure names ``tradeoff``, ``mi_modulation``, ``neuron_scatter``, ``embedding``,
        ``matched_rasters``, for those drawn.

    Raises
    ------
    DataFormatError
        If ``tradeoff.json`` is missing or malformed, or a spike file has the wrong layout.
    """
    study = load_tradeoff(study_dir)
    builders = [("trade-off", tradeoff_figure), ("MI and modulation bars", mi_modulation_bars_figure),
                ("per-neuron scatter", neuron_scatter_figure), ("embedding", embedding_figure),
                ("matched rasters", matched_raster_figure)]
    paths: dict[str, Path] = {}
    figure_blocks: list[FigureBlock] = []
    absent = []
    for description, build in builders:
        try:
            report_figure = build(study)
        except Absent as reason:
            absent.append(f"No {description} figure: {reason}")
            continue
        buffer = io.BytesIO()
        report_figure.figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        png = buffer.getvalue()
        path = study.study_dir / "figures" / f"{report_figure.name}.png"
        paths[report_figure.name] = atomic_write_bytes(path, png)
        figure_blocks.append(FigureBlock(len(figure_blocks) + 1, report_figure.title, report_figure.caption,
                                         f"figures/{report_figure.name}.png", png))
    title = "spikebridge biomimicry trade-off"
    spec = study.spec
    weights = ", ".join(f"{p['prior_weight']:g}" for p in study.points) or "none"
    blocks: list[Block] = [
        Heading(title, 1),
        Paragraph(
            f"Recording {spec.get('recording', '?')!s}, decoder {spec.get('decoder', '?')!s}, "
            f"{spec['n_folds']} cross-validation folds, seed {spec.get('seed', '?')}, generating "
            f"{'the whole downstream population' if study.population else 'the neurons the decoder reads'}. "
            f"RL generators were trained with the biomimetic prior at weights {weights}; weight 0 is RL "
            "without the prior. The prior never uses the subject's own downstream recordings: they serve "
            "only to score the held-out test trials, as here."
        ),
        Paragraph(f"Neuron matching: {MATCHING_RULE}" + ("" if study.population else
                  " In this study only the neurons the decoder reads are generated, so every one keeps its "
                  "identity.")),
    ]
    if absent:
        blocks += [Heading("What this report could not show"), BulletList(tuple(absent))]
    blocks += [Heading("Points of the study"),
               Paragraph("Mean ± standard deviation over the held-out folds. Success is the decoder's "
                         "accuracy on the generated spikes; MI, modulation depth, median PSTH correlation "
                         "and firing rate are means over the decoder-read neurons; population metrics cover "
                         "the whole generated population."),
               points_table(study)]
    if figure_blocks:
        blocks += [Heading("Figures"), *figure_blocks]
    paths["markdown"] = atomic_write_text(study.study_dir / "report.md", to_markdown(blocks))
    paths["html"] = atomic_write_text(study.study_dir / "report.html", to_html(blocks, title))
    return {"html": paths.pop("html"), "markdown": paths.pop("markdown"), **paths}
