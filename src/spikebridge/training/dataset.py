"""Training trials in a flat, padding-free layout, and random trial batches from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from spikebridge.data.windows import TrialWindows

__all__ = ["TrialBatch", "FlatTrials"]


@dataclass(frozen=True)
class TrialBatch:
    """A batch of whole trial windows laid end to end.

    Attributes
    ----------
    features : torch.Tensor
        Shape ``(n_rows, n_features)``.
    labels : torch.Tensor
        Shape ``(n_rows,)``; 0 for unlabelled or context bins.
    trial_index : ndarray
        Shape ``(n_rows,)``, position of each row's trial in the batch.
    targets : torch.Tensor or None
        Continuous behaviour, shape ``(n_rows, n_behavior_dims)``, or None.
    """

    features: torch.Tensor
    labels: torch.Tensor
    trial_index: NDArray[np.int64]
    targets: torch.Tensor | None = None


class FlatTrials:
    """Trial windows concatenated along time, without padding.

    Each window starts with ``context_bins`` unlabelled bins, so when windows are laid end to end a
    decoder reading at most ``context_bins`` past bins never mixes two trials in a labelled bin.

    Parameters
    ----------
    windows :
        Padded trial windows (see :func:`spikebridge.data.windows.trial_windows`).
    """

    def __init__(self, windows: TrialWindows) -> None:
        valid = windows.bins >= 0
        lengths = valid.sum(axis=1)
        self.context_bins = windows.context_bins
        self.n_trials = windows.n_trials
        self.trials = windows.trials
        self.features = torch.from_numpy(np.ascontiguousarray(windows.features[valid]))
        self.labels = torch.from_numpy(windows.labels[valid])
        self.bins = windows.bins[valid]
        self.targets = None if windows.targets is None else torch.from_numpy(windows.targets[valid])
        self.trial_index = np.repeat(np.arange(self.n_trials), lengths)
        self.stops = np.cumsum(lengths)
        self.starts = self.stops - lengths

    @property
    def n_rows(self) -> int:
        """Total number of bins over all trials."""
        return int(len(self.labels))

    def rows_of(self, trial_positions: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row indices of the given trials (positions ``0..n_trials-1``), in the given order."""
        return np.concatenate([np.arange(self.starts[i], self.stops[i]) for i in trial_positions])

    def batch(self, trial_positions: NDArray[np.int64] | None = None) -> TrialBatch:
        """The given trials (all if None) as one :class:`TrialBatch`."""
        if trial_positions is None:
            return TrialBatch(self.features, self.labels, self.trial_index, self.targets)
        rows = torch.from_numpy(self.rows_of(trial_positions))
        index = np.repeat(np.arange(len(trial_positions)), self.stops[trial_positions] - self.starts[trial_positions])
        targets = None if self.targets is None else self.targets[rows]
        return TrialBatch(self.features[rows], self.labels[rows], index, targets)

    def sample_batch(self, n_trials: int, rng: np.random.Generator) -> TrialBatch:
        """``n_trials`` trials drawn without replacement (all trials when there are fewer)."""
        if n_trials >= self.n_trials:
            return self.batch()
        return self.batch(np.sort(rng.choice(self.n_trials, size=n_trials, replace=False)))
