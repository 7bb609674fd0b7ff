"""A monkey-like centre-out reach task: PMd-like upstream, M1-like downstream tuned to hand velocity."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
from scipy.ndimage import gaussian_filter1d

from spikebridge.data.recording import Recording
from spikebridge.simulate._checks import (
    as_generator,
    check_fractions,
    check_interval,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
)
from spikebridge.simulate._timeline import (
    Timeline,
    build_timeline,
    calibrate_log_baseline,
    draw_bins,
    sample_upstream,
)
from spikebridge.simulate.mapping import UpstreamToDownstreamMapping, sample_with_refractoriness
from spikebridge.simulate.subject import SimulatedSubject

__all__ = ["simulate_reach_task"]

_SIGNAL_NAMES = ("preparatory_x", "preparatory_y", "velocity_x", "velocity_y", "speed")
_UPSTREAM_TYPES = ("preparatory", "movement", "mixed")
# Segments of a trial: gap (outside the trial), centre hold, instructed delay, reaction time, movement, hold.
_IN_TRIAL = np.array([False, True, True, True, True, True])
_MOVEMENT = 4


def simulate_reach_task(
    *,
    n_trials: int = 200,
    n_targets: int = 8,
    n_upstream: int = 80,
    n_downstream: int = 40,
    bin_size: float = 0.01,
    seed: int | np.random.Generator = 0,
    iti_duration: tuple[float, float] = (0.5, 1.0),
    hold_duration: tuple[float, float] = (0.3, 0.5),
    delay_duration: tuple[float, float] = (0.3, 0.7),
    reaction_time: tuple[float, float] = (0.1, 0.25),
    movement_duration: tuple[float, float] = (0.4, 0.6),
    target_hold_duration: tuple[float, float] = (0.15, 0.25),
    reach_distance: float = 10.0,
    direction_jitter_deg: float = 5.0,
    upstream_baseline_rate: tuple[float, float] = (10.0, 30.0),
    upstream_tuning_strength: tuple[float, float] = (0.8, 1.5),
    upstream_type_fractions: Sequence[float] = (0.2, 0.6, 0.2),
    trial_gain_std: float = 0.15,
    shared_gain_std: float = 0.1,
    velocity_lead: float = 0.2,
    signal_smoothing: float = 0.02,
    preparatory_decay: float = 0.15,
    downstream_baseline_rate: tuple[float, float] = (10.0, 30.0),
    downstream_tuning_strength: tuple[float, float] = (1.2, 1.8),
    n_direction_units: int = 8,
    n_random_units: int = 8,
    hidden_gain: float = 1.5,
    random_weight_std: float = 0.3,
    synaptic_delay: tuple[float, float] = (0.02, 0.05),
    smoothing_time_constant: float = 0.1,
    refractory_strength: float = 2.0,
    refractory_time_constant: float = 0.01,
    max_rate: float = 100.0,
) -> SimulatedSubject:
    """Simulate a healthy subject doing centre-out reaches to ``n_targets`` targets, with known ground truth.

    Each trial is an inter-trial gap (outside the trial), a centre hold, an instructed delay (target shown),
    a reaction time after the go cue, a straight reach and a hold at the target. Only movement bins are
    labelled, with ``target index + 1`` (1..n_targets); every other bin is 0. Targets are balanced across
    trials and lie at angles ``2 pi k / n_targets``. The hand velocity (cm/s) has the bell-shaped
    minimum-jerk speed profile ``30 D / T tau^2 (1 - tau)^2`` and is zero outside movements.

    Upstream (PMd-like) neurons have log-rates linear in five latent signals: the target direction during
    the delay (decaying after movement onset), and the velocity and speed ``velocity_lead`` seconds ahead,
    in units of the nominal peak speed. Downstream (M1-like) neurons follow
    :class:`UpstreamToDownstreamMapping`. Its first ``n_direction_units`` hidden units read the velocity
    along evenly spaced directions from a ridge least-squares readout of the upstream movement tuning; each
    downstream neuron weights them by the cosine to its preferred direction, so it is cosine-tuned to
    velocity with log-rate depth ``downstream_tuning_strength`` at peak speed. ``n_random_units`` more
    hidden units read random upstream combinations and add heterogeneity.

    Parameters
    ----------
    n_trials, n_targets, n_upstream, n_downstream :
        Numbers of trials, targets and neurons.
    bin_size :
        Bin width in seconds.
    seed :
        Seed (int >= 0) or generator; the same seed gives identical arrays.
    iti_duration, hold_duration, delay_duration, reaction_time, movement_duration, target_hold_duration :
        ``(low, high)`` seconds; each trial draws each duration uniformly.
    reach_distance :
        Centre-to-target distance in cm.
    direction_jitter_deg :
        Standard deviation of each reach's direction around its target angle, in degrees.
    upstream_baseline_rate :
        ``(low, high)`` spikes/s; each upstream neuron draws its baseline uniformly.
    upstream_tuning_strength :
        ``(low, high)`` log-rate modulation of an upstream neuron by its preferred direction.
    upstream_type_fractions :
        Relative frequency of the upstream types ``("preparatory", "movement", "mixed")``.
    trial_gain_std, shared_gain_std :
        Standard deviation of the per-trial log-gain of each neuron, and of the part shared by all neurons.
    velocity_lead :
        Seconds by which upstream activity leads the velocity it encodes.
    signal_smoothing, preparatory_decay :
        Gaussian smoothing of the latent signals, and decay time constant of the preparatory signal after
        movement onset, in seconds.
    downstream_baseline_rate :
        ``(low, high)`` spikes/s of downstream neurons while upstream is at baseline, before the
        refractoriness (which lowers the realised rates by about a quarter at the defaults).
    downstream_tuning_strength :
        ``(low, high)`` log-rate modulation of a downstream neuron at peak speed in its preferred direction.
    n_direction_units, n_random_units :
        Hidden units that read velocity along fixed directions, and that read random upstream combinations.
    hidden_gain :
        Gain of the direction units before the tanh (velocity in units of the nominal peak speed).
    random_weight_std :
        Scale of the random units' input and output weights.
    synaptic_delay :
        ``(low, high)`` seconds; each upstream neuron draws a whole-bin conduction delay.
    smoothing_time_constant :
        Seconds; time constant of the exponential filter on upstream spikes.
    refractory_strength, refractory_time_constant :
        Log-rate drop one bin after a downstream spike (>= 0) and its recovery time constant in seconds.
    max_rate :
        Ceiling on every rate, spikes/s.

    Returns
    -------
    subject :
        Its recording has ``behavior_continuous`` = hand velocity, shape ``(n_bins, 2)`` (cm/s). Its
        ``trial_table`` has, per trial, ``target`` (0-based), ``direction`` (radians) and the absolute bins
        ``iti_onset``, ``hold_onset``, ``target_onset``, ``go_cue``, ``movement_onset``, ``movement_offset``
        (exclusive). ``mapping`` holds the true weights and delays.

    Examples
    --------
    >>> subject = simulate_reach_task(n_trials=16, seed=1)
    >>> subject.recording.n_classes, subject.recording.behavior_continuous.shape[1]
    (8, 2)
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    n_targets = check_positive_int(n_targets, "n_targets", minimum=2)
    n_upstream = check_positive_int(n_upstream, "n_upstream")
    n_downstream = check_positive_int(n_downstream, "n_downstream")
    n_direction_units = check_positive_int(n_direction_units, "n_direction_units", minimum=2)
    n_random_units = check_positive_int(n_random_units, "n_random_units", minimum=0)
    bin_size = check_positive_number(bin_size, "bin_size")
    rng = as_generator(seed)
    durations = [check_interval(d, name) for d, name in (
        (iti_duration, "iti_duration"), (hold_duration, "hold_duration"), (delay_duration, "delay_duration"),
        (reaction_time, "reaction_time"), (movement_duration, "movement_duration"),
        (target_hold_duration, "target_hold_duration"))]
    reach_distance = check_positive_number(reach_distance, "reach_distance")
    direction_jitter = np.deg2rad(check_non_negative_number(direction_jitter_deg, "direction_jitter_deg"))
    upstream_baseline_rate = check_interval(upstream_baseline_rate, "upstream_baseline_rate")
    upstream_tuning_strength = check_interval(upstream_tuning_strength, "upstream_tuning_strength",
                                              allow_zero=True)
    type_fractions = check_fractions(upstream_type_fractions, "upstream_type_fractions", len(_UPSTREAM_TYPES))
    trial_gain_std = check_non_negative_number(trial_gain_std, "trial_gain_std")
    shared_gain_std = check_non_negative_number(shared_gain_std, "shared_gain_std")
    velocity_lead = check_non_negative_number(velocity_lead, "velocity_lead")
    signal_smoothing = check_non_negative_number(signal_smoothing, "signal_smoothing")
    preparatory_decay = check_positive_number(preparatory_decay, "preparatory_decay")
    downstream_baseline_rate = check_interval(downstream_baseline_rate, "downstream_baseline_rate")
    downstream_tuning_strength = check_interval(downstream_tuning_strength, "downstream_tuning_strength",
                                                allow_zero=True)
    hidden_gain = check_positive_number(hidden_gain, "hidden_gain")
    random_weight_std = check_non_negative_number(random_weight_std, "random_weight_std")
    synaptic_delay = check_interval(synaptic_delay, "synaptic_delay", allow_zero=True)
    smoothing_time_constant = check_positive_number(smoothing_time_constant, "smoothing_time_constant")
    refractory_strength = check_non_negative_number(refractory_strength, "refractory_strength")
    refractory_time_constant = check_positive_number(refractory_time_constant, "refractory_time_constant")
    max_rate = check_positive_number(max_rate, "max_rate")
    if max_rate < max(upstream_baseline_rate[1], downstream_baseline_rate[1]):
        raise ValueError(
            f"`max_rate` ({max_rate} spikes/s) must be at least the highest baseline rate; raise max_rate or "
            "lower upstream_baseline_rate / downstream_baseline_rate."
        )
    rng_task, rng_up_params, rng_up_spikes, rng_map, rng_down_spikes = rng.spawn(5)

    # ---------------------------------------------------------------- trials and hand velocity
    target = rng_task.permutation(np.arange(n_trials) % n_targets)
    direction = 2 * np.pi * target / n_targets + rng_task.normal(0.0, 1.0, n_trials) * direction_jitter
    lengths = np.stack([draw_bins(d, n_trials, bin_size, rng_task) for d in durations], axis=1)
    labels = np.zeros_like(lengths)
    labels[:, _MOVEMENT] = target + 1
    tail = int(draw_bins(durations[0], 1, bin_size, rng_task)[0])
    timeline = build_timeline(lengths, labels, _IN_TRIAL, tail)
    velocity = _hand_velocity(timeline, direction, reach_distance, bin_size)
    peak_speed = 1.875 * reach_distance / np.mean(durations[4])  # nominal peak of the minimum-jerk profile
    signals = _task_signals(timeline, direction, velocity / peak_speed, bin_size, velocity_lead,
                            signal_smoothing, preparatory_decay)

    # ---------------------------------------------------------------- upstream
    baseline = rng_up_params.uniform(*upstream_baseline_rate, size=n_upstream)
    types = rng_up_params.choice(len(_UPSTREAM_TYPES), size=n_upstream, p=type_fractions)
    tuning = _upstream_tuning(types, upstream_tuning_strength, rng_up_params)
    log_gain = (rng_up_params.normal(0.0, shared_gain_std, size=(n_trials, 1))
                + rng_up_params.normal(0.0, trial_gain_std, size=(n_trials, n_upstream)))
    upstream_spikes, upstream_rates = sample_upstream(
        signals, tuning, baseline, log_gain[timeline.block], bin_size=bin_size, max_rate=max_rate,
        rng=rng_up_spikes,
    )

    # ---------------------------------------------------------------- downstream
    input_weights, hidden_bias, output_weights = _reach_weights(
        tuning, baseline, rng_map, n_downstream=n_downstream, n_direction_units=n_direction_units,
        n_random_units=n_random_units, hidden_gain=hidden_gain, random_weight_std=random_weight_std,
        downstream_tuning_strength=downstream_tuning_strength,
    )
    target_rate = rng_map.uniform(*downstream_baseline_rate, size=n_downstream)
    low, high = (int(round(d / bin_size)) for d in synaptic_delay)
    mapping = UpstreamToDownstreamMapping(
        bin_size=bin_size, upstream_baseline_rate=baseline,
        delay_bins=rng_map.integers(low, high + 1, size=n_upstream).astype(np.int64),
        smoothing_time_constant=smoothing_time_constant, input_weights=input_weights, hidden_bias=hidden_bias,
        output_weights=output_weights,
        log_baseline_rate=calibrate_log_baseline(target_rate, output_weights, hidden_bias),
        refractory_strength=refractory_strength, refractory_time_constant=refractory_time_constant,
        max_rate=max_rate,
    )
    downstream_spikes, downstream_rates = sample_with_refractoriness(
        mapping._log_rate(upstream_spikes), timeline.block_starts,
        rng_down_spikes.random((timeline.n_bins, n_downstream)), bin_size=bin_size,
        refractory_strength=refractory_strength, refractory_time_constant=refractory_time_constant,
        max_rate=max_rate,
    )

    recording = Recording(
        upstream_spikes=upstream_spikes, behavior_labels=timeline.labels, trial_ids=timeline.trial_ids,
        bin_size=bin_size, downstream_spikes=downstream_spikes, behavior_continuous=velocity,
        upstream_region="PMd", downstream_region="M1", name="simulated_reach",
    )
    onsets = timeline.onsets
    trial_table = MappingProxyType({
        "target": target.astype(np.int64), "direction": direction,
        "iti_onset": onsets[:, 0], "hold_onset": onsets[:, 1], "target_onset": onsets[:, 2],
        "go_cue": onsets[:, 3], "movement_onset": onsets[:, _MOVEMENT],
        "movement_offset": onsets[:, _MOVEMENT] + lengths[:, _MOVEMENT],
    })
    return SimulatedSubject(
        recording=recording, downstream_rates=downstream_rates, upstream_rates=upstream_rates,
        mapping=mapping, task_signals=signals, signal_names=_SIGNAL_NAMES, upstream_tuning=tuning,
        upstream_log_gain=log_gain, upstream_types=tuple(_UPSTREAM_TYPES[t] for t in types),
        block_starts=timeline.block_starts, trial_table=trial_table,
    )


