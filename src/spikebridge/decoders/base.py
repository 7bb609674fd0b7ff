"""The decoder interface: generated spikes in, decoded behaviour per bin out, batched over samples."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError

__all__ = ["SpikeDecoder"]


class SpikeDecoder(ABC):
    """A fixed readout from downstream spikes to behaviour, used as a black box by the trainer.

    Subclasses implement :meth:`_scores` on torch tensors. Everything else (numpy wrappers, shape checks,
    batching over leading axes) lives here.

    Attributes
    ----------
    n_neurons : int
        How many generated neurons the decoder reads, in its input order.
    history_bins : int
        How many past bins it reads besides the current one. A spike at bin ``t`` can only change the
        decoded behaviour at bins ``t .. t + history_bins``; the trainer uses this for credit assignment.
    n_classes : int
        Number of behaviour classes; decoded labels are ``1..n_classes``.
    """

    n_neurons: int
    history_bins: int
    n_classes: int

    @abstractmethod
    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class scores, shape ``(batch, n_bins, n_classes)``, from spikes ``(batch, n_bins, n_neurons)``."""

    # ------------------------------------------------------------------ torch path (trainer)
    def scores_torch(self, spikes: torch.Tensor) -> torch.Tensor:
        """Class scores for spikes of shape ``(..., n_bins, n_neurons)``; returns ``(..., n_bins, n_classes)``."""
        self._check_n_neurons(spikes.shape[-1])
        lead = spikes.shape[:-2]
        flat = spikes.reshape(-1, spikes.shape[-2], spikes.shape[-1])
        out = self._scores(flat)
        return out.reshape(*lead, spikes.shape[-2], out.shape[-1])

    def decode_torch(self, spikes: torch.Tensor) -> torch.Tensor:
        """Decoded labels ``1..n_classes``, shape ``(..., n_bins)``, for spikes ``(..., n_bins, n_neurons)``."""
        return self.scores_torch(spikes).argmax(dim=-1) + 1

    # ------------------------------------------------------------------ numpy path (users)
    def predict(self, spikes: NDArray) -> NDArray[np.int64]:
        """Decoded behaviour per bin.

        Parameters
        ----------
        spikes :
            Spikes of the neurons this decoder reads, shape ``(n_bins, n_neurons)`` or
            ``(n_samples, n_bins, n_neurons)``; bins before the first are taken as silent.

        Returns
        -------
        labels :
            Shape ``(n_bins,)`` or ``(n_samples, n_bins)``, values ``1..n_classes``.
        """
        tensor = self._as_tensor(spikes)
        with torch.no_grad():
            return self.decode_torch(tensor).numpy().astype(np.int64)

    def predict_proba(self, spikes: NDArray) -> NDArray[np.float64]:
        """Class probabilities (softmax of the scores), shape ``(..., n_bins, n_classes)``."""
        tensor = self._as_tensor(spikes)
        with torch.no_grad():
            return torch.softmax(self.scores_torch(tensor), dim=-1).double().numpy()

    def _as_tensor(self, spikes: NDArray) -> torch.Tensor:
        arr = np.asarray(spikes)
        if arr.ndim not in (2, 3):
            raise DataFormatError(
                f"Decoder input must have shape (n_bins, n_neurons) or (n_samples, n_bins, n_neurons); "
                f"got {arr.shape}."
            )
        self._check_n_neurons(arr.shape[-1])
        return torch.as_tensor(arr, dtype=torch.float32)

    def _check_n_neurons(self, n: int) -> None:
        if n != self.n_neurons:
            raise DataFormatError(
                f"{type(self).__name__} reads {self.n_neurons} neurons but got spikes of {n} neurons. "
                "Pass only the neurons the decoder reads, in its input order (see `decoder_neurons`)."
            )
