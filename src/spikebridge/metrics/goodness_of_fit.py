"""Goodness of fit of per-bin spike probabilities: the discrete-time time-rescaling KS test."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.stats import kstest

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import as_spikes

__all__ = ["time_rescaling_ks", "TimeRescalingResult", "rescaled_intervals"]


class TimeRescalingResult(NamedTuple):
    """Per-neuron result of :func:`time_rescaling_ks`; every field has shape ``(n_neurons,)``."""

    statistic: NDArray[np.float64]
    """KS distance between the rescaled intervals and Uniform(0, 1); NaN with fewer than 2 spikes."""
    pvalue: NDArray[np.float64]
    """Two-sided KS p-value; NaN with fewer than 2 spikes."""
    n_intervals: NDArray[np.int64]
    """Number of inter-spike intervals tested (spikes - 1)."""

    @property
    def bound_95(self) -> NDArray[np.float64]:
        """The 95% KS band half-width ``1.36 / sqrt(n_intervals)``; a good model stays below it."""
        with np.errstate(divide="ignore"):
            return 1.36 / np.sqrt(self.n_intervals)


def _check_inputs(probabilities: object, spikes: object, rng: object) -> tuple[NDArray, NDArray]:
    counts = as_spikes(spikes, "spikes", binary=True)
    prob = np.asarray(probabilities)
    if prob.dtype == object or not np.issubdtype(prob.dtype, np.number):
        raise TypeError(f"`probabilities` must be a numeric array. Got dtype {prob.dtype}.")
    if prob.shape != counts.shape:
        raise DataFormatError(
            f"`probabilities` has shape {prob.shape} but `spikes` has {counts.shape}; pass the probability "
            "of a spike in every bin of every neuron."
        )
    prob = prob.astype(np.float64)
    if not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1:
        raise DataFormatError(
            "`probabilities` must be finite and within [0, 1] (per-bin spike probabilities)."
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"`rng` must be a np.random.Generator, e.g. np.random.default_rng(0). Got {type(rng).__name__}."
        )
    return prob, counts


def rescaled_intervals(
    probabilities: NDArray, spikes: NDArray, *, rng: np.random.Generator
) -> list[NDArray[np.float64]]:
    """Rescaled inter-spike intervals, mapped to [0, 1]; Uniform(0, 1) when the probabilities are right.

    Parameters
    ----------
    probabilities :
        Model spike probability per bin, shape ``(n_bins, n_neurons)``, in [0, 1].
    spikes :
        Observed spikes, shape ``(n_bins, n_neurons)``, 0/1.
    rng :
        Source of the uniform draws of the discrete-time correction.

    Returns
    -------
    intervals :
        One array per neuron, shape ``(n_spikes - 1,)``.
    """
    prob, counts = _check_inputs(probabilities, spikes, rng)
    prob = np.minimum(prob, 1.0 - 1e-12)
    hazard = -np.log1p(-prob)  # q_t, integrated intensity of each bin
    cumulative = np.vstack([np.zeros((1, prob.shape[1])), np.cumsum(hazard, axis=0)])
    out = []
    for neuron in range(prob.shape[1]):
        times = np.flatnonzero(counts[:, neuron])
        if len(times) < 2:
            out.append(np.empty(0))
            continue
        previous, current = times[:-1], times[1:]
        between = cumulative[current, neuron] - cumulative[previous + 1, neuron]
        draw = rng.random(len(current))
        within = -np.log1p(-draw * prob[current, neuron])  # where in the spike bin the spike fell
        out.append(-np.expm1(-(between + within)))
    return out


def time_rescaling_ks(
    probabilities: NDArray, spikes: NDArray, *, rng: np.random.Generator
) -> TimeRescalingResult:
    r"""Discrete-time time-rescaling Kolmogorov-Smirnov test of per-bin spike probabilities, per neuron.

    Parameters
    ----------
    probabilities :
        Model spike probability per bin, shape ``(n_bins, n_neurons)``, in [0, 1] (e.g. a generator's
        ``predict_proba`` on held-out upstream spikes).
    spikes :
        Observed spikes, shape ``(n_bins, n_neurons)``, 0/1.
    rng :
        Source of the uniform draws of the discrete-time correction.

    Returns
    -------
    result :
        ``statistic``, ``pvalue`` and ``n_intervals``, each shape ``(n_neurons,)``; ``result.bound_95`` is
        the 95% band ``1.36 / sqrt(n_intervals)``.

    Notes
    -----
    With :math:`q_t = -\log(1 - p_t)` and spikes at bins :math:`t_0 < t_1 < \dots`, each interval is
    rescaled to

    .. math::

        \xi_i = \sum_{t = t_{i-1} + 1}^{t_i - 1} q_t \; - \log\bigl(1 - r_i\, p_{t_i}\bigr),
        \qquad r_i \sim \mathrm{Uniform}(0, 1),

    where the random term places the spike inside its bin. If the probabilities generated the spikes,
    :math:`\xi_i \sim \mathrm{Exp}(1)` exactly, so :math:`z_i = 1 - e^{-\xi_i}` are Uniform(0, 1), which
    the KS test checks. Without the correction, coarse bins bias the classical test.

    References
    ----------
    Haslinger, R., Pipa, G. and Brown, E. (2010). Discrete time rescaling theorem: determining goodness of
    fit for discrete time statistical models of neural spiking. *Neural Computation* 22(10), 2477-2506.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.full((5000, 1), 0.1)
    >>> spikes = (rng.random(p.shape) < p).astype(int)
    >>> result = time_rescaling_ks(p, spikes, rng=rng)
    >>> bool(result.statistic[0] < result.bound_95[0])
    True
    """
    intervals = rescaled_intervals(probabilities, spikes, rng=rng)
    n = len(intervals)
    statistic, pvalue = np.full(n, np.nan), np.full(n, np.nan)
    for neuron, z in enumerate(intervals):
        if len(z):
            test = kstest(z, "uniform")
            statistic[neuron], pvalue[neuron] = test.statistic, test.pvalue
    return TimeRescalingResult(statistic, pvalue, np.array([len(z) for z in intervals], dtype=np.int64))
