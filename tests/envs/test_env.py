"""Tests of the Gymnasium bridge environment."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from spikebridge.data.recording import Recording  # noqa: E402
from spikebridge.decoders.base import SpikeDecoder  # noqa: E402
from spikebridge.decoders.patternnet import WindowMLPDecoder  # noqa: E402
from spikebridge.envs import SpikeBridgeEnv  # noqa: E402

N_FEATURES = 4


class CountDecoder(SpikeDecoder):
    """Toy readout: rest unless a neuron fired at least twice in the current and last 3 bins."""

    n_neurons = 2
    history_bins = 3
    n_classes = 3

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(spikes.to(torch.float32), (0, 0, self.history_bins, 0))
        counts = padded.unfold(1, self.history_bins + 1, 1).sum(-1)  # (batch, n_bins, n_neurons)
        rest = torch.full_like(counts[..., :1], 1.5)
        return torch.cat([rest, counts[..., :1], counts[..., 1:] + 0.5], dim=-1)


def _toy_arrays(rng: np.random.Generator, lengths=(12, 20, 15, 9, 17), context=3):
    features = rng.random((sum(lengths), N_FEATURES)).astype(np.float32)
    stops = np.cumsum(lengths)
    starts = stops - np.asarray(lengths)
    labels = rng.integers(1, 4, size=sum(lengths))
    for start in starts:
        labels[start : start + context] = 0  # context bins are unlabelled
    return features, labels, starts, stops


@pytest.fixture
def toy_env() -> SpikeBridgeEnv:
    features, labels, starts, stops = _toy_arrays(np.random.default_rng(42))
    return SpikeBridgeEnv(features, labels, starts, stops, decoder=CountDecoder())


def _random_mlp_decoder(rng, n_neurons=3, history_bins=5, n_hidden=6) -> WindowMLPDecoder:
    n_inputs = (history_bins + 1) * n_neurons
    return WindowMLPDecoder(
        rng.normal(size=(n_hidden, n_inputs)), rng.normal(size=n_hidden),
        rng.normal(size=(3, n_hidden)), rng.normal(size=3), n_neurons=n_neurons,
        input_offset=rng.random(n_inputs) * 0.1, input_gain=1 + rng.random(n_inputs), input_ymin=-1.0,
    )


def test_check_env_passes(toy_env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium reports soft problems as warnings
        check_env(toy_env, skip_render_check=True)


@pytest.mark.parametrize("decoder_kind", ["toy", "window_mlp"])
def test_per_step_decoding_equals_whole_episode(decoder_kind):
    rng = np.random.default_rng(42)
    features, labels, starts, stops = _toy_arrays(rng)
    decoder = CountDecoder() if decoder_kind == "toy" else _random_mlp_decoder(rng)
    env = SpikeBridgeEnv(features, labels, starts, stops, decoder=decoder)
    for trial in range(env.n_trials):
        obs, _ = env.reset(seed=0, options={"trial": trial})
        actions, decoded, rewards, seen = [], [], [], [obs]
        terminated = False
        while not terminated:
            action = (rng.random(decoder.n_neurons) < 0.4).astype(np.int8)
            obs, reward, terminated, truncated, info = env.step(action)
            assert not truncated
            actions.append(action)
            decoded.append(info["decoded"])
            rewards.append(reward)
            seen.append(obs)
        rows = slice(starts[trial], stops[trial])
        expected = decoder.predict(np.stack(actions))
        np.testing.assert_array_equal(decoded, expected)
        correct = (expected == labels[rows]) & (labels[rows] > 0)
        np.testing.assert_array_equal(rewards, correct.astype(float))
        np.testing.assert_array_equal(np.stack(seen[:-1]), features[rows])
        np.testing.assert_array_equal(seen[-1], 0.0)


def test_same_seed_gives_same_trial_order(toy_env):
    def trial_order(env, seed, n=12):
        order = [env.reset(seed=seed)[1]["trial"]]
        order += [env.reset()[1]["trial"] for _ in range(n - 1)]
        return order

    features, labels, starts, stops = _toy_arrays(np.random.default_rng(42))
    other = SpikeBridgeEnv(features, labels, starts, stops, decoder=CountDecoder())
    assert trial_order(toy_env, 7) == trial_order(other, 7)
    assert trial_order(toy_env, 7) != trial_order(toy_env, 8)
    assert set(trial_order(toy_env, 3, n=60)) == set(range(toy_env.n_trials))


def test_spaces_have_the_right_shapes(toy_env):
    assert toy_env.observation_space.shape == (N_FEATURES,)
    assert toy_env.observation_space.dtype == np.float32
    assert isinstance(toy_env.action_space, gymnasium.spaces.MultiBinary)
    assert toy_env.action_space.shape == (CountDecoder.n_neurons,)
    obs, _ = toy_env.reset(seed=1)
    assert obs.shape == (N_FEATURES,) and obs.dtype == np.float32
    assert toy_env.observation_space.contains(obs)


@pytest.mark.parametrize(
    "action, error, match",
    [
        (np.zeros(3), ValueError, r"must have shape \(2,\)"),
        (np.zeros((1, 2)), ValueError, r"must have shape \(2,\)"),
        (1, ValueError, r"must have shape \(2,\)"),
        (np.array([0, 2]), ValueError, "spikes 0 or 1"),
        (np.array(["a", "b"]), TypeError, "numeric 0/1 array"),
    ],
)
def test_wrong_action_raises(toy_env, action, error, match):
    toy_env.reset(seed=0)
    with pytest.raises(error, match=match):
        toy_env.step(action)


def test_step_needs_a_running_episode(toy_env):
    with pytest.raises(RuntimeError, match="reset"):
        toy_env.step(np.zeros(2, dtype=np.int8))
    toy_env.reset(seed=0, options={"trial": 3})  # 9 bins
    for _ in range(9):
        *_, terminated, _, _ = toy_env.step(np.zeros(2, dtype=np.int8))
    assert terminated
    with pytest.raises(RuntimeError, match="reset"):
        toy_env.step(np.zeros(2, dtype=np.int8))


def test_constructor_validates_inputs():
    features, labels, starts, stops = _toy_arrays(np.random.default_rng(0))
    decoder = CountDecoder()
    with pytest.raises(TypeError, match="labels, starts and stops"):
        SpikeBridgeEnv(features, decoder=decoder)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        SpikeBridgeEnv(features, labels, starts, stops + 1, decoder=decoder)
    with pytest.raises(ValueError, match=r"must lie in 0..3"):
        SpikeBridgeEnv(features, labels + 3, starts, stops, decoder=decoder)
    with pytest.raises(ValueError, match="options"):
        SpikeBridgeEnv(features, labels, starts, stops, decoder=decoder).reset(options={"trial": 99})


def test_from_recording_builds_trial_windows_with_context():
    rng = np.random.default_rng(42)
    n_bins = 120
    trial_ids = np.full(n_bins, -1)
    labels = np.zeros(n_bins, dtype=np.int64)
    for trial, (first, last) in enumerate([(10, 30), (45, 60), (80, 110)]):
        trial_ids[first : last + 1] = trial
        labels[first : last + 1] = rng.integers(1, 4, size=last + 1 - first)
    recording = Recording(
        upstream_spikes=(rng.random((n_bins, 3)) < 0.2).astype(np.uint8),
        behavior_labels=labels, trial_ids=trial_ids, bin_size=0.01,
    )
    features = rng.random((n_bins, N_FEATURES)).astype(np.float32)
    env = SpikeBridgeEnv.from_recording(recording, CountDecoder(), np.array([0, 2]), features=features)
    assert env.n_trials == 2
    obs, info = env.reset(seed=0, options={"trial": 1})
    np.testing.assert_array_equal(obs, features[80 - CountDecoder.history_bins])
    n_steps, labels_seen = 0, []
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(np.ones(2, dtype=np.int8))
        labels_seen.append(info["label"])
        n_steps += 1
    assert n_steps == CountDecoder.history_bins + 31
    assert labels_seen[: CountDecoder.history_bins] == [0] * CountDecoder.history_bins
    np.testing.assert_array_equal(labels_seen[CountDecoder.history_bins :], labels[80:111])
    # default features: the paper's exponential history features (5 per upstream neuron)
    assert SpikeBridgeEnv.from_recording(recording, CountDecoder(), [0]).observation_space.shape == (15,)


@pytest.mark.shared_data
def test_paper_decoder_fast_path_matches_predict(rlpp_dir):
    from spikebridge.decoders.patternnet import load_patternnet_decoder

    decoder = load_patternnet_decoder(rlpp_dir / "decoder_rat01_patternnet.mat")
    rng = np.random.default_rng(42)
    n_rows = 400
    labels = rng.integers(1, 4, size=n_rows)
    env = SpikeBridgeEnv(np.zeros((n_rows, 1), np.float32), labels, [0], [n_rows], decoder=decoder)
    env.reset(seed=0)
    rates = rng.uniform(0.02, 0.6, size=n_rows // 50).repeat(50)[:, None]  # a new rate every 50 bins
    actions = (rng.random((n_rows, decoder.n_neurons)) < rates).astype(np.int8)
    decoded = [env.step(a)[4]["decoded"] for a in actions]
    np.testing.assert_array_equal(decoded, decoder.predict(actions))
    assert len(set(decoded)) > 1  # the check means something only if the decoder's output varies
