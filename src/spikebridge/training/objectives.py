"""Behavioural objectives: turn a decoder's reading of sampled spikes into a per-bin reward.

The trainer only calls :meth:`reward`; which behaviour is read (classes or a continuous velocity) and how it
is scored lives here, so one training loop serves both kinds of decoder.
"""

from __future__ import annotations

from typing import Protocol

import torch

from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.continuous import ContinuousDecoder
from spikebridge.decoders.rewards import correct_reward, cosine_reward, exploration_bonus, velocity_error_reward
from spikebridge.training.dataset import TrialBatch

__all__ = ["Objective", "ClassificationObjective", "VelocityObjective", "objective_for"]


class Objective(Protocol):
    """What the trainer needs: a credit window and a reward per sampled bin."""

    credit_bins: int
    """A spike at ``t`` can change the reward at ``t .. t + credit_bins - 1`` only."""

    def reward(self, spikes: torch.Tensor, batch: TrialBatch, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reward, bonus)``, each ``(..., n_rows)``, for spikes ``(..., n_rows, n_neurons)``.

        ``progress`` runs from 0 (first update) to 1 (last) for annealed terms. ``reward`` is the task score
        that gets logged; ``bonus`` is added to it for training only.
        """


class ClassificationObjective:
    """1 per labelled bin decoded correctly, plus the paper's annealed bonus for rarely decoded classes."""

    def __init__(self, decoder: SpikeDecoder, exploration_weight: float = 1.0) -> None:
        self.decoder = decoder
        self.exploration_weight = exploration_weight
        self.credit_bins = decoder.history_bins + 1

    def reward(self, spikes: torch.Tensor, batch: TrialBatch, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """See :class:`Objective`."""
        decoded = self.decoder.decode_torch(spikes)
        reward = correct_reward(decoded, batch.labels)
        weight = self.exploration_weight * (1.0 - progress)
        if weight <= 0:
            return reward, torch.zeros_like(reward)
        return reward, exploration_bonus(decoded, batch.labels, self.decoder.n_classes, weight)


class VelocityObjective:
    """Negative squared error (or cosine similarity) of the decoded velocity on labelled bins."""

    def __init__(self, decoder: ContinuousDecoder, kind: str = "error") -> None:
        if kind not in ("error", "cosine"):
            raise ValueError(f"VelocityObjective kind must be 'error' or 'cosine'; got {kind!r}.")
        self.decoder = decoder
        self.kind = kind
        self.credit_bins = decoder.history_bins + 1

    def reward(self, spikes: torch.Tensor, batch: TrialBatch, progress: float) -> tuple[torch.Tensor, torch.Tensor]:
        """See :class:`Objective`."""
        if batch.targets is None:
            raise ValueError(
                "A velocity decoder needs the recording's continuous behaviour (behavior_continuous) as the "
                "target; this recording has none."
            )
        decoded = self.decoder.predict_torch(spikes)
        mask = batch.labels > 0
        score = velocity_error_reward if self.kind == "error" else cosine_reward
        reward = score(decoded, batch.targets, mask)
        return reward, torch.zeros_like(reward)


def objective_for(decoder: SpikeDecoder | ContinuousDecoder, *, exploration_weight: float = 1.0) -> Objective:
    """The default objective of a decoder: classification for class readouts, velocity error for continuous."""
    if isinstance(decoder, SpikeDecoder):
        return ClassificationObjective(decoder, exploration_weight)
    if isinstance(decoder, ContinuousDecoder):
        return VelocityObjective(decoder)
    raise TypeError(
        f"decoder must be a SpikeDecoder (classes) or a ContinuousDecoder (velocity); got {type(decoder).__name__}."
    )
