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

    Notes
    -----
    :meth:`sample_batch` gathers the drawn trials' feature rows into one buffer kept on this object (grown
    to the largest batch drawn so far), so a training update does not allocate, and page-fault in, a fresh
    ``(n_rows, n_features)`` tensor (~200 MB at 1000 upstream neurons). The features of a sampled batch are
    therefore valid until the next :meth:`sample_batch` call only; the trainers use each batch within
    one update. :meth:`batch` always returns fresh tensors.
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
        self._feature_buffer = torch.empty((0, self.features.shape[1]), dtype=self.features.dtype)

    @property
    def n_rows(self) -> int:
        """Total number of bins over all trials."""
        return int(len(self.labels))

    def rows_of(self, trial_positions: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row indices of the given trials (positions ``0..n_trials-1``), in the given order."""
        return np.concatenate([np.arange(self.starts[i], self.stops[i]) for i in trial_positions])

    def batch(self, trial_positions: NDArray[np.int64] | None = None) -> TrialBatch:
        """The given trials (all if None) as one :class:`TrialBatch`, in fresh tensors.

        With None the batch holds this object's own tensors (no copy); do not modify them in place.
        """
        if trial_positions is None:
            return TrialBatch(self.features, self.labels, self.trial_index, self.targets)
        return self._gather(trial_positions, torch.from_numpy(self.rows_of(trial_positions)))

    def sample_batch(self, n_trials: int, rng: np.random.Generator) -> TrialBatch:
        """``n_trials`` trials drawn without replacement (all trials when there are fewer).

        The batch's ``features`` are a view of a buffer that the next call overwrites (see the class notes):
        use them before drawing again, or ``clone()`` them to keep them.
        """
        if n_trials >= self.n_trials:
            return self.batch()
        positions = np.sort(rng.choice(self.n_trials, size=n_trials, replace=False))
        rows = torch.from_numpy(self.rows_of(positions))
        if len(rows) > len(self._feature_buffer):
            self._feature_buffer = torch.empty((len(rows), self.features.shape[1]), dtype=self.features.dtype)
        # the same values as self.features[rows], written into memory that is already mapped
        features = torch.index_select(self.features, 0, rows, out=self._feature_buffer[: len(rows)])
        return self._gather(positions, rows, features)

    def _gather(self, positions: NDArray[np.int64], rows: torch.Tensor,
                features: torch.Tensor | None = None) -> TrialBatch:
        """The batch of the trials at ``positions`` (rows ``rows``); ``features`` if already gathered."""
        lengths = self.stops[positions] - self.starts[positions]
        index = np.repeat(np.arange(len(positions)), lengths)
        features = self.features[rows] if features is None else features
        targets = None if self.targets is None else self.targets[rows]
        return TrialBatch(features, self.labels[rows], index, targets)
