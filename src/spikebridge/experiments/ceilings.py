"""Upstream-information ceilings: supervised readouts from the generator's own inputs to the behaviour."""

from __future__ import annotations

import time

import numpy as np
import torch

from spikebridge.metrics.success import time_bin_success, trial_success, velocity_r2
from spikebridge.training.classifier import ClassifierConfig, fit_label_classifier, predict_labels
from spikebridge.training.dataset import FlatTrials

__all__ = ["upstream_label_ceiling", "upstream_velocity_ceiling", "class_rate_code"]


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


def class_rate_code(
    recorded_train: np.ndarray,
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    n_samples: int,
    seed: int,
) -> np.ndarray:
    """Spikes of a code that knows the true class and fires at the recording's class-mean rates.

    Each neuron fires, in every test bin of class ``c``, with the probability it had on average in the
    training trials' bins of class ``c`` (unlabelled bins: its unlabelled mean). Its modulation depth is
    the recording's, and it has perfect knowledge of the behaviour, but none of the recording's time
    course within a class. Through a decoder it shows what recorded-level modulation alone can buy: a
    generator held to the recording's modulation depth cannot beat it without reproducing that time course.

    Parameters
    ----------
    recorded_train :
        Recorded spikes of the neurons, training bins, ``(n_train_bins, n_neurons)``.
    train_labels, test_labels :
        ``(n_train_bins,)`` and ``(n_test_bins,)``; 0 = unlabelled.
    n_samples :
        Spike trains to draw.
    seed :
        Seed of the draw.

    Returns
    -------
    spikes :
        ``(n_samples, n_test_bins, n_neurons)`` uint8.
    """
    counts = np.minimum(np.asarray(recorded_train, dtype=float), 1.0)  # a Bernoulli code: at most a spike a bin
    classes = np.unique(np.r_[train_labels, test_labels])
    rates = {int(c): counts[train_labels == c].mean(axis=0) if (train_labels == c).any() else counts.mean(axis=0)
             for c in classes}
    p = np.stack([rates[int(c)] for c in test_labels])
    rng = np.random.default_rng(seed)
    return (rng.random((n_samples, *p.shape)) < p).astype(np.uint8)
