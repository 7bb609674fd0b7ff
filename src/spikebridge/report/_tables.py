"""Tables of every number in ``results.json``: run facts, behaviour, biomimicry, history and the rest."""

from __future__ import annotations

from typing import Any

import numpy as np

from spikebridge.report._document import Table
from spikebridge.report._load import RunData, method_label
from spikebridge.report.summary_figures import SUCCESS_METRICS, numbers

__all__ = ["fmt", "run_table", "method_tables", "biomimicry_tables", "history_table", "other_table",
           "KNOWN_KEYS"]

KNOWN_KEYS = ("task", "command", "seed", "wall_seconds", "recording", "created", "methods", "published",
              "biomimicry", "history", "notes")
"""Top-level keys of ``results.json`` with a table or section of their own."""

_METRIC_NAMES = {**SUCCESS_METRICS, "train_seconds": "training time (s)"}
_BIOMIMICRY_NAMES = {
    "psth_correlation_median": "PSTH correlation, median over neurons",
    "psth_correlation": "PSTH correlation",
    "modulation_depth": "modulation depth",
    "mutual_information": "mutual information (bits)",
    "firing_rate_hz": "firing rate (spikes/s)",
    "isi_cv": "ISI coefficient of variation",
    "fano_factor": "Fano factor",
    "pairwise_correlation": "pairwise count correlation (population)",
    "participation_ratio": "participation ratio (population)",
    "subspace_angle_deg": "PCA subspace angle to the recording, degrees (population)",
}


