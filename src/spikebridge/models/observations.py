"""Bernoulli observation model: per-bin spike probability, log-likelihood and sampling."""

from __future__ import annotations

import torch

__all__ = ["BernoulliObservations"]


class BernoulliObservations:
    """At most one spike per bin: ``s ~ Bernoulli(p)`` independently per bin and neuron."""

    name = "bernoulli"

    @staticmethod
    def log_prob(probabilities: torch.Tensor, spikes: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
        """Element-wise ``log P(spikes | probabilities)``; same shape as the (broadcast) inputs."""
        p = probabilities.clamp(eps, 1 - eps)
        return spikes * torch.log(p) + (1 - spikes) * torch.log1p(-p)

    @staticmethod
    def log_prob_logits(logits: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        """Numerically stable ``log P(spikes)`` from logits (``p = sigmoid(logits)``)."""
        return -torch.nn.functional.binary_cross_entropy_with_logits(logits, spikes, reduction="none")

    @staticmethod
    def sample(probabilities: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw 0/1 spikes with the given probabilities (float tensor of the same shape)."""
        uniform = torch.rand(probabilities.shape, generator=generator, dtype=probabilities.dtype)
        return uniform.lt_(probabilities)  # in place: 1.0 where uniform < p, else 0.0


def get_observation_model(observation_model: str | BernoulliObservations) -> BernoulliObservations:
    """Resolve a name or instance to an observation model (only ``"bernoulli"`` for now)."""
    if isinstance(observation_model, BernoulliObservations):
        return observation_model
    if observation_model == "bernoulli":
        return BernoulliObservations()
    raise ValueError(
        f"Unknown observation_model={observation_model!r}. Supported: 'bernoulli' (0/1 spikes per bin)."
    )
