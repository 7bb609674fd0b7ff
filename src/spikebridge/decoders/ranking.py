"""Rank recorded neurons by how much they tell about the behaviour, to choose the ones a decoder reads."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikebridge._validation import check_positive_int
from spikebridge.metrics.information import mutual_information

__all__ = ["rank_neurons_by_information"]


def rank_neurons_by_information(
    spikes: NDArray,
    labels: NDArray,
    *,
    max_lag_bins: int = 50,
    smoothing_sigma_bins: float = 5.0,
    n_histogram_bins: int = 8,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Neurons ordered by mutual information with the behaviour, maximised over lags, best first.

    This is how the paper chose the ``M1num_pre`` M1 neurons its decoder reads (``M1order``).

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``.
    labels :
        Behaviour class per bin, shape ``(n_bins,)``; 0 = unlabelled (ignored). To rank on training trials
        only, set the labels of every other bin to 0 (their spikes still smooth the rates).
    max_lag_bins :
        Largest lag in bins; each neuron's information is its maximum over lags ``0..max_lag_bins``, the
        rate at bin ``t - lag`` paired with the label at ``t`` (the paper: 50 bins).
    smoothing_sigma_bins, n_histogram_bins :
        Passed to :func:`spikebridge.metrics.mutual_information` (Gaussian rate smoothing in bins, rate
        histogram levels).

    Returns
    -------
    order :
        0-based neuron indices, most informative first, shape ``(n_neurons,)``; ties keep index order.
    information :
        Mutual information of each neuron in bits, in the original neuron order, shape ``(n_neurons,)``;
        ``information[order]`` is non-increasing.

    Raises
    ------
    TypeError
        If ``max_lag_bins`` is not an integer.
    ValueError
        If ``max_lag_bins`` is negative.
    spikebridge.exceptions.DataFormatError
        On malformed spikes or labels, or a lag that leaves no labelled bin.

    Examples
    --------
    >>> labels = np.array([1, 2] * 50)
    >>> spikes = np.column_stack([np.zeros(100), labels == 2]).astype(int)
    >>> order, information = rank_neurons_by_information(spikes, labels, max_lag_bins=0)
    >>> order
    array([1, 0])
    """
    max_lag_bins = check_positive_int(max_lag_bins, "max_lag_bins", minimum=0)
    information = mutual_information(
        spikes, labels, smoothing_sigma_bins=smoothing_sigma_bins, n_histogram_bins=n_histogram_bins,
        max_lag=max_lag_bins,
    )
    information = np.asarray(information, dtype=np.float64)
    order = np.argsort(-information, kind="stable").astype(np.int64)
    return order, information
