"""The supervised baseline: recovers a known teacher network; Bernoulli log-likelihood vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from spikebridge.data.windows import TrialWindows
from spikebridge.exceptions import DataFormatError
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.supervised import SupervisedConfig, fit_supervised, fit_supervised_trials

torch.set_num_threads(1)

N_FEATURES, N_OUTPUTS = 6, 2
FAST = SupervisedConfig(n_epochs=25, batch_rows=500, learning_rate=2e-2)


def _teacher_data(n_rows: int, seed: int = 42):
    generator = torch.Generator().manual_seed(seed)
    teacher = PointProcessNetwork(N_FEATURES, N_OUTPUTS, n_hidden=8, initial_rate=0.2, generator=generator)
    with torch.no_grad():  # a strongly modulated teacher, so there is something to learn
        teacher.w1.mul_(3.0)
        teacher.w2.mul_(3.0)
        features = torch.randn(n_rows, N_FEATURES, generator=generator)
        spikes = BernoulliObservations.sample(teacher(features)[0], generator)
    return teacher, features, spikes


def _mean_log_likelihood(network: PointProcessNetwork, features: torch.Tensor, spikes: torch.Tensor) -> float:
    with torch.no_grad():
        return float(BernoulliObservations.log_prob_logits(network.logits(features)[0], spikes).mean())


def _student(n_replicas: int = 1) -> PointProcessNetwork:
    return PointProcessNetwork(
        N_FEATURES, N_OUTPUTS, n_hidden=8, n_replicas=n_replicas, generator=torch.Generator().manual_seed(1)
    )


def test_fit_recovers_the_teacher_likelihood_on_held_out_rows():
    teacher, features, spikes = _teacher_data(10_000)
    fit_x, fit_s, test_x, test_s = features[:6000], spikes[:6000], features[6000:], spikes[6000:]
    student = _student()
    initial = _mean_log_likelihood(student, test_x, test_s)
    best, history = fit_supervised(student, fit_x, fit_s, FAST, validation=(test_x[:2000], test_s[:2000]))
    fitted = _mean_log_likelihood(best, test_x[2000:], test_s[2000:])
    truth = _mean_log_likelihood(teacher, test_x[2000:], test_s[2000:])
    assert fitted > initial + 0.05
    assert abs(fitted - truth) < 0.01
    assert len(history.values["train/cross_entropy"]) == FAST.n_epochs + 1
    assert history.values["train/best_cross_entropy"][-1] == pytest.approx(
        min(history.values["validation/cross_entropy"]), abs=1e-6
    )


def test_without_validation_keeps_the_lowest_training_cross_entropy():
    _, features, spikes = _teacher_data(2000)
    config = SupervisedConfig(n_epochs=5, batch_rows=None)
    best, history = fit_supervised(_student(), features, spikes, config)
    lowest = min(history.values["train/cross_entropy"])
    assert "validation/cross_entropy" not in history.values
    assert history.values["train/best_cross_entropy"][-1] == pytest.approx(lowest)
    assert -_mean_log_likelihood(best, features, spikes) == pytest.approx(
        min(history.values["train/cross_entropy"]), abs=1e-5
    )


def test_replicas_are_fitted_and_selected_independently():
    _, features, spikes = _teacher_data(2000)
    config = SupervisedConfig(n_epochs=4, batch_rows=1000)
    together, _ = fit_supervised(_student(n_replicas=2), features, spikes, config)
    assert together.n_replicas == 2
    alone = _student(n_replicas=2)
    with torch.no_grad():  # replica 0 alone, with the same initial weights
        single = PointProcessNetwork(N_FEATURES, N_OUTPUTS, n_hidden=8)
        for name, param in single.named_parameters():
            param.copy_(getattr(alone, name)[:1])
    single_best, _ = fit_supervised(single, features, spikes, config)
    for name, param in single_best.named_parameters():
        assert torch.allclose(param, getattr(together, name)[:1], atol=1e-5)


def test_same_seed_gives_identical_weights():
    _, features, spikes = _teacher_data(2000)
    config = SupervisedConfig(n_epochs=3, batch_rows=300, seed=7)
    first, _ = fit_supervised(_student(), features, spikes, config)
    second, _ = fit_supervised(_student(), features, spikes, config)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))


def test_fit_supervised_trials_splits_training_trials():
    _, features, spikes = _teacher_data(20 * 50)
    labels = np.ones((20, 50), np.int64)
    labels[:, :5] = 0
    bins = np.arange(1000).reshape(20, 50)
    windows = TrialWindows(features.numpy().reshape(20, 50, N_FEATURES), labels, bins, np.arange(20), 5)
    trials = FlatTrials(windows)
    best, history = fit_supervised_trials(_student(), trials, spikes, SupervisedConfig(n_epochs=3), seed=0)
    assert len(history.values["validation/cross_entropy"]) == 4
    _, no_validation = fit_supervised_trials(
        _student(), trials, spikes, SupervisedConfig(n_epochs=3), validation_fraction=0
    )
    assert "validation/cross_entropy" not in no_validation.values
    with pytest.raises(DataFormatError, match="rows"):
        fit_supervised_trials(_student(), trials, spikes[:-1])
    with pytest.raises(ValueError, match="validation_fraction"):
        fit_supervised_trials(_student(), trials, spikes, validation_fraction=1.0)


def test_fit_rejects_spike_counts_and_wrong_shapes():
    _, features, spikes = _teacher_data(100)
    with pytest.raises(DataFormatError, match="0 or 1"):
        fit_supervised(_student(), features, 2 * spikes, FAST)
    with pytest.raises(DataFormatError, match="n_outputs"):
        fit_supervised(_student(), features, spikes[:, :1], FAST)


@pytest.mark.parametrize("changes", [{"n_epochs": 0}, {"batch_rows": 0}, {"learning_rate": 0.0}])
def test_config_validates(changes):
    with pytest.raises(ValueError, match=next(iter(changes))):
        SupervisedConfig(**changes)


# --------------------------------------------------------------------------- Bernoulli log-likelihood
def test_log_prob_matches_scipy():
    rng = np.random.default_rng(42)
    p = rng.uniform(0.01, 0.99, size=(50, 3))
    spikes = (rng.random((50, 3)) < 0.5).astype(np.float64)
    expected = scipy.stats.bernoulli.logpmf(spikes, p)
    result = BernoulliObservations.log_prob(torch.from_numpy(p), torch.from_numpy(spikes))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-10)


def test_log_prob_logits_matches_scipy():
    rng = np.random.default_rng(42)
    logits = rng.normal(0, 4, size=(50, 3))
    spikes = (rng.random((50, 3)) < 0.5).astype(np.float64)
    expected = scipy.stats.bernoulli.logpmf(spikes, 1 / (1 + np.exp(-logits)))
    result = BernoulliObservations.log_prob_logits(torch.from_numpy(logits), torch.from_numpy(spikes))
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-8, atol=1e-12)
