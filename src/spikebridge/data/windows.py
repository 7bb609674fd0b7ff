"""Trial windows: per-trial slices of features and labels, padded into one tensor for batched training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from spikebridge.data.recording import Recording

__all__ = ["TrialWindows", "trial_windows"]


@dataclass(frozen=True)
class TrialWindows:
    """Padded trial windows.

    Attributes
    ----------
    features : ndarray
        Shape ``(n_trials, n_window_bins, n_features)``, float32; zeros in padding.
    labels : ndarray
        Shape ``(n_trials, n_window_bins)``, int64; 0 for unlabelled, context and padding bins.
    bins : ndarray
        Shape ``(n_trials, n_window_bins)``, index of each window bin in the recording; -1 in padding.
    trials : ndarray
        Trial ids, shape ``(n_trials,)``.
    context_bins : int
        Bins before each trial's first labelled bin included so that a decoder's history is generated too.
    targets : ndarray or None
        Continuous behaviour (e.g. hand velocity), shape ``(n_trials, n_window_bins, n_behavior_dims)``,
        float32, zeros in padding; None when the recording has none.
    """

    features: NDArray[np.float32]
    labels: NDArray[np.int64]
    bins: NDArray[np.int64]
    trials: NDArray[np.int64]
    context_bins: int
    targets: NDArray[np.float32] | None = None

    @property
    def n_trials(self) -> int:
        """Number of trials."""
        return int(self.features.shape[0])

    @property
    def labelled(self) -> NDArray[np.bool_]:
        """Mask of labelled bins, shape ``(n_trials, n_window_bins)``."""
        return self.labels > 0

    def scored_bins(self) -> NDArray[np.int64]:
        """Recording indices of the labelled bins, in window order (trial-major), shape ``(n_labelled,)``."""
        return self.bins[self.labelled]

    def gather(self, per_bin: NDArray) -> NDArray:
        """Slice any per-bin recording array ``(n_bins, ...)`` into window layout ``(n_trials, n_window_bins, ...)``.

        Padding positions are filled with zeros.
        """
        per_bin = np.asarray(per_bin)
        out = per_bin[np.maximum(self.bins, 0)]
        out[self.bins < 0] = 0
        return out


def trial_windows(
    recording: Recording, features: NDArray, trials: NDArray, *, context_bins: int
) -> TrialWindows:
    """Cut each trial from ``context_bins`` before its first labelled bin to its last labelled bin.

    Parameters
    ----------
    recording :
        The recording (labels and trial ids are read from it; downstream spikes are not).
    features :
        Upstream features, shape ``(n_bins, n_features)``.
    trials :
        Trial ids to include, shape ``(n_trials,)``.
    context_bins :
        Unlabelled lead-in bins per trial (clipped at the recording start).

    Returns
    -------
    windows :
        A :class:`TrialWindows`, padded at the end to the longest window.
    """
    all_trials = recording.trials
    spans = recording.trial_spans()
    index = np.searchsorted(all_trials, trials)
    if np.any(index >= len(all_trials)) or np.any(all_trials[np.minimum(index, len(all_trials) - 1)] != trials):
        missing = sorted(set(np.asarray(trials).tolist()) - set(all_trials.tolist()))
        raise ValueError(f"Trials {missing[:10]} have no labelled bins in the recording.")
    starts = np.maximum(spans[index, 0] - context_bins, 0)
    stops = spans[index, 1] + 1
    length = int((stops - starts).max())
    offsets = np.arange(length)
    bins = starts[:, None] + offsets[None, :]
    bins = np.where(bins < stops[:, None], bins, -1)
    labels = recording.behavior_labels[np.maximum(bins, 0)]
    # Only this trial's labelled bins count; bins of a neighbouring trial inside the context do not.
    own = recording.trial_ids[np.maximum(bins, 0)] == np.asarray(trials)[:, None]
    labels = np.where((bins >= 0) & own, labels, 0)
    feats = features[np.maximum(bins, 0)].astype(np.float32)
    feats[bins < 0] = 0
    targets = None
    if recording.behavior_continuous is not None:
        targets = recording.behavior_continuous[np.maximum(bins, 0)].astype(np.float32)
        targets[bins < 0] = 0
    return TrialWindows(
        feats, labels.astype(np.int64), bins.astype(np.int64), np.asarray(trials), int(context_bins), targets
    )
