"""Sampled batches reuse one feature buffer, and the trainers' weights do not change for it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from spikebridge.data.windows import TrialWindows
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.paper import PaperReinforceConfig, train_reinforce_paper
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from tests.training.toy_task import CountDecoder, toy_network

torch.set_num_threads(1)


def uneven_trials(n_trials: int = 12, context_bins: int = 5, seed: int = 0) -> FlatTrials:
    """The toy task's code with trials of different lengths, so batches of equal size differ in rows."""
    rng = np.random.default_rng(seed)
    lengths = context_bins + rng.integers(10, 40, size=n_trials)
    n_window_bins = int(lengths.max())
    classes = rng.integers(1, 3, size=n_trials)
    features = np.zeros((n_trials, n_window_bins, 3), np.float32)
    labels = np.zeros((n_trials, n_window_bins), np.int64)
    bins = -np.ones((n_trials, n_window_bins), np.int64)
    start = 0
    for k, length in enumerate(lengths):
        features[k, :length, 0] = 3.0 * (classes[k] == 1)
        features[k, :length, 1] = 3.0 * (classes[k] == 2)
        features[k, :length, :2] += 0.3 * rng.standard_normal((length, 2))
        features[k, :length, 2] = 1.0
        labels[k, context_bins:length] = classes[k]
        bins[k, :length] = np.arange(start, start + length)
        start += length
    targets = rng.standard_normal((n_trials, n_window_bins, 2)).astype(np.float32)
    return FlatTrials(TrialWindows(features, labels, bins, np.arange(n_trials), context_bins, targets))


class FreshBatchTrials(FlatTrials):
    """FlatTrials as before the buffer: every sampled batch gathers its rows into a new tensor."""

    def sample_batch(self, n_trials, rng):
        if n_trials >= self.n_trials:
            return self.batch()
        return self.batch(np.sort(rng.choice(self.n_trials, size=n_trials, replace=False)))


def as_fresh(trials: FlatTrials) -> FreshBatchTrials:
    fresh = FreshBatchTrials.__new__(FreshBatchTrials)
    fresh.__dict__.update(trials.__dict__)
    return fresh


def test_sampled_batches_equal_fresh_gathers_and_share_one_buffer():
    trials = uneven_trials()
    fresh = as_fresh(uneven_trials())
    rng, fresh_rng = np.random.default_rng(3), np.random.default_rng(3)
    pointers = []
    for n_trials in (4, 7, 2, 7, 5, 12, 3):
        batch, expected = trials.sample_batch(n_trials, rng), fresh.sample_batch(n_trials, fresh_rng)
        assert torch.equal(batch.features, expected.features)
        assert torch.equal(batch.labels, expected.labels)
        assert torch.equal(batch.targets, expected.targets)
        assert np.array_equal(batch.trial_index, expected.trial_index)
        assert batch.features.is_contiguous()
        if n_trials < trials.n_trials:
            pointers.append(batch.features.data_ptr())
    # one buffer, grown (a new one) only when a batch had more rows than any before
    assert len(set(pointers)) < len(pointers)


def test_batch_returns_fresh_tensors_that_sampling_does_not_overwrite():
    trials = uneven_trials()
    kept = trials.batch(np.array([0, 3, 5]))
    copy = kept.features.clone()
    rng = np.random.default_rng(0)
    for _ in range(5):
        trials.sample_batch(3, rng)
    assert torch.equal(kept.features, copy)
    assert torch.equal(trials.batch().features, trials.features)  # all trials: the object's own rows


def test_default_trainer_gives_the_same_weights_with_the_buffer():
    config = ReinforceConfig(n_updates=15, batch_trials=5, n_samples=3, learning_rate=3e-2, seed=4)
    runs = []
    for trials in (uneven_trials(), as_fresh(uneven_trials())):
        network = toy_network(n_replicas=2, seed=1)
        averaged, history = train_reinforce(network, CountDecoder(), trials, config)
        runs.append(([p.detach().clone() for p in [*averaged.parameters(), *network.parameters()]],
                     history.values["train/reward"]))
    (buffered, buffered_reward), (fresh, fresh_reward) = runs
    assert all(torch.equal(a, b) for a, b in zip(buffered, fresh))
    assert buffered_reward == fresh_reward


def test_paper_trainer_gives_the_same_weights_with_the_buffer():
    config = replace(PaperReinforceConfig(), n_episodes=12, batch_trials=5, seed=2)
    runs = []
    for trials in (uneven_trials(), as_fresh(uneven_trials())):
        network = toy_network(n_replicas=2, seed=1)
        train_reinforce_paper(network, CountDecoder(), trials, config)
        runs.append([p.detach().clone() for p in network.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))
