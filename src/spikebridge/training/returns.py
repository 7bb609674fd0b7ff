"""Pure credit-assignment helpers: returns, baselines and normalisation. Time is the last axis."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["window_returns", "discounted_returns", "leave_one_out_advantage", "normalize"]


def window_returns(reward: torch.Tensor, window_bins: int) -> torch.Tensor:
    """Sum of the rewards at ``t .. t + window_bins - 1``: the bins an action at ``t`` can influence.

    A decoder that reads ``H`` past bins lets a spike at ``t`` change the decoded behaviour only at
    ``t .. t + H``, so with ``window_bins = H + 1`` this return drops no reward the action caused, and
    adds none it could not have caused.

    Parameters
    ----------
    reward :
        Shape ``(..., n_bins)``.
    window_bins :
        Window length L >= 1.

    Returns
    -------
    returns :
        Shape ``(..., n_bins)``; ``G_t = sum_{j=0}^{L-1} r_{t+j}``, with rewards past the end taken as 0.
    """
    n_bins = reward.shape[-1]
    csum = torch.cumsum(F.pad(reward, (1, window_bins)), dim=-1)  # csum[k] = sum_{i<k} r_i
    return csum[..., window_bins : window_bins + n_bins] - csum[..., :n_bins]


def discounted_returns(reward: torch.Tensor, discount: float, horizon_bins: int) -> torch.Tensor:
    """The paper's truncated, discounted, averaged return ``G_t = (1/L) sum_{j<L} gamma^j r_{t+j}``.

    Parameters
    ----------
    reward :
        Shape ``(..., n_bins)``.
    discount :
        gamma in (0, 1].
    horizon_bins :
        L, the truncation horizon.

    Returns
    -------
    returns :
        Shape ``(..., n_bins)``.
    """
    n_bins = reward.shape[-1]
    kernel = discount ** torch.arange(horizon_bins, dtype=reward.dtype) / horizon_bins
    flat = reward.reshape(-1, 1, n_bins)
    padded = F.pad(flat, (0, horizon_bins - 1))
    out = F.conv1d(padded, kernel.view(1, 1, -1))
    return out.reshape(reward.shape)


def leave_one_out_advantage(returns: torch.Tensor) -> torch.Tensor:
    """Return minus the mean return of the *other* samples at the same bin (axis 0 = samples).

    Parameters
    ----------
    returns :
        Shape ``(n_samples, ...)`` with ``n_samples >= 2``: returns of independent spike trains drawn for
        the same input.

    Returns
    -------
    advantage :
        Same shape. Unbiased, because the baseline of sample ``i`` does not depend on sample ``i``.
    """
    n = returns.shape[0]
    if n < 2:
        raise ValueError(f"leave_one_out_advantage needs >= 2 samples on axis 0; got {n}.")
    total = returns.sum(dim=0, keepdim=True)
    return returns - (total - returns) / (n - 1)


def normalize(values: torch.Tensor, mask: torch.Tensor | None = None, *, center: bool = True) -> torch.Tensor:
    """Z-score ``values`` using the mean and std of the entries where ``mask`` is True (all if None)."""
    selected = values if mask is None else values[mask.expand_as(values)]
    mean = selected.mean() if center else torch.zeros((), dtype=values.dtype)
    std = selected.std() if selected.numel() > 1 else torch.ones((), dtype=values.dtype)
    return (values - mean) / (std + 1e-8)
