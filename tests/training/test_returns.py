"""Credit-assignment helpers against naive Python loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikebridge.training.returns import (
    discounted_returns,
    leave_one_out_advantage,
    normalize,
    window_returns,
)

torch.set_num_threads(1)

SHAPES = [(1,), (7,), (3, 12), (2, 3, 25)]


def _naive_window(reward: np.ndarray, window_bins: int) -> np.ndarray:
    out = np.zeros_like(reward)
    n_bins = reward.shape[-1]
    for index in np.ndindex(reward.shape[:-1]):
        for t in range(n_bins):
            out[index + (t,)] = sum(reward[index + (t + j,)] for j in range(window_bins) if t + j < n_bins)
    return out


def _naive_discounted(reward: np.ndarray, discount: float, horizon_bins: int) -> np.ndarray:
    out = np.zeros_like(reward)
    n_bins = reward.shape[-1]
    for index in np.ndindex(reward.shape[:-1]):
        for t in range(n_bins):
            total = 0.0
            for j in range(horizon_bins):
                if t + j < n_bins:
                    total += discount**j * reward[index + (t + j,)]
            out[index + (t,)] = total / horizon_bins
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("window_bins", [1, 4, 30])
def test_window_returns_matches_naive_loop(shape, window_bins):
    reward = np.random.default_rng(42).random(shape)
    result = window_returns(torch.from_numpy(reward), window_bins)
    assert result.shape == reward.shape
    np.testing.assert_allclose(result.numpy(), _naive_window(reward, window_bins), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("discount, horizon_bins", [(1.0, 1), (0.98, 5), (0.5, 40)])
def test_discounted_returns_matches_naive_loop(shape, discount, horizon_bins):
    reward = np.random.default_rng(42).random(shape)
    result = discounted_returns(torch.from_numpy(reward), discount, horizon_bins)
    assert result.shape == reward.shape
    np.testing.assert_allclose(result.numpy(), _naive_discounted(reward, discount, horizon_bins), atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 5), (4, 3, 6)])
def test_leave_one_out_advantage_matches_naive_loop(shape):
    returns = np.random.default_rng(42).random(shape)
    expected = np.empty_like(returns)
    for i in range(shape[0]):
        others = [returns[k] for k in range(shape[0]) if k != i]
        expected[i] = returns[i] - np.mean(others, axis=0)
    result = leave_one_out_advantage(torch.from_numpy(returns))
    np.testing.assert_allclose(result.numpy(), expected, atol=1e-12)


def test_leave_one_out_advantage_needs_two_samples():
    with pytest.raises(ValueError, match=">= 2 samples"):
        leave_one_out_advantage(torch.ones(1, 5))


def test_normalize_uses_only_masked_entries():
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0], [4.0, 5.0, 6.0, -50.0]], dtype=torch.float64)
    mask = torch.tensor([True, True, True, False])
    selected = values[:, :3].numpy().ravel()
    expected = (values.numpy() - selected.mean()) / (selected.std(ddof=1) + 1e-8)
    np.testing.assert_allclose(normalize(values, mask).numpy(), expected, atol=1e-12)
    masked = normalize(values, mask)[:, :3]
    assert abs(float(masked.mean())) < 1e-12
    assert float(masked.std()) == pytest.approx(1.0, abs=1e-6)


def test_normalize_without_centering_only_scales():
    values = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    expected = values.numpy() / (values.numpy().std(ddof=1) + 1e-8)
    np.testing.assert_allclose(normalize(values, center=False).numpy(), expected, atol=1e-12)
