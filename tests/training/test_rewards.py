"""Behavioural rewards on hand-computed examples."""

from __future__ import annotations

import torch

from spikebridge.decoders.rewards import correct_reward, exploration_bonus

torch.set_num_threads(1)


def test_correct_reward_counts_only_labelled_bins():
    decoded = torch.tensor([1, 2, 2, 3, 1])
    labels = torch.tensor([1, 2, 0, 1, 0])  # bins 2 and 4 are unlabelled
    assert torch.equal(correct_reward(decoded, labels), torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0]))


def test_correct_reward_broadcasts_labels_over_samples():
    decoded = torch.tensor([[1, 2, 2], [2, 2, 1]])
    labels = torch.tensor([1, 2, 1])
    assert torch.equal(correct_reward(decoded, labels), torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))


def test_exploration_bonus_hand_example():
    # Sample 0, labelled bins decoded [1, 1, 1, 2] (bin 4 unlabelled): n = (3+1, 1+1, 0+1) = (4, 2, 1).
    # Bonus per class: weight * (4/n - 1) = 0.5 * (0, 1, 3). Sample 1: [3, 3, 3, 3] -> n = (1, 1, 5).
    decoded = torch.tensor([[1, 1, 1, 2, 3], [3, 3, 3, 3, 1]])
    labels = torch.tensor([1, 2, 3, 1, 0])
    bonus = exploration_bonus(decoded, labels, n_classes=3, weight=0.5)
    expected = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(bonus, expected)
    assert bonus.dtype == torch.float32


def test_exploration_bonus_rewards_the_rare_class_per_sample():
    decoded = torch.tensor([[2, 1, 1, 1], [2, 2, 2, 1]])
    labels = torch.tensor([1, 1, 1, 1])
    bonus = exploration_bonus(decoded, labels, n_classes=2, weight=1.0)
    # sample 0: n = (4, 2) -> class 2 gets 4/2 - 1 = 1; sample 1: n = (2, 4) -> class 1 gets 1
    assert torch.allclose(bonus, torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]))
