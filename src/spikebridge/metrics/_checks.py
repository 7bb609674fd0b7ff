"""Argument checks shared by the metrics; each error names the argument, what was expected and what came."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter1d

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts
from spikebridge.exceptions import DataFormatError

__all__ = [
    "as_spikes",
    "as_samples_mean",
    "as_labels",
    "as_trial_ids",
    "as_activity",
    "check_positive_int",
    "check_positive_number",
    "check_sigma",
    "smooth",
]


def as_spikes(spikes: object, name: str, *, ndim: int = 2, binary: bool = False) -> NDArray[np.float64]:
    """Return validated spike counts as float64, shape ``(n_bins, n_neurons)`` (or with a samples axis)."""
    return check_spike_counts(spikes, name, binary=binary, ndim=ndim).astype(np.float64)


def as_samples_mean(spikes: object, name: str) -> NDArray[np.float64]:
    """Spikes ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` averaged over samples."""
    arr = np.asarray(spikes)
    if arr.ndim == 3:
        return as_spikes(arr, name, ndim=3).mean(axis=0)
    if arr.ndim != 2:
        raise DataFormatError(
            f"`{name}` must have shape (n_bins, n_neurons) or (n_samples, n_bins, n_neurons). "
            f"Got an array of shape {arr.shape}."
        )
    return as_spikes(arr, name)


def _as_int_vector(values: object, name: str, n_bins: int) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be an integer array. Got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise DataFormatError(f"`{name}` must have shape (n_bins,). Got an array of shape {arr.shape}.")
    if len(arr) != n_bins:
        raise DataFormatError(
            f"`{name}` has {len(arr)} bins but the spikes have {n_bins}. "
            "Pass per-bin values for the same bins."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise DataFormatError(f"`{name}` must hold whole numbers; it has NaN or fractional values.")
    return arr.astype(np.int64)


def as_labels(labels: object, n_bins: int, name: str = "labels") -> NDArray[np.int64]:
    """Behaviour labels ``(n_bins,)``: ints >= 0, 0 = unlabelled; at least one labelled bin."""
    arr = _as_int_vector(labels, name, n_bins)
    if arr.size and arr.min() < 0:
        raise DataFormatError(f"`{name}` must be >= 0 (0 = unlabelled). Got min {arr.min()}.")
    if not np.any(arr > 0):
        raise DataFormatError(f"`{name}` has no labelled bins (all 0); label the behaviour classes 1, 2, ...")
    return arr


def as_trial_ids(trial_ids: object, n_bins: int, name: str = "trial_ids") -> NDArray[np.int64]:
    """Trial id per bin ``(n_bins,)``; -1 (or any negative) = outside trials."""
    return _as_int_vector(trial_ids, name, n_bins)


def as_activity(values: object, name: str, *, min_rows: int = 2) -> NDArray[np.float64]:
    """Finite real activity (rates, counts, PCs), shape ``(n_samples, n_neurons)``."""
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be a numeric array. Got dtype {arr.dtype}.")
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real-valued. Got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise DataFormatError(f"`{name}` must have shape (n_samples, n_neurons). Got shape {arr.shape}.")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise DataFormatError(
            f"`{name}` needs at least {min_rows} rows and 1 column. Got shape {arr.shape}."
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"`{name}` has NaN or infinite values; drop or fill them first.")
    return arr


def check_sigma(value: object, name: str = "smoothing_sigma_bins") -> float:
    """Return a Gaussian width in bins after checking it is >= 0 (0 = no smoothing)."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if np.isfinite(value) and value >= 0:
            return float(value)
        raise ValueError(f"`{name}` must be a finite number of bins >= 0 (0 = none). Got {name}={value!r}.")
    raise TypeError(
        f"`{name}` must be a number of bins. Got {name}={value!r} of type {type(value).__name__}."
    )


def smooth(spikes: NDArray[np.float64], sigma_bins: float) -> NDArray[np.float64]:
    """Gaussian smoothing along time (axis 0), spikes per bin preserved; ``sigma_bins = 0`` returns a copy."""
    if sigma_bins == 0:
        return spikes.copy()
    return gaussian_filter1d(spikes, sigma_bins, axis=0, mode="nearest")
