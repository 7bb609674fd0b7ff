"""Private helpers shared by the windowed decoders: lag windows, causal convolution, argument checks."""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from spikebridge._validation import check_positive_number
from spikebridge.exceptions import DataFormatError, NotFittedError

__all__ = [
    "fitted_attribute",
    "window_features",
    "lag_major_to_kernel",
    "causal_conv",
    "history_from_seconds",
    "check_non_negative_number",
    "as_spike_matrix",
    "as_label_vector",
]


def window_features(
    spikes: torch.Tensor, history_bins: int, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Lagged copies ``[s(t), s(t-1), ..., s(t-H)]`` of every neuron, zeros before the first bin.

    Parameters
    ----------
    spikes :
        Shape ``(n_bins, n_neurons)``.
    history_bins :
        ``H``, past bins besides the current one.
    rows :
        Bins to keep (1-D index tensor); all bins when None.

    Returns
    -------
    features :
        Shape ``(n_rows, (H + 1) * n_neurons)``, lag-major: column ``lag * n_neurons + i`` holds neuron
        ``i`` at bin ``t - lag``. Built with :meth:`torch.Tensor.unfold` (a view), so only the kept rows
        are copied.
    """
    n_neurons = spikes.shape[1]
    padded = F.pad(spikes.T, (history_bins, 0)).T  # (H + n_bins, n_neurons)
    windows = padded.unfold(0, history_bins + 1, 1)  # (n_bins, n_neurons, H + 1); last index k -> s(t-H+k)
    if rows is not None:
        windows = windows[rows]
    return windows.flip(-1).transpose(1, 2).reshape(windows.shape[0], (history_bins + 1) * n_neurons)


def lag_major_to_kernel(weights: NDArray, n_neurons: int) -> torch.Tensor:
    """Turn lag-major weights ``(n_out, (H + 1) * n_neurons)`` into a kernel ``(n_out, n_neurons, H + 1)``.

    :func:`torch.nn.functional.conv1d` cross-correlates, so kernel index ``k`` multiplies ``s(t - (H - k))``
    and the lag axis is reversed.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_out = weights.shape[0]
    kernel = weights.reshape(n_out, -1, n_neurons)[:, ::-1, :].transpose(0, 2, 1)
    # An explicit copy: np.ascontiguousarray keeps a negative stride on a length-1 lag axis (H = 0).
    return torch.tensor(kernel.copy(order="C"), dtype=torch.float32)


def causal_conv(spikes: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Convolve spikes ``(batch, n_bins, n_neurons)`` causally with ``kernel`` ``(n_out, n_neurons, H + 1)``.

    Returns shape ``(batch, n_out, n_bins)``; bins before the first are silent.
    """
    x = F.pad(spikes.to(torch.float32).transpose(1, 2), (kernel.shape[-1] - 1, 0))
    # conv2d over a height-1 image is the same convolution as conv1d, and faster on CPU (as in patternnet).
    return F.conv2d(x.unsqueeze(2), kernel.unsqueeze(2), bias).squeeze(2)


def check_non_negative_number(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. Got {name}={value!r} of type {type(value).__name__}.")
    if not np.isfinite(float(value)) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Got {name}={value!r} instead.")
    return float(value)


def history_from_seconds(history_seconds: object, bin_size: object) -> int:
    """``round(history_seconds / bin_size)`` after checking both (seconds >= 0, bin size > 0)."""
    seconds = check_non_negative_number(history_seconds, "history_seconds")
    bin_size = check_positive_number(bin_size, "bin_size")
    return int(round(seconds / bin_size))


def as_spike_matrix(spikes: object, name: str = "spikes") -> NDArray[np.float64]:
    """Spike counts (or smoothed counts) ``(n_bins, n_neurons)`` as finite float64; typed errors otherwise."""
    arr = np.asarray(spikes)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be a numeric array of spike counts. Got dtype {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataFormatError(
            f"`{name}` must have shape (n_bins, n_neurons) with at least one of each. Got shape {arr.shape}."
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"`{name}` has NaN or infinite values; spike counts must be finite.")
    return arr


def as_label_vector(labels: object, n_bins: int, name: str = "labels") -> NDArray[np.int64]:
    """Behaviour labels ``(n_bins,)`` as int64: whole numbers >= 0 (0 = unlabelled), at least one labelled."""
    arr = np.asarray(labels)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be an integer array of behaviour classes. Got dtype {arr.dtype}.")
    if arr.ndim != 1 or len(arr) != n_bins:
        raise DataFormatError(
            f"`{name}` must have shape (n_bins,) = ({n_bins},), one label per bin of the spikes. "
            f"Got shape {arr.shape}."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise DataFormatError(f"`{name}` must hold whole numbers; it has NaN or fractional values.")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise DataFormatError(f"`{name}` must be >= 0 (0 = unlabelled). Got min {arr.min()}.")
    if not np.any(arr > 0):
        raise DataFormatError(
            f"`{name}` has no labelled bins (all 0); label the behaviour classes 1, 2, ... on the bins to "
            "fit."
        )
    return arr


def fitted_attribute(decoder: object, name: str, fit_call: str) -> int:
    """The integer attribute ``name`` that ``fit`` sets on ``decoder``; a clear error before it is fitted.

    ``fit_call`` is how to fit it, e.g. ``"fit(spikes, labels, bin_size)"``.
    """
    if not hasattr(decoder, name):
        raise NotFittedError(f"This {type(decoder).__name__} is not fitted yet. Call {fit_call} first.")
    return int(getattr(decoder, name))
