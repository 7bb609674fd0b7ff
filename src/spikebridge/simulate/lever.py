"""A rat-like lever-press task (rest, cue, low or high press) with mPFC-like upstream, M1-like downstream."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
from scipy.ndimage import gaussian_filter1d

from spikebridge.data.recording import Recording
from spikebridge.simulate._checks import (
    as_generator,
    check_fraction,
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

__all__ = ["simulate_lever_task", "LEVER_LABELS"]

LEVER_LABELS = MappingProxyType({0: "unlabelled", 1: "rest", 2: "press_low", 3: "press_high"})
"""Behaviour label of each class in :func:`simulate_lever_task`."""

_SIGNAL_NAMES = ("rest", "preparatory", "press_low", "press_high")
_UPSTREAM_TYPES = ("preparatory", "movement", "rest", "mixed")


def simulate_lever_task(
    *,
    n_trials: int = 200,
    n_upstream: int = 30,
    n_downstream: int = 20,
    bin_size: float = 0.01,
    seed: int | np.random.Generator = 0,
    iti_duration: tuple[float, float] = (1.0, 2.0),
    rest_duration: tuple[float, float] = (0.45, 0.55),
    reaction_time: tuple[float, float] = (0.1, 0.3),
    press_duration: tuple[float, float] = (0.4, 1.2),
    high_press_fraction: float = 0.5,
    upstream_baseline_rate: tuple[float, float] = (5.0, 20.0),
    upstream_tuning_strength: tuple[float, float] = (0.5, 1.2),
    upstream_type_fractions: Sequence[float] = (0.3, 0.4, 0.15, 0.15),
    suppressed_fraction: float = 0.2,
    trial_gain_std: float = 0.15,
    shared_gain_std: float = 0.1,
    signal_smoothing: float = 0.03,
    preparatory_decay: float = 0.2,
    downstream_baseline_rate: tuple[float, float] = (8.0, 20.0),
    n_hidden: int = 16,
    hidden_gain: float = 2.0,
    input_weight_noise: float = 0.3,
    output_gain: float = 1.5,
    synaptic_delay: tuple[float, float] = (0.02, 0.06),
    smoothing_time_constant: float = 0.1,
    refractory_strength: float = 2.0,
    refractory_time_constant: float = 0.01,
    max_rate: float = 100.0,
) -> SimulatedSubject:
    """Simulate a healthy subject doing a two-lever press task, with known ground truth.

    Each trial is an inter-trial gap (label 0, outside the trial), a rest period (label 1), a cue, an
    unlabelled reaction time, and a press (label 2 for ``"low"``, 3 for ``"high"``; see ``LEVER_LABELS``).
    One more inter-trial gap ends the recording. Upstream (mPFC-like) neurons are Bernoulli with a log-rate
    linear in four latent task signals (rest, a preparatory ramp from rest onset to press onset that then
    decays, and one indicator per press type), plus a per-trial log-gain fluctuation. Downstream (M1-like)
    neurons follow :class:`UpstreamToDownstreamMapping`: a two-layer map of delayed, smoothed upstream
    spikes whose hidden units read task-related directions of upstream activity, plus refractoriness.

    Parameters
    ----------
    n_trials, n_upstream, n_downstream :
        Numbers of trials and neurons.
    bin_size :
        Bin width in seconds.
    seed :
        Seed (int >= 0) or generator; the same seed gives identical arrays.
    iti_duration, rest_duration, reaction_time, press_duration :
        ``(low, high)`` seconds; each trial draws each duration uniformly.
    high_press_fraction :
        Probability that a trial's press is ``"high"``.
    upstream_baseline_rate :
        ``(low, high)`` spikes/s; each upstream neuron draws its baseline uniformly.
    upstream_tuning_strength :
        ``(low, high)`` log-rate modulation of a tuned upstream neuron by its preferred signal.
    upstream_type_fractions :
        Relative frequency of the upstream types ``("preparatory", "movement", "rest", "mixed")``.
        Movement neurons prefer one press type.
    suppressed_fraction :
        Fraction of tuned upstream neurons whose preferred signal lowers their rate.
    trial_gain_std, shared_gain_std :
        Standard deviation of the per-trial log-gain of each neuron, and of the part shared by all neurons.
    signal_smoothing :
        Gaussian smoothing (seconds) of the latent task signals.
    preparatory_decay :
        Time constant (seconds) of the preparatory signal's decay after press onset.
    downstream_baseline_rate :
        ``(low, high)`` spikes/s of downstream neurons while upstream is at baseline, before the
        refractoriness (which lowers the realised rates by about a quarter at the defaults).
    n_hidden :
        Hidden units of the upstream -> downstream map.
    hidden_gain :
        Spread (std over task conditions) of each hidden unit's input before the tanh.
    input_weight_noise :
        Relative size of the task-unrelated random part of each hidden unit's input weights.
    output_gain :
        Scale of the hidden -> downstream weights (log-rate units).
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
        The recording (``behavior_labels`` in {0, 1, 2, 3}), true probabilities and parameters. Its
        ``trial_table`` has, per trial, ``press_type`` (2 or 3), and the absolute bins ``iti_onset``,
        ``rest_onset``, ``cue``, ``press_onset`` and ``press_offset`` (exclusive).

    Examples
    --------
    >>> subject = simulate_lever_task(n_trials=20, seed=1)
    >>> subject.recording.n_classes, subject.lesioned.downstream_spikes is None
    (3, True)
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    n_upstream = check_positive_int(n_upstream, "n_upstream")
    n_downstream = check_positive_int(n_downstream, "n_downstream")
    n_hidden = check_positive_int(n_hidden, "n_hidden")
    bin_size = check_positive_number(bin_size, "bin_size")
    rng = as_generator(seed)
    iti_duration = check_interval(iti_duration, "iti_duration")
    rest_duration = check_interval(rest_duration, "rest_duration")
    reaction_time = check_interval(reaction_time, "reaction_time")
    press_duration = check_interval(press_duration, "press_duration")
    high_press_fraction = check_fraction(high_press_fraction, "high_press_fraction")
    upstream_baseline_rate = check_interval(upstream_baseline_rate, "upstream_baseline_rate")
    upstream_tuning_strength = check_interval(upstream_tuning_strength, "upstream_tuning_strength",
                                              allow_zero=True)
    type_fractions = check_fractions(upstream_type_fractions, "upstream_type_fractions", len(_UPSTREAM_TYPES))
    suppressed_fraction = check_fraction(suppressed_fraction, "suppressed_fraction")
    trial_gain_std = check_non_negative_number(trial_gain_std, "trial_gain_std")
    shared_gain_std = check_non_negative_number(shared_gain_std, "shared_gain_std")
    signal_smoothing = check_non_negative_number(signal_smoothing, "signal_smoothing")
    preparatory_decay = check_positive_number(preparatory_decay, "preparatory_decay")
    downstream_baseline_rate = check_interval(downstream_baseline_rate, "downstream_baseline_rate")
    hidden_gain = check_non_negative_number(hidden_gain, "hidden_gain")
    input_weight_noise = check_non_negative_number(input_weight_noise, "input_weight_noise")
    output_gain = check_non_negative_number(output_gain, "output_gain")
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

    # ---------------------------------------------------------------- trial structure
    press_type = np.where(rng_task.random(n_trials) < high_press_fraction, 3, 2)
    lengths = np.stack(
        [draw_bins(d, n_trials, bin_size, rng_task) for d in (iti_duration, rest_duration, reaction_time,
                                                              press_duration)], axis=1)
    labels = np.stack([np.zeros(n_trials), np.ones(n_trials), np.zeros(n_trials), press_type], axis=1)
    tail = int(draw_bins(iti_duration, 1, bin_size, rng_task)[0])
    timeline = build_timeline(lengths, labels.astype(np.int64), np.array([False, True, True, True]), tail)
    signals = _task_signals(timeline, bin_size, signal_smoothing, preparatory_decay)

    # ---------------------------------------------------------------- upstream
    baseline = rng_up_params.uniform(*upstream_baseline_rate, size=n_upstream)
    types = rng_up_params.choice(len(_UPSTREAM_TYPES), size=n_upstream, p=type_fractions)
    tuning = _upstream_tuning(types, upstream_tuning_strength, suppressed_fraction, rng_up_params)
    log_gain = (rng_up_params.normal(0.0, shared_gain_std, size=(n_trials, 1))
                + rng_up_params.normal(0.0, trial_gain_std, size=(n_trials, n_upstream)))
    upstream_spikes, upstream_rates = sample_upstream(
        signals, tuning, baseline, log_gain[timeline.block], bin_size=bin_size, max_rate=max_rate,
        rng=rng_up_spikes,
    )

    # ---------------------------------------------------------------- downstream
    mapping = _lever_mapping(
        tuning, baseline, rng_map, bin_size=bin_size, n_downstream=n_downstream, n_hidden=n_hidden,
        hidden_gain=hidden_gain, input_weight_noise=input_weight_noise, output_gain=output_gain,
        downstream_baseline_rate=downstream_baseline_rate, synaptic_delay=synaptic_delay,
        smoothing_time_constant=smoothing_time_constant, refractory_strength=refractory_strength,
        refractory_time_constant=refractory_time_constant, max_rate=max_rate,
    )
    downstream_spikes, downstream_rates = sample_with_refractoriness(
        mapping._log_rate(upstream_spikes), timeline.block_starts, rng_down_spikes.random(
            (timeline.n_bins, n_downstream)), bin_size=bin_size, refractory_strength=refractory_strength,
        refractory_time_constant=refractory_time_constant, max_rate=max_rate,
    )

    recording = Recording(
        upstream_spikes=upstream_spikes, behavior_labels=timeline.labels, trial_ids=timeline.trial_ids,
        bin_size=bin_size, downstream_spikes=downstream_spikes, upstream_region="mPFC",
        downstream_region="M1", name="simulated_lever",
    )
    onsets = timeline.onsets
    trial_table = MappingProxyType({
        "press_type": press_type.astype(np.int64),
        "iti_onset": onsets[:, 0], "rest_onset": onsets[:, 1], "cue": onsets[:, 2],
        "press_onset": onsets[:, 3], "press_offset": onsets[:, 3] + lengths[:, 3],
    })
    return SimulatedSubject(
        recording=recording, downstream_rates=downstream_rates, upstream_rates=upstream_rates,
        mapping=mapping, task_signals=signals, signal_names=_SIGNAL_NAMES, upstream_tuning=tuning,
        upstream_log_gain=log_gain, upstream_types=tuple(_UPSTREAM_TYPES[t] for t in types),
        block_starts=timeline.block_starts, trial_table=trial_table,
    )


