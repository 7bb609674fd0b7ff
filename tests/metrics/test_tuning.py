"""Known answers for class mean rates, modulation depth, PSTHs and their correlations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.metrics import (
    class_mean_rates,
    mean_abs_modulation_depth,
    modulation_depth,
    psth,
    psth_correlation,
    tuning_correlation,
)


@pytest.fixture()
def three_class_data():
    """Neuron 0 fires 0.1 / 0.3 / 0.5 per bin in classes 1 / 2 / 3 (exactly); neuron 1 is flat at 0.2."""
    labels = np.repeat([0, 1, 2, 3, 0], 100)
    spikes = np.zeros((500, 2), dtype=int)
    for c, fraction in ((1, 0.1), (2, 0.3), (3, 0.5)):
        bins = np.flatnonzero(labels == c)
        spikes[bins[: int(fraction * 100)], 0] = 1
        spikes[bins[:20], 1] = 1
    spikes[:100, :] = 1  # unlabelled bins are ignored
    return spikes, labels


def test_class_mean_rates_known_answer(three_class_data):
    spikes, labels = three_class_data
    np.testing.assert_allclose(class_mean_rates(spikes, labels), [[0.1, 0.2], [0.3, 0.2], [0.5, 0.2]])
    np.testing.assert_allclose(class_mean_rates(spikes, labels, classes=[3, 1]), [[0.5, 0.2], [0.1, 0.2]])


def test_modulation_depth_is_second_minus_first(three_class_data):
    spikes, labels = three_class_data
    depth = modulation_depth(spikes, labels)
    np.testing.assert_allclose(depth, [[0.2, 0.0], [0.4, 0.0], [0.2, 0.0]], atol=1e-12)
    pooled = modulation_depth(spikes, labels, contrasts=((1, (2, 3)), (3, 2)))
    np.testing.assert_allclose(pooled, [[0.3, 0.0], [-0.2, 0.0]], atol=1e-12)


def test_mean_abs_modulation_depth_is_the_paper_summary(three_class_data):
    spikes, labels = three_class_data
    # |rest vs presses| = 0.3 and |low vs high| = 0.2 -> 0.25.
    np.testing.assert_allclose(mean_abs_modulation_depth(spikes, labels), [0.25, 0.0], atol=1e-12)


def test_modulation_depth_averages_samples(three_class_data):
    spikes, labels = three_class_data
    samples = np.stack([spikes, np.zeros_like(spikes)])
    np.testing.assert_allclose(modulation_depth(samples, labels), modulation_depth(spikes, labels) / 2)


@settings(max_examples=25, deadline=None)
@given(spikes=arrays(np.uint8, (30, 3), elements=st.integers(0, 1)))
def test_mean_abs_depth_is_non_negative_and_bounded(spikes):
    labels = np.repeat([1, 2, 3], 10)
    depth = mean_abs_modulation_depth(spikes, labels)
    assert np.all((depth >= 0) & (depth <= 1))


def test_modulation_depth_names_a_missing_class():
    with pytest.raises(ValueError, match="no bin has that label"):
        modulation_depth(np.ones((4, 1)), np.array([1, 1, 2, 2]), contrasts=((1, 3),))
    with pytest.raises(TypeError, match="pair"):
        modulation_depth(np.ones((4, 1)), np.array([1, 1, 2, 2]), contrasts=((1, 2, 3),))


def _trials():
    """Three trials of 30 bins: 5 unlabelled, 10 of class 1, 15 of class 2."""
    one = np.array([0] * 5 + [1] * 10 + [2] * 15)
    labels = np.tile(one, 3)
    trial_ids = np.repeat([0, 1, 2], 30)
    return labels, trial_ids


def test_psth_aligns_on_each_class_onset():
    labels, trial_ids = _trials()
    spikes = np.zeros((90, 1), dtype=int)
    onsets_2 = np.flatnonzero((labels == 2) & (np.roll(labels, 1) != 2))
    spikes[onsets_2 + 1, 0] = 1  # one spike one bin after each class-2 onset
    curves = psth(spikes, labels, trial_ids, n_bins_window=4, n_bins_before=1, smoothing_sigma_bins=0)
    assert curves.shape == (2, 5, 1)
    np.testing.assert_allclose(curves[1, :, 0], [0, 0, 1, 0, 0])
    np.testing.assert_allclose(curves[0, :, 0], 0)


def test_psth_leaves_out_bins_past_the_recording():
    labels, trial_ids = _trials()
    spikes = np.ones((90, 1), dtype=int)
    curves = psth(spikes, labels, trial_ids, n_bins_window=20, smoothing_sigma_bins=0, classes=[2])
    assert curves.shape == (1, 20, 1)
    np.testing.assert_allclose(curves[0, :15, 0], 1)  # last trial ends 15 bins after its onset
    np.testing.assert_allclose(curves[0, 15:, 0], 1)  # earlier trials still cover those bins


def test_psth_correlation_known_answers():
    labels, trial_ids = _trials()
    rng = np.random.default_rng(0)
    recorded = (rng.random((90, 3)) < 0.3).astype(int)
    generated = recorded.copy()
    generated[:, 1] = 1 - recorded[:, 1]  # anti-correlated neuron
    generated[:, 2] = 0  # silent neuron: constant PSTH
    r = psth_correlation(generated, recorded, labels, trial_ids, n_bins_window=10, smoothing_sigma_bins=1.0)
    assert r[0] == pytest.approx(1.0)
    assert r[1] == pytest.approx(-1.0)
    assert np.isnan(r[2])
    samples = np.stack([recorded, np.zeros_like(recorded)])  # (n_samples, n_bins, n_neurons): half rate
    r = psth_correlation(samples, recorded, labels, trial_ids, n_bins_window=10)
    np.testing.assert_allclose(r, 1.0)


def test_tuning_correlation_known_answers(three_class_data):
    spikes, labels = three_class_data
    same = tuning_correlation(spikes, spikes, labels)
    assert same[0] == pytest.approx(1.0)
    assert np.isnan(same[1])  # flat tuning curve
    reversed_tuning = spikes.copy()
    for c, fraction in ((1, 0.5), (2, 0.3), (3, 0.1)):  # 0.5 / 0.3 / 0.1 instead of 0.1 / 0.3 / 0.5
        bins = np.flatnonzero(labels == c)
        reversed_tuning[bins, 0] = np.arange(100) < fraction * 100
    assert tuning_correlation(reversed_tuning, spikes, labels)[0] == pytest.approx(-1.0)
    half = np.stack([spikes, np.zeros_like(spikes)])  # half the rate: same shape of tuning
    assert tuning_correlation(half, spikes, labels)[0] == pytest.approx(1.0)


def test_paired_metrics_need_the_same_neurons():
    labels, trial_ids = _trials()
    with pytest.raises(ValueError, match="same"):
        psth_correlation(np.ones((90, 2)), np.ones((90, 3)), labels, trial_ids)
    with pytest.raises(ValueError, match="trial_ids"):
        psth(np.ones((90, 2)), labels, trial_ids[:50])
