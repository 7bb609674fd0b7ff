"""Tests for the simulated lever-press subject."""

from __future__ import annotations

import time
from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from spikebridge.simulate import SimulatedSubject, simulate_lever_task
from tests.simulate._decoding import lagged_counts, least_squares_classifier_accuracy

SEED = 42


@pytest.fixture(scope="module")
def subject() -> SimulatedSubject:
    return simulate_lever_task(seed=SEED)


def test_shapes_and_types(subject):
    rec = subject.recording
    n_bins = rec.n_bins
    assert rec.upstream_spikes.shape == (n_bins, 30)
    assert rec.downstream_spikes.shape == (n_bins, 20)
    assert subject.downstream_rates.shape == (n_bins, 20)
    assert subject.upstream_rates.shape == (n_bins, 30)
    assert subject.task_signals.shape == (n_bins, len(subject.signal_names))
    assert subject.upstream_tuning.shape == (30, len(subject.signal_names))
    assert subject.upstream_log_gain.shape == (200, 30)
    assert len(subject.upstream_types) == 30
    assert rec.bin_size == 0.01
    assert len(rec.trials) == 200 == subject.n_trials
    assert rec.downstream_spikes.max() <= 1
    assert np.all((subject.downstream_rates >= 0) & (subject.downstream_rates < 1))
    for values in subject.trial_table.values():
        assert values.shape == (200,)


def test_rates_within_stated_range(subject):
    rec = subject.recording
    down = rec.downstream_spikes.mean(axis=0) / rec.bin_size
    up = rec.upstream_spikes.mean(axis=0) / rec.bin_size
    assert 5 <= down.mean() <= 40
    assert np.all((down > 2) & (down < 60))
    assert 5 <= up.mean() <= 30
    # The true probabilities agree with the drawn spikes.
    np.testing.assert_allclose(subject.downstream_rates.mean(axis=0), rec.downstream_spikes.mean(axis=0),
                               rtol=0.1)


def test_labels_and_trial_structure(subject):
    rec, table = subject.recording, subject.trial_table
    labels = rec.behavior_labels
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert np.all(rec.trial_ids[table["iti_onset"]] == -1)
    rest_bins = table["cue"] - table["rest_onset"]
    assert np.all((rest_bins >= 45) & (rest_bins <= 55))
    press_bins = table["press_offset"] - table["press_onset"]
    assert np.all((press_bins >= 40) & (press_bins <= 120))
    assert np.all(table["press_onset"] > table["cue"])  # a reaction time separates cue and press
    for trial in (0, 57, 199):
        in_trial = labels[rec.trial_ids == trial]
        assert set(np.unique(in_trial)) == {0, 1, table["press_type"][trial]}
    assert 0.35 < np.mean(table["press_type"] == 3) < 0.65


def test_same_seed_same_arrays_and_other_seed_differs():
    first, again = simulate_lever_task(n_trials=40, seed=SEED), simulate_lever_task(n_trials=40, seed=SEED)
    other = simulate_lever_task(n_trials=40, seed=SEED + 1)
    fields = ("upstream_spikes", "downstream_spikes", "behavior_labels", "trial_ids", "behavior_continuous")
    for field in fields:
        a, b = getattr(first.recording, field), getattr(again.recording, field)
        assert (a is None and b is None) or np.array_equal(a, b)
    np.testing.assert_array_equal(first.downstream_rates, again.downstream_rates)
    np.testing.assert_array_equal(first.mapping.input_weights, again.mapping.input_weights)
    assert other.recording.n_bins != first.recording.n_bins or not np.array_equal(
        other.recording.downstream_spikes, first.recording.downstream_spikes)
    # A generator is accepted as the seed and consumed like the int seed.
    from_generator = simulate_lever_task(n_trials=40, seed=np.random.default_rng(SEED))
    np.testing.assert_array_equal(from_generator.recording.downstream_spikes,
                                  first.recording.downstream_spikes)


def test_lesioned_view_drops_downstream(subject):
    lesioned = subject.lesioned
    assert lesioned.downstream_spikes is None
    assert subject.recording.downstream_spikes is not None
    np.testing.assert_array_equal(lesioned.upstream_spikes, subject.recording.upstream_spikes)


