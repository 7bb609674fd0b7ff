"""The staged point-process network: upstream features -> sigmoid hidden layer -> spike probability."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PointProcessNetwork"]

_BLOCK_ELEMENTS = 2**20
"""Hidden units x rows computed at once by :meth:`PointProcessNetwork.logits` (4 MB of float32)."""


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
            Shape ``(n_replicas, n_rows, n_outputs)``, contiguous.

        Notes
        -----
        The input standardisation is folded into the first layer's weights (``W1 / scale`` and
        ``b1 - mean W1 / scale``), so the features are never copied. Shared features run every replica in
        one matrix product ``(n_replicas * n_hidden, n_features) @ (n_features, rows)``, in blocks of rows
        whose hidden activity stays small enough to be reused from cache and the allocator.
        """
        w_first, b_first = self.w1 if self.n_hidden else self.w2, self.b1 if self.n_hidden else self.b2
        scale = self.input_scale.view(1, -1, 1)
        w_first = w_first / scale  # (R, F, H): folds (x - mean) / scale into the weights
        b_first = b_first - self.input_mean.view(1, 1, -1) @ w_first  # (R, 1, H)
        if features.dim() == 3:
            pre = torch.baddbmm(b_first, features, w_first)
            if not self.n_hidden:
                return pre
            return torch.baddbmm(self.b2, pre.sigmoid_(), self.w2)
        n_units = w_first.shape[-1]
        w_stacked = w_first.transpose(1, 2).reshape(self.n_replicas * n_units, self.n_features)  # (R*H, F)
        b_stacked = b_first.reshape(self.n_replicas * n_units, 1)
        if not self.n_hidden:
            out = torch.addmm(b_stacked, w_stacked, features.T)  # (R*out, rows)
            return out.view(self.n_replicas, n_units, -1).transpose(1, 2).contiguous()
        w_out, b_out = self.w2.transpose(1, 2), self.b2.transpose(1, 2)  # (R, out, H), (R, out, 1)
        block = max(1, _BLOCK_ELEMENTS // (self.n_replicas * n_units))
        pieces = []
        for start in range(0, len(features), block):
            rows = features[start : start + block]
            hidden = torch.addmm(b_stacked, w_stacked, rows.T).sigmoid_()  # (R*H, block)
            pieces.append(torch.baddbmm(b_out, w_out, hidden.view(self.n_replicas, n_units, -1)))
        out = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-1)  # (R, out, rows)
        return out.transpose(1, 2).contiguous()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Spike probabilities, shape ``(n_replicas, n_rows, n_outputs)``; see :meth:`logits`."""
        return torch.sigmoid(self.logits(features))
