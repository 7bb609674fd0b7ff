"""The staged point-process network: upstream features -> sigmoid hidden layer -> spike probability."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PointProcessNetwork"]


class PointProcessNetwork(nn.Module):
    """``h = sigmoid(W1 x + b1)``, ``p = sigmoid(W2 h + b2)``, with an optional leading replica axis.

    ``n_replicas`` independent networks (restarts, seeds or folds) are stored in one set of tensors, so a
    batch of them trains as one tensor program. With ``n_hidden=0`` the network is a Bernoulli GLM,
    ``p = sigmoid(W x + b)``.

    Parameters
    ----------
    n_features :
        Input size (upstream features per bin).
    n_outputs :
        Generated downstream neurons.
    n_hidden :
        Hidden units (the paper: 64); 0 gives a GLM.
    n_replicas :
        Independent copies, the leading axis of every parameter.
    initial_rate :
        Initial spike probability per bin of every output (sets the output bias).
    generator :
        Torch generator for the initial weights.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        *,
        n_hidden: int = 64,
        n_replicas: int = 1,
        initial_rate: float = 0.5,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_features, self.n_outputs, self.n_hidden, self.n_replicas = n_features, n_outputs, n_hidden, n_replicas
        self.initial_rate = initial_rate
        n_last = n_hidden if n_hidden else n_features
        if n_hidden:
            self.w1 = nn.Parameter(torch.empty(n_replicas, n_features, n_hidden))
            self.b1 = nn.Parameter(torch.empty(n_replicas, 1, n_hidden))
        self.w2 = nn.Parameter(torch.empty(n_replicas, n_last, n_outputs))
        self.b2 = nn.Parameter(torch.empty(n_replicas, 1, n_outputs))
        self.register_buffer("input_mean", torch.zeros(n_features))
        self.register_buffer("input_scale", torch.ones(n_features))
        self.reset_parameters(generator=generator)

    def standardize_inputs(self, features: torch.Tensor) -> "PointProcessNetwork":
        """Z-score every input with the mean and std of ``features`` ``(n_rows, n_features)``; returns self.

        The scaling is part of the model (saved with it, applied in :meth:`logits`), so features keep their
        natural units everywhere else. Constant features get scale 1. Call it on training rows only.
        """
        with torch.no_grad():
            self.input_mean.copy_(features.mean(dim=0))
            std = features.std(dim=0)
            self.input_scale.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        return self

    def reset_parameters(
        self, generator: torch.Generator | None = None, outputs: torch.Tensor | None = None
    ) -> None:
        """Draw fresh weights; if ``outputs`` (bool, ``(n_replicas, n_outputs)``) is given, only those outputs."""
        with torch.no_grad():
            if outputs is None:
                if self.n_hidden:
                    self.w1.copy_(torch.randn(self.w1.shape, generator=generator) / math.sqrt(self.n_features))
                    self.b1.copy_(torch.randn(self.b1.shape, generator=generator) * 0.5)
                n_last = self.w2.shape[1]
                self.w2.copy_(torch.randn(self.w2.shape, generator=generator) / math.sqrt(n_last))
                self.b2.fill_(math.log(self.initial_rate / (1 - self.initial_rate)))
                if self.n_hidden:  # centre the output: mean hidden activity times w2 is absorbed in b2
                    self.b2.sub_((0.5 * self.w2).sum(dim=1, keepdim=True))
            else:
                mask = outputs[:, None, :].to(self.w2.dtype)
                fresh = torch.randn(self.w2.shape, generator=generator) / math.sqrt(self.w2.shape[1])
                self.w2.copy_(mask * fresh + (1 - mask) * self.w2)
                bias = math.log(self.initial_rate / (1 - self.initial_rate)) - 0.5 * fresh.sum(1, keepdim=True)
                self.b2.copy_(mask * bias + (1 - mask) * self.b2)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Output logits.

        Parameters
        ----------
        features :
            Shape ``(n_replicas, n_rows, n_features)`` or ``(n_rows, n_features)`` (shared by all replicas).

        Returns
        -------
        logits :
            Shape ``(n_replicas, n_rows, n_outputs)``.
        """
        features = (features - self.input_mean) / self.input_scale
        if features.dim() == 2:
            features = features.unsqueeze(0).expand(self.n_replicas, -1, -1)
        if self.n_hidden:
            hidden = torch.sigmoid(torch.baddbmm(self.b1, features, self.w1))
            return torch.baddbmm(self.b2, hidden, self.w2)
        return torch.baddbmm(self.b2, features, self.w2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Spike probabilities, shape ``(n_replicas, n_rows, n_outputs)``; see :meth:`logits`."""
        return torch.sigmoid(self.logits(features))
