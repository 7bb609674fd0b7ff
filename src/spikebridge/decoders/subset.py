"""A decoder that reads a subset of a larger generated population."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray

from spikebridge.decoders.base import SpikeDecoder
from spikebridge.exceptions import DataFormatError

__all__ = ["SubsetDecoder"]


class SubsetDecoder(SpikeDecoder):
    """Wrap a decoder so it reads ``indices`` out of ``n_generated`` generated neurons.

    The generator can then emit a whole population (e.g. all 15 recorded M1 neurons) while the decoder,
    as in the paper, reads only a few of them; the other outputs get no behavioural reward.

    Parameters
    ----------
    decoder :
        The decoder of the read neurons.
    indices :
        Positions of the read neurons among the generated ones, in the decoder's input order;
        shape ``(decoder.n_neurons,)``.
    n_generated :
        Total number of generated neurons.
    """

    def __init__(self, decoder: SpikeDecoder, indices: NDArray, n_generated: int) -> None:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.shape != (decoder.n_neurons,):
            raise DataFormatError(
                f"SubsetDecoder needs one index per decoder input ({decoder.n_neurons}); got {indices.tolist()}."
            )
        if indices.min() < 0 or indices.max() >= n_generated or len(set(indices.tolist())) != len(indices):
            raise DataFormatError(
                f"SubsetDecoder indices {indices.tolist()} must be distinct positions among {n_generated} neurons."
            )
        self.decoder = decoder
        self.indices = indices
        self._index = torch.from_numpy(indices)
        self.n_neurons = int(n_generated)
        self.history_bins = decoder.history_bins
        self.n_classes = decoder.n_classes

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        return self.decoder._scores(spikes.index_select(-1, self._index))