def _hand_velocity(timeline: Timeline, direction: np.ndarray, distance: float, bin_size: float) -> np.ndarray:
    """Minimum-jerk reach velocity in cm/s, shape ``(n_bins, 2)``; zero outside movement bins."""
    t = np.arange(timeline.n_bins)
    onset = timeline.onsets[timeline.block, _MOVEMENT]
    length = timeline.lengths[timeline.block, _MOVEMENT]
    moving = (t >= onset) & (t < onset + length)
    phase = np.where(moving, (t - onset + 0.5) / length, 0.0)
    speed = np.where(moving, 30.0 * distance / (length * bin_size) * phase**2 * (1.0 - phase) ** 2, 0.0)
    angle = direction[timeline.block]
    return np.stack([speed * np.cos(angle), speed * np.sin(angle)], axis=1)


def _task_signals(timeline: Timeline, direction: np.ndarray, scaled_velocity: np.ndarray, bin_size: float,
                  lead: float, smoothing: float, preparatory_decay: float) -> np.ndarray:
    """Latent signals ``(n_bins, 5)``: target direction during the delay, leading velocity and speed."""
    t = np.arange(timeline.n_bins)
    target_onset = timeline.onsets[timeline.block, 2]
    movement_onsets = timeline.onsets[:, _MOVEMENT]
    plateau = ((t >= target_onset) & (t < movement_onsets[timeline.block])).astype(np.float64)
    last = np.maximum(np.searchsorted(movement_onsets, t, side="right") - 1, 0)
    since = (t - movement_onsets[last]) * bin_size
    decay = np.where(since >= 0, np.exp(-np.maximum(since, 0.0) / preparatory_decay), 0.0)
    this, previous = direction[timeline.block], direction[last]
    prep_x = plateau * np.cos(this) + decay * np.cos(previous)
    prep_y = plateau * np.sin(this) + decay * np.sin(previous)
    shift = int(round(lead / bin_size))
    leading = np.zeros_like(scaled_velocity)
    leading[: len(leading) - shift] = scaled_velocity[shift:]
    signals = np.column_stack([prep_x, prep_y, leading, np.linalg.norm(leading, axis=1)])
    if smoothing > 0:
        signals = gaussian_filter1d(signals, smoothing / bin_size, axis=0, mode="nearest")
    return signals


