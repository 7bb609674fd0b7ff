"""Known answers for pairwise correlation, participation ratio and subspace angles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.metrics import pairwise_correlation, participation_ratio, subspace_angles_deg


def test_pairwise_correlation_independent_identical_and_shared():
    rng = np.random.default_rng(0)
    independent = (rng.random((20_000, 5)) < 0.2).astype(int)
    assert abs(pairwise_correlation(independent, window_bins=5)) < 0.02
    copies = np.repeat(independent[:, :1], 4, axis=1)
    assert pairwise_correlation(copies) == pytest.approx(1.0)
    # Each neuron copies a common train with probability 1/2, else fires independently: r = 1/4 per bin.
    common = rng.random((50_000, 1)) < 0.2
    own = rng.random((50_000, 4)) < 0.2
    shared = np.where(rng.random((50_000, 4)) < 0.5, common, own).astype(int)
    assert pairwise_correlation(shared) == pytest.approx(0.25, abs=0.02)


def test_pairwise_correlation_skips_silent_neurons():
    spikes = np.array([[1, 1, 0], [0, 0, 0], [1, 1, 0], [0, 0, 0]])
    assert pairwise_correlation(spikes) == pytest.approx(1.0)
    assert np.isnan(pairwise_correlation(np.zeros((4, 2))))


@pytest.mark.parametrize("rank", [1, 2, 3, 5])
def test_participation_ratio_of_planted_rank_is_the_rank(rank):
    rng = np.random.default_rng(rank)
    n_neurons, n_samples = 12, 4000
    basis = np.linalg.qr(rng.normal(size=(n_neurons, rank)))[0]  # orthonormal columns
    latents = rng.choice([-1.0, 1.0], size=(n_samples, rank))  # equal variance per dimension
    assert participation_ratio(latents @ basis.T) == pytest.approx(rank, rel=0.02)


@settings(max_examples=30, deadline=None)
@given(activity=arrays(np.float64, (20, 4), elements=st.floats(-10, 10)))
def test_participation_ratio_is_between_one_and_n_neurons(activity):
    ratio = participation_ratio(activity)
    assert np.isnan(ratio) or 1 - 1e-9 <= ratio <= 4 + 1e-9


def test_subspace_angles_identical_orthogonal_and_partial():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(10, 4)))[0]
    a = rng.normal(size=(500, 2)) * [3.0, 2.0] @ basis[:, :2].T
    b_same = rng.normal(size=(400, 2)) * [2.0, 1.0] @ basis[:, :2].T
    b_orthogonal = rng.normal(size=(400, 2)) * [3.0, 2.0] @ basis[:, 2:].T
    np.testing.assert_allclose(subspace_angles_deg(a, b_same, k=2), [0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(subspace_angles_deg(a, b_orthogonal, k=2), [90.0, 90.0], atol=1e-5)
    # Share one axis, orthogonal in the other: angles 0 and 90, ascending.
    b_mixed = rng.normal(size=(400, 2)) * [3.0, 2.0] @ basis[:, [0, 2]].T
    np.testing.assert_allclose(subspace_angles_deg(a, b_mixed, k=2), [0.0, 90.0], atol=1e-5)


@pytest.mark.parametrize("call, error, match", [
    (lambda: subspace_angles_deg(np.ones((5, 3)), np.ones((5, 4)), k=1), ValueError, "same neurons"),
    (lambda: subspace_angles_deg(np.ones((5, 3)), np.ones((5, 3)), k=4), ValueError, "k"),
    (lambda: participation_ratio(np.ones(5)), ValueError, "activity"),
    (lambda: participation_ratio(np.array([[np.nan, 1.0], [1.0, 2.0]])), ValueError, "NaN"),
    (lambda: pairwise_correlation(np.ones((5, 1))), ValueError, "at least 2"),
    (lambda: pairwise_correlation(np.ones((5, 2)), window_bins="2"), TypeError, "window_bins"),
])
def test_population_metrics_validate_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
