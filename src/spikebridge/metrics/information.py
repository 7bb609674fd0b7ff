"""Mutual information between each neuron's smoothed rate and the behaviour label (plug-in estimator)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import as_labels, as_spikes, check_positive_int, check_sigma, smooth

__all__ = ["mutual_information", "label_entropy"]


def label_entropy(labels: NDArray) -> float:
    r"""Entropy in bits of the behaviour label over labelled bins (label > 0).

    Parameters
    ----------
    labels :
        Shape ``(n_bins,)``, ints >= 0; 0 = unlabelled (ignored).

    Returns
    -------
    entropy :
        :math:`H(Y) = -\sum_y p(y) \log_2 p(y)`, the most information any neuron can carry.

    Examples
    --------
    >>> label_entropy(np.array([0, 1, 2, 1, 2]))
    1.0
    """
    arr = np.asarray(labels)
    labels = as_labels(arr, arr.shape[0] if arr.ndim else 0)
    counts = np.unique(labels[labels > 0], return_counts=True)[1]
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def mutual_information(
    spikes: NDArray,
    labels: NDArray,
    *,
    smoothing_sigma_bins: float = 5.0,
    n_histogram_bins: int = 8,
    max_lag: int = 0,
    return_lag: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.int64]]:
    r"""Plug-in mutual information (bits) between each neuron's rate and the behaviour label.

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``.
    labels :
        Behaviour class per bin, shape ``(n_bins,)``; 0 = unlabelled, ignored.
    smoothing_sigma_bins :
        Width in bins of the Gaussian that turns spikes into a rate, applied over the whole recording
        before the labelled bins are taken; 0 uses the raw counts.
    n_histogram_bins :
        Number of equal-width rate bins between each neuron's smallest and largest rate over the bins used.
    max_lag :
        Largest lag in bins; the result is the maximum over lags ``0..max_lag``. At lag :math:`\ell` the
        label at bin :math:`t` is paired with the rate at :math:`t - \ell` (activity that precedes the
        behaviour), over labelled bins with :math:`t \ge \ell`.
    return_lag :
        Also return the lag that gave each neuron's maximum.

    Returns
    -------
    information :
        Shape ``(n_neurons,)``, in bits; in ``[0, H(label)]``. A neuron with a constant rate gets 0.
    best_lag :
        Shape ``(n_neurons,)``; only when ``return_lag``.

    Notes
    -----
    With :math:`X` the discretised rate and :math:`Y` the label,
    :math:`I = \sum_{x,y} p(x, y) \log_2 \frac{p(x, y)}{p(x)\,p(y)}` from the joint histogram. The plug-in
    estimate is biased upwards by about :math:`(K - 1)(C - 1) / (2 N \ln 2)` bits for :math:`K` rate bins,
    :math:`C` classes and :math:`N` labelled bins (Miller-Madow); maximising over lags adds to that bias.

    Examples
    --------
    >>> labels = np.array([1, 2] * 50)
    >>> spikes = (labels == 2).astype(int)[:, None]  # fires exactly in class 2
    >>> mutual_information(spikes, labels, smoothing_sigma_bins=0)
    array([1.])
    """
    counts = as_spikes(spikes, "spikes")
    n_bins, n_neurons = counts.shape
    labels = as_labels(labels, n_bins)
    sigma = check_sigma(smoothing_sigma_bins)
    n_levels = check_positive_int(n_histogram_bins, "n_histogram_bins")
    max_lag = check_positive_int(max_lag, "max_lag", minimum=0)
    labelled = np.flatnonzero(labels > 0)
    if max_lag > labelled.max():
        raise DataFormatError(
            f"`max_lag`={max_lag} leaves no labelled bin with a rate {max_lag} bins earlier (the last "
            f"labelled bin is {labelled.max()}). Use a smaller max_lag."
        )
    rate = smooth(counts, sigma)
    classes, class_index = np.unique(labels[labelled], return_inverse=True)
    best = np.full(n_neurons, -np.inf)
    best_lag = np.zeros(n_neurons, dtype=np.int64)
    for lag in range(max_lag + 1):
        keep = labelled >= lag
        info = _plugin_information(rate[labelled[keep] - lag], class_index[keep], len(classes), n_levels)
        better = info > best
        best[better] = info[better]
        best_lag[better] = lag
    if return_lag:
        return best, best_lag
    return best


def _plugin_information(rate: NDArray, class_index: NDArray, n_classes: int, n_levels: int) -> NDArray:
    """MI in bits between each column of ``rate`` ``(n, n_neurons)`` and ``class_index`` ``(n,)``."""
    n, n_neurons = rate.shape
    low, high = rate.min(axis=0), rate.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    level = np.clip(((rate - low) / span * n_levels).astype(np.int64), 0, n_levels - 1)
    flat = (np.arange(n_neurons)[None, :] * n_levels + level) * n_classes + class_index[:, None]
    joint = np.bincount(flat.ravel(), minlength=n_neurons * n_levels * n_classes)
    joint = joint.reshape(n_neurons, n_levels, n_classes) / n
    p_rate = joint.sum(axis=2, keepdims=True)
    p_class = joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / (p_rate * p_class)), 0.0)
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)
