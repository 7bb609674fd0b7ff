"""Private helpers shared by the task simulators: trial layout and upstream sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Timeline", "build_timeline", "draw_bins", "sample_upstream", "calibrate_log_baseline"]


@dataclass(frozen=True)
class Timeline:
    """Trial layout on the bin grid.

    Attributes
    ----------
    labels, trial_ids, block :
        Per bin, shape ``(n_bins,)``: behaviour label, trial id (-1 outside trials) and the trial block the
        bin belongs to (the tail after the last trial belongs to the last block).
    onsets :
        First bin of each segment of each trial, shape ``(n_trials, n_segments)``.
    lengths :
        Bins in each segment, shape ``(n_trials, n_segments)``.
    """

    labels: NDArray[np.int64]
    trial_ids: NDArray[np.int64]
    block: NDArray[np.int64]
    onsets: NDArray[np.int64]
    lengths: NDArray[np.int64]

    @property
    def n_bins(self) -> int:
        """Number of bins."""
        return int(len(self.labels))

    @property
    def block_starts(self) -> NDArray[np.int64]:
        """First bin of each trial block, shape ``(n_trials,)``."""
        return self.onsets[:, 0]


def draw_bins(interval: tuple[float, float], size: int, bin_size: float, rng: np.random.Generator) -> NDArray:
    """Durations drawn uniformly from ``interval`` seconds, in whole bins (at least 1), shape ``(size,)``."""
    seconds = rng.uniform(interval[0], interval[1], size=size)
    return np.maximum(1, np.round(seconds / bin_size)).astype(np.int64)


def build_timeline(
    lengths: NDArray[np.int64], labels: NDArray[np.int64], in_trial: NDArray[np.bool_], tail_bins: int
) -> Timeline:
    """Lay trials of consecutive segments end to end, then ``tail_bins`` unlabelled bins.

    Parameters
    ----------
    lengths, labels :
        Bins and label of each segment, shape ``(n_trials, n_segments)``.
    in_trial :
        Whether each segment counts as part of its trial, shape ``(n_segments,)``.
    """
    n_trials, n_segments = lengths.shape
    flat = lengths.ravel()
    trial_of_segment = np.repeat(np.arange(n_trials), n_segments)
    segment_trial_ids = np.where(np.tile(in_trial, n_trials), trial_of_segment, -1)
    ends = np.cumsum(flat)
    onsets = (ends - flat).reshape(n_trials, n_segments)
    tail_zeros = np.zeros(tail_bins, dtype=np.int64)
    return Timeline(
        labels=np.concatenate([np.repeat(labels.ravel(), flat), tail_zeros]),
        trial_ids=np.concatenate([np.repeat(segment_trial_ids, flat), tail_zeros - 1]),
        block=np.concatenate([np.repeat(trial_of_segment, flat), tail_zeros + n_trials - 1]),
        onsets=onsets.astype(np.int64),
        lengths=lengths.astype(np.int64),
    )


def sample_upstream(
    signals: NDArray[np.float64],
    tuning: NDArray[np.float64],
    baseline_rate: NDArray[np.float64],
    log_gain_per_bin: NDArray[np.float64],
    *,
    bin_size: float,
    max_rate: float,
    rng: np.random.Generator,
) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Bernoulli upstream spikes with ``log rate = log(baseline) + signals @ tuning.T + gain``.

    Parameters
    ----------
    signals :
        Shape ``(n_bins, n_signals)``.
    tuning :
        Shape ``(n_upstream, n_signals)``.
    baseline_rate :
        Spikes/s, shape ``(n_upstream,)``.
    log_gain_per_bin :
        Shape ``(n_bins, n_upstream)``.

    Returns
    -------
    spikes, probabilities :
        Both shape ``(n_bins, n_upstream)``.
    """
    log_rate = signals @ tuning.T + np.log(baseline_rate) + log_gain_per_bin
    rate = np.minimum(np.exp(log_rate), max_rate)
    probabilities = -np.expm1(-rate * bin_size)
    spikes = (rng.random(probabilities.shape) < probabilities).astype(np.uint8)
    return spikes, probabilities


def calibrate_log_baseline(
    target_rate: NDArray[np.float64], output_weights: NDArray[np.float64], hidden_bias: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Log-baseline that makes each downstream neuron fire at ``target_rate`` when upstream is at baseline.

    At upstream baseline ``z = 0`` so the hidden layer is ``tanh(hidden_bias)``.
    """
    return np.log(target_rate) - output_weights @ np.tanh(hidden_bias)
