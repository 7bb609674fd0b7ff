"""Single-neuron firing statistics: mean rate, ISI irregularity and count variability."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import as_spikes, check_positive_int, check_positive_number

__all__ = ["firing_rate", "isi_cv", "fano_factor"]


def firing_rate(spikes: NDArray, bin_size: float) -> NDArray[np.float64]:
    """Mean firing rate of each neuron, in spikes per second.

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` for
        several sampled spike trains (averaged).
    bin_size :
        Bin width in seconds; must be > 0.

    Returns
    -------
    rates :
        Shape ``(n_neurons,)``.

    Examples
    --------
    >>> firing_rate(np.array([[1, 0], [1, 2]]), bin_size=0.5)
    array([2., 2.])
    """
    bin_size = check_positive_number(bin_size, "bin_size")
    arr = np.asarray(spikes)
    counts = as_spikes(arr, "spikes", ndim=3 if arr.ndim == 3 else 2)
    return counts.reshape(-1, counts.shape[-1]).mean(axis=0) / bin_size


def isi_cv(spikes: NDArray) -> NDArray[np.float64]:
    r"""Coefficient of variation of the inter-spike intervals of each neuron.

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``. A bin with ``k`` spikes contributes ``k - 1``
        intervals of length 0.

    Returns
    -------
    cv :
        ``std(ISI) / mean(ISI)`` (population std, ``ddof=0``), shape ``(n_neurons,)``. NaN for a neuron
        with fewer than 3 spikes (fewer than 2 intervals) or whose intervals are all 0.

    Notes
    -----
    Intervals are measured in bins, so the CV does not depend on the bin size. Bernoulli spikes with a
    constant probability ``p`` have geometric intervals and a CV of :math:`\sqrt{1 - p}`; a perfectly
    regular train has CV 0.

    Examples
    --------
    >>> spikes = np.zeros((20, 1)); spikes[::5] = 1
    >>> isi_cv(spikes)
    array([0.])
    """
    counts = as_spikes(spikes, "spikes").astype(np.int64)
    n_bins, n_neurons = counts.shape
    out = np.full(n_neurons, np.nan)
    bins = np.arange(n_bins)
    for neuron in range(n_neurons):
        times = np.repeat(bins, counts[:, neuron])
        if len(times) < 3:
            continue
        intervals = np.diff(times)
        mean = intervals.mean()
        if mean > 0:
            out[neuron] = intervals.std() / mean
    return out


def fano_factor(spikes: NDArray, window_bins: int) -> NDArray[np.float64]:
    """Fano factor (variance / mean) of spike counts in non-overlapping windows, per neuron.

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``.
    window_bins :
        Window length in bins; the last ``n_bins % window_bins`` bins are dropped. At least 2 windows
        must fit.

    Returns
    -------
    fano :
        ``var(counts, ddof=1) / mean(counts)``, shape ``(n_neurons,)``; NaN for a neuron with no spikes.
        Poisson counts give 1; Bernoulli spikes with constant ``p`` give ``1 - p``.

    Examples
    --------
    >>> fano_factor(np.array([[1], [0], [1], [0]]), window_bins=2)
    array([0.])
    """
    counts = as_spikes(spikes, "spikes")
    window_bins = check_positive_int(window_bins, "window_bins")
    n_windows = counts.shape[0] // window_bins
    if n_windows < 2:
        raise DataFormatError(
            f"`window_bins`={window_bins} leaves {n_windows} window(s) in {counts.shape[0]} bins; the Fano "
            "factor needs at least 2. Use a shorter window or more bins."
        )
    windowed = counts[: n_windows * window_bins].reshape(n_windows, window_bins, -1).sum(axis=1)
    mean = windowed.mean(axis=0)
    variance = windowed.var(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mean > 0, variance / np.where(mean > 0, mean, 1.0), np.nan)
