"""Wide readouts run their first layer as a matrix product: the same numbers as the convolution."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import spikebridge.decoders.fitted as fitted_module
import spikebridge.decoders.patternnet as patternnet_module
from spikebridge.decoders._windows import causal_conv, window_features
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.patternnet import WindowMLPDecoder, causal_conv_matmul

torch.set_num_threads(1)


@pytest.mark.parametrize("batch, n_bins, n_neurons, history, n_out, with_bias", [
    (3, 50, 40, 7, 8, True),
    (2, 5, 33, 12, 4, True),   # fewer bins than the history
    (1, 30, 6, 0, 3, False),   # no history, no bias
    (4, 200, 64, 60, 8, True),  # the paper's 61 bins
])
def test_matmul_equals_the_convolution(batch, n_bins, n_neurons, history, n_out, with_bias):
    generator = torch.Generator().manual_seed(0)
    spikes = torch.randint(0, 3, (batch, n_bins, n_neurons), generator=generator).float()  # counts, not only 0/1
    kernel = torch.randn(n_out, n_neurons, history + 1, generator=generator)
    bias = torch.randn(n_out, generator=generator) if with_bias else None
    expected = causal_conv(spikes, kernel, bias)
    ours = causal_conv_matmul(spikes, kernel, bias)
    assert ours.shape == expected.shape == (batch, n_out, n_bins)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-4)


def test_matmul_of_no_bins_is_empty():
    assert causal_conv_matmul(torch.zeros(2, 0, 40), torch.ones(8, 40, 6), torch.ones(8)).shape == (2, 8, 0)


def test_matmul_equals_the_lag_major_windows():
    generator = torch.Generator().manual_seed(1)
    n_bins, n_neurons, history = 80, 35, 9
    spikes = (torch.rand(n_bins, n_neurons, generator=generator) < 0.2).double()
    weights = torch.randn(5, (history + 1) * n_neurons, generator=generator, dtype=torch.float64)
    expected = window_features(spikes, history) @ weights.T  # (n_bins, 5), float64
    kernel = weights.reshape(5, history + 1, n_neurons).flip(1).transpose(1, 2).float()
    ours = causal_conv_matmul(spikes[None].float(), kernel, None)[0].T
    torch.testing.assert_close(ours.double(), expected, rtol=1e-5, atol=1e-4)


def _wide_mlp(n_neurons: int = 48, history: int = 20, seed: int = 0) -> WindowMLPDecoder:
    rng = np.random.default_rng(seed)
    n_inputs = (history + 1) * n_neurons
    return WindowMLPDecoder(rng.normal(size=(8, n_inputs)) * 0.3, rng.normal(size=8), rng.normal(size=(3, 8)),
                            rng.normal(size=3), n_neurons=n_neurons, input_offset=rng.random(n_inputs) * 0.1,
                            input_gain=1 + rng.random(n_inputs), input_ymin=-1.0)


def test_wide_window_mlp_scores_equal_the_convolution_path(monkeypatch):
    decoder = _wide_mlp()
    spikes = (torch.rand(2, 3, 150, decoder.n_neurons, generator=torch.Generator().manual_seed(2)) < 0.1).float()
    with torch.no_grad():
        ours = decoder.scores_torch(spikes)
        monkeypatch.setattr(patternnet_module, "_MATMUL_MIN_NEURONS", 10**9)  # the convolution, as before
        expected = decoder.scores_torch(spikes)
    assert ours.shape == (2, 3, 150, 3) and ours.is_contiguous()
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_wide_fitted_decoder_scores_equal_the_convolution_path(monkeypatch):
    rng = np.random.default_rng(3)
    n_neurons = 40
    spikes = (rng.random((600, n_neurons)) < 0.2).astype(np.uint8)
    labels = 1 + (spikes[:, :3].sum(axis=1) > 0)
    test = torch.as_tensor((rng.random((3, 120, n_neurons)) < 0.2), dtype=torch.float32)
    for kind in ("mlp", "logistic"):
        decoder = WindowClassifierDecoder(kind=kind, n_hidden=4, history_seconds=0.05, max_iterations=50,
                                          random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # few iterations: the fit need not converge
            decoder.fit(spikes, labels, 0.01)
        with torch.no_grad():
            ours = decoder.scores_torch(test)
            with monkeypatch.context() as patch:
                patch.setattr(fitted_module, "_MATMUL_MIN_NEURONS", 10**9)
                expected = decoder.scores_torch(test)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_spikes_that_need_a_gradient_take_the_convolution():
    rng = np.random.default_rng(4)
    spikes = (rng.random((300, 32)) < 0.2).astype(np.uint8)
    decoder = WindowClassifierDecoder(kind="logistic", history_seconds=0.03).fit(spikes, 1 + spikes[:, 0], 0.01)
    relaxed = torch.rand(1, 30, 32, requires_grad=True)  # e.g. a relaxed spike train
    decoder.scores_torch(relaxed).sum().backward()
    assert relaxed.grad is not None and relaxed.grad.shape == relaxed.shape
