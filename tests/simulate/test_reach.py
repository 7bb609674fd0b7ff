"""Tests for the simulated centre-out reaching subject."""

from __future__ import annotations

import time
from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from spikebridge.simulate import SimulatedSubject, simulate_reach_task
from tests.simulate._decoding import lagged_counts, least_squares_classifier_accuracy, wiener_r2

SEED = 42


@pytest.fixture(scope="module")
def subject() -> SimulatedSubject:
    return simulate_reach_task(seed=SEED)


def test_shapes(subject):
    rec = subject.recording
    n_bins = rec.n_bins
    assert rec.upstream_spikes.shape == (n_bins, 80)
    assert rec.downstream_spikes.shape == (n_bins, 40)
    assert rec.behavior_continuous.shape == (n_bins, 2)
    assert subject.downstream_rates.shape == (n_bins, 40)
    assert len(rec.trials) == 200
    assert subject.mapping.n_upstream == 80 and subject.mapping.n_downstream == 40


def test_rates_within_stated_range(subject):
    rec = subject.recording
    down = rec.downstream_spikes.mean(axis=0) / rec.bin_size
    assert 5 <= down.mean() <= 40
    assert np.all((down > 2) & (down < 60))


def test_labels_mark_movement_bins_with_the_target(subject):
    rec, table = subject.recording, subject.trial_table
    labels = rec.behavior_labels
    assert set(np.unique(labels)) == set(range(9))
    np.testing.assert_array_equal(np.bincount(table["target"]), np.full(8, 25))  # balanced targets
    moving = np.zeros(rec.n_bins, dtype=bool)
    for onset, offset in zip(table["movement_onset"], table["movement_offset"]):
        moving[onset:offset] = True
    np.testing.assert_array_equal(labels > 0, moving)
    np.testing.assert_array_equal(labels[table["movement_onset"]], table["target"] + 1)


def test_velocity_is_bell_shaped_and_points_at_the_target(subject):
    rec, table = subject.recording, subject.trial_table
    velocity = rec.behavior_continuous
    speed = np.linalg.norm(velocity, axis=1)
    assert np.all(speed[rec.behavior_labels == 0] == 0)
    for trial in (0, 101, 199):
        onset, offset = table["movement_onset"][trial], table["movement_offset"][trial]
        profile = speed[onset:offset]
        peak = np.argmax(profile)
        assert abs(peak - (len(profile) - 1) / 2) <= 1  # peak in the middle
        assert profile[0] < 0.1 * profile[peak] and profile[-1] < 0.1 * profile[peak]
        np.testing.assert_allclose(profile.sum() * rec.bin_size, 10.0, rtol=0.01)  # reach distance, cm
        heading = np.arctan2(*velocity[onset + peak][::-1])
        target_angle = 2 * np.pi * table["target"][trial] / 8
        assert abs(np.angle(np.exp(1j * (heading - target_angle)))) < np.deg2rad(25)


def test_same_seed_same_arrays_and_other_seed_differs():
    first, again = simulate_reach_task(n_trials=40, seed=SEED), simulate_reach_task(n_trials=40, seed=SEED)
    other = simulate_reach_task(n_trials=40, seed=SEED + 1)
    fields = ("upstream_spikes", "downstream_spikes", "behavior_labels", "trial_ids", "behavior_continuous")
    for field in fields:
        a, b = getattr(first.recording, field), getattr(again.recording, field)
        assert (a is None and b is None) or np.array_equal(a, b)
    np.testing.assert_array_equal(first.downstream_rates, again.downstream_rates)
    np.testing.assert_array_equal(first.mapping.input_weights, again.mapping.input_weights)
    assert other.recording.n_bins != first.recording.n_bins or not np.array_equal(
        other.recording.downstream_spikes, first.recording.downstream_spikes)
    # A generator is accepted as the seed and consumed like the int seed.
    from_generator = simulate_reach_task(n_trials=40, seed=np.random.default_rng(SEED))
    np.testing.assert_array_equal(from_generator.recording.downstream_spikes,
                                  first.recording.downstream_spikes)


