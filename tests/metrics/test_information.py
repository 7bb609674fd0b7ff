"""Known answers for the plug-in mutual information."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.metrics import label_entropy, mutual_information


def test_independent_neuron_has_near_zero_information():
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 4, size=20_000)
    spikes = (rng.random((20_000, 3)) < 0.2).astype(int)
    information = mutual_information(spikes, labels, smoothing_sigma_bins=2.0)
    assert np.all(information < 0.01)  # plug-in bias ~ (8-1)(3-1) / (2 N ln 2) = 0.0005 bits


def test_deterministic_neuron_carries_the_label_entropy():
    rng = np.random.default_rng(1)
    labels = rng.integers(1, 4, size=3000)
    spikes = (labels - 1)[:, None]  # counts 0, 1, 2 name the class
    information = mutual_information(spikes, labels, smoothing_sigma_bins=0)
    np.testing.assert_allclose(information, label_entropy(labels), rtol=1e-12)
    assert label_entropy(labels) == pytest.approx(np.log2(3), abs=0.01)


def test_unlabelled_bins_are_ignored():
    labels = np.array([1, 2] * 200 + [0] * 400)
    spikes = np.concatenate([(labels[:400] == 2), np.ones(400)]).astype(int)[:, None]
    np.testing.assert_allclose(mutual_information(spikes, labels, smoothing_sigma_bins=0), [1.0])


def test_max_lag_finds_a_neuron_that_leads_the_behaviour():
    rng = np.random.default_rng(2)
    labels = np.repeat(rng.integers(1, 3, size=200), 20)  # blocks of 20 bins
    lead = 7
    spikes = np.zeros((len(labels), 1), dtype=int)
    spikes[:-lead, 0] = labels[lead:] == 2  # fires 7 bins before class-2 bins
    at_zero = mutual_information(spikes, labels, smoothing_sigma_bins=0)
    best, lag = mutual_information(spikes, labels, smoothing_sigma_bins=0, max_lag=10, return_lag=True)
    assert lag[0] == lead
    assert best[0] > 0.99 and best[0] > at_zero[0] + 0.3


@settings(max_examples=30, deadline=None)
@given(spikes=arrays(np.uint8, (60, 2), elements=st.integers(0, 1)),
       labels=arrays(np.int64, (60,), elements=st.integers(0, 3)),
       sigma=st.sampled_from([0.0, 1.0, 3.0]))
def test_information_is_between_zero_and_label_entropy(spikes, labels, sigma):
    labels[0] = 1  # at least one labelled bin
    information = mutual_information(spikes, labels, smoothing_sigma_bins=sigma, n_histogram_bins=4)
    assert information.shape == (2,)
    assert np.all(information >= 0)
    assert np.all(information <= label_entropy(labels) + 1e-9)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"labels": np.zeros(10)}, ValueError, "no labelled bins"),
    ({"labels": np.ones(9)}, ValueError, "9 bins"),
    ({"smoothing_sigma_bins": -1}, ValueError, "smoothing_sigma_bins"),
    ({"n_histogram_bins": 0}, ValueError, "n_histogram_bins"),
    ({"max_lag": -1}, ValueError, "max_lag"),
    ({"max_lag": 50}, ValueError, "max_lag"),
])
def test_mutual_information_validates_arguments(kwargs, error, match):
    arguments = {"spikes": np.ones((10, 2)), "labels": np.ones(10), **kwargs}
    with pytest.raises(error, match=match):
        mutual_information(arguments.pop("spikes"), arguments.pop("labels"), **arguments)
