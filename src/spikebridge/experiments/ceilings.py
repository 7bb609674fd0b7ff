"""Upstream-information ceilings: supervised readouts from the generator's own inputs to the behaviour."""

from __future__ import annotations

import time

import numpy as np
import torch

from spikebridge.metrics.success import time_bin_success, trial_success, velocity_r2
from spikebridge.training.classifier import ClassifierConfig, fit_label_classifier, predict_labels
from spikebridge.training.dataset import FlatTrials

__all__ = ["upstream_label_ceiling", "upstream_velocity_ceiling"]


def upstream_label_ceiling(train_trials: FlatTrials, test_trials: FlatTrials, n_classes: int, seed: int) -> dict:
    """Classifier from the same upstream features straight to the label: what upstream activity can tell.

    A fifth of the training trials (seeded) picks the classifier's epoch; the test trials only score it.
    Returns ``{"time_bin_success": [x], "trial_success": [x], "train_seconds": [x]}``.
    """
    rng = np.random.default_rng(seed)
    held = np.zeros(train_trials.n_trials, dtype=bool)
    held[rng.choice(train_trials.n_trials, size=max(1, train_trials.n_trials // 5), replace=False)] = True
    fit_rows = torch.from_numpy(np.flatnonzero(~held[train_trials.trial_index]))
    val_rows = torch.from_numpy(np.flatnonzero(held[train_trials.trial_index]))
    t0 = time.perf_counter()
    model = fit_label_classifier(
        train_trials.features[fit_rows], train_trials.labels[fit_rows],
        (train_trials.features[val_rows], train_trials.labels[val_rows]), n_classes,
        ClassifierConfig(seed=seed % 2**31),
    )
    predicted = predict_labels(model, test_trials.features)
    labels = test_trials.labels.numpy()
    return {
        "time_bin_success": [float(time_bin_success(predicted, labels))],
        "trial_success": [float(trial_success(predicted, labels, test_trials.trial_index))],
        "train_seconds": [time.perf_counter() - t0],
    }


def upstream_velocity_ceiling(train_trials: FlatTrials, test_trials: FlatTrials) -> dict:
    """Ridge regression from the same upstream features straight to the velocity."""
    t0 = time.perf_counter()
    mask = (train_trials.labels > 0).numpy()
    x = np.c_[train_trials.features.numpy()[mask], np.ones(mask.sum())]
    y = train_trials.targets.numpy()[mask]
    weights = np.linalg.solve(x.T @ x + 1e-2 * np.eye(x.shape[1]), x.T @ y)
    test_x = np.c_[test_trials.features.numpy(), np.ones(test_trials.n_rows)]
    r2 = velocity_r2(test_x @ weights, test_trials.targets.numpy(), (test_trials.labels > 0).numpy())
    return {"velocity_r2": [float(r2)], "train_seconds": [time.perf_counter() - t0]}
