"""The fast paths give the published numbers: closed-form REINFORCE gradients and batched replicas.

Each test runs the straightforward formulation (log-probabilities through autograd, one replica at a time,
one loop per replica) next to the vectorised one, from the same seed, and expects the same numbers up to
float rounding.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch

import spikebridge.models.network as network_module
from spikebridge.decoders.rewards import correct_reward, exploration_bonus
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.objectives import ClassificationObjective
from spikebridge.training.paper import (
    PaperReinforceConfig,
    _trial_returns,
    _uniform_init,
    firing_rate_prior,
    train_reinforce_paper,
)
from spikebridge.training.policy_gradient import policy_gradient_step
from spikebridge.training.returns import leave_one_out_advantage, normalize, window_returns
from tests.training.toy_task import CountDecoder, toy_network, toy_trials

torch.set_num_threads(1)


def _weights(network: PointProcessNetwork) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in network.named_parameters()}


def _toy_prior(logits: torch.Tensor, batch) -> torch.Tensor:
    """A differentiable penalty per replica, like InformationPrior's."""
    return 0.3 * torch.sigmoid(logits).square().mean(dim=(1, 2))


def _log_prob_step(network, optimizer, objective, batch, *, n_samples, generator, progress, observed_spikes,
                   prior=None):
    """The update as first written: the REINFORCE loss through autograd of the Bernoulli log-probabilities."""
    logits = network.logits(batch.features)
    with torch.no_grad():
        spikes = BernoulliObservations.sample(torch.sigmoid(logits).expand(n_samples, *logits.shape), generator)
        if observed_spikes is not None:
            spikes[0, :, : len(observed_spikes)] = observed_spikes
        reward, bonus = objective.reward(spikes, batch, progress)
        advantage = leave_one_out_advantage(window_returns(reward + bonus, objective.credit_bins))
        scale = advantage.std(dim=(0, 2), keepdim=True) + 1e-8
        advantage = advantage / scale
    log_prob = BernoulliObservations.log_prob_logits(logits.expand_as(spikes), spikes)
    loss = -(advantage.unsqueeze(-1) * log_prob).sum() / (n_samples * len(batch.labels))
    if prior is not None:
        loss = loss + (prior(logits, batch) / scale.view(-1)).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return spikes, reward, bonus


@pytest.mark.parametrize("prior", [None, _toy_prior])
@pytest.mark.parametrize("observed", [False, True])
def test_policy_gradient_step_equals_the_log_prob_loss(prior, observed):
    if prior is not None and "prior" not in inspect.signature(policy_gradient_step).parameters:
        pytest.skip("policy_gradient_step has no `prior` argument in this checkout")
    extra = {} if prior is None else {"prior": prior}
    trials = toy_trials()
    batch = trials.batch(np.arange(6))
    objective = ClassificationObjective(CountDecoder())
    observed_spikes = (torch.rand(25, 1, generator=torch.Generator().manual_seed(5)) < 0.5).float() if observed else None
    results = []
    for step in (policy_gradient_step, _log_prob_step):
        network = toy_network(n_replicas=3, seed=2)
        optimizer = torch.optim.SGD(network.parameters(), lr=1.0)  # the weight change is the gradient
        before = _weights(network)
        out = step(network, optimizer, objective, batch, n_samples=4, generator=torch.Generator().manual_seed(7),
                   progress=0.3, observed_spikes=observed_spikes, **extra)
        results.append(({k: v - before[k] for k, v in _weights(network).items()}, out))
    (fast, fast_out), (slow, slow_out) = results
    for name in fast:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-4, atol=1e-6)
        assert float(fast[name].abs().max()) > 0
    for a, b in zip(fast_out, slow_out):  # spikes, reward, bonus: the same draws
        assert torch.equal(a, b)


