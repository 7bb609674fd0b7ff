"""Behavioural rewards computed from decoded behaviour (pure functions)."""

from __future__ import annotations

import torch

from spikebridge.exceptions import DataFormatError

__all__ = ["correct_reward", "exploration_bonus", "velocity_error_reward", "cosine_reward"]


def correct_reward(decoded: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``1[decoded_t == label_t]`` on labelled bins, 0 on unlabelled ones (label 0).

    Parameters
    ----------
    decoded :
        Decoded labels, shape ``(..., n_bins)``.
    labels :
        True labels, shape ``(n_bins,)`` or broadcastable; 0 = unlabelled.
    """
    return ((decoded == labels) & (labels > 0)).to(torch.float32)


def exploration_bonus(decoded: torch.Tensor, labels: torch.Tensor, n_classes: int, weight: float) -> torch.Tensor:
    """The paper's bonus for rarely decoded classes, ``weight * (n_max / n_a - 1)`` per labelled bin.

    ``n_a`` is one plus the number of labelled bins decoded as class ``a`` (counted separately for each
    sample along the leading axes), ``n_max = max_a n_a``; each bin gets the bonus of the class it was
    decoded as. Without it, a network whose decoded behaviour is stuck on one class gets no gradient.

    Parameters
    ----------
    decoded :
        Shape ``(..., n_bins)``, labels ``1..n_classes``.
    labels :
        Shape broadcastable to ``decoded``; 0 = unlabelled (no bonus).
    n_classes :
        Number of classes.
    weight :
        epsilon times the annealing factor, e.g. ``(1 - episode / n_episodes)``.

    Returns
    -------
    bonus :
        Same shape as ``decoded``, float32.
    """
    labelled = (labels > 0).expand_as(decoded)
    onehot = torch.nn.functional.one_hot(decoded - 1, n_classes).to(torch.float32)
    counts = (onehot * labelled[..., None]).sum(dim=-2) + 1  # (..., n_classes)
    per_class = weight * (counts.max(dim=-1, keepdim=True).values / counts - 1)
    return torch.gather(per_class, -1, decoded - 1) * labelled


def _check_continuous(decoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Check shapes of the continuous rewards' inputs; return ``mask`` as a float tensor ``(n_bins,)``."""
    if target.ndim != 2 or decoded.ndim < 2 or decoded.shape[-2:] != target.shape:
        raise DataFormatError(
            f"`decoded` must have shape (..., n_bins, k) matching `target` (n_bins, k); got decoded "
            f"{tuple(decoded.shape)} and target {tuple(target.shape)}."
        )
    if mask.shape != target.shape[:1]:
        raise DataFormatError(
            f"`mask` must have shape (n_bins,) = ({target.shape[0]},), True on the bins that count; got "
            f"{tuple(mask.shape)}."
        )
    return mask.to(decoded.dtype)


def velocity_error_reward(decoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Negative squared error ``-||decoded_t - target_t||^2`` per bin, 0 where ``mask`` is False.

    Parameters
    ----------
    decoded :
        Decoded behaviour (e.g. velocity), shape ``(..., n_bins, k)``.
    target :
        Intended behaviour, shape ``(n_bins, k)``.
    mask :
        Bins that count, boolean ``(n_bins,)``.

    Returns
    -------
    reward :
        Shape ``(..., n_bins)``, ``<= 0``; same dtype as ``decoded``.
    """
    weight = _check_continuous(decoded, target, mask)
    return -((decoded - target) ** 2).sum(dim=-1) * weight


def cosine_reward(
    decoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, eps: float = 1e-8
) -> torch.Tensor:
    """Cosine similarity of decoded and intended velocity per bin, 0 where ``mask`` is False.

    Parameters
    ----------
    decoded :
        Decoded velocity, shape ``(..., n_bins, k)``.
    target :
        Intended velocity, shape ``(n_bins, k)``.
    mask :
        Bins that count, boolean ``(n_bins,)``. Leave out bins where the intended velocity is zero: the
        direction is undefined there and the reward is 0.
    eps :
        Floor on each norm, so a zero vector gives a reward of 0 rather than NaN.

    Returns
    -------
    reward :
        Shape ``(..., n_bins)``, in ``[-1, 1]``; same dtype as ``decoded``.
    """
    weight = _check_continuous(decoded, target, mask)
    dot = (decoded * target).sum(dim=-1)
    norms = decoded.norm(dim=-1).clamp_min(eps) * target.norm(dim=-1).clamp_min(eps)
    return dot / norms * weight

