"""Known answers for the discrete-time time-rescaling KS test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from spikebridge.metrics import rescaled_intervals, time_rescaling_ks


def _varying_probabilities(n_bins: int = 20_000) -> np.ndarray:
    t = np.arange(n_bins)[:, None]
    # Coarse bins on purpose: p reaches 0.6, where the uncorrected classical test fails.
    return np.column_stack([0.05 + 0.04 * np.sin(t[:, 0] / 50), 0.3 + 0.3 * np.sin(t[:, 0] / 80) ** 2])


def test_spikes_drawn_from_the_probabilities_pass():
    rng = np.random.default_rng(0)
    p = _varying_probabilities()
    spikes = (rng.random(p.shape) < p).astype(np.uint8)
    result = time_rescaling_ks(p, spikes, rng=rng)
    assert result.statistic.shape == result.pvalue.shape == result.n_intervals.shape == (2,)
    np.testing.assert_array_equal(result.n_intervals, spikes.sum(axis=0) - 1)
    assert np.all(result.statistic < result.bound_95)
    assert np.all(result.pvalue > 0.01)


def test_wrong_probabilities_fail():
    rng = np.random.default_rng(1)
    p = _varying_probabilities()
    spikes = (rng.random(p.shape) < p).astype(np.uint8)
    for wrong in (np.full_like(p, p.mean()), np.clip(3 * p, 0, 1), p / 3):
        result = time_rescaling_ks(wrong, spikes, rng=rng)
        assert np.all(result.statistic > 2 * result.bound_95)


def test_discrete_correction_matters_for_coarse_bins():
    """Without the random within-bin term, the rescaled intervals are not uniform when p is large."""
    rng = np.random.default_rng(2)
    p = np.full((20_000, 1), 0.5)
    spikes = (rng.random(p.shape) < p).astype(np.uint8)
    corrected = rescaled_intervals(p, spikes, rng=rng)[0]
    times = np.flatnonzero(spikes[:, 0])
    naive = 1 - np.exp(-np.log(2.0) * np.diff(times))  # classical rescaling with q summed over whole bins
    assert kstest(corrected, "uniform").pvalue > 0.01
    assert kstest(naive, "uniform").pvalue < 1e-6


def test_same_rng_seed_same_result_and_few_spikes_give_nan():
    p = np.full((500, 2), 0.1)
    spikes = np.zeros((500, 2), dtype=int)
    spikes[::7, 0] = 1
    spikes[10, 1] = 1  # one spike: no interval
    first = time_rescaling_ks(p, spikes, rng=np.random.default_rng(3))
    second = time_rescaling_ks(p, spikes, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(first.statistic, second.statistic)
    assert np.isnan(first.statistic[1]) and first.n_intervals[1] == 0


@pytest.mark.parametrize("probabilities, spikes, rng, error, match", [
    (np.full((5, 1), 0.1), np.ones((5, 2)), np.random.default_rng(0), ValueError, "shape"),
    (np.full((5, 1), 1.5), np.ones((5, 1)), np.random.default_rng(0), ValueError, r"\[0, 1\]"),
    (np.full((5, 1), 0.1), 2 * np.ones((5, 1)), np.random.default_rng(0), ValueError, "more than one spike"),
    (np.full((5, 1), 0.1), np.ones((5, 1)), 0, TypeError, "rng"),
])
def test_validates_arguments(probabilities, spikes, rng, error, match):
    with pytest.raises(error, match=match):
        time_rescaling_ks(probabilities, spikes, rng=rng)