def test_lesioned_view_drops_downstream(subject):
    assert subject.lesioned.downstream_spikes is None
    np.testing.assert_array_equal(subject.lesioned.behavior_continuous, subject.recording.behavior_continuous)


def test_linear_decoder_recovers_velocity_from_downstream(subject):
    rec = subject.recording
    features = lagged_counts(rec.downstream_spikes, n_windows=5, window_bins=4)  # past 200 ms
    in_trial = rec.trial_ids >= 0
    train, test = in_trial & (rec.trial_ids < 100), in_trial & (rec.trial_ids >= 100)
    r2 = wiener_r2(features, rec.behavior_continuous, train, test)
    assert np.all(r2 > 0.5), r2


def test_downstream_is_informative_of_the_target(subject):
    rec = subject.recording
    features = lagged_counts(rec.downstream_spikes, n_windows=5, window_bins=10)
    labels, trials = rec.behavior_labels, rec.trial_ids
    train, test = (labels > 0) & (trials < 100), (labels > 0) & (trials >= 100)
    assert least_squares_classifier_accuracy(features, labels, train, test) > 0.125 + 0.15


def test_downstream_neurons_are_cosine_tuned(subject):
    rec, table = subject.recording, subject.trial_table
    labels = rec.behavior_labels
    rates = np.stack([rec.downstream_spikes[labels == k + 1].mean(axis=0) for k in range(8)])  # (8, n)
    angles = 2 * np.pi * np.arange(8) / 8
    design = np.column_stack([np.ones(8), np.cos(angles), np.sin(angles)])
    fit = design @ np.linalg.lstsq(design, rates, rcond=None)[0]
    explained = 1 - ((rates - fit) ** 2).sum(0) / ((rates - rates.mean(0)) ** 2).sum(0)
    assert np.median(explained) > 0.7
    assert table["direction"].shape == (200,)


def test_downstream_is_the_known_function_of_upstream():
    subject = simulate_reach_task(n_trials=16, refractory_strength=0.0, seed=3)
    expected = subject.mapping.probabilities(subject.recording.upstream_spikes)
    np.testing.assert_allclose(subject.downstream_rates, expected, rtol=1e-12, atol=1e-15)


def test_is_fast():
    start = time.perf_counter()
    simulate_reach_task(seed=1)
    assert time.perf_counter() - start < 1.5  # ~0.2 s on one core


def test_parameters_can_be_changed():
    subject = simulate_reach_task(n_trials=8, n_targets=4, n_upstream=10, n_downstream=6, n_random_units=0,
                                  movement_duration=0.5, reach_distance=5.0, seed=2)
    rec = subject.recording
    assert set(np.unique(rec.behavior_labels)) == {0, 1, 2, 3, 4}
    assert rec.downstream_spikes.shape[1] == 6 and subject.mapping.n_hidden == 8
    speed = np.linalg.norm(rec.behavior_continuous, axis=1)
    np.testing.assert_allclose(speed.sum() * rec.bin_size, 8 * 5.0, rtol=0.01)


@pytest.mark.parametrize("kwargs, expectation", [
    ({}, does_not_raise()),
    ({"n_targets": 1}, pytest.raises(ValueError, match="n_targets")),
    ({"reach_distance": 0}, pytest.raises(ValueError, match="reach_distance")),
    ({"movement_duration": (0.6, 0.4)}, pytest.raises(ValueError, match="movement_duration")),
    ({"upstream_type_fractions": (0, 0, 0)}, pytest.raises(ValueError, match="upstream_type_fractions")),
    ({"hidden_gain": 0}, pytest.raises(ValueError, match="hidden_gain")),
    ({"velocity_lead": None}, pytest.raises(TypeError, match="velocity_lead")),
])
def test_validates_parameters(kwargs, expectation):
    with expectation:
        simulate_reach_task(n_trials=8, **kwargs)
