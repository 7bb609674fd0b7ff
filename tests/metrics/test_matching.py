"""Pairing generated neurons with recorded ones, and the population summary of a whole population."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.exceptions import DataFormatError
from spikebridge.experiments.biomimicry import population_summary
from spikebridge.metrics.matching import match_neurons, psth_similarity


def _task(n_trials: int = 40, seed: int = 0):
    """Trials of 30 'rest' then 30 'press' bins; neurons with distinct tuning shapes."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.r_[np.ones(30), 2 * np.ones(30)].astype(int), n_trials)
    trial_ids = np.repeat(np.arange(n_trials), 60)
    t = np.tile(np.arange(60), n_trials)
    rates = np.stack([
        np.where(labels == 2, 0.5, 0.05),            # press cell
        np.where(labels == 1, 0.4, 0.05),            # rest cell
        0.05 + 0.4 * (t % 30 < 8),                   # onset cell
        0.05 + 0.4 * (t % 30 >= 22),                 # late cell
    ], axis=1)
    return rates, labels, trial_ids, rng


def test_a_planted_permutation_is_recovered_and_fixed_pairs_kept():
    rates, labels, trials, rng = _task()
    recorded = (rng.random(rates.shape) < rates).astype(np.uint8)
    order = np.array([2, 0, 3, 1])  # generated neuron i behaves like recorded neuron order[i]
    generated = (rng.random((3, *rates.shape)) < rates[:, order]).astype(np.uint8)
    assert match_neurons(generated, recorded, labels, trials).tolist() == order.tolist()
    forced = match_neurons(generated, recorded, labels, trials, fixed={0: 1})
    assert forced[0] == 1 and sorted(forced.tolist()) == [0, 1, 2, 3]
    similarity = psth_similarity(generated, recorded, labels, trials)
    assert similarity.shape == (4, 4) and np.all(similarity[np.arange(4), order] > 0.8)


def test_matching_rejects_impossible_requests():
    rates, labels, trials, rng = _task()
    spikes = (rng.random(rates.shape) < rates).astype(np.uint8)
    with pytest.raises(DataFormatError, match="distinct recorded neuron"):
        match_neurons(spikes, spikes[:, :2], labels, trials)
    with pytest.raises(DataFormatError, match="out of range"):
        match_neurons(spikes, spikes, labels, trials, fixed={0: 9})
    with pytest.raises(DataFormatError, match="two generated neurons"):
        match_neurons(spikes, spikes, labels, trials, fixed={0: 1, 2: 1})
    with pytest.raises(DataFormatError, match="bins"):
        match_neurons(spikes[:-5], spikes, labels, trials)


def test_population_summary_of_a_recording_against_itself():
    rates, labels, trials, rng = _task()
    spikes = (rng.random((4, *rates.shape)) < rates).astype(np.uint8)
    summary = population_summary(spikes, labels, trials, 0.01, recorded=spikes[0])
    assert set(summary) == {"pairwise_correlation", "participation_ratio", "subspace_angle_deg"}
    assert 1.0 <= summary["participation_ratio"] <= 4.0
    alone = population_summary(spikes[0], labels, trials, 0.01, recorded=spikes[0])
    assert alone["subspace_angle_deg"] == pytest.approx(0.0, abs=1e-3)  # identical activity: no angle
    assert "subspace_angle_deg" not in population_summary(spikes, labels, trials, 0.01)