def _paper_as_published(network, decoder, trials, config):
    """The paper's episodes as first written: full-batch autograd loss, one z-scoring loop per replica."""
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    _uniform_init(network, generator)
    for episode in range(config.n_episodes):
        batch = trials.sample_batch(config.batch_trials, rng)
        labelled = batch.labels > 0
        n_labelled = max(int(labelled.sum()), 1)
        logits = network.logits(batch.features)
        with torch.no_grad():
            p_prime = firing_rate_prior(torch.sigmoid(logits), episode, m=config.prior_spikes, n=config.prior_bins)
            spikes = BernoulliObservations.sample(p_prime, generator)
            decoded = decoder.decode_torch(spikes)
            correct = correct_reward(decoded, batch.labels)
            bonus = exploration_bonus(decoded, batch.labels, decoder.n_classes, config.bonus_weight(episode))
            returns = _trial_returns(correct + bonus, batch.trial_index, config.discount, config.horizon_bins)
            advantage = torch.stack([normalize(g, labelled) for g in returns])
            if not config.credit_context:
                advantage = advantage * labelled
        loss = -(advantage.unsqueeze(-1) * (spikes - p_prime) * logits).sum() / n_labelled
        network.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for param in network.parameters():
                param.sub_(config.learning_rate(episode) * param.grad)


@pytest.mark.parametrize("credit_context", [False, True])
def test_paper_trainer_equals_the_published_update(credit_context):
    config = PaperReinforceConfig(n_episodes=4, batch_trials=6, horizon_bins=10, reset_interval=0,
                                  learning_rate_start=0.3, learning_rate_stop=0.1, credit_context=credit_context,
                                  seed=1)
    fast, slow = toy_network(n_replicas=3), toy_network(n_replicas=3)
    train_reinforce_paper(fast, CountDecoder(), toy_trials(), config)
    _paper_as_published(slow, CountDecoder(), toy_trials(), config)
    for name, value in _weights(fast).items():
        torch.testing.assert_close(value, _weights(slow)[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n_hidden", [6, 0])
def test_batched_replicas_equal_one_replica_at_a_time(monkeypatch, n_hidden):
    monkeypatch.setattr(network_module, "_BLOCK_ELEMENTS", 40)  # several row blocks for the shared features
    features = torch.rand(50, 4, generator=torch.Generator().manual_seed(0)) * 3 + 1
    batched = PointProcessNetwork(4, 2, n_hidden=n_hidden, n_replicas=3, generator=torch.Generator().manual_seed(1))
    batched.standardize_inputs(features)
    logits = batched.logits(features)
    logits.square().sum().backward()
    z = (features - batched.input_mean) / batched.input_scale
    for r in range(3):
        alone = copy.deepcopy(batched)
        for name, param in batched.named_parameters():
            setattr(alone, name, torch.nn.Parameter(param.detach()[r : r + 1].clone()))
        alone.n_replicas = 1
        own = alone.logits(features[None])  # the per-replica (3-D) path
        own.square().sum().backward()
        if n_hidden:
            by_hand = torch.sigmoid(z @ batched.w1[r] + batched.b1[r]) @ batched.w2[r] + batched.b2[r]
        else:
            by_hand = z @ batched.w2[r] + batched.b2[r]
        torch.testing.assert_close(logits[r], own[0])
        torch.testing.assert_close(logits[r], by_hand, rtol=1e-5, atol=1e-5)
        for name, param in alone.named_parameters():
            torch.testing.assert_close(getattr(batched, name).grad[r : r + 1], param.grad, rtol=1e-4, atol=1e-5)
    assert logits.is_contiguous() and logits.shape == (3, 50, 2)


def test_normalize_per_row_equals_a_loop_over_rows():
    values = torch.rand(4, 30, generator=torch.Generator().manual_seed(0))
    mask = torch.rand(30, generator=torch.Generator().manual_seed(1)) < 0.6
    looped = torch.stack([normalize(row, mask) for row in values])
    torch.testing.assert_close(normalize(values, mask, dim=-1), looped)
    torch.testing.assert_close(normalize(values, dim=-1), torch.stack([normalize(row) for row in values]))
    uncentred = normalize(values, mask, center=False, dim=-1)
    torch.testing.assert_close(uncentred, torch.stack([normalize(row, mask, center=False) for row in values]))
    with pytest.raises(ValueError, match="last axis"):
        normalize(values, dim=0)

