"""Known answers for firing_rate, isi_cv and fano_factor."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.metrics import fano_factor, firing_rate, isi_cv


def test_firing_rate_known_answer():
    spikes = np.zeros((100, 2))
    spikes[::10, 0] = 1  # 10 spikes in 1 s
    np.testing.assert_allclose(firing_rate(spikes, bin_size=0.01), [10.0, 0.0])


def test_firing_rate_averages_samples():
    samples = np.stack([np.ones((4, 1)), np.zeros((4, 1))])  # (n_samples, n_bins, n_neurons)
    np.testing.assert_allclose(firing_rate(samples, bin_size=0.5), [1.0])


@settings(max_examples=30, deadline=None)
@given(spikes=arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 5)), elements=st.integers(0, 3)),
       bin_size=st.floats(1e-3, 1.0))
def test_firing_rate_is_non_negative_and_counts_spikes(spikes, bin_size):
    rates = firing_rate(spikes, bin_size)
    assert rates.shape == (spikes.shape[1],)
    assert np.all(rates >= 0)
    np.testing.assert_allclose(rates * bin_size * spikes.shape[0], spikes.sum(axis=0), rtol=1e-9)


def test_isi_cv_regular_train_is_zero_and_sparse_is_nan():
    spikes = np.zeros((50, 2))
    spikes[::5, 0] = 1
    spikes[[3, 9], 1] = 1  # only 2 spikes
    cv = isi_cv(spikes)
    assert cv[0] == 0.0
    assert np.isnan(cv[1])


def test_isi_cv_of_bernoulli_train_is_sqrt_one_minus_p():
    rng = np.random.default_rng(0)
    p = np.array([0.05, 0.3])
    spikes = (rng.random((100_000, 2)) < p).astype(int)
    np.testing.assert_allclose(isi_cv(spikes), np.sqrt(1 - p), rtol=0.03)


def test_isi_cv_counts_multiple_spikes_in_a_bin_as_zero_intervals():
    spikes = np.array([[2], [0], [1]])  # spike bins 0, 0, 2 -> intervals 0, 2
    np.testing.assert_allclose(isi_cv(spikes), [1.0])


def test_fano_factor_of_bernoulli_counts_is_one_minus_p():
    rng = np.random.default_rng(1)
    p = np.array([0.1, 0.4])
    spikes = (rng.random((200_000, 2)) < p).astype(int)
    np.testing.assert_allclose(fano_factor(spikes, window_bins=10), 1 - p, rtol=0.03)


def test_fano_factor_silent_neuron_is_nan_and_regular_is_zero():
    spikes = np.zeros((40, 2))
    spikes[::4, 1] = 1
    ff = fano_factor(spikes, window_bins=4)
    assert np.isnan(ff[0]) and ff[1] == 0.0


@pytest.mark.parametrize("call, error, match", [
    (lambda: firing_rate(np.ones((3, 2)), bin_size=0), ValueError, "bin_size"),
    (lambda: firing_rate(np.ones((3, 2)), bin_size="10ms"), TypeError, "bin_size"),
    (lambda: firing_rate(np.array([["a"]]), bin_size=0.01), TypeError, "spikes"),
    (lambda: firing_rate(np.ones(3), bin_size=0.01), ValueError, "spikes"),
    (lambda: isi_cv(-np.ones((3, 2))), ValueError, "negative"),
    (lambda: fano_factor(np.ones((3, 2)), window_bins=2), ValueError, "window_bins"),
    (lambda: fano_factor(np.ones((3, 2)), window_bins=0), ValueError, "window_bins"),
])
def test_rates_validate_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
