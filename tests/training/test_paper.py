"""The paper's trainer: its prior, learning on a toy task, determinism and best-of-restarts selection."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.paper import (
    PaperReinforceConfig,
    _trial_returns,
    firing_rate_prior,
    train_reinforce_paper,
)
from spikebridge.training.returns import discounted_returns
from tests.training.toy_task import CountDecoder, toy_network, toy_trials

torch.set_num_threads(1)


# Short toy trials need a short return horizon. At the paper's step sizes (1.2 -> 0.5) the exploration
# bonus saturates p at 1 within ~20 episodes while the prior still pins p' near M/N, and only the
# re-initialisations rescue the run (4 of 12 seeds stay near chance in 300 episodes). A quarter of them,
# with a re-initialisation every 25 episodes, learns on every seed tried (12 of 12).
TOY = PaperReinforceConfig(
    n_episodes=300,
    batch_trials=8,
    horizon_bins=10,
    reset_interval=25,
    learning_rate_start=0.3,
    learning_rate_stop=0.125,
)


def _weights(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: param.detach().clone() for name, param in network.named_parameters()}


# --------------------------------------------------------------------------- the prior
def test_prior_starts_near_m_over_n():
    p = 0.5 + 1e-4 * torch.randn(2, 200, 3, generator=torch.Generator().manual_seed(42))
    p_prime = firing_rate_prior(p, episode=0)
    assert torch.allclose(p_prime, torch.full_like(p, 0.2 / 1.5), atol=1e-3)


def test_prior_fades_to_p_late_in_training():
    p = torch.rand(2, 200, 3, generator=torch.Generator().manual_seed(42))
    assert torch.allclose(firing_rate_prior(p, episode=10**6), p, atol=1e-5)


def test_prior_spread_is_per_output_and_replica():
    varied = torch.rand(2, 200, 1, generator=torch.Generator().manual_seed(42))
    flat = torch.full((2, 200, 1), 0.9)
    p_prime = firing_rate_prior(torch.cat([varied, flat], dim=-1), episode=10**6, m=0.3, n=1.0)
    assert torch.allclose(p_prime[..., 0], varied[..., 0], atol=1e-5)
    assert torch.allclose(p_prime[..., 1], torch.full((2, 200), (1e-3 * 0.9 + 0.3) / (1e-3 + 1.0)))


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.floats(0, 1), min_size=2, max_size=20),
    episode=st.integers(0, 10_000),
    m=st.floats(0, 1),
    n=st.floats(1, 3),
)
def test_prior_lies_between_p_and_m_over_n(values, episode, m, n):
    p = torch.tensor(values, dtype=torch.float64)[:, None]
    p_prime = firing_rate_prior(p, episode, m=m, n=n)
    low, high = torch.minimum(p, torch.tensor(m / n)), torch.maximum(p, torch.tensor(m / n))
    assert bool(((p_prime >= low - 1e-12) & (p_prime <= high + 1e-12)).all())
    assert bool(((p_prime >= 0) & (p_prime <= 1)).all())


# --------------------------------------------------------------------------- training
def test_training_reward_increases_on_toy_task():
    _, history = train_reinforce_paper(toy_network(), CountDecoder(), toy_trials(), TOY)
    reward = np.asarray(history.values["train/reward"])
    fifth = len(reward) // 5
    assert len(reward) == TOY.n_episodes
    assert reward[-fifth:].mean() > reward[:fifth].mean() + 0.2
    assert reward[-fifth:].mean() > 0.8


def test_same_seed_gives_identical_weights():
    config = PaperReinforceConfig(n_episodes=60, batch_trials=8, horizon_bins=10, reset_interval=25, seed=3)
    runs = []
    for _ in range(2):
        network = toy_network(n_replicas=2)
        best, history = train_reinforce_paper(network, CountDecoder(), toy_trials(), config)
        runs.append((_weights(best), _weights(network), history.values["train/reward"]))
    for first, second in zip(runs[0][:2], runs[1][:2]):
        assert all(torch.equal(first[name], second[name]) for name in first)
    assert runs[0][2] == runs[1][2]
    other = toy_network(n_replicas=2)
    train_reinforce_paper(other, CountDecoder(), toy_trials(), dataclasses.replace(config, seed=4))
    assert not torch.equal(_weights(other)["w2"], runs[0][1]["w2"])


def _run_recording_weights(n_replicas: int, config: PaperReinforceConfig):
    """Train, keeping the weights each episode was run with (the pre-update weights)."""
    network = toy_network(n_replicas=n_replicas, seed=1)
    used = [_weights(network)]
    best, history = train_reinforce_paper(
        network, CountDecoder(), toy_trials(), config, callback=lambda e, net, h: used.append(_weights(net))
    )
    return best, history, used


def test_best_of_restarts_returns_one_replica_with_the_selected_weights():
    config = PaperReinforceConfig(n_episodes=80, batch_trials=8, horizon_bins=10, reset_interval=25)
    best, history, used = _run_recording_weights(3, config)
    assert best.n_replicas == 1
    assert best.logits(toy_trials().features).shape == (1, toy_trials().n_rows, 1)
    replica = int(history.values["train/best_replica"][-1])
    episode = int(history.values["train/best_episode"][-1])
    for name, value in _weights(best).items():
        assert torch.equal(value, used[episode][name][replica : replica + 1])
    # the best replica's batch reward is at least the replicas' mean reward of every episode
    assert history.values["train/best_reward"][-1] >= max(history.values["train/reward"]) - 1e-6
    assert np.all(np.diff(history.values["train/best_reward"]) >= 0)


@pytest.mark.parametrize("selection_window", [1, 5])
def test_selection_is_the_highest_training_reward(selection_window):
    config = PaperReinforceConfig(
        n_episodes=80, batch_trials=8, horizon_bins=10, reset_interval=25, selection_window=selection_window
    )
    best, history, used = _run_recording_weights(1, config)
    reward = np.asarray(history.values["train/reward"])
    smoothed = np.convolve(reward, np.ones(selection_window) / selection_window, mode="valid")
    episode = int(history.values["train/best_episode"][-1])  # last episode of the best window
    assert smoothed[episode - selection_window + 1] == pytest.approx(smoothed.max(), abs=1e-6)
    assert history.values["train/best_reward"][-1] == pytest.approx(smoothed.max(), abs=1e-6)
    assert all(math.isnan(v) for v in history.values["train/best_reward"][: selection_window - 1])
    for name, value in _weights(best).items():
        assert torch.equal(value, used[episode][name])


def test_callback_false_stops_training():
    config = PaperReinforceConfig(n_episodes=50, batch_trials=8, horizon_bins=10)
    stop_after_4 = lambda episode, network, history: episode < 4  # noqa: E731
    network, decoder = toy_network(), CountDecoder()
    _, history = train_reinforce_paper(network, decoder, toy_trials(), config, callback=stop_after_4)
    assert history.episodes == [0, 1, 2, 3, 4]


def test_returns_stay_within_each_trial():
    reward = torch.rand(2, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(42))
    trial_index = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    result = _trial_returns(reward, trial_index, 0.9, 6)
    for trial in range(3):
        rows = trial_index == trial
        assert torch.allclose(result[:, rows], discounted_returns(reward[:, rows], 0.9, 6))


def test_rejects_a_decoder_of_another_size():
    with pytest.raises(ValueError, match="n_outputs=decoder.n_neurons"):
        train_reinforce_paper(
            PointProcessNetwork(3, 2, n_hidden=4),
            CountDecoder(),
            toy_trials(),
            PaperReinforceConfig(n_episodes=1),
        )


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"n_episodes": 0}, ValueError, "n_episodes"),
        ({"batch_trials": 2.5}, TypeError, "batch_trials"),
        ({"discount": 1.5}, ValueError, "discount"),
        ({"learning_rate_start": -1.0}, ValueError, "learning_rate_start"),
        ({"prior_spikes": 2.0}, ValueError, "must not exceed"),
        ({"reset_interval": -1}, ValueError, "reset_interval"),
        ({"exploration_weight": -0.1}, ValueError, "exploration_weight"),
        ({"selection_window": 10, "n_episodes": 5}, ValueError, "selection_window"),
    ],
)
def test_config_validates(changes, error, match):
    with pytest.raises(error, match=match):
        PaperReinforceConfig(**changes)


def test_config_schedules():
    config = PaperReinforceConfig(n_episodes=11)
    assert config.learning_rate(0) == pytest.approx(1.2)
    assert config.learning_rate(10) == pytest.approx(0.5)
    assert config.learning_rate(5) == pytest.approx(0.85)
    assert config.bonus_weight(0) == 1.0
    assert config.bonus_weight(11) == pytest.approx(0.0)


def test_uniform_initial_weights_are_redrawn_in_minus_one_one():
    network = toy_network(n_replicas=2)
    before = _weights(network)
    config = dataclasses.replace(TOY, n_episodes=1, learning_rate_start=1e-12, learning_rate_stop=1e-12)
    train_reinforce_paper(network, CountDecoder(), toy_trials(), config)
    for name, value in _weights(network).items():
        assert not torch.allclose(value, before[name])
        assert float(value.abs().max()) <= 1.0 + 1e-6
        assert float(value.std()) > 0.3  # uniform in [-1, 1] has std 0.58


def test_network_initial_weights_are_kept():
    network = toy_network()
    before = _weights(network)
    config = dataclasses.replace(
        TOY, n_episodes=1, learning_rate_start=1e-12, learning_rate_stop=1e-12, initial_weights="network"
    )
    train_reinforce_paper(network, CountDecoder(), toy_trials(), config)
    for name, value in _weights(network).items():
        torch.testing.assert_close(value, before[name])


def test_unlabelled_bins_get_no_gradient_unless_credited():
    # Trials of 39 context bins and 1 labelled bin: without context credit only the 4 labelled bins
    # move the weights, with it all 160 bins do.
    trials = toy_trials(n_trials=4, context_bins=39, labelled_bins=1)
    changes = {}
    for credit in (False, True):
        network = toy_network()
        config = dataclasses.replace(
            TOY, n_episodes=1, batch_trials=4, initial_weights="network", credit_context=credit, reset_interval=0
        )
        before = _weights(network)
        train_reinforce_paper(network, CountDecoder(), trials, config)
        changes[credit] = float((_weights(network)["w2"] - before["w2"]).abs().sum())
    assert changes[False] < changes[True]


def test_rejects_unknown_initial_weights():
    with pytest.raises(ValueError, match="initial_weights"):
        PaperReinforceConfig(initial_weights="xavier")
