"""The online learner: it recovers from a toy drift, can stay frozen, is deterministic; the CLI smoke run."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from spikebridge.closedloop.online import OnlineConfig, OnlineLearner, policy_gradient_step
from spikebridge.experiments.closed_loop import PermutedInputDecoder, moving_average
from spikebridge.training.objectives import objective_for
from spikebridge.training.reinforce import ReinforceConfig, ReinforceState, train_reinforce
from tests.training.toy_task import CountDecoder, toy_network, toy_trials

torch.set_num_threads(1)


class FlippedCountDecoder(CountDecoder):
    """The toy readout after a drift: class 1 when the neuron fires a lot, class 2 when it is silent."""

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        return super()._scores(spikes).flip(-1)


def _trained_toy_network() -> torch.nn.Module:
    network = toy_network(seed=1)
    config = ReinforceConfig(n_updates=60, batch_trials=8, n_samples=4, learning_rate=5e-2, seed=2,
                             prior_weight=0.0)  # a toy that needs saturated rates: no biomimetic prior
    averaged, _ = train_reinforce(network, CountDecoder(), toy_trials(), config)
    return copy.deepcopy(averaged).requires_grad_(True)


def _stream(learner: OnlineLearner, n_trials: int, seed: int = 3) -> np.ndarray:
    trials = toy_trials(n_trials=n_trials, seed=seed)
    success = []
    for k in range(n_trials):
        rows = slice(trials.starts[k], trials.stops[k])
        outcome = learner.process_trial(trials.features[rows].numpy(), trials.labels[rows].numpy())
        success.append(outcome.success)
    return np.asarray(success)


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    return _trained_toy_network()


def test_online_learning_recovers_from_a_flipped_readout(trained):
    config = OnlineConfig(learning_rate=5e-2, n_samples=4, replay_trials=3, exploration_weight=0.1, seed=0)
    before = _stream(OnlineLearner(copy.deepcopy(trained), CountDecoder(), config, learning=False), 20)
    assert before.mean() > 0.85  # the pre-trained generator solves the toy task
    frozen = _stream(OnlineLearner(copy.deepcopy(trained), FlippedCountDecoder(), config, learning=False), 60)
    learner = OnlineLearner(copy.deepcopy(trained), FlippedCountDecoder(), config)
    online = _stream(learner, 60)
    assert frozen.mean() < 0.2  # the drift breaks it
    assert online[-15:].mean() > 0.9  # online learning wins it back
    assert online[:15].mean() < 0.5
    assert learner.history.values["online/reward"] == pytest.approx(online.tolist())


def test_learning_false_leaves_the_weights_unchanged(trained):
    network = copy.deepcopy(trained)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    learner = OnlineLearner(network, FlippedCountDecoder(), OnlineConfig(n_samples=2), learning=False)
    outcomes = [learner.process_trial(np.ones((20, 3), np.float32), np.r_[np.zeros(5, int), np.ones(15, int)])
                for _ in range(3)]
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert not any(o.updated for o in outcomes)
    assert learner.history.values["online/updated"] == [0.0, 0.0, 0.0]


def test_a_silent_output_is_reinitialised(trained):
    network = copy.deepcopy(trained)
    with torch.no_grad():
        network.b2.fill_(-40.0)  # p ~ 0 everywhere: no spike, no gradient
    learner = OnlineLearner(network, CountDecoder(), OnlineConfig(n_samples=2, reset_window_trials=3))
    _stream(learner, 3)
    assert learner.history.values["online/resets"] == [0.0, 0.0, 1.0]
    assert float(network.b2.detach()) > -10


def test_same_seed_gives_identical_sessions(trained):
    runs = []
    for _ in range(2):
        network = copy.deepcopy(trained)
        config = OnlineConfig(learning_rate=3e-2, n_samples=4, seed=7)
        learner = OnlineLearner(network, FlippedCountDecoder(), config)
        success = _stream(learner, 6)
        runs.append((success, [p.detach().clone() for p in network.parameters()]))
    assert np.array_equal(runs[0][0], runs[1][0])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_emitted_spikes_do_not_depend_on_the_learning_switch_before_the_first_update(trained):
    trials = toy_trials(n_trials=1, seed=4)
    learners = [OnlineLearner(copy.deepcopy(trained), CountDecoder(), OnlineConfig(seed=1), learning=flag)
                for flag in (True, False)]
    emitted = [lr.process_trial(trials.features.numpy(), trials.labels.numpy()).spikes for lr in learners]
    assert np.array_equal(*emitted)


def test_policy_gradient_step_is_the_offline_trainers_update():
    trials = toy_trials()
    config = ReinforceConfig(n_updates=1, batch_trials=8, n_samples=4, learning_rate=3e-2, seed=5,
                             exploration_weight=0.5)
    offline = toy_network()
    train_reinforce(offline, CountDecoder(), trials, config)
    online = toy_network()
    state = ReinforceState.initial(online, config)
    batch = trials.sample_batch(config.batch_trials, state.rng)
    objective = objective_for(CountDecoder(), exploration_weight=0.5)
    policy_gradient_step(online, state.optimizer, objective, batch, n_samples=config.n_samples,
                         generator=state.generator, progress=0.0)
    assert all(torch.equal(a, b) for a, b in zip(offline.parameters(), online.parameters()))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 1}, "n_samples must be >= 2"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"replay_trials": -1}, "replay_trials"),
])
def test_config_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OnlineConfig(**kwargs)


def test_process_trial_validates_its_input(trained):
    learner = OnlineLearner(copy.deepcopy(trained), CountDecoder())
    with pytest.raises(ValueError, match="context bins"):
        learner.process_trial(np.ones((10, 3), np.float32), np.ones(10, int))
    with pytest.raises(ValueError, match="shape"):
        learner.process_trial(np.ones((10, 2), np.float32), np.ones(10, int))


def test_permuted_input_decoder_moves_inputs():
    class First(CountDecoder):
        n_neurons = 2

        def _scores(self, spikes):
            return super()._scores(spikes[..., :1])

    spikes = np.zeros((8, 2), np.uint8)
    spikes[:, 1] = 1  # only neuron 1 fires: First reads neuron 0 -> class 1; swapped -> class 2
    assert (First().predict(spikes)[4:] == 1).all()
    assert (PermutedInputDecoder(First(), [1, 0]).predict(spikes)[4:] == 2).all()
    unmoved = PermutedInputDecoder(First(), [1, 0], mix=0.0)
    assert np.array_equal(unmoved.predict(spikes), First().predict(spikes))
    with pytest.raises(ValueError, match="permutation"):
        PermutedInputDecoder(First(), [0, 0])


def test_moving_average_matches_a_loop():
    values = np.random.default_rng(0).random(17)
    expected = [values[max(0, k - 4) : k + 1].mean() for k in range(17)]
    assert np.allclose(moving_average(values, 5), expected)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:WindowClassifierDecoder did not converge")
def test_closed_loop_cli_quick_smoke(tmp_path, capsys):
    from spikebridge.cli import main

    out = tmp_path / "run"
    assert main(["closed-loop", "--out", str(out), "--quick", "--seed", "1"]) == 0
    results = json.loads((out / "results.json").read_text())
    for name in ("learning", "no_learning"):
        run = results["runs"][name]
        assert len(run["success"]) == len(run["moving_average"]) == results["n_session_trials"]
        assert np.isfinite(run["recovered_fraction"])
    assert (out / "closed_loop.png").stat().st_size > 1000
    assert (out / "config.json").exists()
    assert "recovered" in capsys.readouterr().out
