"""Continuous readouts of k-D behaviour (e.g. 2-D hand velocity): a Wiener filter and a Kalman filter."""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod

import numpy as np
import scipy.linalg
import torch
from numpy.typing import NDArray

from spikebridge.decoders._windows import (
    as_spike_matrix,
    causal_conv,
    check_non_negative_number,
    fitted_attribute,
    history_from_seconds,
    lag_major_to_kernel,
    window_features,
)
from spikebridge.exceptions import DataFormatError

__all__ = ["ContinuousDecoder", "WienerDecoder", "KalmanDecoder"]

_CHUNK_VALUES = 2**22  # design-matrix entries built at a time while accumulating X^T X


class ContinuousDecoder(ABC):
    """A fixed readout from downstream spikes to a continuous behaviour per bin, batched over samples.

    Subclasses implement :meth:`_predict_torch`; the numpy wrapper, shape checks and batching over
    leading axes live here, as in :class:`~spikebridge.decoders.base.SpikeDecoder`.

    Attributes
    ----------
    n_neurons : int
        How many neurons the decoder reads, in its input order.
    history_bins : int
        Past bins it reads besides the current one: a spike at bin ``t`` changes the output at bins
        ``t .. t + history_bins`` only.
    n_outputs : int
        Dimensions of the decoded behaviour (2 for planar velocity).
    """

    n_neurons: int
    history_bins: int
    n_outputs: int

    @abstractmethod
    def _predict_torch(self, spikes: torch.Tensor) -> torch.Tensor:
        """Decode spikes ``(batch, n_bins, n_neurons)`` into behaviour ``(batch, n_bins, n_outputs)``."""

    def predict_torch(self, spikes: torch.Tensor) -> torch.Tensor:
        """Decode spikes ``(..., n_bins, n_neurons)`` into behaviour ``(..., n_bins, n_outputs)`` (torch)."""
        self._check_n_neurons(spikes.shape[-1])
        flat = spikes.reshape(-1, spikes.shape[-2], spikes.shape[-1])
        out = self._predict_torch(flat)
        return out.reshape(*spikes.shape[:-2], spikes.shape[-2], out.shape[-1])

    def predict(self, spikes: NDArray) -> NDArray[np.float64]:
        """Decode the behaviour in each bin.

        Parameters
        ----------
        spikes :
            Spikes of the neurons this decoder reads, shape ``(n_bins, n_neurons)`` or
            ``(n_samples, n_bins, n_neurons)``; bins before the first are taken as silent.

        Returns
        -------
        behaviour :
            Shape ``(n_bins, n_outputs)`` or ``(n_samples, n_bins, n_outputs)``.
        """
        arr = np.asarray(spikes)
        if arr.ndim not in (2, 3):
            raise DataFormatError(
                "Decoder input must have shape (n_bins, n_neurons) or (n_samples, n_bins, n_neurons); "
                f"got {arr.shape}."
            )
        self._check_n_neurons(arr.shape[-1])
        with torch.no_grad():
            return self.predict_torch(torch.as_tensor(arr, dtype=torch.float32)).double().numpy()

    def _check_n_neurons(self, n: int) -> None:
        if n != self.n_neurons:
            raise DataFormatError(
                f"{type(self).__name__} reads {self.n_neurons} neurons but got spikes of {n} neurons. "
                "Pass only the neurons the decoder reads, in its input order (see `decoder_neurons`)."
            )


