"""Read a run directory (``results.json``, optionally ``arrays.npz``) into one checked :class:`RunData`."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError

__all__ = ["RunData", "load_run", "CEILINGS", "method_label"]

CEILINGS = ("recorded", "upstream_ceiling")
"""Methods that are reference levels, not generators: healthy spikes, and upstream activity read directly."""

_METHOD_LABELS = {
    "rl": "RL",
    "rl_paper": "RL (paper's algorithm)",
    "sl": "SL (supervised baseline)",
    "recorded": "Healthy spikes (ceiling)",
    "class_rate_code": "Recorded class rates, true class (ceiling at recorded modulation)",
    "upstream_ceiling": "Upstream-only classifier (ceiling)",
}


def method_label(name: str) -> str:
    """Plain-language name of a method key of ``results.json`` (unknown keys are returned unchanged)."""
    return _METHOD_LABELS.get(name, name)


@dataclass(frozen=True)
class RunData:
    """Everything a report reads from one run directory.

    Attributes
    ----------
    run_dir :
        The run directory.
    results :
        The parsed ``results.json`` (a JSON object).
    arrays :
        The arrays of ``arrays.npz`` that passed their shape checks, by name; empty when the file is absent.
    absent :
        One plain-language line per missing or unusable piece (a file, an array, a key).
    """

    run_dir: Path
    results: dict[str, Any]
    arrays: dict[str, NDArray] = field(default_factory=dict)
    absent: tuple[str, ...] = ()

    @property
    def task(self) -> str:
        """``"lever"`` or ``"reach"``: as ``results.json`` states, else guessed from the metrics present."""
        task = self.results.get("task")
        if isinstance(task, str) and task:
            return task
        methods = self.methods
        return "reach" if any("velocity_r2" in m for m in methods.values()) else "lever"

    @property
    def methods(self) -> dict[str, dict[str, Any]]:
        """``results["methods"]`` with every entry a dict (anything else is left out)."""
        methods = self.results.get("methods")
        if not isinstance(methods, dict):
            return {}
        return {name: value for name, value in methods.items() if isinstance(value, dict)}

    @property
    def bin_size(self) -> float | None:
        """Bin width in seconds, or None when ``arrays.npz`` does not give one."""
        value = self.arrays.get("bin_size")
        return None if value is None else float(value)

    def class_name(self, label: int) -> str:
        """Name of behaviour class ``label`` (>= 1) from ``class_names``, else ``"class <label>"``.

        ``class_names[0]`` names class 1, unless it names the unlabelled bins (``"unlabelled"``, ``"none"``,
        ...), in which case ``class_names[label]`` names class ``label``.
        """
        names = self.arrays.get("class_names")
        if names is not None and len(names):
            offset = 0 if str(names[0]).strip().lower() in _UNLABELLED_NAMES else 1
            if 0 <= label - offset < len(names) and label >= 1:
                return str(names[label - offset])
        return f"class {label}"


_UNLABELLED_NAMES = {"unlabelled", "unlabeled", "none", "", "0", "-", "n/a"}


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read ``results.json`` and, if present, ``arrays.npz`` from a run directory; never writes.

    Parameters
    ----------
    run_dir :
        A folder written by a spikebridge run.

    Returns
    -------
    run :
        The parsed results and the arrays that passed their checks; whatever is missing or malformed in
        ``arrays.npz`` is left out and described in ``run.absent``.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` or ``run_dir/results.json`` does not exist.
    DataFormatError
        If ``results.json`` is not valid JSON or not a JSON object.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"Run directory {run_dir} does not exist. Pass the folder a run wrote into.")
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(
            f"{results_path} does not exist. A report needs the run's results.json; run the experiment "
            "first (for example `spikebridge reproduce --out <run_dir>`)."
        )
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFormatError(
            f"{results_path} is not valid JSON ({error}). Re-run the experiment."
        ) from error
    if not isinstance(results, dict):
        raise DataFormatError(
            f"{results_path} must hold a JSON object ({{...}}); got a JSON {type(results).__name__}."
        )
    absent = []
    if not isinstance(results.get("methods"), dict):
        absent.append("results.json has no `methods` object, so there are no success rates to show.")
    arrays, array_notes = _load_arrays(run_dir / "arrays.npz")
    return RunData(run_dir=run_dir, results=results, arrays=arrays, absent=tuple(absent + array_notes))


def _load_arrays(path: Path) -> tuple[dict[str, NDArray], list[str]]:
    if not path.is_file():
        return {}, [f"{path.name} is absent: no spike rasters, PSTHs or velocity traces could be drawn."]
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        return {}, [f"{path.name} could not be read ({error}); the figures that need it are left out."]
    return _check_arrays(raw, path.name)


def _check_arrays(raw: dict[str, NDArray], file_name: str) -> tuple[dict[str, NDArray], list[str]]:
    """Keep the arrays whose shapes agree with ``labels`` and ``true_downstream``; note the rest."""
    notes: list[str] = []
    kept: dict[str, NDArray] = {}

    def drop(name: str, why: str) -> None:
        notes.append(f"{file_name}: `{name}` {why}; it is left out.")

    labels = raw.get("labels")
    if labels is None or labels.ndim != 1 or not _is_integer(labels) or labels.size == 0:
        why = "is missing" if labels is None else f"must be a 1-D integer array (got shape {labels.shape})"
        notes.append(f"{file_name}: `labels` {why}, so no figure can use its bins.")
        return _scalars(raw, notes, file_name), notes
    n_bins = labels.shape[0]
    kept["labels"] = labels.astype(np.int64)
    read_width: int | None = None
    truth = raw.get("true_downstream")
    if truth is not None:
        if truth.ndim == 2 and truth.shape[0] == n_bins and _is_numeric(truth):
            kept["true_downstream"] = truth
            read_width = truth.shape[1]
        else:
            drop("true_downstream", f"has shape {truth.shape}, expected (n_bins={n_bins}, n_read)")
    for name in ("rl_spikes", "sl_spikes"):
        arr = raw.get(name)
        if arr is None:
            continue
        arr = arr[None] if arr.ndim == 2 else arr
        fits = arr.ndim == 3 and arr.shape[1] == n_bins and read_width in (None, arr.shape[2])
        if fits and _is_numeric(arr):
            kept[name] = arr
            read_width = arr.shape[2]
        else:
            expected = f"(n_samples, n_bins={n_bins}, n_read={read_width})"
            drop(name, f"has shape {raw[name].shape}, expected {expected}")
    expected_2d = {
        "upstream": None,
        "rl_probabilities": read_width,
        "sl_probabilities": read_width,
        "true_probabilities": read_width,
        "velocity_true": 2,
        "velocity_rl": 2,
        "velocity_sl": 2,
        "velocity_decoded_true": 2,
    }
    for name, width in expected_2d.items():
        arr = raw.get(name)
        if arr is None:
            continue
        if arr.ndim == 2 and arr.shape[0] == n_bins and _is_numeric(arr) and width in (None, arr.shape[1]):
            kept[name] = arr.astype(np.float64) if name.startswith("velocity") else arr
        else:
            drop(name, f"has shape {arr.shape}, expected (n_bins={n_bins}, {width if width else 'n'})")
    for name in ("trial_ids", "bins", "decoded_rl", "decoded_sl", "decoded_true"):
        arr = raw.get(name)
        if arr is None:
            continue
        if arr.shape == (n_bins,) and _is_integer(arr):
            kept[name] = arr.astype(np.int64)
        else:
            drop(name, f"has shape {arr.shape} (dtype {arr.dtype}), expected integers of shape ({n_bins},)")
    if "trial_ids" not in kept:
        notes.append(f"{file_name}: no usable `trial_ids`, so trials cannot be told apart.")
    kept.update(_scalars(raw, notes, file_name))
    return kept, notes


def _scalars(raw: dict[str, NDArray], notes: list[str], file_name: str) -> dict[str, NDArray]:
    out: dict[str, NDArray] = {}
    bin_size = raw.get("bin_size")
    if bin_size is not None:
        if bin_size.size == 1 and _is_numeric(bin_size) and np.isfinite(bin_size).all() and bin_size > 0:
            out["bin_size"] = np.asarray(float(bin_size))
        else:
            notes.append(f"{file_name}: `bin_size` must be one positive number of seconds; times are in bins "
                         "instead.")
    else:
        notes.append(f"{file_name}: `bin_size` is absent; times are shown in bins and rates in spikes per "
                     "bin.")
    names = raw.get("class_names")
    if names is not None and names.ndim == 1 and names.dtype.kind in "US":
        out["class_names"] = names.astype(str)
    elif names is not None:
        notes.append(f"{file_name}: `class_names` must be a 1-D array of strings; classes are numbered "
                     "instead.")
    return out


def _is_numeric(arr: NDArray) -> bool:
    return bool(np.issubdtype(arr.dtype, np.number) or arr.dtype == bool)


def _is_integer(arr: NDArray) -> bool:
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        return True
    if not np.issubdtype(arr.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))
