"""A simulated healthy subject: its recording plus the ground truth that generated it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spikebridge.data.recording import Recording
from spikebridge.simulate.mapping import UpstreamToDownstreamMapping

__all__ = ["SimulatedSubject"]


@dataclass(frozen=True, eq=False)
class SimulatedSubject:
    """A healthy two-region subject simulated with known ground truth.

    Parameters
    ----------
    recording :
        The healthy recording (downstream spikes present).
    downstream_rates :
        The exact per-bin spike probability each downstream spike was drawn with (spike history included),
        shape ``(n_bins, n_downstream)``. Divide by ``recording.bin_size`` for spikes/s.
    upstream_rates :
        The per-bin spike probability of each upstream neuron, shape ``(n_bins, n_upstream)``.
    mapping :
        The known upstream -> downstream map; ``mapping.probabilities(recording.upstream_spikes)`` is the
        history-free downstream probability.
    task_signals :
        Latent task variables that drive the upstream neurons, shape ``(n_bins, n_signals)``.
    signal_names :
        One name per column of ``task_signals``.
    upstream_tuning :
        Log-rate weight of each task signal for each upstream neuron, shape ``(n_upstream, n_signals)``.
    upstream_log_gain :
        Per-trial log-gain fluctuation of each upstream neuron, shape ``(n_trials, n_upstream)``.
    upstream_types :
        Tuning type of each upstream neuron, e.g. ``"preparatory"``, one per neuron.
    block_starts :
        First bin of each trial block (its inter-trial gap), shape ``(n_trials,)``; the downstream spike
        history restarts there.
    trial_table :
        Per-trial events, each array shape ``(n_trials,)`` (bins are absolute indices; see the simulator).
    """

    recording: Recording
    downstream_rates: NDArray[np.float64]
    upstream_rates: NDArray[np.float64]
    mapping: UpstreamToDownstreamMapping
    task_signals: NDArray[np.float64]
    signal_names: tuple[str, ...]
    upstream_tuning: NDArray[np.float64]
    upstream_log_gain: NDArray[np.float64]
    upstream_types: tuple[str, ...]
    block_starts: NDArray[np.int64]
    trial_table: Mapping[str, NDArray]

    @property
    def lesioned(self) -> Recording:
        """The recording without downstream spikes, as a patient would have it."""
        return self.recording.lesioned()

    @property
    def n_trials(self) -> int:
        """Number of simulated trials."""
        return int(len(self.block_starts))
