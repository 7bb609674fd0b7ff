"""Biomimetic priors: differentiable penalties on the generated spike probabilities.

A prior is what a patient *can* have: it constrains the generated population without any downstream
recording of the subject. The trainer subtracts it from the behavioural objective
(:func:`~spikebridge.training.policy_gradient.policy_gradient_step`), in reward units per bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from spikebridge.training.dataset import TrialBatch

__all__ = ["Prior", "InformationPrior", "bernoulli_information"]


class Prior(Protocol):
    """``prior(logits, batch) -> penalty``: logits ``(n_replicas, n_rows, n_outputs)``, penalty ``(n_replicas,)``."""

    def __call__(self, logits: torch.Tensor, batch: TrialBatch) -> torch.Tensor: ...


def bernoulli_information(logits: torch.Tensor) -> torch.Tensor:
    """Information each output's spikes carry about the rows, in nats per bin.

    ``I_n = mean_t KL(Bernoulli(p_tn) || Bernoulli(pbar_n))`` with ``pbar_n = mean_t p_tn``: the mutual
    information between a spike of output ``n`` and the row (the upstream state) it was drawn for, when
    rows are equally likely. It is 0 for a constant rate and grows with the modulation of the rate.

    Parameters
    ----------
    logits :
        Shape ``(n_replicas, n_rows, n_outputs)``.

    Returns
    -------
    information :
        Shape ``(n_replicas, n_outputs)``, >= 0.
    """
    log_p, log_q = torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
    p = log_p.exp()
    p_bar = p.mean(dim=1, keepdim=True).clamp(1e-7, 1 - 1e-7)
    kl = p * (log_p - p_bar.log()) + (1 - p) * (log_q - torch.log1p(-p_bar))
    return kl.mean(dim=1)


@dataclass(frozen=True)
class InformationPrior:
    """Charge the generator for the information each of its spikes carries: ``weight * sum_n I_n / pbar_n``.

    Behavioural reward alone pays for any modulation that helps the decoder and charges nothing for
    more, so RL drives the read neurons to saturate (rates near 0 and 1 per bin: modulation depth several
    times the recording's). Natural neurons are noisy, weakly tuned encoders; this prior asks for the
    least informative spikes that still carry the behaviour: an information-bottleneck trade-off between
    decoded behaviour and the mutual information between spikes and upstream input
    (:func:`bernoulli_information`), counted per spike (nats per spike, the usual unit of single-neuron
    coding). Per spike rather than per bin, because the information per bin also falls when every rate
    falls: charged per bin, a long run silences the neurons (rat01, weight 0.003, 1500 updates: 0 spikes/s).
    Per spike, the rate level is free and only the modulation relative to it costs. It uses nothing
    but the generated probabilities: no downstream recording.

    Summed over outputs, so every generated neuron pays the same price for its information whether it is
    one of 2 generated neurons or of 200 (a mean would dilute the read neurons' share as unread outputs
    are added).

    Parameters
    ----------
    weight :
        Reward per bin given up for one nat per spike of information in one neuron. The reward is the
        fraction of bins decoded correctly, so ``weight = 0.001`` says a neuron whose spikes each carry one
        more nat must buy at least 0.1% more decoded bins. 0 switches the prior off.
    """

    weight: float = 0.02
    """The trainer's default (:attr:`~spikebridge.training.reinforce.ReinforceConfig.prior_weight`)."""

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"InformationPrior.weight must be a finite number >= 0; got {self.weight!r}.")

    def __call__(self, logits: torch.Tensor, batch: TrialBatch) -> torch.Tensor:
        rate = torch.sigmoid(logits).mean(dim=1).clamp_min(1e-6)  # spikes per bin, (n_replicas, n_outputs)
        return self.weight * (bernoulli_information(logits) / rate).sum(dim=1)
