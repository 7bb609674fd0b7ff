import numpy as np
import pytest
import torch

from spikebridge.decoders.continuous import ContinuousDecoder, KalmanDecoder, WienerDecoder
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.simulate import simulate_reach_task

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def lagged_design(spikes, history_bins, rows):
    """[1, s(t), s(t-1), ..., s(t-H)] for each t in rows, built by hand; zeros before the first bin."""
    n = spikes.shape[1]
    design = np.zeros((len(rows), 1 + (history_bins + 1) * n))
    design[:, 0] = 1
    for r, t in enumerate(rows):
        for lag in range(history_bins + 1):
            if t - lag >= 0:
                design[r, 1 + lag * n:1 + (lag + 1) * n] = spikes[t - lag]
    return design


def random_problem(seed=0, n_bins=400, n_neurons=3, k=2):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((n_bins, n_neurons)) < 0.3).astype(np.uint8)
    velocity = rng.normal(size=(n_bins, k))
    mask = rng.random(n_bins) < 0.7
    return spikes, velocity, mask


def test_wiener_equals_lstsq_on_the_lagged_design():
    spikes, velocity, mask = random_problem()
    decoder = WienerDecoder(history_seconds=0.03, l2_strength=0.0).fit(spikes, velocity, 0.01, mask=mask)
    design = lagged_design(spikes, 3, np.flatnonzero(mask))
    expected = np.linalg.lstsq(design, velocity[mask], rcond=None)[0]
    np.testing.assert_allclose(decoder.intercept_, expected[0], atol=1e-9)
    np.testing.assert_allclose(decoder.coef_, expected[1:].T, atol=1e-9)
    full = lagged_design(spikes, 3, np.arange(len(spikes))) @ expected
    np.testing.assert_allclose(decoder.predict(spikes), full, atol=1e-4)


def test_wiener_ridge_equals_augmented_lstsq():
    spikes, velocity, mask = random_problem(seed=1)
    l2 = 0.05
    decoder = WienerDecoder(history_seconds=0.02, l2_strength=l2).fit(spikes, velocity, 0.01, mask=mask)
    design = lagged_design(spikes, 2, np.flatnonzero(mask))
    n_rows, n_cols = design.shape
    penalty = np.sqrt(n_rows * l2) * np.eye(n_cols)[1:]  # the intercept is not penalised
    augmented = np.vstack([design, penalty])
    target = np.vstack([velocity[mask], np.zeros((n_cols - 1, velocity.shape[1]))])
    expected = np.linalg.lstsq(augmented, target, rcond=None)[0]
    np.testing.assert_allclose(np.column_stack([decoder.intercept_, decoder.coef_]), expected.T, atol=1e-9)


def test_history_and_shapes():
    spikes, velocity, _ = random_problem(n_bins=100)
    decoder = WienerDecoder().fit(spikes, velocity[:, 0], 0.01)  # (n_bins,) is one output
    assert (decoder.n_neurons, decoder.history_bins, decoder.n_outputs) == (3, 30, 1)
    batch = (np.random.default_rng(2).random((3, 50, 3)) < 0.3).astype(np.uint8)
    decoded = decoder.predict(batch)
    assert decoded.shape == (3, 50, 1)
    for k in range(3):  # equal up to float32 rounding (the convolution may block a batch differently)
        np.testing.assert_allclose(decoded[k], decoder.predict(batch[k]), rtol=1e-5, atol=1e-6)
    assert decoder.predict_torch(torch.zeros(2, 4, 10, 3)).shape == (2, 4, 10, 1)


def smooth_problem(seed=0, n_bins=4000, n_neurons=6):
    """AR(1) velocity and Bernoulli spikes whose rate is linear in it."""
    rng = np.random.default_rng(seed)
    velocity = np.zeros((n_bins, 2))
    for t in range(1, n_bins):
        velocity[t] = 0.97 * velocity[t - 1] + 0.25 * rng.normal(size=2)
    tuning = rng.normal(size=(n_neurons, 2))
    rate = np.clip(0.2 + 0.08 * velocity @ tuning.T, 0.01, 0.9)
    return (rng.random(rate.shape) < rate).astype(np.uint8), velocity


