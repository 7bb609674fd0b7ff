"""The supervised baseline: fit the generator to recorded downstream spikes by maximum likelihood.

This is the paper's SL model: the same staged point-process network, without the firing-rate prior,
fitted by Bernoulli maximum likelihood to the recorded spikes of the neurons it generates. Unlike the
behavioural trainers it *needs* recorded downstream spikes, which a patient does not have; it is a
baseline and a biomimicry reference.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from spikebridge._validation import check_positive_int, check_positive_number
from spikebridge.exceptions import DataFormatError
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.history import TrainingHistory

__all__ = ["SupervisedConfig", "fit_supervised", "fit_supervised_trials"]

_EVAL_ROWS = 16384  # rows per forward pass when scoring, to bound memory with many replicas


@dataclass(frozen=True)
class SupervisedConfig:
    """Settings of the maximum-likelihood fit (Adam on the mean Bernoulli cross-entropy)."""

    n_epochs: int = 600
    """Passes over the training rows; the weights are scored after each one. On rat01, 30 epochs left the fit
    far from converged (test success 0.53); 600 reach the paper's SL level (0.72 on fold 0)."""
    batch_rows: int | None = 8192
    """Rows per Adam step, drawn without replacement each epoch; None = full batch."""
    learning_rate: float = 1e-2
    """Adam step size."""
    seed: int = 0
    """Seed of the minibatch order."""

    def __post_init__(self) -> None:
        check_positive_int(self.n_epochs, "SupervisedConfig.n_epochs")
        if self.batch_rows is not None:
            check_positive_int(self.batch_rows, "SupervisedConfig.batch_rows")
        check_positive_number(self.learning_rate, "SupervisedConfig.learning_rate")
        check_positive_int(self.seed, "SupervisedConfig.seed", minimum=0)


def fit_supervised(
    network: PointProcessNetwork,
    features_flat: torch.Tensor | NDArray,
    spikes_flat: torch.Tensor | NDArray,
    config: SupervisedConfig = SupervisedConfig(),
    *,
    validation: tuple[torch.Tensor | NDArray, torch.Tensor | NDArray] | None = None,
) -> tuple[PointProcessNetwork, TrainingHistory]:
    """Fit ``network`` to recorded spikes by maximum Bernoulli likelihood; keep its best epoch.

    Parameters
    ----------
    network :
        The generator, trained in place (at the end it holds the last epoch's weights). Each replica is
        fitted independently to the same data.
    features_flat :
        Upstream features, shape ``(n_rows, n_features)``.
    spikes_flat :
        Recorded 0/1 spikes of the generated neurons, shape ``(n_rows, n_outputs)``, aligned with
        ``features_flat``.
    config :
        Fit settings.
    validation :
        Optional ``(features, spikes)`` of held-out rows (carved from the *training* trials, never the
        test fold). If given, each replica keeps the weights with the lowest validation cross-entropy;
        otherwise the lowest training cross-entropy (the paper's rule).

    Returns
    -------
    best_network :
        A copy of ``network`` (same replicas) holding each replica's selected weights; the initial
        weights count as epoch 0.
    history :
        Per epoch (0 = initial weights): ``train/cross_entropy`` (nats per bin and neuron, mean over
        replicas), ``validation/cross_entropy`` when ``validation`` is given, and
        ``train/best_cross_entropy`` (the selection score of the kept weights, mean over replicas).
    """
    features, spikes = _check_rows(network, features_flat, spikes_flat, "")
    if validation is not None:
        validation = _check_rows(network, validation[0], validation[1], "validation ")
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    n_rows = len(features)
    batch_rows = n_rows if config.batch_rows is None else min(config.batch_rows, n_rows)
    history = TrainingHistory()
    start = time.perf_counter()
    best_scores = torch.full((network.n_replicas,), torch.inf)
    best_weights = {name: param.detach().clone() for name, param in network.named_parameters()}
    for epoch in range(config.n_epochs + 1):
        if epoch > 0:                                                                 # 1. learn
            order = torch.randperm(n_rows, generator=generator) if batch_rows < n_rows else None
            for first in range(0, n_rows, batch_rows):
                stop = first + batch_rows
                rows = slice(first, stop) if order is None else order[first:stop]
                loss = _cross_entropy(network, features[rows], spikes[rows]).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        with torch.no_grad():                                                         # 2. score
            train_ce = _cross_entropy_chunked(network, features, spikes)
            valid_ce = None if validation is None else _cross_entropy_chunked(network, *validation)
            score = train_ce if valid_ce is None else valid_ce
            improved = score < best_scores                                            # 3. select
            best_scores = torch.where(improved, score, best_scores)
            for name, param in network.named_parameters():
                mask = improved.view(-1, *([1] * (param.dim() - 1)))
                best_weights[name] = torch.where(mask, param.detach(), best_weights[name])
        metrics = {"train_cross_entropy": float(train_ce.mean())}                     # 4. log
        if valid_ce is not None:
            metrics["validation_cross_entropy"] = float(valid_ce.mean())
        history.record(epoch, **metrics, train_best_cross_entropy=float(best_scores.mean()))
    history.seconds = time.perf_counter() - start
    best = copy.deepcopy(network)
    for name, weights in best_weights.items():
        setattr(best, name, nn.Parameter(weights.clone()))
    return best, history


