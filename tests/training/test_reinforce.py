"""The default trainer on a toy task: it learns, it is deterministic, and it trains replicas."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from spikebridge.data.windows import TrialWindows
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce

torch.set_num_threads(1)


# The same toy task as tests/training/test_paper.py (to move into a shared fixture).
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


TOY = ReinforceConfig(n_updates=120, batch_trials=8, n_samples=4, learning_rate=3e-2)


def test_training_reward_increases_on_toy_task():
    _, history = train_reinforce(toy_network(), CountDecoder(), toy_trials(), TOY)
    reward = np.asarray(history.values["train/reward"])
    fifth = len(reward) // 5
    # it learns most of the task within the first fifth already
    assert reward[-fifth:].mean() > reward[:fifth].mean() + 0.1
    assert reward[-fifth:].mean() > 0.95


def test_same_seed_gives_identical_weights():
    config = ReinforceConfig(n_updates=20, batch_trials=8, n_samples=4, learning_rate=3e-2, seed=5)
    runs = []
    for _ in range(2):
        network = toy_network()
        averaged, _ = train_reinforce(network, CountDecoder(), toy_trials(), config)
        runs.append([p.detach().clone() for p in [*averaged.parameters(), *network.parameters()]])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_trains_a_batch_of_replicas():
    network = toy_network(n_replicas=3)
    before = network.w2.detach().clone()
    config = ReinforceConfig(n_updates=5, batch_trials=4, n_samples=2)
    averaged, history = train_reinforce(network, CountDecoder(), toy_trials(), config)
    assert averaged.n_replicas == 3
    assert averaged.logits(toy_trials().features).shape == (3, toy_trials().n_rows, 1)
    assert len(history.values["train/reward"]) == 5
    assert not torch.equal(network.w2, before)
    assert not torch.equal(network.w2[0], network.w2[1])  # independent initial weights and samples
