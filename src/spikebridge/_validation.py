"""Input checks shared across spikebridge; each raises a typed error naming the value and the fix."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError

__all__ = [
    "check_spike_counts",
    "check_positive_number",
    "check_positive_int",
    "check_same_n_bins",
]


def check_positive_number(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. Got {name}={value!r} of type {type(value).__name__}.")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive finite number. Got {name}={value!r} instead.")
    return float(value)


def check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer. Got {name}={value!r} of type {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Got {name}={value!r} instead.")
    return int(value)


def check_spike_counts(
    spikes: object, name: str, *, binary: bool = True, ndim: int = 2
) -> NDArray[np.uint8]:
    """Validate binned spikes and return them as a ``uint8`` array.

    Parameters
    ----------
    spikes :
        Binned spikes, shape ``(n_bins, n_neurons)`` (``ndim=2``) or
        ``(n_trials, n_bins, n_neurons)`` (``ndim=3``).
    name :
        Name used in error messages.
    binary :
        If True, counts above 1 are an error: the Bernoulli observation model allows 0 or 1 per bin.

    Returns
    -------
    spikes :
        The same values as ``uint8``, same shape.

    Raises
    ------
    TypeError
        If ``spikes`` is not numeric.
    DataFormatError
        On a wrong number of dimensions, NaN, negative or non-integer counts, or counts > 1 when ``binary``.
    """
    arr = np.asarray(spikes)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be a numeric array of spike counts. Got dtype {arr.dtype}.")
    if arr.ndim != ndim:
        shape = "(n_bins, n_neurons)" if ndim == 2 else "(n_trials, n_bins, n_neurons)"
        raise DataFormatError(f"`{name}` must have shape {shape}. Got an array of shape {arr.shape}.")
    if arr.shape[-1] == 0 or arr.shape[-2] == 0:
        raise DataFormatError(f"`{name}` is empty: shape {arr.shape}. It needs at least one bin and one neuron.")
    if np.issubdtype(arr.dtype, np.floating):
        if np.isnan(arr).any():
            raise DataFormatError(
                f"`{name}` contains {int(np.isnan(arr).sum())} NaN values. Spike counts must be finite; "
                "mark missing data by leaving those bins unlabelled instead."
            )
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DataFormatError(f"`{name}` must hold whole spike counts; it contains non-integer values.")
    if arr.size and arr.min() < 0:
        raise DataFormatError(f"`{name}` contains negative spike counts (min {arr.min()}). Counts must be >= 0.")
    if binary and arr.size and arr.max() > 1:
        n_bad = int((arr > 1).sum())
        raise DataFormatError(
            f"`{name}` has {n_bad} bins with more than one spike (max {arr.max()}), but the Bernoulli model "
            "allows 0 or 1 per bin. Use a smaller bin size, or clip explicitly with np.minimum(spikes, 1)."
        )
    if not binary and arr.size and arr.max() > np.iinfo(np.uint8).max:
        raise DataFormatError(f"`{name}` has counts above 255 (max {arr.max()}); use a smaller bin size.")
    return arr.astype(np.uint8, copy=False)


def check_same_n_bins(**arrays: NDArray | None) -> int:
    """Check that all given arrays (``None`` skipped) share their first axis; return that length."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise DataFormatError(
            f"All per-bin arrays must have the same number of bins; got {listed}. "
            "Bin them all with the same bin size over the same time span."
        )
    return next(iter(lengths.values()))
