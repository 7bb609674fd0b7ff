"""Loading and checking a biomimicry trade-off study directory (``spikebridge biomimicry --out``).

:func:`load_tradeoff` reads and checks ``tradeoff.json``; the returned :class:`TradeoffStudy` reads each
entry's scored test spikes (:class:`SpikeFile`) on demand. Malformed input raises
:class:`~spikebridge.exceptions.DataFormatError`; a missing spike file raises
:class:`~spikebridge.report.Absent`. Nothing here writes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.report._common import COLOURS, Absent

__all__ = ["MATCHING_RULE", "SpikeFile", "TradeoffStudy", "load_tradeoff"]


MATCHING_RULE = (
    "Neurons the decoder reads keep their identity; the others are paired with recorded neurons by a "
    "Hungarian assignment maximising the correlation of class PSTHs on the training trials."
)
# the figures' colour of each key that TradeoffStudy.sources() yields
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
