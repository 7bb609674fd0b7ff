"""The known upstream -> downstream map of the simulated subjects, and its spike sampler."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from spikebridge._validation import check_spike_counts
from spikebridge.exceptions import DataFormatError

__all__ = ["UpstreamToDownstreamMapping"]


@dataclass(frozen=True, eq=False)
class UpstreamToDownstreamMapping:
    r"""A two-layer map from delayed, smoothed upstream spikes to downstream spike probabilities.

    Parameters
    ----------
    bin_size :
        Bin width in seconds.
    upstream_baseline_rate :
        Reference rate of each upstream neuron in spikes/s, shape ``(n_upstream,)``.
    delay_bins :
        Conduction delay of each upstream neuron in bins, shape ``(n_upstream,)``, ints >= 0.
    smoothing_time_constant :
        Time constant :math:`\tau_s` of the causal exponential filter applied to upstream spikes, in seconds.
    input_weights :
        :math:`W_1`, shape ``(n_hidden, n_upstream)``.
    hidden_bias :
        :math:`b_1`, shape ``(n_hidden,)``.
    output_weights :
        :math:`W_2`, shape ``(n_downstream, n_hidden)``.
    log_baseline_rate :
        :math:`\beta`, log of spikes/s, shape ``(n_downstream,)``.
    refractory_strength :
        :math:`a \ge 0`, the drop in log-rate one bin after a spike.
    refractory_time_constant :
        :math:`\tau_r` in seconds; the history effect decays as :math:`e^{-k\,\Delta/\tau_r}`.
    max_rate :
        Ceiling on the downstream rate, spikes/s.

    Notes
    -----
    With :math:`s_c(t)` the upstream spikes, :math:`\Delta` the bin size and :math:`r_c` the reference rates,

    .. math::

        x_c(t) &= \sum_{j \ge 0} (1-\alpha)\,\alpha^j\, s_c(t-j) / \Delta,
                  \qquad \alpha = e^{-\Delta/\tau_s}\\
        z_c(t) &= \bigl(x_c(t - d_c) - r_c\bigr) / r_c\\
        h(t) &= \tanh\bigl(W_1 z(t) + b_1\bigr)\\
        \log\lambda_n(t) &= \beta_n + (W_2 h(t))_n + \sum_{k \ge 1} -a\, e^{-(k-1)\Delta/\tau_r}\, y_n(t-k)\\
        p_n(t) &= 1 - \exp\bigl(-\min(\lambda_n(t), \lambda_{\max})\,\Delta\bigr)

    and the downstream spikes are :math:`y_n(t) \sim \mathrm{Bernoulli}(p_n(t))`. The filter starts at the
    reference rate and :math:`z = 0` before the first delayed bin, so the map is a fixed causal function of
    the upstream spikes. The spike-history term (refractoriness) restarts from zero at each block start.
    """

    bin_size: float
    upstream_baseline_rate: NDArray[np.float64]
    delay_bins: NDArray[np.int64]
    smoothing_time_constant: float
    input_weights: NDArray[np.float64]
    hidden_bias: NDArray[np.float64]
    output_weights: NDArray[np.float64]
    log_baseline_rate: NDArray[np.float64]
    refractory_strength: float
    refractory_time_constant: float
    max_rate: float

    @property
    def n_upstream(self) -> int:
        """Number of upstream neurons the map reads."""
        return int(self.input_weights.shape[1])

    @property
    def n_hidden(self) -> int:
        """Number of hidden units."""
        return int(self.input_weights.shape[0])

    @property
    def n_downstream(self) -> int:
        """Number of downstream neurons the map drives."""
        return int(self.output_weights.shape[0])

    # ------------------------------------------------------------------ public
    def upstream_input(self, upstream_spikes: NDArray) -> NDArray[np.float64]:
        """Delayed relative rate change :math:`z(t)` per upstream neuron, shape ``(n_bins, n_upstream)``."""
        return self._upstream_input(self._check(upstream_spikes))

    def log_rate(self, upstream_spikes: NDArray) -> NDArray[np.float64]:
        """Log-rate (log spikes/s) without the spike-history term, shape ``(n_bins, n_downstream)``.

        Parameters
        ----------
        upstream_spikes :
            Shape ``(n_bins, n_upstream)``.
        """
        return self._log_rate(self._check(upstream_spikes))

    def probabilities(self, upstream_spikes: NDArray) -> NDArray[np.float64]:
        """Spike probability per bin with no recent downstream spike, shape ``(n_bins, n_downstream)``."""
        rate = np.minimum(np.exp(self.log_rate(upstream_spikes)), self.max_rate)
        return -np.expm1(-rate * self.bin_size)

    def sample(
        self, upstream_spikes: NDArray, rng: np.random.Generator, *, block_starts: NDArray | None = None
    ) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
        """Draw downstream spikes given upstream spikes.

        Parameters
        ----------
        upstream_spikes :
            Shape ``(n_bins, n_upstream)``.
        rng :
            Source of randomness.
        block_starts :
            Sorted first bins of the blocks (e.g. trials) at which the spike history restarts, shape
            ``(n_blocks,)``, starting with 0. None means one block; that runs a Python loop over every bin
            (about 1 s per 60 000 bins), whereas many short blocks are sampled side by side.

        Returns
        -------
        spikes :
            Shape ``(n_bins, n_downstream)``, 0/1.
        probabilities :
            The exact spike probability each bin was drawn with, shape ``(n_bins, n_downstream)``.
        """
        log_rate = self.log_rate(upstream_spikes)
        n_bins = log_rate.shape[0]
        if block_starts is None:
            starts = np.zeros(1, dtype=np.int64)
        else:
            starts = np.asarray(block_starts)
            if starts.ndim != 1 or starts.size == 0 or not np.issubdtype(starts.dtype, np.integer):
                raise DataFormatError(f"`block_starts` must be a 1-D integer array; got {starts!r}.")
            if starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= n_bins:
                raise DataFormatError(
                    "`block_starts` must start at 0, increase strictly and stay below n_bins="
                    f"{n_bins}; got {starts!r}."
                )
        uniforms = rng.random(log_rate.shape)
        return sample_with_refractoriness(
            log_rate, starts.astype(np.int64), uniforms, bin_size=self.bin_size,
            refractory_strength=self.refractory_strength,
            refractory_time_constant=self.refractory_time_constant, max_rate=self.max_rate,
        )

    # ------------------------------------------------------------------ private
    def _check(self, upstream_spikes: NDArray) -> NDArray[np.uint8]:
        spikes = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False)
        if spikes.shape[1] != self.n_upstream:
            raise DataFormatError(
                f"`upstream_spikes` has {spikes.shape[1]} neurons but the map reads {self.n_upstream}. "
                "Pass the upstream spikes of the subject this map was simulated with."
            )
        return spikes

    def _upstream_input(self, spikes: NDArray) -> NDArray[np.float64]:
        alpha = np.exp(-self.bin_size / self.smoothing_time_constant)
        reference = self.upstream_baseline_rate * self.bin_size  # spikes per bin
        initial = (alpha * reference)[None, :]
        smoothed, _ = lfilter([1.0 - alpha], [1.0, -alpha], spikes.astype(np.float64), axis=0, zi=initial)
        relative = smoothed / reference - 1.0
        delayed = np.zeros_like(relative)
        for delay in np.unique(self.delay_bins):
            cols = np.flatnonzero(self.delay_bins == delay)
            if delay == 0:
                delayed[:, cols] = relative[:, cols]
            elif delay < len(relative):
                delayed[delay:, cols] = relative[:-delay, cols]
        return delayed

    def _log_rate(self, spikes: NDArray) -> NDArray[np.float64]:
        hidden = np.tanh(self._upstream_input(spikes) @ self.input_weights.T + self.hidden_bias)
        return hidden @ self.output_weights.T + self.log_baseline_rate


def sample_with_refractoriness(
    log_rate: NDArray[np.float64],
    block_starts: NDArray[np.int64],
    uniforms: NDArray[np.float64],
    *,
    bin_size: float,
    refractory_strength: float,
    refractory_time_constant: float,
    max_rate: float,
) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """Bernoulli sampling with an exponential spike-history term, all blocks side by side.

    Parameters
    ----------
    log_rate :
        History-free log-rate, shape ``(n_bins, n_neurons)``.
    block_starts :
        First bin of each block, shape ``(n_blocks,)``; ``block_starts[0] == 0``. History restarts per block.
    uniforms :
        Uniform draws in [0, 1), shape ``(n_bins, n_neurons)``; a spike occurs where ``uniforms < p``.

    Returns
    -------
    spikes, probabilities :
        Both shape ``(n_bins, n_neurons)``.
    """
    n_bins, n_neurons = log_rate.shape
    lengths = np.diff(np.append(block_starts, n_bins))
    n_blocks, longest = len(lengths), int(lengths.max())
    valid = np.arange(longest)[None, :] < lengths[:, None]  # (n_blocks, longest)
    # Blocks are contiguous and sorted, so boolean assignment fills them in time order.
    drive = np.full((n_blocks, longest, n_neurons), -np.inf)
    drive[valid] = log_rate
    draws = np.ones((n_blocks, longest, n_neurons))
    draws[valid] = uniforms
    drive = np.ascontiguousarray(drive.transpose(1, 0, 2))
    draws = np.ascontiguousarray(draws.transpose(1, 0, 2))
    probabilities = np.empty_like(drive)
    spikes = np.empty(drive.shape, dtype=bool)
    decay = np.exp(-bin_size / refractory_time_constant)
    history = np.zeros((n_blocks, n_neurons))
    rate = np.empty((n_blocks, n_neurons))
    for step in range(longest):
        np.add(drive[step], history, out=rate)
        np.exp(rate, out=rate)
        np.minimum(rate, max_rate, out=rate)
        rate *= -bin_size
        prob = probabilities[step]
        np.expm1(rate, out=prob)
        np.negative(prob, out=prob)
        spike = spikes[step]
        np.less(draws[step], prob, out=spike)
        history *= decay
        history -= refractory_strength * spike
    out_spikes = spikes.transpose(1, 0, 2)[valid].astype(np.uint8)
    out_probabilities = probabilities.transpose(1, 0, 2)[valid]
    return out_spikes, out_probabilities
