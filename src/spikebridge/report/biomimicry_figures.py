"""Figures and page of a biomimicry trade-off study (``spikebridge biomimicry``), read from its directory.

The study directory holds ``tradeoff.json`` (one entry per RL prior weight, plus the reference methods) and,
per entry and fold, the scored test spikes ``<run_dir>/fold_<k>/<method>_test_spikes.npz``. Each figure
builder takes a :class:`TradeoffStudy` and returns a :class:`~spikebridge.report.ReportFigure`, or raises
:class:`~spikebridge.report.Absent` naming what the study lacks; malformed input raises
:class:`~spikebridge.exceptions.DataFormatError`. Builders only read; :func:`write_biomimicry_report` writes.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from numpy.typing import NDArray

from spikebridge._io import atomic_write_bytes, atomic_write_text
from spikebridge.exceptions import DataFormatError
from spikebridge.report._common import (
    COLOURS,
    Absent,
    ReportFigure,
    class_colours,
    grid_figure,
    label_colormap,
)
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

MATCHING_RULE = (
    "Neurons the decoder reads keep their identity; the others are paired with recorded neurons by a "
    "Hungarian assignment maximising the correlation of class PSTHs on the training trials."
)
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
_SOURCE_COLOURS = {"recorded": COLOURS["recorded"], "rl_0": "#756bb1", "rl_prior": COLOURS["rl"],
                   "sl": COLOURS["sl"], "rl_paper": COLOURS["rl_paper"]}


class _StudyNotFound(DataFormatError, FileNotFoundError):
    """The study directory or its ``tradeoff.json`` does not exist."""


@dataclass(frozen=True)
class SpikeFile:
    """Scored test spikes of one method and fold.

    Attributes
    ----------
    spikes :
        Shape ``(n_samples, n_bins, n_neurons)``; the recording has ``n_samples = 1``.
    labels, trial_ids :
        Shape ``(n_bins,)``; label 0 is unlabelled, classes are ``1..n_classes``.
    """

    spikes: NDArray
    labels: NDArray[np.int64]
    trial_ids: NDArray[np.int64]


@dataclass(frozen=True)
class TradeoffStudy:
    """A checked ``tradeoff.json`` and the folder it describes.

    Attributes
    ----------
    study_dir :
        The study directory.
    spec :
        The parsed ``tradeoff.json``.
    points :
        The RL entries, sorted by ``prior_weight``.
    references :
        ``recorded``, ``sl``, ``rl_paper`` entries, those present.
    """

    study_dir: Path
    spec: dict[str, Any]
    points: tuple[dict[str, Any], ...]
    references: dict[str, dict[str, Any]]

    @property
    def population(self) -> bool:
        """Whether the whole population was generated (``generate == "all"``)."""
        return self.spec.get("generate") == "all"

    def point(self, weight: float | None) -> dict[str, Any] | None:
        """The RL entry of prior weight ``weight``, or None."""
        if weight is None:
            return None
        return next((p for p in self.points if np.isclose(p["prior_weight"], weight)), None)

    def sources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(key, label, entry)`` of the recording, RL without and with the prior, SL and the paper's RL."""
        highlight = self.spec.get("highlight_weight")
        candidates = [
            ("recorded", "recorded", self.references.get("recorded")),
            ("rl_0", "RL, no prior (w=0)", self.point(0.0)),
            ("rl_prior", f"RL with prior (w={highlight:g})" if _is_number(highlight) else "RL with prior",
             None if _is_number(highlight) and np.isclose(highlight, 0.0) else self.point(highlight)),
            ("sl", "SL", self.references.get("sl")),
            ("rl_paper", "paper's RL", self.references.get("rl_paper")),
        ]
        return [(key, label, entry) for key, label, entry in candidates if entry is not None]

    def test_spikes(self, entry: dict[str, Any], fold: int) -> SpikeFile:
        """Load and check ``<run_dir>/fold_<fold>/<method>_test_spikes.npz`` of one entry.

        Raises
        ------
        Absent
            If the file does not exist.
        DataFormatError
            If it cannot be read or its arrays have the wrong shapes.
        """
        path = self.study_dir / entry["run_dir"] / f"fold_{fold}" / f"{entry['method']}_test_spikes.npz"
        if not path.is_file():
            raise Absent(f"{path.relative_to(self.study_dir)} is absent.")
        try:
            with np.load(path, allow_pickle=False) as npz:
                raw = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise DataFormatError(
                f"{path} could not be read ({error}). Re-run `spikebridge biomimicry`."
            ) from error
        missing = [k for k in ("spikes", "labels", "trial_ids") if k not in raw]
        if missing:
            raise DataFormatError(f"{path} lacks {missing}; it needs `spikes`, `labels` and `trial_ids`.")
        spikes, labels, trial_ids = raw["spikes"], raw["labels"], raw["trial_ids"]
        if spikes.ndim == 2:
            spikes = spikes[None]
        if (labels.ndim != 1 or spikes.ndim != 3 or spikes.shape[1] != labels.size
                or trial_ids.shape != labels.shape):
            raise DataFormatError(
                f"{path}: `spikes` must have shape (n_samples, n_bins, n_neurons) and `labels`, `trial_ids` "
                f"shape (n_bins,); got {raw['spikes'].shape}, {labels.shape} and {trial_ids.shape}."
            )
        if not (np.issubdtype(labels.dtype, np.integer) and np.issubdtype(trial_ids.dtype, np.integer)):
            raise DataFormatError(f"{path}: `labels` and `trial_ids` must be integers; got {labels.dtype}, "
                                  f"{trial_ids.dtype}.")
        return SpikeFile(spikes, labels.astype(np.int64), trial_ids.astype(np.int64))

    @cached_property
    def bin_size(self) -> float | None:
        """Seconds per bin: ``tradeoff.json``'s ``bin_size``, else inferred from the recording's rates."""
        if _is_number(self.spec.get("bin_size")) and self.spec["bin_size"] > 0:
            return float(self.spec["bin_size"])
        recorded = self.references.get("recorded")
        if recorded is None:
            return None
        try:
            counts = self.test_spikes(recorded, 0).spikes.mean(axis=(0, 1))
        except Absent:
            return None
        bio = recorded["biomimicry"]
        rates = (bio.get("per_neuron_all_neurons", {}).get("firing_rate_hz")
                 or bio.get("per_neuron", {}).get("firing_rate_hz"))
        if not rates or len(rates[0]) != counts.size:
            return None
        rates = np.asarray(rates[0], dtype=float)
        ratios = counts[rates > 0] / rates[rates > 0]
        return float(f"{np.median(ratios):.4g}") if ratios.size else None

    @cached_property
    def read_neurons(self) -> list[int] | None:
        """Recorded indices of the neurons the decoder reads (``generate == "all"``), or None if unknown."""
        config = self.spec.get("config")
        reproduce = config.get("reproduce") if isinstance(config, dict) else None
        for given in (self.spec.get("read_neurons"), self.spec.get("decoder_neurons"),
                      reproduce.get("decoder_neurons") if isinstance(reproduce, dict) else None):
            if isinstance(given, list) and all(_is_number(i) for i in given):
                return [int(i) for i in given]
        recorded = self.references.get("recorded")
        if not self.population:
            return None
        try:  # the read neurons' rates reappear, bit for bit, among the whole population's
            bio = recorded["biomimicry"]  # type: ignore[index]
            read = np.asarray(bio["per_neuron"]["firing_rate_hz"][0], dtype=float)
            everyone = np.asarray(bio["per_neuron_all_neurons"]["firing_rate_hz"][0], dtype=float)
        except (TypeError, KeyError, IndexError, ValueError):
            return None
        found = [np.flatnonzero(np.isclose(everyone, r, rtol=1e-12, atol=0)) for r in read]
        return [int(f[0]) for f in found] if all(f.size == 1 for f in found) else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_entry(entry: object, where: str, n_folds: int) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("run_dir"), str):
        raise DataFormatError(
            f"tradeoff.json: {where} must be an object with a `run_dir` string; got {entry!r:.80}."
        )
    for metric in ("time_bin_success", "trial_success"):
        if entry.get(metric) is not None:  # a velocity task has no trial success
            _fold_array(entry[metric], f"{where}.{metric}", n_folds)
    bio = entry.setdefault("biomimicry", {})
    if not isinstance(bio, dict):
        raise DataFormatError(
            f"tradeoff.json: {where}.biomimicry must be an object; got {type(bio).__name__}."
        )
    for metric, values in bio.items():
        if not isinstance(values, dict) and not metric.startswith(("per_neuron", "matched_recorded_neuron")):
            _fold_array(values, f"{where}.biomimicry.{metric}", n_folds)
    return entry


