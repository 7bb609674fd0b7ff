"""The default trainer on a toy task: it learns, it is deterministic, and it trains replicas."""

from __future__ import annotations

import numpy as np
import torch

from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from tests.training.toy_task import CountDecoder, toy_network, toy_trials

torch.set_num_threads(1)


# the toy decoder needs saturated rates; the biomimetic prior is tested in test_priors.py
TOY = ReinforceConfig(n_updates=120, batch_trials=8, n_samples=4, learning_rate=3e-2, prior_weight=0.0)


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
