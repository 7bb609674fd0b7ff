"""Figures drawn from the numbers of ``results.json``: learning curve, success per method, biomimicry scatter.

Like the spike figures, each builder returns a :class:`~spikebridge.report.ReportFigure` or raises
:class:`~spikebridge.report.Absent`. The biomimicry scatter falls back on ``arrays.npz`` when
``results.json`` has no per-neuron biomimicry.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics import firing_rate, mean_abs_modulation_depth, mutual_information
from spikebridge.report._common import COLOURS, Absent, ReportFigure, grid_figure, new_figure
from spikebridge.report._load import CEILINGS, RunData, method_label

__all__ = ["learning_curve_figure", "success_figure", "biomimicry_figure", "numbers"]

SUCCESS_METRICS = {
    "time_bin_success": "time-bin success",
    "trial_success": "trial success",
    "velocity_r2": "velocity R²",
}
"""Behaviour metrics drawn as bars, with their axis names."""

_EXTRA_COLOURS = ("#2ca02c", "#8c564b", "#e377c2", "#bcbd22")


def numbers(value: Any, *, finite: bool = True) -> NDArray[np.float64]:
    """Numbers in ``value`` (a number or a nested list), flattened; empty when there are none.

    With ``finite`` (default) NaN and infinite values are dropped; otherwise they are kept, so that two
    per-neuron lists stay aligned.
    """
    if isinstance(value, bool):
        return np.empty(0)
    if isinstance(value, (int, float)):
        return np.array([value], dtype=float) if np.isfinite(value) or not finite else np.empty(0)
    if isinstance(value, (list, tuple)) and value:
        return np.concatenate([numbers(v, finite=finite) for v in value])
    return np.empty(0)


def _colour(method: str, index: int) -> str:
    return COLOURS.get(method, _EXTRA_COLOURS[index % len(_EXTRA_COLOURS)])


def _moving_average(values: NDArray, window: int) -> NDArray:
    if window <= 1 or values.size < window:
        return values
    kernel = np.ones(window) / window
    core = np.convolve(values, kernel, mode="valid")
    return np.concatenate([np.full(window - 1, np.nan), core])


def _histories(results: dict) -> list[dict]:
    history = results.get("history")
    if isinstance(history, dict):
        return [history]
    if isinstance(history, list) and history and all(isinstance(h, dict) for h in history):
        return history
    raise Absent("results.json has no `history`, so there is no learning curve.")


def learning_curve_figure(run: RunData) -> ReportFigure:
    """Training reward and evaluation success against the training episode.

    Parameters
    ----------
    run :
        Needs ``results["history"]`` with ``train/reward`` and/or ``eval/*`` series (one dict, or one per
        fold). An ``eval/*`` series is placed at ``eval/episodes`` or, when as long, at ``episodes``.

    Returns
    -------
    figure :
        Named ``learning_curve``.
    """
    histories = _histories(run.results)
    rewards, evals, skipped = [], [], []
    for h in histories:
        episodes = numbers(h.get("episodes"))
        reward = numbers(h.get("train/reward"))
        if reward.size:
            x = episodes if episodes.size == reward.size else np.arange(reward.size, dtype=float)
            rewards.append((x, reward))
        eval_x = numbers(h.get("eval/episodes"))
        for key in sorted(k for k in h if k.startswith("eval/") and k != "eval/episodes"):
            y = numbers(h[key])
            if not y.size:
                continue
            if eval_x.size == y.size:
                evals.append((key, eval_x, y))
            elif episodes.size == y.size:
                evals.append((key, episodes, y))
            else:
                skipped.append(key)
    if not rewards and not evals:
        unplaced = f" ({', '.join(sorted(set(skipped)))} match neither `eval/episodes` nor `episodes`)"
        raise Absent("results.json `history` has no `train/reward` or `eval/...` values to plot"
                     + (unplaced if skipped else "") + ".")
    n_panels = int(bool(rewards)) + int(bool(evals))
    figure = new_figure(6.4, 2.1 * n_panels + 0.5)
    axes = list(figure.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0])
    if rewards:
        ax = axes.pop(0)
        for fold, (x, reward) in enumerate(rewards):
            window = max(1, reward.size // 20)
            ax.plot(x, reward, color=COLOURS["rl"], alpha=0.25, linewidth=0.7)
            ax.plot(x, _moving_average(reward, window), color=COLOURS["rl"], linewidth=1.5,
                    label="training reward (running mean)" if fold == 0 else None)
        ax.set_ylabel("training reward", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        ax.tick_params(labelsize=7)
    if evals:
        ax = axes.pop(0)
        seen: set[str] = set()
        eval_keys = sorted({key for key, *_ in evals})
        for key, x, y in evals:
            colour = COLOURS["rl"] if key == "eval/success" else _colour(key, eval_keys.index(key))
            ax.plot(x, y, marker="o", markersize=3, linewidth=1.1, color=colour,
                    label=None if key in seen else key)
            seen.add(key)
        ceiling = numbers(run.methods.get("recorded", {}).get("time_bin_success"))
        if ceiling.size and "eval/success" in seen:
            ax.axhline(ceiling.mean(), color=COLOURS["recorded"], linestyle="--", linewidth=1,
                       label="healthy spikes through the decoder (test)")
        ax.set_ylabel("evaluation", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
        ax.tick_params(labelsize=7)
    figure.axes[-1].set_xlabel("training episode (one update of the generator)", fontsize=8)
    caption = (
        "How the RL generator learned. "
        + ("Top: the training reward, the fraction of labelled time bins in each training batch that the "
           "decoder read as the right behaviour from the generated spikes (thin line: every episode; thick "
           "line: running mean). " if rewards else "")
        + ("Bottom: the scores the trainer logged on its evaluation trials during training ("
           + ", ".join(sorted({key for key, *_ in evals})) + "); the dashed line, when shown, is the test "
           "success of the healthy spikes through the same decoder, the practical ceiling. " if evals else "")
        + "A curve that rises and then flattens means training converged; one that falls late suggests "
          "over-training or instability."
    )
    if len(histories) > 1:
        caption += f" One line per fold ({len(histories)} folds)."
    if skipped:
        caption += (f" Not drawn: {', '.join(sorted(set(skipped)))}, whose length matches neither "
                    "`eval/episodes` nor `episodes`.")
    return ReportFigure("learning_curve", "Learning curve", caption, figure)


def success_figure(run: RunData) -> ReportFigure:
    """Behaviour restored by each method (mean ± sd over folds), with the ceilings as dashed lines.

    Parameters
    ----------
    run :
        Needs ``results["methods"]`` with ``time_bin_success`` / ``trial_success`` (lever) or
        ``velocity_r2`` (reach). ``results["published"]``, when present, is drawn as hatched bars.

    Returns
    -------
    figure :
        Named ``success``.
    """
    methods = run.methods
    metrics = [m for m in SUCCESS_METRICS if any(numbers(v.get(m)).size for v in methods.values())]
    if not metrics:
        raise Absent("results.json `methods` has no success rate or velocity R² to compare.")
    bars: list[tuple[str, str, dict, bool]] = [
        (name, method_label(name), values, False) for name, values in methods.items() if name not in CEILINGS
    ]
    published = run.results.get("published")
    if isinstance(published, dict):
        bars += [(name, f"{method_label(name)}, published", values, True)
                 for name, values in published.items() if isinstance(values, dict)]
    ceilings = [(name, methods[name]) for name in CEILINGS if name in methods]
    figure = new_figure(max(4.8, 1.0 + 0.75 * len(bars) * len(metrics)), 3.6)
    ax = figure.subplots()
    width = 0.8 / max(1, len(bars))
    low = 0.0
    rng = np.random.default_rng(0)  # jitter of the per-fold dots only
    drawn: set[str] = set()
    for group, metric in enumerate(metrics):
        for index, (name, label, values, hatched) in enumerate(bars):
            y = numbers(values.get(metric))
            if not y.size:
                continue
            x = group - 0.4 + width * (index + 0.5)
            colour = _colour(name, index)
            sd = y.std(ddof=1) if y.size > 1 else 0.0
            ax.bar(x, y.mean(), width * 0.9, yerr=sd if y.size > 1 else None, capsize=3,
                   color="white" if hatched else colour, edgecolor=colour, hatch="///" if hatched else None,
                   label=None if label in drawn else label)
            drawn.add(label)
            ax.scatter(x + rng.uniform(-0.2, 0.2, y.size) * width, y, s=9, color="#333333", zorder=3)
            ax.text(x, max(y.mean() + sd, y.max()) + 0.015, f"{y.mean():.2f}", ha="center", va="bottom",
                    fontsize=7)
            low = min(low, float(y.min()))
        for name, values in ceilings:
            y = numbers(values.get(metric))
            if not y.size:
                continue
            label = method_label(name)
            ax.hlines(y.mean(), group - 0.45, group + 0.45, color=COLOURS[name],
                      linestyle="--" if name == "recorded" else ":", linewidth=1.6,
                      label=None if label in drawn else label)
            ax.text(group + 0.45, y.mean() + 0.008, f"{y.mean():.2f}", ha="right", va="bottom", fontsize=7,
                    color=COLOURS[name])
            drawn.add(label)
    ax.set_xticks(range(len(metrics)), [SUCCESS_METRICS[m] for m in metrics], fontsize=8)
    ax.set_ylim(min(0.0, low - 0.1), 1.08)
    ax.set_ylabel("score on held-out trials", fontsize=8)
    ax.tick_params(labelsize=7)
    figure.legend(fontsize=7, frameon=False, loc="outside right upper")
    reach = "velocity_r2" in metrics
    caption = (
        "How well each method restores the behaviour, scored on held-out test trials: the generated spikes "
        "go through the same fixed decoder, and the decoded behaviour is compared with what the animal did. "
        + ("Velocity R² is the fraction of the variance of the hand velocity that the decoded velocity "
           "explains (1 = perfect, 0 = no better than the mean velocity). " if reach else "")
        + ("Time-bin success is the fraction of labelled time bins decoded as the right behaviour; trial "
           "success is the fraction of trials with more than 70% of their bins right. "
           if {"time_bin_success", "trial_success"} & set(metrics) else "")
        + "Bars are the mean over cross-validation folds, error bars one standard deviation, dots single "
          "folds. Dashed line: the healthy spikes through the same decoder, the best a perfect generator "
          "could do. Dotted line, when present: a classifier reading the behaviour straight from the "
          "upstream activity, the most behaviour information the generators' input holds."
    )
    if isinstance(published, dict):
        caption += " Hatched bars are the paper's published numbers for the same recording."
    return ReportFigure("success", "Behaviour restored per method", caption, figure)


def _biomimicry_from_results(run: RunData) -> dict[str, dict[str, tuple[NDArray, NDArray]]]:
    bio = run.results.get("biomimicry")
    if not isinstance(bio, dict) or not isinstance(bio.get("recorded"), dict):
        return {}
    out: dict[str, dict[str, tuple[NDArray, NDArray]]] = {}
    def per_neuron(values: dict, key: str) -> NDArray:
        lists = values.get("per_neuron")
        return numbers(lists.get(key) if isinstance(lists, dict) else None, finite=False)

    for key in ("modulation_depth", "mutual_information", "firing_rate_hz"):
        truth = per_neuron(bio["recorded"], key)
        for name, values in bio.items():
            if name == "recorded" or not isinstance(values, dict):
                continue
            generated = per_neuron(values, key)
            both = np.isfinite(truth) & np.isfinite(generated) if generated.size == truth.size else None
            if both is not None and both.any():
                out.setdefault(key, {})[name] = (truth[both], generated[both])
    return out


def _biomimicry_from_arrays(run: RunData) -> dict[str, dict[str, tuple[NDArray, NDArray]]]:
    a = run.arrays
    if "true_downstream" not in a or "labels" not in a:
        return {}
    truth, labels = a["true_downstream"], a["labels"]
    generated = {key: a[f"{key}_spikes"] for key in ("rl", "sl") if f"{key}_spikes" in a}
    out: dict[str, dict[str, tuple[NDArray, NDArray]]] = {}
    classes = np.unique(labels[labels > 0]).tolist()
    scale = 1.0 if run.bin_size is None else 1.0 / run.bin_size
    try:
        if len(classes) >= 2:
            contrasts = list(combinations(classes, 2))
            true_depth = scale * mean_abs_modulation_depth(truth, labels, contrasts=contrasts)
            for key, spikes in generated.items():
                out.setdefault("modulation_depth", {})[key] = (
                    true_depth, scale * mean_abs_modulation_depth(spikes, labels, contrasts=contrasts))
        true_information = mutual_information(truth, labels)
        for key, spikes in generated.items():
            sampled = np.mean([mutual_information(s, labels) for s in spikes], axis=0)
            out.setdefault("mutual_information", {})[key] = (true_information, sampled)
        if run.bin_size is not None:
            true_rate = firing_rate(truth, run.bin_size)
            for key, spikes in generated.items():
                out.setdefault("firing_rate_hz", {})[key] = (true_rate, firing_rate(spikes, run.bin_size))
    except DataFormatError:
        return out
    return out


_PANELS = {
    "modulation_depth": "modulation depth",
    "mutual_information": "mutual information with behaviour (bits)",
    "firing_rate_hz": "mean firing rate (spikes/s)",
}


def biomimicry_figure(run: RunData) -> ReportFigure:
    """Per-neuron modulation depth, mutual information and firing rate: generated against healthy truth.

    Parameters
    ----------
    run :
        Uses ``results["biomimicry"]`` (the reported values, all folds) where it has per-neuron lists for
        ``recorded`` and a generator; otherwise computes them from ``arrays.npz``.

    Returns
    -------
    figure :
        Named ``biomimicry``.
    """
    panels = _biomimicry_from_results(run)
    source = "results.json (the values reported for this run)"
    names = dict(_PANELS)
    if not panels:
        panels = _biomimicry_from_arrays(run)
        source = ("the held-out spikes of arrays.npz (generated values averaged over sampled spike trains; "
                  "modulation depth is the mean absolute rate difference over every pair of behaviours)")
        names["modulation_depth"] += " (spikes/s)" if run.bin_size is not None else " (spikes/bin)"
    if not panels:
        raise Absent("neither results.json `biomimicry` nor arrays.npz has per-neuron values for the truth "
                     "and a generator.")
    keys = [k for k in _PANELS if k in panels]
    figure, axes = grid_figure(1, len(keys), panel_size=(2.5, 2.5), margins=(0.6, 0.15, 0.3, 0.5),
                               gaps=(0.65, 0.3))
    axes = axes[0]
    for ax, key in zip(axes, keys):
        everything = np.concatenate([np.concatenate(pair) for pair in panels[key].values()])
        low, high = float(everything.min()), float(everything.max())
        pad = 0.05 * (high - low) if high > low else 0.1 * max(abs(high), 1e-3)
        for index, (name, (truth, generated)) in enumerate(panels[key].items()):
            ax.scatter(truth, generated, s=22, color=_colour(name, index), alpha=0.8,
                       edgecolor="white", linewidth=0.5, label=method_label(name))
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="#888888", linewidth=0.8,
                linestyle="--", label="identity (generated = truth)")
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_title(names[key], fontsize=8)
        ax.set_xlabel("healthy truth", fontsize=8)
        ax.set_ylabel("generated", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7, frameon=False)
    caption = (
        "Does each generated neuron behave like the healthy neuron it stands in for? Each dot is one "
        "decoder-read neuron (or one neuron and one pair of behaviours, where several pairs are listed); its "
        "x position is the healthy truth and its y position the generated value. Dots on the dashed identity "
        "line match the biology; dots far above it exaggerate. Modulation depth is how much the mean firing "
        "rate changes between behaviours; mutual information (in bits) is how much the neuron's smoothed "
        "rate tells about the behaviour; the mean firing rate shows whether a generator drives a neuron at a "
        "physiological rate. High decoding success with points far above the line means the generator found "
        f"a non-biological way to drive the decoder. Values come from {source}."
    )
    return ReportFigure("biomimicry", "Biomimicry per neuron", caption, figure)
