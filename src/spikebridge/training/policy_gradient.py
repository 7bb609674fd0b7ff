"""One likelihood-ratio (REINFORCE) update: the step shared by the offline trainer and the online learner."""

from __future__ import annotations

import torch

from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.dataset import TrialBatch
from spikebridge.training.objectives import Objective
from spikebridge.training.priors import Prior
from spikebridge.training.returns import leave_one_out_advantage, window_returns

__all__ = ["policy_gradient_step"]

BERNOULLI = BernoulliObservations()


def policy_gradient_step(
    network: PointProcessNetwork,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    batch: TrialBatch,
    *,
    n_samples: int,
    generator: torch.Generator,
    progress: float = 0.0,
    observed_spikes: torch.Tensor | None = None,
    prior: Prior | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One REINFORCE update with a leave-one-out baseline over ``n_samples`` spike trains of ``batch``.

    Sample spike trains, score them with ``objective``, credit a spike at ``t`` with the reward at
    ``t .. t + objective.credit_bins - 1`` (:func:`~spikebridge.training.returns.window_returns`), subtract
    the mean return of the other samples (:func:`~spikebridge.training.returns.leave_one_out_advantage`),
    scale by the advantage's std per replica, and take one ``optimizer`` step on the likelihood-ratio loss.

    Parameters
    ----------
    network :
        The generator; updated in place by ``optimizer``.
    optimizer :
        Optimizer over ``network.parameters()`` (the trainers use Adam).
    objective :
        Turns sampled spikes into a per-bin ``(reward, bonus)``.
    batch :
        Trials laid end to end (features ``(n_rows, n_features)``, labels ``(n_rows,)``).
    n_samples :
        Spike trains per row, >= 2.
    generator :
        Torch generator of the spike sampling.
    progress :
        Training progress in [0, 1] for annealed terms of the objective (the exploration bonus).
    observed_spikes :
        Optional spikes that were actually emitted, shape ``(n_observed_rows, n_outputs)``: they replace
        sample 0 of the first ``n_observed_rows`` rows, so the one real spike train is part of the update.
        They must have been drawn from the network's current probabilities (on-policy).
    prior :
        Optional differentiable penalty on the spike probabilities (e.g.
        :class:`~spikebridge.training.priors.InformationPrior`), in reward units per bin and replica. It
        is subtracted from the objective with the same per-replica scale as the advantage, so its weight
        means "reward given up per unit of penalty" whatever the spread of the returns.

    Returns
    -------
    spikes :
        The spike trains used, ``(n_samples, n_replicas, n_rows, n_outputs)``, float32.
    reward, bonus :
        ``(n_samples, n_replicas, n_rows)``: the task reward of each sampled bin and the bonus added to it.

    Notes
    -----
    The loss is ``-sum(A * log p(s)) / (n_samples * n_rows)``: its gradient is the REINFORCE estimate of
    the gradient of the mean return, with ``A`` the normalised leave-one-out advantage. For Bernoulli spikes
    ``d log p(s) / d logit = s - p``, so the step backpropagates the surrogate ``-sum(C * logits)`` with
    ``C = sum_s A_s (s_s - p) / (n_samples * n_rows)`` computed without autograd: the same gradient, with no
    graph over ``(n_samples, n_replicas, n_rows, n_outputs)`` log-probabilities. The same
    sequence of operations as the update of :func:`~spikebridge.training.reinforce.train_reinforce`, so
    the two give identical weights from identical states.
    """
    logits = network.logits(batch.features)  # (R, rows, out)
    with torch.no_grad():
        probabilities = torch.sigmoid(logits)
        spikes = BERNOULLI.sample(probabilities.expand(n_samples, *logits.shape), generator)
        if observed_spikes is not None:
            spikes[0, :, : len(observed_spikes)] = observed_spikes.to(spikes.dtype)
        reward, bonus = objective.reward(spikes, batch, progress)
        returns = window_returns(reward + bonus, objective.credit_bins)
        advantage = leave_one_out_advantage(returns)
        scale = advantage.std(dim=(0, 2), keepdim=True) + 1e-8  # per replica, (1, R, 1)
        advantage = advantage / scale
        # d/d logit of sum_s A_s log p(s_s) = sum_s A_s (s_s - p): the log-likelihood's gradient in closed form,
        # accumulated one sample at a time (no (samples, R, rows, out) temporary, no graph through log p)
        logit_credit = torch.zeros_like(probabilities)
        for sample_spikes, sample_advantage in zip(spikes, advantage):
            logit_credit.addcmul_(sample_spikes, sample_advantage.unsqueeze(-1))
        logit_credit.addcmul_(probabilities, advantage.sum(dim=0).unsqueeze(-1), value=-1)
        logit_credit /= n_samples * len(batch.labels)
    loss = -(logit_credit * logits).sum()  # its gradient is that of -sum(A * log p(s)) / (n_samples * n_rows)
    if prior is not None:
        loss = loss + (prior(logits, batch) / scale.view(-1)).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return spikes, reward, bonus
