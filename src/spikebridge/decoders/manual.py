"""The paper's hand-designed decoder: compare windowed firing rates of pairs of generated neurons."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from spikebridge._validation import check_positive_int, check_positive_number
from spikebridge.decoders._windows import causal_conv
from spikebridge.decoders.base import SpikeDecoder

__all__ = ["HandDesignedDecoder"]


class HandDesignedDecoder(SpikeDecoder):
    """Rest unless one neuron of a pair fires faster than its partner by more than ``rest_score``.

    At bin ``t`` each read neuron's windowed firing rate ``fr_i(t)`` is its mean spike count per bin over
    the last ``window_bins`` bins (``t - window_bins + 1 .. t``; bins before the first count as silent).
    The class scores are ``[rest_score, fr_a1 - fr_b1, fr_a2 - fr_b2, ...]`` for ``pairs = ((a1, b1),
    (a2, b2), ...)`` and the decoded class is the argmax (ties go to the lower class, so rest wins a tie).
    The defaults are the paper's decoder: 4 neurons, ``[0.3, fr1 - fr3, fr2 - fr4]`` for rest, low press
    and high press. Nothing is fitted; the generator has to learn what these neurons mean.

    Parameters
    ----------
    window_seconds :
        Length of the rate window in seconds, turned into ``round(window_seconds / bin_size)`` bins
        (at least 1).
    bin_size :
        Bin width in seconds of the spikes it will read.
    window_bins :
        Length of the rate window in bins; when given it overrides ``window_seconds``.
    rest_score :
        Score of class 1 (rest), in spikes per bin: a rate difference must exceed it to decode a press.
    pairs :
        ``(plus, minus)`` 0-based neuron indices for each non-rest class, in class order.
    n_neurons :
        Number of neurons read; every index in ``pairs`` must be below it.

    Attributes
    ----------
    n_neurons, history_bins, n_classes :
        The :class:`SpikeDecoder` attributes: ``history_bins = window_bins - 1`` and
        ``n_classes = 1 + len(pairs)``.
    window_bins_ :
        The window length in bins actually used.

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or value (checked at construction, since there is no ``fit``).

    Examples
    --------
    >>> decoder = HandDesignedDecoder(window_bins=2)
    >>> spikes = np.zeros((6, 4), dtype=int)
    >>> spikes[1:3, 0] = 1  # neuron 1 fires: fr1 - fr3 = 0.5, 1, 0.5 > 0.3 -> low press
    >>> spikes[4:6, 1] = 1  # then neuron 2: fr2 - fr4 = 0.5, 1 -> high press
    >>> decoder.predict(spikes)
    array([1, 2, 2, 2, 3, 3])
    """

    window_bins_: int
    _kernel: torch.Tensor
    _bias: torch.Tensor

    def __init__(
        self,
        *,
        window_seconds: float = 0.5,
        bin_size: float = 0.01,
        window_bins: int | None = None,
        rest_score: float = 0.3,
        pairs: Sequence[tuple[int, int]] = ((0, 2), (1, 3)),
        n_neurons: int = 4,
    ) -> None:
        self.window_seconds = window_seconds
        self.bin_size = bin_size
        self.window_bins = window_bins
        self.rest_score = rest_score
        self.pairs = pairs
        self.n_neurons = n_neurons
        self._validate()

    def _validate(self) -> None:
        n_neurons = check_positive_int(self.n_neurons, "n_neurons")
        if self.window_bins is not None:
            window = check_positive_int(self.window_bins, "window_bins")
        else:
            seconds = check_positive_number(self.window_seconds, "window_seconds")
            window = max(1, int(round(seconds / check_positive_number(self.bin_size, "bin_size"))))
        rest = self.rest_score
        if isinstance(rest, bool) or not isinstance(rest, numbers.Real) or not np.isfinite(rest):
            raise TypeError(f"`rest_score` must be a finite number. Got rest_score={rest!r}.")
        pairs = _as_pairs(self.pairs, n_neurons)
        self.window_bins_ = window
        self.history_bins = window - 1
        self.n_classes = 1 + len(pairs)
        # One conv1d channel per class: +1/window on the pair's first neuron, -1/window on the second.
        kernel = torch.zeros(self.n_classes, n_neurons, window)
        for k, (plus, minus) in enumerate(pairs, start=1):
            kernel[k, plus] += 1.0 / window
            kernel[k, minus] -= 1.0 / window
        bias = torch.zeros(self.n_classes)
        bias[0] = float(rest)
        self._kernel = kernel
        self._bias = bias

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        return causal_conv(spikes, self._kernel, self._bias).transpose(1, 2)

    def firing_rates(self, spikes: np.ndarray) -> np.ndarray:
        """Windowed firing rates in spikes per bin, shape ``(..., n_bins, n_neurons)``, as the decoder reads.

        Parameters
        ----------
        spikes :
            Shape ``(n_bins, n_neurons)`` or ``(n_samples, n_bins, n_neurons)``.
        """
        tensor = self._as_tensor(spikes)
        flat = tensor.reshape(-1, tensor.shape[-2], tensor.shape[-1])
        eye = torch.eye(self.n_neurons)[:, :, None].expand(-1, -1, self.window_bins_) / self.window_bins_
        with torch.no_grad():
            rates = causal_conv(flat, eye.contiguous(), None).transpose(1, 2)
        return rates.reshape(tensor.shape).double().numpy()


def _as_pairs(pairs: object, n_neurons: int) -> list[tuple[int, int]]:
    """Validate ``pairs`` as a non-empty sequence of ``(plus, minus)`` index pairs below ``n_neurons``."""
    message = (
        "`pairs` must be a non-empty sequence of (plus, minus) integer neuron indices, e.g. "
        "((0, 2), (1, 3)). "
        f"Got pairs={pairs!r}."
    )
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or len(pairs) == 0:
        raise TypeError(message)
    out = []
    for pair in pairs:
        if not isinstance(pair, Sequence) or len(pair) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair
        ):
            raise TypeError(message)
        plus, minus = int(pair[0]), int(pair[1])
        if not (0 <= plus < n_neurons and 0 <= minus < n_neurons) or plus == minus:
            raise ValueError(
                f"`pairs` entry ({plus}, {minus}) must name two different neurons in 0..{n_neurons - 1} "
                f"(n_neurons={n_neurons}). Raise n_neurons or fix the pair."
            )
        out.append((plus, minus))
    return out