def fit_supervised_trials(
    network: PointProcessNetwork,
    trials: FlatTrials,
    downstream_flat: torch.Tensor | NDArray,
    config: SupervisedConfig = SupervisedConfig(),
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[PointProcessNetwork, TrainingHistory]:
    """:func:`fit_supervised` on training trials, holding out a seeded fraction of them for selection.

    Parameters
    ----------
    network :
        The generator, trained in place.
    trials :
        Training trials; every row of every window (context bins included) is fitted.
    downstream_flat :
        Recorded 0/1 spikes of the generated neurons in the layout of ``trials``, shape
        ``(trials.n_rows, n_outputs)`` (e.g. ``windows.gather(downstream)[windows.bins >= 0]``).
    config :
        Fit settings.
    validation_fraction :
        Fraction of the trials held out (at least one trial when > 0) to pick the epoch; 0 selects by
        training cross-entropy, as the paper does.
    seed :
        Seed of the trial split.

    Returns
    -------
    best_network, history :
        As :func:`fit_supervised`.
    """
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)):
        raise TypeError(f"`validation_fraction` must be a number in [0, 1). Got {validation_fraction!r}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(
            f"`validation_fraction` must be in [0, 1). Got validation_fraction={validation_fraction!r}."
        )
    downstream = torch.as_tensor(downstream_flat, dtype=torch.float32)
    if downstream.shape[0] != trials.n_rows:
        raise DataFormatError(
            f"downstream_flat has {downstream.shape[0]} rows but the trials have {trials.n_rows}; lay the "
            "recorded spikes out like the trials, e.g. windows.gather(downstream)[windows.bins >= 0]."
        )
    order = np.random.default_rng(seed).permutation(trials.n_trials)
    n_validation = int(round(validation_fraction * trials.n_trials))
    if validation_fraction > 0:
        n_validation = max(n_validation, 1)
        if n_validation >= trials.n_trials:
            raise ValueError(
                f"Cannot hold out {n_validation} of {trials.n_trials} trials for validation and still fit; "
                "use more trials or validation_fraction=0."
            )
    fit_rows = torch.from_numpy(trials.rows_of(np.sort(order[n_validation:])))
    validation = None
    if n_validation:
        valid_rows = torch.from_numpy(trials.rows_of(np.sort(order[:n_validation])))
        validation = (trials.features[valid_rows], downstream[valid_rows])
    features = trials.features[fit_rows]
    return fit_supervised(network, features, downstream[fit_rows], config, validation=validation)


# ---------------------------------------------------------------------------------------- helpers
def _check_rows(
    network: PointProcessNetwork, features: torch.Tensor | NDArray, spikes: torch.Tensor | NDArray, which: str
) -> tuple[torch.Tensor, torch.Tensor]:
    features = torch.as_tensor(features, dtype=torch.float32)
    spikes = torch.as_tensor(spikes, dtype=torch.float32)
    if features.dim() != 2 or features.shape[1] != network.n_features:
        raise DataFormatError(
            f"{which}features must have shape (n_rows, {network.n_features}); got {tuple(features.shape)}."
        )
    if spikes.shape != (features.shape[0], network.n_outputs):
        raise DataFormatError(
            f"{which}spikes must have shape (n_rows, n_outputs) = ({features.shape[0]}, "
            f"{network.n_outputs}); got {tuple(spikes.shape)}. Pass one column per generated neuron, "
            "aligned with the features."
        )
    if features.shape[0] == 0:
        raise DataFormatError(f"{which}features have no rows.")
    if not bool(((spikes == 0) | (spikes == 1)).all()):
        raise DataFormatError(
            f"{which}spikes must be 0 or 1 per bin (Bernoulli observations); clip counts with "
            "np.minimum(spikes, 1)."
        )
    return features, spikes


def _cross_entropy(
    network: PointProcessNetwork, features: torch.Tensor, spikes: torch.Tensor
) -> torch.Tensor:
    """Mean Bernoulli cross-entropy per replica, shape ``(n_replicas,)``."""
    targets = spikes.expand(network.n_replicas, -1, -1)
    log_prob = BernoulliObservations.log_prob_logits(network.logits(features), targets)
    return -log_prob.mean(dim=(1, 2))


def _cross_entropy_chunked(
    network: PointProcessNetwork, features: torch.Tensor, spikes: torch.Tensor
) -> torch.Tensor:
    total = torch.zeros(network.n_replicas)
    for first in range(0, len(features), _EVAL_ROWS):
        chunk = slice(first, first + _EVAL_ROWS)
        total += _cross_entropy(network, features[chunk], spikes[chunk]) * len(features[chunk])
    return total / len(features)
