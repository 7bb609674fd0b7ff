"""Population structure: pairwise count correlations, dimensionality and subspace alignment."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import subspace_angles

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import as_activity, as_spikes, check_positive_int

__all__ = ["pairwise_correlation", "participation_ratio", "subspace_angles_deg"]


def pairwise_correlation(spikes: NDArray, window_bins: int = 1) -> float:
    """Mean Pearson correlation of spike counts in non-overlapping windows, over all pairs of neurons.

    Parameters
    ----------
    spikes :
        Binned spike counts, shape ``(n_bins, n_neurons)``, at least 2 neurons.
    window_bins :
        Counting window in bins; the last ``n_bins % window_bins`` bins are dropped.

    Returns
    -------
    correlation :
        Mean over pairs ``i < j`` whose counts both vary; NaN if no such pair.

    Examples
    --------
    >>> spikes = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]])
    >>> round(pairwise_correlation(spikes), 3)  # pairs: 1, 0, 0
    0.333
    """
    counts = as_spikes(spikes, "spikes")
    window_bins = check_positive_int(window_bins, "window_bins")
    n_windows = counts.shape[0] // window_bins
    if counts.shape[1] < 2:
        raise DataFormatError(
            f"`spikes` has {counts.shape[1]} neuron; pairwise correlation needs at least 2."
        )
    if n_windows < 2:
        raise DataFormatError(
            f"`window_bins`={window_bins} leaves {n_windows} window(s) in {counts.shape[0]} bins; need >= 2."
        )
    windowed = counts[: n_windows * window_bins].reshape(n_windows, window_bins, -1).sum(axis=1)
    centred = windowed - windowed.mean(axis=0)
    norm = np.sqrt((centred**2).sum(axis=0))
    varies = norm > 0
    if varies.sum() < 2:
        return float("nan")
    unit = centred[:, varies] / norm[varies]
    corr = unit.T @ unit
    upper = np.triu_indices(corr.shape[0], k=1)
    return float(corr[upper].mean())


def participation_ratio(activity: NDArray) -> float:
    r"""Participation ratio: the effective number of dimensions of population activity.

    Parameters
    ----------
    activity :
        Rates or counts, shape ``(n_samples, n_neurons)``, e.g. trial-averaged PSTHs stacked as
        ``(n_conditions * n_time, n_neurons)``.

    Returns
    -------
    ratio :
        :math:`(\sum_i \lambda_i)^2 / \sum_i \lambda_i^2` of the covariance eigenvalues :math:`\lambda`;
        between 1 and ``n_neurons``. Activity spanning ``k`` dimensions with equal variance gives ``k``.
        NaN for constant activity.

    Examples
    --------
    >>> participation_ratio(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]))
    2.0
    """
    arr = as_activity(activity, "activity")
    eigenvalues = np.clip(np.linalg.eigvalsh(np.cov(arr, rowvar=False).reshape(arr.shape[1], -1)), 0.0, None)
    largest = eigenvalues.max()
    if not largest > 0:
        return float("nan")
    relative = eigenvalues / largest  # avoids underflow for tiny variances
    return float(relative.sum() ** 2 / (relative**2).sum())


def _top_components(arr: NDArray, k: int) -> NDArray:
    centred = arr - arr.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:k].T  # (n_neurons, k)


def subspace_angles_deg(a: NDArray, b: NDArray, k: int) -> NDArray[np.float64]:
    """Principal angles between the top-``k`` PCA subspaces of two populations' activity, in degrees.

    Parameters
    ----------
    a, b :
        Activity of the same neurons, shapes ``(n_samples_a, n_neurons)`` and ``(n_samples_b, n_neurons)``.
    k :
        Subspace dimension, ``1 <= k <= n_neurons`` and below each number of samples.

    Returns
    -------
    angles :
        Shape ``(k,)``, ascending, in [0, 90]; 0 for a shared subspace, 90 for orthogonal ones.

    Examples
    --------
    >>> a = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    >>> b = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 3.0]])
    >>> subspace_angles_deg(a, b, k=1)
    array([90.])
    """
    first, second = as_activity(a, "a"), as_activity(b, "b")
    if first.shape[1] != second.shape[1]:
        raise DataFormatError(
            f"`a` has {first.shape[1]} neurons and `b` has {second.shape[1]}; both must describe the "
            "same neurons."
        )
    k = check_positive_int(k, "k")
    limit = min(first.shape[1], first.shape[0] - 1, second.shape[0] - 1)
    if k > limit:
        raise DataFormatError(
            f"`k`={k} is too large: it must be at most n_neurons and below each number of samples "
            f"(here {limit})."
        )
    angles = subspace_angles(_top_components(first, k), _top_components(second, k))
    return np.sort(np.rad2deg(angles))
