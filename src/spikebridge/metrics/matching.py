"""Pair generated neurons with recorded ones when only some of them have an identity."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import as_labels, as_samples_mean, as_trial_ids
from spikebridge.metrics.tuning import psth

__all__ = ["psth_similarity", "match_neurons"]


def psth_similarity(
    generated: NDArray, recorded: NDArray, labels: NDArray, trial_ids: NDArray
) -> NDArray[np.float64]:
    """Pearson correlation of the class PSTHs (concatenated over classes) of every generated-recorded pair.

    Parameters
    ----------
    generated :
        Shape ``(n_bins, n_generated)`` or ``(n_samples, n_bins, n_generated)`` (the sample mean is used).
    recorded :
        Shape ``(n_bins, n_recorded)``, the same bins.
    labels, trial_ids :
        Shape ``(n_bins,)``, as in :func:`~spikebridge.metrics.tuning.psth`.

    Returns
    -------
    similarity :
        Shape ``(n_generated, n_recorded)``; 0 where either PSTH is constant.
    """
    gen = as_samples_mean(generated, "generated")
    rec = as_samples_mean(recorded, "recorded")
    if gen.shape[0] != rec.shape[0]:
        raise DataFormatError(
            f"`generated` has {gen.shape[0]} bins and `recorded` {rec.shape[0]}; pass the same bins of both."
        )
    labels, trial_ids = as_labels(labels, gen.shape[0]), as_trial_ids(trial_ids, gen.shape[0])
    flat_gen = psth(generated, labels, trial_ids).reshape(-1, gen.shape[1])  # psth averages the samples
    flat_rec = psth(recorded, labels, trial_ids).reshape(-1, rec.shape[1])
    keep = ~(np.isnan(flat_gen).any(axis=1) | np.isnan(flat_rec).any(axis=1))
    a = flat_gen[keep] - flat_gen[keep].mean(axis=0)
    b = flat_rec[keep] - flat_rec[keep].mean(axis=0)
    norm = np.sqrt((a**2).sum(axis=0))[:, None] * np.sqrt((b**2).sum(axis=0))[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, a.T @ b / np.where(norm > 0, norm, 1.0), 0.0)


def match_neurons(
    generated: NDArray,
    recorded: NDArray,
    labels: NDArray,
    trial_ids: NDArray,
    *,
    fixed: Mapping[int, int] | None = None,
) -> NDArray[np.int64]:
    """Assign each generated neuron a distinct recorded neuron, keeping the pairs in ``fixed``.

    The rule: neurons with an identity (the ones the decoder reads: generated output ``g`` stands for
    recorded neuron ``fixed[g]``) keep it; the others are paired one-to-one with the remaining recorded
    neurons by the assignment (Hungarian algorithm) that maximises the summed correlation of their class
    PSTHs (:func:`psth_similarity`). Call it on training trials and score on test trials, so that the
    pairing is not fitted to the data it is judged on.

    Parameters
    ----------
    generated :
        Shape ``(n_bins, n_generated)`` or ``(n_samples, n_bins, n_generated)``.
    recorded :
        Shape ``(n_bins, n_recorded)`` with ``n_recorded >= n_generated``.
    labels, trial_ids :
        Shape ``(n_bins,)``.
    fixed :
        ``{generated index: recorded index}`` pairs that are not reassigned.

    Returns
    -------
    match :
        Shape ``(n_generated,)``: the recorded neuron paired with each generated neuron.

    Examples
    --------
    >>> t = np.arange(400)
    >>> labels = np.where(t % 100 < 50, 1, 2)
    >>> trials = t // 100
    >>> up, down = (labels == 1).astype(float), (labels == 2).astype(float)
    >>> match_neurons(np.c_[down, up], np.c_[up, down], labels, trials).tolist()
    [1, 0]
    """
    fixed = dict(fixed or {})
    similarity = psth_similarity(generated, recorded, labels, trial_ids)
    n_generated, n_recorded = similarity.shape
    if n_recorded < n_generated:
        raise DataFormatError(
            f"{n_generated} generated neurons cannot each get a distinct recorded neuron out of {n_recorded}."
        )
    for g, r in fixed.items():
        if not (0 <= g < n_generated and 0 <= r < n_recorded):
            raise DataFormatError(f"fixed pair {g} -> {r} is out of range ({n_generated} generated, {n_recorded} recorded).")
    if len(set(fixed.values())) != len(fixed):
        raise DataFormatError(f"fixed pairs {fixed} map two generated neurons to one recorded neuron.")
    match = np.full(n_generated, -1, dtype=np.int64)
    for g, r in fixed.items():
        match[g] = r
    free_gen = [g for g in range(n_generated) if g not in fixed]
    free_rec = [r for r in range(n_recorded) if r not in set(fixed.values())]
    if free_gen:
        rows, cols = linear_sum_assignment(similarity[np.ix_(free_gen, free_rec)], maximize=True)
        match[np.asarray(free_gen)[rows]] = np.asarray(free_rec)[cols]
    return match
