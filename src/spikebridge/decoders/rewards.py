"""Behavioural rewards computed from decoded behaviour (pure functions)."""

from __future__ import annotations

import torch

__all__ = ["correct_reward", "exploration_bonus"]


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
