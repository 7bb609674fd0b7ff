import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.exceptions import DataFormatError
from spikebridge.features.history import (
    first_complete_bin,
    last_spikes_exponential,
    raised_cosine_basis,
    raised_cosine_features,
)


def naive_last_spikes(spikes, n_spikes, time_constant):
    n_bins, n_neurons = spikes.shape
    out = np.zeros((n_bins, n_neurons, n_spikes))
    for t in range(n_bins):
        for c in range(n_neurons):
            past = [tau for tau in range(t, -1, -1) if spikes[tau, c]][:n_spikes]
            for k, tau in enumerate(past):
                out[t, c, k] = np.exp(-(t - tau) / time_constant)
    return out.reshape(n_bins, -1)


@settings(max_examples=25, deadline=None)
@given(spikes=arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 4)), elements=st.integers(0, 1)),
       n_spikes=st.integers(1, 6), time_constant=st.floats(1.0, 200.0))
def test_last_spikes_matches_naive_loop(spikes, n_spikes, time_constant):
    fast = last_spikes_exponential(spikes, n_spikes=n_spikes, time_constant=time_constant)
    np.testing.assert_allclose(fast, naive_last_spikes(spikes, n_spikes, time_constant), rtol=1e-6, atol=1e-7)


def test_last_spikes_known_values():
    spikes = np.array([[1], [0], [1], [0]], dtype=np.uint8)
    f = last_spikes_exponential(spikes, n_spikes=2, time_constant=1.0)
    np.testing.assert_allclose(f[3], [np.exp(-1), np.exp(-3)], rtol=1e-6)
    np.testing.assert_allclose(f[0], [1.0, 0.0])


@pytest.mark.parametrize("kwargs, error", [
    ({"n_spikes": 0}, ValueError), ({"n_spikes": 2.5}, TypeError),
    ({"time_constant": -1.0}, ValueError), ({"time_constant": "150"}, TypeError),
])
def test_last_spikes_validates(kwargs, error):
    with pytest.raises(error):
        last_spikes_exponential(np.zeros((5, 2), np.uint8), **kwargs)


def test_last_spikes_rejects_nan_and_negative():
    with pytest.raises(DataFormatError, match="NaN"):
        last_spikes_exponential(np.array([[np.nan], [1.0]]))
    with pytest.raises(DataFormatError, match="negative"):
        last_spikes_exponential(np.array([[-1], [1]]))


def test_first_complete_bin():
    spikes = np.zeros((20, 2), np.uint8)
    spikes[[1, 3, 5], 0] = 1
    spikes[[2, 9, 12], 1] = 1
    assert first_complete_bin(spikes, n_spikes=2) == 12
    assert first_complete_bin(spikes, n_spikes=3) == 20


def test_raised_cosine_features_match_direct_convolution():
    rng = np.random.default_rng(0)
    spikes = (rng.random((200, 3)) < 0.1).astype(np.uint8)
    basis = raised_cosine_basis(6, 30)
    fast = raised_cosine_features(spikes, n_basis_funcs=6, window_size=30).reshape(200, 3, 6)
    direct = np.zeros((200, 3, 6))
    for t in range(200):
        for lag in range(30):
            if t - lag >= 0:
                direct[t] += spikes[t - lag][:, None] * basis[lag][None, :]
    np.testing.assert_allclose(fast, direct, atol=1e-5)
    assert basis.shape == (30, 6) and basis.min() >= 0 and basis.max() <= 1