@pytest.mark.parametrize("step_seconds", [0.01, 0.03])
def test_kalman_filter_equals_the_steady_state_recursion(step_seconds):
    spikes, velocity = smooth_problem()
    decoder = KalmanDecoder(step_seconds=step_seconds, impulse_tolerance=1e-7).fit(spikes, velocity, 0.01)
    step = decoder.step_bins_
    a, h, b, gain = decoder.transition_, decoder.observation_, decoder.observation_offset_, decoder.gain_
    closed_loop = (np.eye(2) - gain @ h) @ a
    silent = np.linalg.solve(np.eye(2) - closed_loop, -gain @ b)  # the state after silence forever
    counts = np.array([spikes[max(0, t - step + 1):t + 1].sum(axis=0) for t in range(len(spikes))])
    state = np.zeros_like(velocity)
    for t in range(len(spikes)):
        previous = state[t - step] if t >= step else silent
        state[t] = closed_loop @ previous + gain @ (counts[t] - b)
    np.testing.assert_allclose(decoder.predict(spikes), state, atol=1e-3 * np.abs(state).max())
    # The gain is the limit of the time-varying Kalman gain (Riccati recursion from P = W).
    q, w = decoder.observation_noise_, decoder.transition_noise_
    prior = w
    for _ in range(3000):
        gain_t = prior @ h.T @ np.linalg.inv(h @ prior @ h.T + q)
        prior = a @ (np.eye(2) - gain_t @ h) @ prior @ a.T + w
    np.testing.assert_allclose(gain, gain_t, rtol=1e-6, atol=1e-9)


def test_kalman_history_and_batching():
    spikes, velocity = smooth_problem(n_bins=1500)
    decoder = KalmanDecoder(step_seconds=0.05).fit(spikes, velocity, 0.01)
    assert decoder.step_bins_ == 5 and decoder.history_bins % 5 == 4
    assert decoder.coef_.shape == (2, (decoder.history_bins + 1) * 6)
    batch = np.stack([spikes[:300], spikes[300:600]])
    decoded = decoder.predict(batch)
    np.testing.assert_allclose(decoded[1], decoder.predict(spikes[300:600]), rtol=1e-5, atol=1e-6)


def test_kalman_warns_when_truncated():
    spikes, velocity = smooth_problem(n_bins=1500)
    with pytest.warns(RuntimeWarning, match="truncated"):
        KalmanDecoder(step_seconds=0.01, max_history_seconds=0.02).fit(spikes, velocity, 0.01)


def r_squared(decoded, target):
    return np.mean(1 - ((decoded - target) ** 2).sum(0) / ((target - target.mean(0)) ** 2).sum(0))


@pytest.fixture(scope="module")
def reach():
    return simulate_reach_task(n_trials=96, n_downstream=40, n_upstream=80, seed=0).recording


@pytest.mark.parametrize(
    "decoder", [WienerDecoder(history_seconds=0.2), KalmanDecoder()], ids=["wiener", "kalman"]
)
def test_recovers_hand_velocity_on_held_out_trials(reach, decoder):
    in_trial = reach.trial_ids >= 0
    test = np.isin(reach.trial_ids, reach.trials[::4])
    velocity = reach.behavior_continuous
    decoder.fit(reach.downstream_spikes, velocity, reach.bin_size, mask=in_trial & ~test)
    decoded = decoder.predict(reach.downstream_spikes)
    assert r_squared(decoded[test], velocity[test]) > 0.5


@pytest.mark.parametrize("cls", [WienerDecoder, KalmanDecoder])
def test_errors(cls):
    spikes, velocity, mask = random_problem(n_bins=200)
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().predict(spikes)
    decoder = cls().fit(spikes, velocity, 0.01)
    with pytest.raises(DataFormatError, match="reads 3 neurons but got spikes of 2"):
        decoder.predict(spikes[:, :2])
    with pytest.raises(DataFormatError, match="n_bins, k"):
        cls().fit(spikes, velocity[:-1], 0.01)
    with pytest.raises(DataFormatError, match="boolean"):
        cls().fit(spikes, velocity, 0.01, mask=mask.astype(int))
    with pytest.raises(ValueError, match="bin_size"):
        cls().fit(spikes, velocity, 0.0)
    bad = velocity.copy()
    bad[mask.argmax()] = np.nan
    with pytest.raises(DataFormatError, match="NaN"):
        cls().fit(spikes, bad, 0.01, mask=mask)
    cls().fit(spikes, bad, 0.01, mask=~np.isnan(bad).any(axis=1))  # NaN outside the mask is fine


def test_a_plain_subclass_of_the_base():
    class Sum(ContinuousDecoder):
        n_neurons, history_bins, n_outputs = 2, 0, 1

        def _predict_torch(self, spikes):
            return spikes.sum(dim=-1, keepdim=True)

    np.testing.assert_array_equal(Sum().predict(np.ones((3, 4, 2))), np.full((3, 4, 1), 2.0))
    with pytest.raises(DataFormatError, match="n_samples, n_bins, n_neurons"):
        Sum().predict(np.ones(3))