def _fold_array(values: object, where: str, n_folds: int) -> NDArray[np.float64]:
    try:
        arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)  # type: ignore
    except (TypeError, ValueError):
        arr = np.empty((0, 0))
    if arr.ndim != 1 or arr.size != n_folds:
        raise DataFormatError(f"tradeoff.json: `{where}` must be a list of {n_folds} numbers, one per fold; "
                              f"got {values!r:.80}.")
    return arr


def load_tradeoff(study_dir: str | os.PathLike[str]) -> TradeoffStudy:
    """Read and check ``tradeoff.json`` of a study directory; never writes.

    Parameters
    ----------
    study_dir :
        A folder written by ``spikebridge biomimicry --out``.

    Returns
    -------
    study :
        The checked study; spike files are read later, by the figures that need them.

    Raises
    ------
    DataFormatError
        If the folder or ``tradeoff.json`` is missing (the error is also a :class:`FileNotFoundError`), or
        ``tradeoff.json`` is not valid JSON of the expected layout.
    """
    study_dir = Path(study_dir)
    path = study_dir / "tradeoff.json"
    if not path.is_file():
        raise _StudyNotFound(f"{path} does not exist. Run `spikebridge biomimicry --out {study_dir}` first.")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFormatError(
            f"{path} is not valid JSON ({error}). Re-run `spikebridge biomimicry`."
        ) from error
    if not isinstance(spec, dict) or not isinstance(spec.get("points"), list):
        raise DataFormatError(f"{path} must be a JSON object with a `points` list.")
    n_folds = spec.get("n_folds")
    if not isinstance(n_folds, int) or isinstance(n_folds, bool) or n_folds < 1:
        raise DataFormatError(f"tradeoff.json: `n_folds` must be a positive integer; got {n_folds!r}.")
    points = []
    for i, point in enumerate(spec["points"]):
        point = _check_entry(point, f"points[{i}]", n_folds)
        if not _is_number(point.get("prior_weight")):
            raise DataFormatError(f"tradeoff.json: points[{i}].prior_weight must be a number; got "
                                  f"{point.get('prior_weight')!r}.")
        point.setdefault("method", "rl")
        points.append(point)
    references = spec.get("references", {})
    if not isinstance(references, dict):
        raise DataFormatError("tradeoff.json: `references` must be an object {name: entry}.")
    checked = {}
    for name, entry in references.items():
        checked[name] = _check_entry(entry, f"references.{name}", n_folds)
        checked[name].setdefault("method", name)
    return TradeoffStudy(study_dir, spec, tuple(sorted(points, key=lambda p: p["prior_weight"])), checked)


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


def _match(entry: dict[str, Any], fold: int, n_outputs: int | None) -> NDArray[np.int64] | None:
    """Recorded neuron of each generated output in one fold, or None where the entry gives none."""
    matches = entry["biomimicry"].get("matched_recorded_neuron")
    if matches is None or fold >= len(matches):
        return None
    match = np.asarray(matches[fold])
    wrong_size = n_outputs is not None and match.size != n_outputs
    if match.ndim != 1 or not np.issubdtype(match.dtype, np.integer) or wrong_size:
        raise DataFormatError(
            f"tradeoff.json: matched_recorded_neuron[{fold}] of {entry['run_dir']!r} must list one recorded "
            f"index per generated output ({n_outputs}); got {matches[fold]!r:.80}."
        )
    return match.astype(np.int64)


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