def _upstream_tuning(types: np.ndarray, strength: tuple[float, float],
                     rng: np.random.Generator) -> np.ndarray:
    """Log-rate weights ``(n_upstream, 5)`` on (prep_x, prep_y, velocity_x, velocity_y, speed)."""
    n = len(types)
    prep_amp, move_amp = rng.uniform(*strength, size=(2, n))
    prep_dir, move_dir = rng.uniform(0.0, 2 * np.pi, size=(2, n))
    speed = rng.uniform(-0.5, 0.5, size=n) * move_amp
    is_prep = np.isin(types, (0, 2)) * np.where(types == 2, 0.7, 1.0)
    is_move = np.isin(types, (1, 2)) * np.where(types == 2, 0.7, 1.0)
    return np.column_stack([
        is_prep * prep_amp * np.cos(prep_dir), is_prep * prep_amp * np.sin(prep_dir),
        is_move * move_amp * np.cos(move_dir), is_move * move_amp * np.sin(move_dir), is_move * speed,
    ])


def _reach_weights(
    tuning: np.ndarray, baseline: np.ndarray, rng: np.random.Generator, *, n_downstream: int,
    n_direction_units: int, n_random_units: int, hidden_gain: float, random_weight_std: float,
    downstream_tuning_strength: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input weights, hidden bias and output weights of the reach map (see ``simulate_reach_task``)."""
    n_upstream = tuning.shape[0]
    # Weighted ridge least squares of the linearised upstream response z ~ tuning @ signals (Poisson noise
    # on z has variance ~ 1 / baseline); keep the velocity rows, so prep and speed activity are demixed.
    weighted = tuning.T * baseline  # (n_signals, n_upstream)
    gram = weighted @ tuning
    ridge = 1e-3 * max(np.trace(gram), 1e-12)
    readout = np.linalg.solve(gram + ridge * np.eye(len(gram)), weighted)[2:4]  # (2, n_upstream)
    angles = 2 * np.pi * np.arange(n_direction_units) / n_direction_units
    units = np.column_stack([np.cos(angles), np.sin(angles)])  # (n_direction_units, 2)
    direction_weights = hidden_gain * units @ readout
    random_weights = random_weight_std * rng.normal(size=(n_random_units, n_upstream)) / np.sqrt(n_upstream)
    input_weights = np.vstack([direction_weights, random_weights])
    hidden_bias = np.concatenate([np.zeros(n_direction_units), rng.normal(0.0, 0.5, size=n_random_units)])

    preferred = rng.uniform(0.0, 2 * np.pi, size=n_downstream)
    depth = rng.uniform(*downstream_tuning_strength, size=n_downstream)
    # Response of the direction units at peak speed in a unit's own preferred direction.
    peak_response = np.sum(np.cos(angles) * np.tanh(hidden_gain * np.cos(angles)))
    direction_out = depth[:, None] * np.cos(preferred[:, None] - angles[None, :]) / peak_response
    random_out = random_weight_std * rng.normal(size=(n_downstream, n_random_units)) / np.sqrt(
        max(n_random_units, 1))
    return input_weights, hidden_bias, np.hstack([direction_out, random_out])