def _check_fit_inputs(
    spikes: NDArray, behaviour: NDArray, mask: NDArray | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Validate ``fit`` inputs; return counts ``(n_bins, n)``, behaviour ``(n_bins, k)``, fitted rows."""
    counts = as_spike_matrix(spikes)
    n_bins = counts.shape[0]
    target = np.asarray(behaviour)
    if target.dtype == object or not np.issubdtype(target.dtype, np.number):
        raise TypeError(f"`velocity` must be a numeric array. Got dtype {target.dtype}.")
    target = target.astype(np.float64)
    if target.ndim == 1:
        target = target[:, None]
    if target.ndim != 2 or target.shape[0] != n_bins:
        raise DataFormatError(
            f"`velocity` must have shape (n_bins, k) = ({n_bins}, k), one row per bin of the spikes. "
            f"Got shape {np.shape(behaviour)}."
        )
    if mask is None:
        keep = np.ones(n_bins, dtype=bool)
    else:
        keep = np.asarray(mask)
        if keep.dtype != bool or keep.shape != (n_bins,):
            raise DataFormatError(
                f"`mask` must be a boolean array of shape ({n_bins},), True on the bins to fit. "
                f"Got dtype {keep.dtype}, shape {keep.shape}."
            )
    rows = np.flatnonzero(keep)
    if len(rows) < 2:
        raise DataFormatError(f"`mask` selects {len(rows)} bins; fitting needs at least 2.")
    if not np.all(np.isfinite(target[rows])):
        raise DataFormatError(
            "`velocity` has NaN or infinite values on the fitted bins; exclude them with `mask`."
        )
    return counts, target, rows


class _LinearFilterDecoder(ContinuousDecoder):
    """A fitted causal linear filter ``v(t) = intercept_ + sum_lag W_lag s(t - lag)``, ``coef_`` lag-major."""

    coef_: NDArray[np.float64]
    intercept_: NDArray[np.float64]
    n_neurons_: int

    @property
    def n_neurons(self) -> int:  # type: ignore[override]
        """Neurons read per bin (set by ``fit``)."""
        return self._fitted("n_neurons_")

    @property
    def history_bins(self) -> int:  # type: ignore[override]
        """Past bins read besides the current one (set by ``fit``)."""
        return self._fitted("history_bins_")

    @property
    def n_outputs(self) -> int:  # type: ignore[override]
        """Dimensions of the decoded behaviour (set by ``fit``)."""
        return self._fitted("n_outputs_")

    def _fitted(self, name: str) -> int:
        return fitted_attribute(self, name, "fit(spikes, behaviour, bin_size)")

    def _build(self) -> None:
        """Turn the fitted ``coef_`` and ``intercept_`` into the conv1d kernel and bias."""
        self._kernel = lag_major_to_kernel(self.coef_, self.n_neurons_)
        self._bias = torch.tensor(self.intercept_, dtype=torch.float32)

    def _predict_torch(self, spikes: torch.Tensor) -> torch.Tensor:
        return causal_conv(spikes, self._kernel, self._bias).transpose(1, 2)


class WienerDecoder(_LinearFilterDecoder):
    """Linear filter of the current and past spike counts (Wiener filter), fitted by ridge least squares.

    ``v(t) = c + sum_{lag=0}^{H} W_lag s(t - lag)``, zeros before the first bin.

    Parameters
    ----------
    history_seconds :
        Length of the past window; ``fit`` sets ``history_bins_ = round(history_seconds / bin_size)``.
    l2_strength :
        Ridge penalty ``lambda`` on the weights (not the intercept), relative to the mean squared error:
        the fit minimises ``mean_t ||v(t) - vhat(t)||^2 + lambda ||W||^2``. With 0 it is ordinary least
        squares (the minimum-norm solution when the design is rank-deficient).

    Attributes
    ----------
    coef_ :
        Shape ``(n_outputs, (history_bins_ + 1) * n_neurons_)``, lag-major: column
        ``lag * n_neurons + i`` weights neuron ``i`` at bin ``t - lag``.
    intercept_ :
        Shape ``(n_outputs,)``.
    history_bins_, n_neurons_, n_outputs_ :
        Set by :meth:`fit`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spikes = (rng.random((500, 3)) < 0.3).astype(float)
    >>> velocity = 2.0 * spikes[:, :1] - spikes[:, 1:2] + 0.5
    >>> decoder = WienerDecoder(history_seconds=0.0, l2_strength=0.0).fit(spikes, velocity, 0.01)
    >>> np.round(decoder.coef_, 6) + 0.0, np.round(decoder.intercept_, 6) + 0.0
    (array([[ 2., -1.,  0.]]), array([0.5]))
    """

    def __init__(self, *, history_seconds: float = 0.3, l2_strength: float = 1e-3) -> None:
        self.history_seconds = history_seconds
        self.l2_strength = l2_strength

    def fit(
        self, spikes: NDArray, velocity: NDArray, bin_size: float, mask: NDArray | None = None
    ) -> "WienerDecoder":
        """Fit the filter on the bins in ``mask``.

        Parameters
        ----------
        spikes :
            Spike counts of the neurons to read, shape ``(n_bins, n_neurons)``; every bin feeds the windows.
        velocity :
            Behaviour to decode, shape ``(n_bins, k)`` (or ``(n_bins,)`` for k = 1).
        bin_size :
            Bin width in seconds.
        mask :
            Boolean ``(n_bins,)``: the bins whose behaviour is fitted; all bins when None.

        Returns
        -------
        self :
            The fitted decoder.
        """
        l2 = check_non_negative_number(self.l2_strength, "l2_strength")
        history_bins = history_from_seconds(self.history_seconds, bin_size)
        counts, target, rows = _check_fit_inputs(spikes, velocity, mask)
        n_neurons = counts.shape[1]
        n_features = (history_bins + 1) * n_neurons
        gram = np.zeros((n_features + 1, n_features + 1))
        cross = np.zeros((n_features + 1, target.shape[1]))
        series = torch.as_tensor(counts)
        step = max(1, _CHUNK_VALUES // (n_features + 1))
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            design = window_features(series, history_bins, torch.as_tensor(chunk)).numpy()
            design = np.hstack([np.ones((len(chunk), 1)), design])
            gram += design.T @ design
            cross += design.T @ target[chunk]
        n_rows = len(rows)
        if l2 > 0:
            gram[1:, 1:] += n_rows * l2 * np.eye(n_features)
            solution = scipy.linalg.solve(gram, cross, assume_a="pos")
        else:
            solution = scipy.linalg.lstsq(gram, cross)[0]
        self.intercept_ = solution[0]
        self.coef_ = np.ascontiguousarray(solution[1:].T)
        self.history_bins_ = history_bins
        self.n_neurons_ = n_neurons
        self.n_outputs_ = target.shape[1]
        self._build()
        return self


class KalmanDecoder(_LinearFilterDecoder):
    """Steady-state Kalman filter with the behaviour (velocity) as state and spike counts as observations.

    The filter steps ``step_bins = round(step_seconds / bin_size)`` bins at a time:
    ``x_t = A x_{t-step} + w_t``, ``w ~ N(0, W)`` and ``y_t = H x_t + b + q_t``, ``q ~ N(0, Q)``, with ``x``
    the k-D velocity and ``y_t`` each neuron's spike count over bins ``t - step_bins + 1 .. t``. ``fit``
    estimates ``A, W`` by least squares from fitted bins ``step_bins`` apart and ``H, b, Q`` by least squares
    of the counts on the velocity.

    Decoding uses the steady-state gain ``K`` (from the discrete algebraic Riccati equation), so the filter
    ``xhat_t = M xhat_{t-step} + K (y_t - b)``, ``M = (I - K H) A``, is linear and time-invariant. It is run
    at every bin (``step_bins`` interleaved filters, each on its own grid of non-overlapping count
    windows) as one causal convolution with the impulse response ``M^j K`` at lags ``j * step_bins ..
    (j + 1) * step_bins - 1``, truncated once ``||M^j||_2 < impulse_tolerance``; i.e. as if the filter had
    run on silent spikes before the first bin. This batches like every other decoder. The state holds
    velocity only; integrate the decoded velocity for position.

    Parameters
    ----------
    step_seconds :
        Time step of the state model and width of the count windows. With 10 ms bins, stepping every bin
        makes ``A`` nearly the identity and the filter sluggish; 50-100 ms steps fit reaching better.
    impulse_tolerance :
        Truncate the impulse response once the spectral norm of ``M^j`` falls below this.
    max_history_seconds :
        Longest impulse response; a filter still above the tolerance there gives a ``RuntimeWarning``.

    Attributes
    ----------
    transition_, transition_noise_ :
        ``A`` and ``W``, shape ``(k, k)``.
    observation_, observation_offset_, observation_noise_ :
        ``H`` ``(n_neurons, k)``, ``b`` ``(n_neurons,)`` and ``Q`` ``(n_neurons, n_neurons)``.
    gain_ :
        Steady-state Kalman gain ``K``, shape ``(k, n_neurons)``.
    coef_, intercept_ :
        The equivalent causal filter: ``coef_`` ``(k, (history_bins_ + 1) * n_neurons)`` lag-major on the
        bin counts, and the constant ``intercept_`` ``(k,)``.
    step_bins_, history_bins_, n_neurons_, n_outputs_ :
        Set by :meth:`fit`.

    References
    ----------
    Wu, W. et al. (2006). Bayesian population decoding of motor cortical activity using a Kalman filter.
    Neural Computation 18, 80-118.
    """

    def __init__(
        self, *, step_seconds: float = 0.1, impulse_tolerance: float = 1e-4, max_history_seconds: float = 5.0,
    ) -> None:
        self.step_seconds = step_seconds
        self.impulse_tolerance = impulse_tolerance
        self.max_history_seconds = max_history_seconds

    def fit(
        self, spikes: NDArray, velocity: NDArray, bin_size: float, mask: NDArray | None = None
    ) -> "KalmanDecoder":
        """Fit the state and observation models on the bins in ``mask``.

        Parameters
        ----------
        spikes :
            Spike counts of the neurons to read, shape ``(n_bins, n_neurons)``.
        velocity :
            The state to decode, shape ``(n_bins, k)`` (or ``(n_bins,)`` for k = 1).
        bin_size :
            Bin width in seconds.
        mask :
            Boolean ``(n_bins,)``: bins used for fitting; the state model uses pairs of fitted bins
            ``step_bins`` apart. All bins when None.

        Returns
        -------
        self :
            The fitted decoder.

        Warns
        -----
        RuntimeWarning
            If the filter's impulse response is still above ``impulse_tolerance`` at
            ``max_history_seconds`` (the truncated filter then forgets too early).
        """
        tolerance = check_non_negative_number(self.impulse_tolerance, "impulse_tolerance")
        step = max(1, history_from_seconds(self.step_seconds, bin_size))
        max_steps = max(1, history_from_seconds(self.max_history_seconds, bin_size) // step)
        counts, state, rows = _check_fit_inputs(spikes, velocity, mask)
        n_neurons, k = counts.shape[1], state.shape[1]
        observed = _causal_boxcar(counts, step)
        keep = np.zeros(len(counts), dtype=bool)
        keep[rows] = True
        pairs = rows[(rows >= step) & keep[np.maximum(rows - step, 0)]]
        if len(pairs) < k + 1:
            raise DataFormatError(
                f"`mask` holds {len(pairs)} pairs of fitted bins {step} bins apart; the state model needs at "
                f"least {k + 1}. Fit on longer stretches of bins or lower `step_seconds`."
            )
        before, after = state[pairs - step], state[pairs]
        transition = scipy.linalg.lstsq(before, after)[0].T  # after ~ before @ A^T
        state_residual = after - before @ transition.T
        transition_noise = state_residual.T @ state_residual / len(pairs)
        design = np.hstack([state[rows], np.ones((len(rows), 1))])
        solution = scipy.linalg.lstsq(design, observed[rows])[0]  # (k + 1, n_neurons)
        observation, offset = solution[:k].T, solution[k]
        obs_residual = observed[rows] - design @ solution
        noise = obs_residual.T @ obs_residual / len(rows)
        # Small floors keep Q and W positive definite (a neuron that never fires has zero variance).
        noise += 1e-6 * max(float(np.trace(noise)) / n_neurons, 1e-12) * np.eye(n_neurons)
        transition_noise += 1e-9 * max(float(np.trace(transition_noise)) / k, 1e-12) * np.eye(k)
        try:
            prior = scipy.linalg.solve_discrete_are(transition.T, observation.T, transition_noise, noise)
        except (np.linalg.LinAlgError, ValueError) as err:
            raise RuntimeError(
                f"The Kalman filter has no steady state ({err}); the fitted velocity model may be unstable. "
                "Fit on more bins, or change `step_seconds`."
            ) from err
        innovation = observation @ prior @ observation.T + noise
        gain = scipy.linalg.solve(innovation, observation @ prior, assume_a="pos").T  # (k, n_neurons)
        closed_loop = (np.eye(k) - gain @ observation) @ transition
        impulse = [gain]
        power = np.eye(k)
        while len(impulse) <= max_steps:
            power = closed_loop @ power
            if np.linalg.norm(power, 2) < tolerance:
                break
            impulse.append(power @ gain)
        else:
            warnings.warn(
                f"The Kalman filter's impulse response is still above impulse_tolerance={tolerance} after "
                f"max_history_seconds={self.max_history_seconds}; it is truncated there. Raise "
                "max_history_seconds, or raise impulse_tolerance.", RuntimeWarning, stacklevel=2,
            )
        response = np.stack(impulse)  # (n_steps, k, n_neurons): weight of y_{t - j * step}
        # y_{t - j step} sums the bin counts at lags j * step .. (j + 1) * step - 1.
        per_bin = np.repeat(response, step, axis=0)  # (n_steps * step, k, n_neurons)
        self.transition_, self.transition_noise_ = transition, transition_noise
        self.observation_, self.observation_offset_, self.observation_noise_ = observation, offset, noise
        self.gain_ = gain
        self.coef_ = np.ascontiguousarray(per_bin.transpose(1, 0, 2).reshape(k, -1))
        self.intercept_ = -(response @ offset).sum(axis=0)
        self.step_bins_ = step
        self.history_bins_ = len(per_bin) - 1
        self.n_neurons_ = n_neurons
        self.n_outputs_ = k
        self._build()
        return self


def _causal_boxcar(counts: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Sum of each column over the last ``window`` bins (zeros before the first), shape kept."""
    if window == 1:
        return counts
    cumulative = np.vstack([np.zeros((1, counts.shape[1])), np.cumsum(counts, axis=0)])
    lagged = np.vstack([np.zeros((window, counts.shape[1])), cumulative[:-window]])[: len(counts) + 1]
    return (cumulative - lagged)[1:]