def test_downstream_is_informative_of_the_label(subject):
    rec = subject.recording
    features = lagged_counts(rec.downstream_spikes, n_windows=5, window_bins=10)
    labels, trials = rec.behavior_labels, rec.trial_ids
    train, test = (labels > 0) & (trials < 100), (labels > 0) & (trials >= 100)
    accuracy = least_squares_classifier_accuracy(features, labels, train, test)
    chance = np.bincount(labels[test]).max() / test.sum()
    assert accuracy > 0.7
    assert accuracy > chance + 0.3


def test_several_downstream_neurons_are_selective(subject):
    rec = subject.recording
    labels, spikes = rec.behavior_labels, rec.downstream_spikes.astype(float)
    mean = {c: spikes[labels == c].mean(axis=0) / rec.bin_size for c in (1, 2, 3)}
    press = spikes[labels >= 2].mean(axis=0) / rec.bin_size
    assert np.sum(np.abs(mean[3] - mean[2]) > 3.0) >= 3  # spikes/s, low vs high
    assert np.sum(np.abs(press - mean[1]) > 3.0) >= 3  # rest vs press


def test_downstream_is_the_known_function_of_upstream():
    subject = simulate_lever_task(n_trials=20, refractory_strength=0.0, seed=3)
    expected = subject.mapping.probabilities(subject.recording.upstream_spikes)
    np.testing.assert_allclose(subject.downstream_rates, expected, rtol=1e-12, atol=1e-15)
    shuffled = subject.recording.upstream_spikes[::-1]
    assert not np.allclose(subject.mapping.probabilities(shuffled), expected)


def test_mapping_sample_matches_its_probabilities(subject):
    rng = np.random.default_rng(0)
    spikes, probabilities = subject.mapping.sample(
        subject.recording.upstream_spikes, rng, block_starts=subject.block_starts)
    assert spikes.shape == probabilities.shape == subject.downstream_rates.shape
    np.testing.assert_allclose(spikes.mean(axis=0), probabilities.mean(axis=0), rtol=0.1)
    # One block: the history never restarts; still a valid draw of the same model.
    short = subject.recording.upstream_spikes[:2000]
    spikes_one, probabilities_one = subject.mapping.sample(short, np.random.default_rng(0))
    assert spikes_one.shape == (2000, 20) and np.all(probabilities_one < 1)


def test_is_fast():
    start = time.perf_counter()
    simulate_lever_task(seed=1)
    assert time.perf_counter() - start < 1.5  # ~0.2 s on one core


def test_every_parameter_can_be_changed():
    subject = simulate_lever_task(
        n_trials=12, n_upstream=7, n_downstream=5, bin_size=0.005, seed=np.random.default_rng(1),
        press_duration=0.6, high_press_fraction=1.0, n_hidden=3, upstream_type_fractions=(0, 1, 0, 0))
    rec = subject.recording
    assert rec.upstream_spikes.shape[1] == 7 and rec.downstream_spikes.shape[1] == 5
    assert set(np.unique(rec.behavior_labels)) == {0, 1, 3}
    assert set(subject.upstream_types) == {"movement"}
    assert np.all(subject.trial_table["press_offset"] - subject.trial_table["press_onset"] == 120)


@pytest.mark.parametrize("kwargs, expectation", [
    ({}, does_not_raise()),
    ({"n_trials": 0}, pytest.raises(ValueError, match="n_trials")),
    ({"n_trials": 2.5}, pytest.raises(TypeError, match="n_trials")),
    ({"bin_size": "10ms"}, pytest.raises(TypeError, match="bin_size")),
    ({"bin_size": -0.01}, pytest.raises(ValueError, match="bin_size")),
    ({"seed": -1}, pytest.raises(ValueError, match="seed")),
    ({"seed": 1.5}, pytest.raises(TypeError, match="seed")),
    ({"press_duration": (1.2, 0.4)}, pytest.raises(ValueError, match="low <= high")),
    ({"press_duration": "long"}, pytest.raises(TypeError, match="press_duration")),
    ({"high_press_fraction": 1.5}, pytest.raises(ValueError, match="high_press_fraction")),
    ({"upstream_type_fractions": (1, 1)}, pytest.raises(ValueError, match="upstream_type_fractions")),
    ({"refractory_strength": -1}, pytest.raises(ValueError, match="refractory_strength")),
    ({"max_rate": 10.0}, pytest.raises(ValueError, match="max_rate")),
])
def test_validates_parameters(kwargs, expectation):
    with expectation:
        simulate_lever_task(n_trials=kwargs.pop("n_trials", 5), **kwargs)
