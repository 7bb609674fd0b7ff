"""Behavioural success rates of decoded behaviour (pure functions)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["time_bin_success", "trial_success", "per_trial_success", "velocity_r2"]


def _check(decoded: NDArray, labels: NDArray) -> tuple[NDArray, NDArray]:
    decoded = np.asarray(decoded)
    labels = np.asarray(labels)
    if decoded.shape[-1] != labels.shape[-1]:
        raise ValueError(
            f"decoded has {decoded.shape[-1]} bins but labels has {labels.shape[-1]}; pass the same bins."
        )
    if not np.any(labels > 0):
        raise ValueError("labels has no labelled bins (all 0); success is undefined.")
    return decoded, labels


def time_bin_success(decoded: NDArray, labels: NDArray) -> NDArray[np.float64] | float:
    """Fraction of labelled bins (label > 0) decoded correctly.

    Parameters
    ----------
    decoded :
        Decoded labels, shape ``(n_bins,)`` or ``(n_samples, n_bins)``.
    labels :
        True labels, shape ``(n_bins,)``; 0 = unlabelled (ignored).

    Returns
    -------
    success :
        A float, or shape ``(n_samples,)``.

    Examples
    --------
    >>> time_bin_success(np.array([1, 2, 2, 3]), np.array([1, 2, 0, 2]))
    0.6666666666666666
    """
    decoded, labels = _check(decoded, labels)
    mask = labels > 0
    value = (decoded[..., mask] == labels[mask]).mean(axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def per_trial_success(decoded: NDArray, labels: NDArray, trial_ids: NDArray) -> tuple[NDArray, NDArray]:
    """Fraction of each trial's labelled bins decoded correctly.

    Parameters
    ----------
    decoded :
        Shape ``(n_bins,)`` or ``(n_samples, n_bins)``.
    labels, trial_ids :
        Shape ``(n_bins,)``.

    Returns
    -------
    trials :
        Trial ids, shape ``(n_trials,)``.
    fractions :
        Shape ``(n_trials,)`` or ``(n_samples, n_trials)``.
    """
    decoded, labels = _check(decoded, labels)
    trial_ids = np.asarray(trial_ids)
    mask = labels > 0
    trials, index = np.unique(trial_ids[mask], return_inverse=True)
    correct = (decoded[..., mask] == labels[mask]).astype(np.float64)
    counts = np.bincount(index, minlength=len(trials))
    if correct.ndim == 1:
        return trials, np.bincount(index, weights=correct, minlength=len(trials)) / counts
    sums = np.stack([np.bincount(index, weights=row, minlength=len(trials)) for row in correct])
    return trials, sums / counts


def trial_success(
    decoded: NDArray, labels: NDArray, trial_ids: NDArray, *, threshold: float = 0.7
) -> NDArray[np.float64] | float:
    """Fraction of trials with more than ``threshold`` of their labelled bins decoded correctly.

    Examples
    --------
    >>> trial_success(np.array([1, 1, 2, 3]), np.array([1, 1, 2, 2]), np.array([0, 0, 1, 1]))
    0.5
    """
    _, fractions = per_trial_success(decoded, labels, trial_ids)
    value = (fractions > threshold).mean(axis=-1)
    return float(value) if np.ndim(value) == 0 else value


def velocity_r2(decoded: NDArray, target: NDArray, mask: NDArray) -> NDArray[np.float64] | float:
    """Coefficient of determination of a decoded continuous behaviour over the bins in ``mask``.

    ``R^2 = 1 - sum ||decoded - target||^2 / sum ||target - mean(target)||^2``, pooled over dimensions.

    Parameters
    ----------
    decoded :
        Shape ``(n_bins, k)`` or ``(n_samples, n_bins, k)``.
    target :
        Shape ``(n_bins, k)``.
    mask :
        Boolean ``(n_bins,)``: the bins that count.

    Returns
    -------
    r2 :
        A float, or shape ``(n_samples,)``.

    Examples
    --------
    >>> t = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> velocity_r2(t, t, np.ones(3, bool))
    1.0
    """
    decoded = np.asarray(decoded, dtype=float)
    target = np.asarray(target, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if decoded.shape[-2:] != target.shape or mask.shape != target.shape[:1]:
        raise ValueError(
            f"decoded {decoded.shape}, target {target.shape} and mask {mask.shape} must share (n_bins, k)."
        )
    if not mask.any():
        raise ValueError("mask selects no bins; R^2 is undefined.")
    t = target[mask]
    total = ((t - t.mean(axis=0)) ** 2).sum()
    residual = ((decoded[..., mask, :] - t) ** 2).sum(axis=(-1, -2))
    value = 1 - residual / total
    return float(value) if np.ndim(value) == 0 else value
