"""The biomimicry metrics on a simulated subject with known ground truth.

A second draw from the true model (a perfect generator) must look like the recording; activity with its
timing scrambled must not.
"""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.metrics import (
    firing_rate,
    mean_abs_modulation_depth,
    mutual_information,
    psth_correlation,
    time_rescaling_ks,
    tuning_correlation,
)
from spikebridge.simulate import simulate_lever_task


@pytest.fixture(scope="module")
def world():
    subject = simulate_lever_task(n_trials=80, seed=42)
    rec = subject.recording
    rng = np.random.default_rng(0)
    perfect, _ = subject.mapping.sample(rec.upstream_spikes, rng, block_starts=subject.block_starts)
    shifts = rng.integers(1000, rec.n_bins - 1000, size=rec.n_downstream)
    scrambled = np.column_stack([np.roll(rec.downstream_spikes[:, i], s) for i, s in enumerate(shifts)])
    return subject, perfect, scrambled


def test_recording_against_itself_is_perfect(world):
    subject, _, _ = world
    rec = subject.recording
    down = rec.downstream_spikes
    np.testing.assert_allclose(psth_correlation(down, down, rec.behavior_labels, rec.trial_ids), 1.0)
    np.testing.assert_allclose(tuning_correlation(down, down, rec.behavior_labels), 1.0)


def test_a_perfect_generator_matches_and_a_scrambled_one_does_not(world):
    subject, perfect, scrambled = world
    rec = subject.recording
    labels, trials, down = rec.behavior_labels, rec.trial_ids, rec.downstream_spikes
    good = np.median(psth_correlation(perfect, down, labels, trials, smoothing_sigma_bins=5))
    bad = np.median(psth_correlation(scrambled, down, labels, trials, smoothing_sigma_bins=5))
    assert good > 0.7 and bad < 0.4
    assert np.median(tuning_correlation(perfect, down, labels)) > 0.9
    np.testing.assert_allclose(firing_rate(perfect, rec.bin_size), firing_rate(down, rec.bin_size), rtol=0.2)

    recorded_mi = mutual_information(down, labels).mean()
    perfect_mi = mutual_information(perfect, labels).mean()
    scrambled_mi = mutual_information(scrambled, labels).mean()
    assert perfect_mi == pytest.approx(recorded_mi, rel=0.25)
    assert scrambled_mi < 0.3 * recorded_mi

    recorded_depth = mean_abs_modulation_depth(down, labels).mean()
    assert mean_abs_modulation_depth(perfect, labels).mean() == pytest.approx(recorded_depth, rel=0.25)
    assert mean_abs_modulation_depth(scrambled, labels).mean() < 0.5 * recorded_depth


def test_time_rescaling_accepts_the_true_probabilities(world):
    subject, _, _ = world
    rec = subject.recording
    result = time_rescaling_ks(subject.downstream_rates, rec.downstream_spikes, rng=np.random.default_rng(1))
    assert np.mean(result.statistic < result.bound_95) >= 0.85  # 95% band per neuron
    constant = np.broadcast_to(subject.downstream_rates.mean(axis=0), subject.downstream_rates.shape)
    worse = time_rescaling_ks(constant, rec.downstream_spikes, rng=np.random.default_rng(1))
    assert np.median(worse.statistic) > 2 * np.median(result.statistic)