def _task_signals(
    timeline: Timeline, bin_size: float, smoothing: float, preparatory_decay: float
) -> np.ndarray:
    """Latent signals ``(n_bins, 4)``: rest, preparatory ramp/decay, low press, high press."""
    t = np.arange(timeline.n_bins)
    labels = timeline.labels
    rest_onset = timeline.onsets[timeline.block, 1]
    press_onsets = timeline.onsets[:, 3]
    press_onset = press_onsets[timeline.block]
    ramping = (t >= rest_onset) & (t < press_onset)
    ramp = np.where(ramping, (t - rest_onset) / np.maximum(press_onset - rest_onset, 1), 0.0)
    last = np.searchsorted(press_onsets, t, side="right") - 1
    since = (t - press_onsets[np.maximum(last, 0)]) * bin_size
    decay = np.where(last >= 0, np.exp(-np.maximum(since, 0.0) / preparatory_decay), 0.0)
    signals = np.stack(
        [labels == 1, np.maximum(ramp, decay), labels == 2, labels == 3], axis=1
    ).astype(np.float64)
    if smoothing > 0:
        signals = gaussian_filter1d(signals, smoothing / bin_size, axis=0, mode="nearest")
    return signals


def _upstream_tuning(types: np.ndarray, strength: tuple[float, float], suppressed_fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Log-rate weights ``(n_upstream, 4)`` on (rest, preparatory, press_low, press_high)."""
    n = len(types)
    amplitude = rng.uniform(*strength, size=n) * np.where(rng.random(n) < suppressed_fraction, -1.0, 1.0)
    tuning = np.zeros((n, 4))
    prefers_high = rng.random(n) < 0.5
    other = rng.uniform(-0.3, 0.3, size=n)
    mixed = rng.normal(0.0, 1.0, size=(n, 4)) / np.sqrt(2.0)
    for i in range(n):
        kind = _UPSTREAM_TYPES[types[i]]
        if kind == "preparatory":
            tuning[i, 1] = amplitude[i]
        elif kind == "movement":
            preferred, unpreferred = (3, 2) if prefers_high[i] else (2, 3)
            tuning[i, preferred] = amplitude[i]
            tuning[i, unpreferred] = other[i] * amplitude[i]
        elif kind == "rest":
            tuning[i, 0] = amplitude[i]
        else:
            tuning[i] = mixed[i] * abs(amplitude[i])
    return tuning


def _lever_mapping(tuning: np.ndarray, baseline: np.ndarray, rng: np.random.Generator, *, bin_size: float,
                   n_downstream: int, n_hidden: int, hidden_gain: float, input_weight_noise: float,
                   output_gain: float, downstream_baseline_rate: tuple[float, float],
                   synaptic_delay: tuple[float, float], smoothing_time_constant: float,
                   refractory_strength: float, refractory_time_constant: float,
                   max_rate: float) -> UpstreamToDownstreamMapping:
    """Hidden units read random task-related directions of upstream activity (scaled per unit)."""
    n_upstream = tuning.shape[0]
    # Expected relative rate change of each upstream neuron in five pure conditions: baseline, then each
    # signal on its own. Shape (n_upstream, 5).
    conditions = np.concatenate([np.zeros((n_upstream, 1)), np.expm1(tuning)], axis=1)
    directions = conditions[:, 1:] @ rng.normal(size=(tuning.shape[1], n_hidden))  # (n_upstream, n_hidden)
    scale = np.sqrt(np.mean(directions**2, axis=0, keepdims=True)) + 1e-12
    directions = directions + input_weight_noise * scale * rng.normal(size=directions.shape)
    projected = directions.T @ conditions  # (n_hidden, 5)
    spread = projected.std(axis=1) + 1e-12
    input_weights = hidden_gain * directions.T / spread[:, None]
    hidden_bias = -(input_weights @ conditions).mean(axis=1) + rng.normal(0.0, 0.5, size=n_hidden)
    output_weights = output_gain * rng.normal(size=(n_downstream, n_hidden)) / np.sqrt(n_hidden)
    target = rng.uniform(*downstream_baseline_rate, size=n_downstream)
    low, high = (int(round(d / bin_size)) for d in synaptic_delay)
    return UpstreamToDownstreamMapping(
        bin_size=bin_size, upstream_baseline_rate=baseline,
        delay_bins=rng.integers(low, high + 1, size=n_upstream).astype(np.int64),
        smoothing_time_constant=smoothing_time_constant, input_weights=input_weights, hidden_bias=hidden_bias,
        output_weights=output_weights, log_baseline_rate=calibrate_log_baseline(target, output_weights,
                                                                                 hidden_bias),
        refractory_strength=refractory_strength, refractory_time_constant=refractory_time_constant,
        max_rate=max_rate,
    )
