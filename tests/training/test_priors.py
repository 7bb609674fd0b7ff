"""The biomimetic information prior: known values, switch-off, and training without downstream data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spikebridge.data.windows import trial_windows
from spikebridge.experiments.reproduce import ReproduceConfig, run_reproduce
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.priors import InformationPrior, bernoulli_information
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from tests.experiments.toy import toy_decoder, toy_recording


def _kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def test_information_of_constant_and_two_level_rates():
    constant = torch.full((1, 6, 2), -1.3)
    assert torch.allclose(bernoulli_information(constant), torch.zeros(1, 2), atol=1e-6)
    # half the rows at p = 0.1, half at 0.5: I = mean of KL(p_t || 0.3)
    p = torch.tensor([0.1, 0.1, 0.5, 0.5]).view(1, 4, 1)
    expected = 0.5 * (_kl(0.1, 0.3) + _kl(0.5, 0.3))
    assert bernoulli_information(torch.logit(p)).item() == pytest.approx(expected, rel=1e-5)
    # per replica and output; the prior is weight * the sum over outputs of the information per spike
    two = torch.cat([torch.logit(p), torch.zeros(1, 4, 1)], dim=2).expand(3, -1, -1)
    per_spike = 2 * expected / 0.3  # the first output fires 0.3 spikes per bin; the second carries nothing
    assert torch.allclose(InformationPrior(2.0)(two, None), torch.full((3,), per_spike), rtol=1e-5)


def test_information_per_spike_does_not_reward_silence():
    # the same relative modulation at a tenth of the rate: the same cost per spike, a tenth per bin
    base = torch.tensor([0.1, 0.1, 0.3, 0.3]).view(1, 4, 1)
    high, low = InformationPrior(1.0)(torch.logit(base), None), InformationPrior(1.0)(torch.logit(base / 10), None)
    assert low.item() == pytest.approx(high.item(), rel=0.25)
    assert bernoulli_information(torch.logit(base / 10)).item() < 0.1 * bernoulli_information(torch.logit(base)).item()


def test_information_is_non_negative_and_grows_with_modulation():
    base = torch.linspace(-2, 2, 50).view(1, 50, 1)
    info = [bernoulli_information(gain * base).item() for gain in (0.0, 0.5, 1.0, 2.0)]
    assert info[0] == pytest.approx(0.0, abs=1e-7) and all(a < b for a, b in zip(info, info[1:]))


@pytest.mark.parametrize("weight", [-1.0, float("nan"), float("inf")])
def test_bad_weights_are_clear_errors(weight):
    with pytest.raises(ValueError, match="weight"):
        InformationPrior(weight)
    with pytest.raises(ValueError, match="prior_weight"):
        ReinforceConfig(prior_weight=weight)


@pytest.mark.parametrize("start, full", [(0.5, 0.5), (-0.1, 0.5), (0.5, 1.2)])
def test_bad_prior_schedules_are_clear_errors(start, full):
    with pytest.raises(ValueError, match="prior_start"):
        ReinforceConfig(prior_start=start, prior_full=full)


def _train(prior_weight: float, recording=None):
    recording = recording or toy_recording(n_trials=30).lesioned()
    features = last_spikes_exponential(recording.upstream_spikes, time_constant=5.0)
    trials = FlatTrials(trial_windows(recording, features, recording.trials, context_bins=4))
    net = PointProcessNetwork(features.shape[1], 1, n_hidden=8, initial_rate=0.1,
                              generator=torch.Generator().manual_seed(0))
    config = ReinforceConfig(n_updates=120, batch_trials=10, n_samples=4, learning_rate=3e-2,
                             prior_weight=prior_weight, prior_start=0.25, prior_full=0.5)
    trained, history = train_reinforce(net, toy_decoder(), trials, config)
    with torch.no_grad():
        info = bernoulli_information(trained.logits(trials.features)).item()
    return trained, info, history


def test_prior_trains_without_any_downstream_recording():
    recording = toy_recording(n_trials=30).lesioned()
    assert recording.downstream_spikes is None  # the prior needs nothing but the generated probabilities
    _, info_off, _ = _train(0.0, recording)
    _, info_on, history = _train(1.0, recording)
    assert np.isfinite(history.values["train/reward"]).all()
    assert info_on < 0.7 * info_off  # the prior makes the generated spikes carry less information


def test_weight_zero_is_the_trainer_without_prior():
    a, _, _ = _train(0.0)
    b, _, _ = _train(0.0)
    for x, y in zip(a.parameters(), b.parameters()):
        assert torch.equal(x, y)


def test_reproduce_with_the_prior_reports_biomimicry_per_fold():
    config = ReproduceConfig(n_folds=2, n_jobs=1, n_eval_samples=2, methods=("rl",),
                             rl=ReinforceConfig(n_updates=30, batch_trials=8, n_samples=4, prior_weight=0.5))
    results = run_reproduce(toy_recording(), toy_decoder(), config)
    bio = results["biomimicry"]
    for method in ("rl", "recorded"):
        for key in ("mutual_information", "modulation_depth", "firing_rate_hz", "isi_cv", "fano_factor"):
            assert len(bio[method][key]) == 2 and all(isinstance(v, float) for v in bio[method][key])
    assert len(bio["rl"]["psth_correlation"]) == 2 and "psth_correlation" not in bio["recorded"]
    assert results["config"]["rl"]["prior_weight"] == 0.5
