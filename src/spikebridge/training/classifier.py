"""The upstream-information ceiling: a classifier from upstream features straight to the behaviour label."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["ClassifierConfig", "fit_label_classifier", "predict_labels"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Settings of the upstream-to-label MLP."""

    n_hidden: int = 64
    """Hidden units (sigmoid), as many as the generator has."""
    n_epochs: int = 300
    """Full-batch Adam steps."""
    learning_rate: float = 1e-2
    """Adam step size."""
    weight_decay: float = 1e-4
    """L2 penalty (Adam weight decay)."""
    seed: int = 0
    """Seed of the initial weights."""


def fit_label_classifier(
    features: torch.Tensor,
    labels: torch.Tensor,
    validation: tuple[torch.Tensor, torch.Tensor],
    n_classes: int,
    config: ClassifierConfig = ClassifierConfig(),
) -> nn.Module:
    """Fit ``label ~ softmax(MLP(features))`` on labelled bins, keeping the best validation epoch.

    It sees the same upstream features as the generator but reads the label directly, so its success
    bounds what any generator driven by these features can restore.

    Parameters
    ----------
    features :
        Shape ``(n_rows, n_features)``.
    labels :
        Shape ``(n_rows,)``; rows with label 0 are ignored.
    validation :
        ``(features, labels)`` of held-out training trials, used only to pick the epoch.
    n_classes :
        Number of classes (labels ``1..n_classes``).
    config :
        Settings.

    Returns
    -------
    model :
        Maps features ``(n, n_features)`` to class logits ``(n, n_classes)``.
    """
    generator = torch.Generator().manual_seed(config.seed)
    model = nn.Sequential(
        nn.Linear(features.shape[1], config.n_hidden), nn.Sigmoid(), nn.Linear(config.n_hidden, n_classes)
    )
    with torch.no_grad():  # draw the initial weights from our own stream, not torch's global one
        for layer in (model[0], model[2]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) / layer.in_features**0.5)
            layer.bias.zero_()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    mask = labels > 0
    x, y = features[mask], labels[mask] - 1
    vmask = validation[1] > 0
    vx, vy = validation[0][vmask], validation[1][vmask] - 1
    best, best_acc = copy.deepcopy(model), -1.0
    for _ in range(config.n_epochs):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            acc = float((model(vx).argmax(1) == vy).float().mean())
        if acc > best_acc:
            best, best_acc = copy.deepcopy(model), acc
    return best.requires_grad_(False)


def predict_labels(model: nn.Module, features: torch.Tensor) -> np.ndarray:
    """Predicted labels ``1..n_classes`` for features ``(n_rows, n_features)``; shape ``(n_rows,)``."""
    with torch.no_grad():
        return (model(features).argmax(1) + 1).numpy()
