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
        Shape ``(..., n_bins)``; rewards past the end count as 0.

    Notes
    -----
    A banded matrix product over blocks of ``min(L, n_bins)`` bins (each block with the next one), so the
    cost is linear in ``n_bins`` and runs as one matrix multiply instead of a single-channel convolution.
    """
    n_bins = reward.shape[-1]
    block = min(horizon_bins, n_bins)  # rewards past the end are 0, so a window never spans more than 2 blocks
    n_blocks = -(-n_bins // block)
    # kernel[j, t] = gamma^(j - t) / L for 0 <= j - t < L: row j of a block and the next, column t of the block
    lag = torch.arange(2 * block)[:, None] - torch.arange(block)[None, :]
    weight = discount ** lag.clamp(0, horizon_bins - 1).to(reward.dtype) / horizon_bins
    kernel = torch.where((lag >= 0) & (lag < horizon_bins), weight, torch.zeros((), dtype=reward.dtype))
    padded = F.pad(reward, (0, (n_blocks + 1) * block - n_bins)).unflatten(-1, (n_blocks + 1, block))
    pairs = torch.cat([padded[..., :-1, :], padded[..., 1:, :]], dim=-1)  # (..., n_blocks, 2 * block)
    return (pairs @ kernel).flatten(-2)[..., :n_bins]


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


def normalize(
    values: torch.Tensor, mask: torch.Tensor | None = None, *, center: bool = True, dim: int | None = None
) -> torch.Tensor:
    """Z-score ``values`` using the mean and std of the entries where ``mask`` is True (all if None).

    Parameters
    ----------
    values :
        Shape ``(..., n_bins)``.
    mask :
        Boolean, broadcastable to ``values`` (``dim=None``) or of shape ``(n_bins,)`` (``dim=-1``).
    center :
        Subtract the mean (else only divide by the std).
    dim :
        None: one mean and std over every selected entry. -1: a separate mean and std for each index of the
        leading axes (e.g. per replica), over the selected bins of the last axis.

    Returns
    -------
    normalized :
        Same shape as ``values``.
    """
    if dim is None:
        selected = values if mask is None else values[mask.expand_as(values)]
        mean = selected.mean() if center else torch.zeros((), dtype=values.dtype)
        std = selected.std() if selected.numel() > 1 else torch.ones((), dtype=values.dtype)
        return (values - mean) / (std + 1e-8)
    if dim not in (-1, values.dim() - 1):
        raise ValueError(f"normalize supports dim=None or the last axis (-1); got dim={dim!r}.")
    selected = values if mask is None else values[..., mask]
    ones = torch.ones((*values.shape[:-1], 1), dtype=values.dtype)
    mean = selected.mean(dim=-1, keepdim=True) if center else torch.zeros_like(ones)
    std = selected.std(dim=-1, keepdim=True) if selected.shape[-1] > 1 else ones
    return (values - mean).div_(std + 1e-8)
