"""Upstream spike-history features: the paper's last-K exponential features and a raised-cosine basis."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts

__all__ = ["last_spikes_exponential", "raised_cosine_basis", "raised_cosine_features", "first_complete_bin"]


def last_spikes_exponential(
    upstream_spikes: NDArray, *, n_spikes: int = 5, time_constant: float = 150.0
) -> NDArray[np.float32]:
    """The paper's features: exponential decay since each of a neuron's last K spikes.

    For upstream neuron ``c`` and bin ``t``, let ``tau_{c,1} >= tau_{c,2} >= ...`` be the bins of its
    spikes at or before ``t`` (the current bin counts, so a streaming step can use the bin it just read).
    The feature block of neuron ``c`` is ``exp(-(t - tau_{c,k}) / time_constant)`` for ``k = 1..K``;
    a spike that has not happened yet gives 0.

    Parameters
    ----------
    upstream_spikes :
        Binned spikes, shape ``(n_bins, n_upstream)``; any count > 0 counts as one spike.
    n_spikes :
        K, how many of the most recent spikes each neuron contributes.
    time_constant :
        Decay time constant in bins (the paper: 150 bins = 1.5 s).

    Returns
    -------
    features :
        Shape ``(n_bins, n_upstream * n_spikes)``, neuron-major (neuron 0's K features first), float32.
    """
    spikes = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False)
    n_spikes = check_positive_int(n_spikes, "n_spikes")
    time_constant = check_positive_number(time_constant, "time_constant")
    n_bins, n_neurons = spikes.shape
    out = np.zeros((n_bins, n_neurons, n_spikes), dtype=np.float32)
    bins = np.arange(n_bins)
    for c in range(n_neurons):
        times = np.flatnonzero(spikes[:, c])
        # index of the most recent spike at or before each bin (-1: none yet)
        last = np.searchsorted(times, bins, side="right") - 1
        for k in range(n_spikes):
            idx = last - k
            valid = idx >= 0
            lag = bins[valid] - times[idx[valid]]
            out[valid, c, k] = np.exp(-lag / time_constant)
    return out.reshape(n_bins, n_neurons * n_spikes)


def first_complete_bin(upstream_spikes: NDArray, *, n_spikes: int = 5) -> int:
    """First bin at which every upstream neuron has fired more than ``n_spikes`` times (the paper's start).

    Returns ``n_bins`` when some neuron never does.
    """
    spikes = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False)
    counts = np.cumsum(spikes > 0, axis=0)
    ok = np.all(counts > n_spikes, axis=1)
    return int(np.argmax(ok)) if ok.any() else int(len(spikes))


def raised_cosine_basis(n_basis_funcs: int = 8, window_size: int = 50, *, log_scale: float = 5.0) -> NDArray:
    """Log-stretched raised-cosine filters over the last ``window_size`` bins.

    Parameters
    ----------
    n_basis_funcs :
        Number of filters.
    window_size :
        Filter length in bins; lag 0 is the current bin.
    log_scale :
        Offset of the log stretch (in bins); larger values make the filters more uniform in width.

    Returns
    -------
    basis :
        Shape ``(window_size, n_basis_funcs)``; row ``l`` is the weight of the spike ``l`` bins ago.
    """
    n_basis_funcs = check_positive_int(n_basis_funcs, "n_basis_funcs")
    window_size = check_positive_int(window_size, "window_size", minimum=2)
    log_scale = check_positive_number(log_scale, "log_scale")
    lags = np.arange(window_size, dtype=np.float64)
    stretched = np.log(lags + log_scale)
    lo, hi = stretched[0], stretched[-1]
    spacing = (hi - lo) / max(n_basis_funcs - 1, 1)
    centres = lo + spacing * np.arange(n_basis_funcs)
    arg = np.clip((stretched[:, None] - centres[None, :]) * np.pi / (2 * spacing), -np.pi, np.pi)
    return (0.5 * (1 + np.cos(arg))).astype(np.float64)


def raised_cosine_features(
    upstream_spikes: NDArray, *, n_basis_funcs: int = 8, window_size: int = 50
) -> NDArray[np.float32]:
    """Causal convolution of each upstream neuron with a raised-cosine basis.

    Parameters
    ----------
    upstream_spikes :
        Shape ``(n_bins, n_upstream)``.
    n_basis_funcs, window_size :
        See :func:`raised_cosine_basis` (default: 8 filters over 500 ms at 10 ms bins).

    Returns
    -------
    features :
        Shape ``(n_bins, n_upstream * n_basis_funcs)``, neuron-major, float32.
    """
    from scipy.signal import fftconvolve

    spikes = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False).astype(np.float64)
    basis = raised_cosine_basis(n_basis_funcs, window_size)
    n_bins, n_neurons = spikes.shape
    # out[t, c, b] = sum_l basis[l, b] * spikes[t - l, c]
    full = fftconvolve(spikes[:, :, None], basis[:, None, :], axes=0)[:n_bins]
    full[np.abs(full) < 1e-9] = 0.0
    return full.reshape(n_bins, n_neurons * n_basis_funcs).astype(np.float32)