def fmt(value: Any) -> str:
    """Format a number with 3 significant digits (integers in full); anything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not np.isfinite(value):
            return str(value)
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.3g}"
        return f"{value:.2e}"
    return str(value)


def _summary(values: Any, unit: str) -> str:
    """``mean ± sd (n units)`` of a list, the value of a single number, or ``—``."""
    arr = numbers(values)
    if arr.size == 0:
        return "—"
    if arr.size == 1:
        return fmt(float(arr[0]))
    return f"{fmt(arr.mean())} ± {fmt(arr.std(ddof=1))} ({arr.size} {unit})"


def _ordered_keys(entries: list[dict], preferred: list[str]) -> list[str]:
    seen = [k for k in preferred if any(k in e for e in entries)]
    for entry in entries:
        seen += [k for k in entry if k not in seen]
    return seen


def run_table(run: RunData) -> Table:
    """Tabulate what produced this run: task, recording, command, seed, wall time, and test-set sizes."""
    r = run.results
    rows = [("task", str(run.task))]
    for key, label in (("recording", "recording"), ("command", "command"), ("seed", "seed"),
                       ("wall_seconds", "wall time (s)"), ("created", "created")):
        if key in r:
            rows.append((label, fmt(r[key])))
        elif key in ("command", "seed"):
            rows.append((label, "not recorded in results.json"))
    a = run.arrays
    if run.bin_size is not None:
        rows.append(("bin size", f"{1000 * run.bin_size:g} ms"))
    if "trial_ids" in a:
        n_trials = np.unique(a["trial_ids"][(a["trial_ids"] >= 0) & (a["labels"] > 0)]).size
        rows.append(("held-out trials in arrays.npz", str(n_trials)))
    if "labels" in a:
        rows.append(("time bins in arrays.npz", str(a["labels"].size)))
    for key, label in (("true_downstream", "decoder-read downstream neurons"),
                       ("upstream", "upstream neurons")):
        if key in a:
            rows.append((label, str(a[key].shape[1])))
    for key in ("rl_spikes", "sl_spikes"):
        if key in a:
            rows.append((f"sampled spike trains ({key.split('_')[0].upper()})", str(a[key].shape[0])))
    return Table(("", "value"), tuple(rows))


def method_tables(run: RunData) -> list[Table]:
    """Mean ± sd over folds per method and metric, then every per-fold value."""
    entries: list[tuple[str, dict]] = [(method_label(name), values) for name, values in run.methods.items()]
    published = run.results.get("published")
    if isinstance(published, dict):
        entries += [(f"{method_label(name)}, published", values) for name, values in published.items()
                    if isinstance(values, dict)]
    if not entries:
        return []
    keys = _ordered_keys([e for _, e in entries], [*SUCCESS_METRICS, "train_seconds"])
    summary = Table(
        ("method", *(_METRIC_NAMES.get(k, k) for k in keys)),
        tuple((label, *(_summary(values.get(k), "folds") for k in keys)) for label, values in entries),
    )
    per_fold = [(label, _METRIC_NAMES.get(k, k), numbers(values[k])) for label, values in entries
                for k in keys if k in values and numbers(values[k]).size]
    n_folds = max((v.size for *_, v in per_fold), default=0)
    folds = Table(
        ("method", "metric", *(f"fold {i + 1}" for i in range(n_folds))),
        tuple((label, metric, *(fmt(float(x)) for x in v)) for label, metric, v in per_fold),
    )
    return [summary, folds]


def biomimicry_tables(run: RunData) -> list[Table]:
    """Each biomimicry quantity (rows) per method (columns), then every per-neuron value.

    A quantity is a mean over neurons: one number (one run) or one per fold (shown as mean ± sd over
    folds). ``per_neuron`` lists feed the second table; ``*_all_neurons`` entries (the whole generated
    population) get rows of their own.
    """
    bio = run.results.get("biomimicry")
    if not isinstance(bio, dict):
        return []
    entries = [("Healthy truth (recorded)" if name == "recorded" else method_label(name), values)
               for name, values in bio.items() if isinstance(values, dict)]
    if not entries:
        return []
    keys = _ordered_keys([e for _, e in entries], list(_BIOMIMICRY_NAMES))
    keys = [k for k in keys if not k.startswith(("per_neuron", "matched_"))]

    def name(key: str) -> str:
        base = key.removesuffix("_all_neurons")
        label = _BIOMIMICRY_NAMES.get(base, base)
        return f"{label}, whole population" if key != base else label

    summary = Table(
        ("quantity", *(label for label, _ in entries)),
        tuple((name(k), *(_summary(values.get(k), "folds") for _, values in entries)) for k in keys),
    )
    rows = []
    for label, values in entries:
        per_neuron = values.get("per_neuron")
        for k, v in (per_neuron.items() if isinstance(per_neuron, dict) else ()):
            arr = numbers(v, finite=False)
            if arr.size > 1:
                rows.append((label, _BIOMIMICRY_NAMES.get(k, k), ", ".join(fmt(float(x)) for x in arr)))
    if not rows:
        return [summary]
    return [summary, Table(("method", "quantity", "values, neuron by neuron (fold after fold)"), tuple(rows))]


def history_table(run: RunData) -> Table | None:
    """Each logged series: how many values, first, last, smallest and largest."""
    history = run.results.get("history")
    histories = [history] if isinstance(history, dict) else history if isinstance(history, list) else []
    rows = []
    for fold, h in enumerate(histories):
        if not isinstance(h, dict):
            continue
        for key, value in h.items():
            arr = numbers(value)
            if not arr.size:
                continue
            name = key if len(histories) == 1 else f"fold {fold + 1}: {key}"
            rows.append((name, str(arr.size), fmt(float(arr[0])), fmt(float(arr[-1])), fmt(float(arr.min())),
                         fmt(float(arr.max()))))
    if not rows:
        return None
    return Table(("series", "values", "first", "last", "smallest", "largest"), tuple(rows))


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, rows)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, rows)
    elif isinstance(value, list):
        arr = numbers(value)
        if arr.size == len(value) and arr.size > 20:
            rows.append((prefix, f"{arr.size} numbers from {fmt(arr.min())} to {fmt(arr.max())}, "
                                 f"mean {fmt(arr.mean())}"))
        else:
            rows.append((prefix, ", ".join(fmt(v) for v in value) if value else "(empty)"))
    else:
        rows.append((prefix, fmt(value)))


def other_table(run: RunData) -> Table | None:
    """Every remaining top-level entry of ``results.json`` (configuration, folds, ...), flattened."""
    rows: list[tuple[str, str]] = []
    for key, value in run.results.items():
        if key not in KNOWN_KEYS:
            _flatten(str(key), value, rows)
    return Table(("key", "value"), tuple(rows)) if rows else None
