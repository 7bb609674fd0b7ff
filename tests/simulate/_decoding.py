"""Small numpy-only readouts the simulator tests use to check that downstream spikes carry the behaviour."""

from __future__ import annotations

import numpy as np


def lagged_counts(spikes: np.ndarray, n_windows: int, window_bins: int) -> np.ndarray:
    """Count spikes in ``n_windows`` consecutive causal windows ending at each bin, plus a bias column.

    Returns shape ``(n_bins, n_neurons * n_windows + 1)``.
    """
    cumulative = np.vstack([np.zeros((1, spikes.shape[1])), np.cumsum(spikes, axis=0)])
    ends = np.arange(1, len(spikes) + 1)
    columns = []
    for k in range(n_windows):
        hi = np.clip(ends - k * window_bins, 0, None)
        lo = np.clip(hi - window_bins, 0, None)
        columns.append(cumulative[hi] - cumulative[lo])
    return np.hstack(columns + [np.ones((len(spikes), 1))])


def least_squares_classifier_accuracy(features, labels, train, test) -> float:
    """Fit one-hot least squares on ``train`` bins; return accuracy of the argmax on ``test`` bins."""
    classes = np.unique(labels[train])
    targets = (labels[train][:, None] == classes[None, :]).astype(float)
    coef = _least_squares(features[train], targets)
    predicted = classes[np.argmax(features[test] @ coef, axis=1)]
    return float(np.mean(predicted == labels[test]))


def wiener_r2(features, target, train, test) -> np.ndarray:
    """R^2 per target dimension of a least-squares linear decoder, fitted on ``train`` bins."""
    coef = _least_squares(features[train], target[train])
    residual = ((target[test] - features[test] @ coef) ** 2).sum(axis=0)
    total = ((target[test] - target[test].mean(axis=0)) ** 2).sum(axis=0)
    return 1.0 - residual / total


def _least_squares(features, targets):
    """Normal-equation least squares with a tiny ridge (faster than lstsq on tall matrices)."""
    gram = features.T @ features
    gram[np.diag_indices_from(gram)] += 1e-6 * np.trace(gram) / len(gram)
    return np.linalg.solve(gram, features.T @ targets)
