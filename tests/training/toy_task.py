"""A toy two-class task shared by the trainer tests: a count decoder and trials with a one-hot code."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spikebridge.data.windows import TrialWindows
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials


class CountDecoder(SpikeDecoder):
    """Decodes class 2 when the one read neuron fired at least 3 times in the last 5 bins, else class 1."""

    n_neurons = 1
    history_bins = 4
    n_classes = 2

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        padded = F.pad(spikes[..., 0], (self.history_bins, 0))
        count = padded.unfold(-1, self.history_bins + 1, 1).sum(-1)
        return torch.stack([2.5 - count, count - 2.5], dim=-1)


def toy_trials(
    n_trials: int = 16, context_bins: int = 10, labelled_bins: int = 30, seed: int = 0
) -> FlatTrials:
    """Two classes; the upstream features are a noisy one-hot code of the trial's class, plus a constant."""
    rng = np.random.default_rng(seed)
    n_bins = context_bins + labelled_bins
    classes = rng.integers(1, 3, size=n_trials)
    features = np.zeros((n_trials, n_bins, 3), np.float32)
    features[:, :, 0] = 3.0 * (classes == 1)[:, None]
    features[:, :, 1] = 3.0 * (classes == 2)[:, None]
    features[:, :, :2] += 0.3 * rng.standard_normal((n_trials, n_bins, 2))
    features[:, :, 2] = 1.0
    labels = np.zeros((n_trials, n_bins), np.int64)
    labels[:, context_bins:] = classes[:, None]
    bins = np.arange(n_trials * n_bins).reshape(n_trials, n_bins)
    return FlatTrials(TrialWindows(features, labels, bins, np.arange(n_trials), context_bins))


def toy_network(n_replicas: int = 1, seed: int = 0) -> PointProcessNetwork:
    generator = torch.Generator().manual_seed(seed)
    return PointProcessNetwork(3, 1, n_hidden=8, n_replicas=n_replicas, initial_rate=0.5, generator=generator)
