"""A streaming staged point-process generator: one upstream bin in, one bin of downstream spikes out.

:class:`StreamingGenerator` runs the network of a
:class:`~spikebridge.models.generator.StagedPointProcess` bin by bin in plain numpy, keeping the
upstream feature state incrementally, so a closed loop never recomputes the history.

Feature state
-------------
For every upstream neuron the generator keeps the *ages* (bins since) of its last ``K`` spikes in an
integer ``(K, n_upstream)`` array (slot-major, so each bin's work runs on contiguous rows); a spike that
has not happened has an age beyond any table (``2**62``).
Each bin every age grows by one, and a neuron that spiked shifts its ages right and puts a 0 in front:
O(K) integer work per neuron and bin, with no drift. The features are ``exp(-age / time_constant)``,
looked up in a table built once with the numpy operations of
:func:`~spikebridge.features.history.last_spikes_exponential` (float64 ``exp`` of ``-age /
time_constant``, rounded to float32; 0 from ``105 * time_constant`` bins on), so the float32 features are
**identical** (``np.array_equal``) to the offline ones. The multiply-decay alternative (multiply the
features by ``exp(-1 / time_constant)`` every bin) is also O(1) but accumulates one rounding per bin and
so drifts away from the offline values; it is not used.

Probabilities
-------------
Both this generator and the offline
:meth:`~spikebridge.models.generator.StagedPointProcess.predict_proba` compute the probabilities with
:class:`~spikebridge.models.numpy_network.NumpyNetwork`, whose every output is defined element by element
from exact arithmetic (each pre-activation is the float32 nearest to its exact value, then a float32
sigmoid). :meth:`step` runs it on a one-row matrix, :meth:`run` and the offline model on blocks of rows,
and the results are **identical** (``np.array_equal``): they do not depend on the BLAS kernel, the
summation order or how the stream is cut.

Spikes
------
Bin ``t`` draws ``u_t = rng.random(n_outputs)`` and emits ``u_t < p_t``. A numpy ``Generator`` fills
``rng.random((n_bins, n_outputs))`` row by row from the same stream, so with the same generator state
the streamed spikes equal the offline ``(rng.random(p.shape) < p)`` of
:meth:`~spikebridge.models.generator.StagedPointProcess.sample` exactly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.models.numpy_network import NumpyNetwork

__all__ = ["StreamingGenerator"]

_BLOCK_BINS = 4096  # run() works through long chunks in blocks of this many bins
_NEVER = 2**62  # the age of a spike that has not happened: exp(-age / time_constant) is 0
_MAX_TABLE = 2**21  # longest feature table (bins); beyond it (time_constant > ~20,000 bins) exp per bin


class StreamingGenerator:
    """Run a staged point-process network one bin at a time, with incremental upstream features.

    ``x_t`` = the last-K exponential features of the upstream spikes up to and including bin ``t``,
    ``h_t = sigmoid(x_t W1 + b1)``, ``p_t = sigmoid(h_t W2 + b2)``, ``s_t = (u_t < p_t)`` with
    ``u_t = rng.random(n_outputs)``. With ``w1 = b1 = None`` the network is a GLM,
    ``p_t = sigmoid(x_t W2 + b2)``. See the module docstring for the exactness guarantees.

    Parameters
    ----------
    w1 :
        Input weights, shape ``(n_upstream * n_spikes, n_hidden)`` (a leading replica axis of length 1 is
        dropped), or None for a GLM.
    b1 :
        Hidden biases, ``n_hidden`` values, or None for a GLM.
    w2 :
        Output weights, shape ``(n_hidden, n_outputs)``, or ``(n_upstream * n_spikes, n_outputs)`` for a GLM.
    b2 :
        Output biases, ``n_outputs`` values.
    n_spikes :
        K, how many of each upstream neuron's most recent spikes feed the network.
    time_constant :
        Feature decay time constant in bins.
    rng :
        Source of every spike draw (``np.random.default_rng(seed)``).
    bin_size :
        Bin width in seconds (needed only to time stimulation pulses), or None.
    input_mean, input_scale :
        Input standardisation, ``n_features`` values each: the network reads
        ``(x - input_mean) / input_scale`` (float32). None: no standardisation.

    Attributes
    ----------
    n_upstream, n_features, n_hidden, n_outputs : int
        Sizes; ``n_features = n_upstream * n_spikes``.
    network : NumpyNetwork
        The forward pass shared with the offline model, reading the features slot-major (its ``n_exact``
        counts the pre-activations settled by exact arithmetic).
    n_bins_seen : int
        Bins processed since construction or the last :meth:`reset`.
    last_probabilities : ndarray or None
        Spike probabilities of the last processed bin, shape ``(n_outputs,)``, float64; None before any bin.

    Examples
    --------
    >>> from spikebridge.models.generator import StagedPointProcess
    >>> model = StagedPointProcess(n_outputs=2, n_hidden=8, random_state=0).initialize(3, 0.01)
    >>> stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(0))
    >>> stream.step(np.array([1, 0, 0])).shape, stream.last_probabilities.shape
    ((2,), (2,))
    """

    def __init__(
        self,
        w1: ArrayLike | None,
        b1: ArrayLike | None,
        w2: ArrayLike,
        b2: ArrayLike,
        *,
        n_spikes: int = 5,
        time_constant: float = 150.0,
        rng: np.random.Generator,
        bin_size: float | None = None,
        input_mean: ArrayLike | None = None,
        input_scale: ArrayLike | None = None,
    ) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"`rng` must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}."
            )
        self.n_spikes = check_positive_int(n_spikes, "n_spikes")
        self.time_constant = check_positive_number(time_constant, "time_constant")
        self.bin_size = None if bin_size is None else check_positive_number(bin_size, "bin_size")
        self.rng = rng
        network = NumpyNetwork(w1, b1, w2, b2, input_mean=input_mean, input_scale=input_scale)
        self.n_features, self.n_hidden = network.n_features, network.n_hidden
        self.n_outputs = network.n_outputs
        if self.n_features % self.n_spikes:
            raise DataFormatError(
                f"The network has {self.n_features} input features, which is not a multiple of "
                f"n_spikes={self.n_spikes}; pass the `n_spikes` the model was built with."
            )
        self.n_upstream = self.n_features // self.n_spikes
        self._bin_shape = (self.n_upstream,)
        shape = (self.n_spikes, self.n_upstream)
        # internally slot-major (spike k of every neuron, then spike k + 1), so each bin's integer work runs
        # on contiguous rows; the network reads its inputs in that order (the same probabilities, exactly)
        self._neuron_major = np.arange(self.n_features).reshape(shape).T.ravel()
        self.network = network.reorder_inputs(np.arange(self.n_features).reshape(shape[::-1]).T.ravel())
        # exp(-age / time_constant) as last_spikes_exponential computes it; float32 0 from 105 time constants
        n_table = int(np.ceil(105 * self.time_constant)) + 1
        self._table32 = self._table64 = None
        if n_table <= _MAX_TABLE:
            with np.errstate(under="ignore"):
                self._table32 = np.exp(-np.arange(n_table) / self.time_constant).astype(np.float32)
            # the last entry is 0 (exp(-105) is below half the smallest float32): take(mode="clip") reads
            # it for every older age, and for a spike that has not happened
            self._table64 = self._table32.astype(np.float64)
        # row 0 holds -1: a spiking neuron's ages become history[:-1] + 1, so the new spike has age 0
        self._history = np.full((self.n_spikes + 1, self.n_upstream), -1, dtype=np.int64)
        self._ages, self._shifted = self._history[1:], self._history[:-1]  # (n_spikes, n_upstream) each
        self._spiked = np.zeros(self.n_upstream, dtype=bool)
        self._work = self.network.workspace(1)  # step() runs the shared forward pass on one-row matrices
        self._direct = self._table64 is not None and self.network.input_mean is None
        self._inputs = self._work.inputs[0].reshape(shape)  # views of the one row, slot-major
        self._features = self._work.features[0].reshape(shape)
        self.reset()

    @classmethod
    def from_model(cls, model: object, *, rng: np.random.Generator) -> "StreamingGenerator":
        """Stream a built :class:`~spikebridge.models.generator.StagedPointProcess` (or ``BernoulliGLM``).

        Parameters
        ----------
        model :
            An initialised or trained model with one replica (``model.network_``).
        rng :
            Source of the spike draws.

        Returns
        -------
        stream :
            A generator with copies of the model's weights and input standardisation (later training of
            ``model`` does not change it), its ``n_spikes``, ``time_constant`` and ``bin_size_``.
        """
        network = getattr(model, "network_", None)
        if network is None:
            raise NotFittedError(
                f"This {type(model).__name__} has no network yet. Call 'initialize' and train it, or "
                "'load' one, before streaming it."
            )
        if network.n_replicas != 1:
            raise ValueError(
                f"The model's network holds {network.n_replicas} replicas; stream one replica at a time."
            )
        params = {name: value.detach().cpu().numpy().copy() for name, value in network.state_dict().items()}
        return cls(
            params.get("w1"), params.get("b1"), params["w2"], params["b2"], n_spikes=model.n_spikes,
            time_constant=model.time_constant, rng=rng, bin_size=getattr(model, "bin_size_", None),
            input_mean=params.get("input_mean"), input_scale=params.get("input_scale"),
        )

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all upstream history (as if no upstream neuron had fired yet); the rng is left as it is."""
        self._ages[...] = _NEVER
        self.n_bins_seen = 0
        self.last_probabilities: NDArray[np.float64] | None = None

    @property
    def current_features(self) -> NDArray[np.float32]:
        """Features of the last processed bin, ``(n_upstream * n_spikes,)``, float32, unstandardised."""
        return self._features_of(self._ages).reshape(-1)[self._neuron_major]

    # ------------------------------------------------------------------ streaming
    def step(self, upstream_spikes: ArrayLike) -> NDArray[np.uint8]:
        """Read one upstream bin, update the features, and draw this bin's downstream spikes.

        Parameters
        ----------
        upstream_spikes :
            Spikes of every upstream neuron in this bin, shape ``(n_upstream,)``; any count > 0 is one spike.

        Returns
        -------
        downstream_spikes :
            Shape ``(n_outputs,)``, uint8 0/1. The probabilities are in :attr:`last_probabilities`.
        """
        arr = upstream_spikes if type(upstream_spikes) is np.ndarray else np.asarray(upstream_spikes)
        if arr.shape != self._bin_shape:
            raise DataFormatError(
                f"One bin of upstream spikes must have shape ({self.n_upstream},); got shape {arr.shape}. "
                "Use `run` for several bins at once."
            )
        kind = arr.dtype.kind
        if kind == "b":
            np.copyto(self._spiked, arr)
        else:
            if kind != "u":
                _check_counts(arr, kind)
            np.greater(arr, 0, out=self._spiked)
        return self._step(self._spiked)

    def run(
        self, upstream_spikes: ArrayLike, *, return_probabilities: bool = False
    ) -> NDArray[np.uint8] | tuple[NDArray[np.uint8], NDArray[np.float64]]:
        """Stream a chunk of bins at once, continuing (and then advancing) the state.

        Equal to calling :meth:`step` on each row in turn: same spikes from the same rng state and
        ``np.array_equal`` probabilities, computed vectorised over the chunk.

        Parameters
        ----------
        upstream_spikes :
            Shape ``(n_bins, n_upstream)``; any count > 0 is one spike.
        return_probabilities :
            Also return the probabilities.

        Returns
        -------
        downstream_spikes :
            Shape ``(n_bins, n_outputs)``, uint8.
        probabilities :
            Shape ``(n_bins, n_outputs)``, float64; only when ``return_probabilities``.
        """
        spikes = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False)
        if spikes.shape[1] != self.n_upstream:
            raise DataFormatError(
                f"The generator reads {self.n_upstream} upstream neurons; got upstream_spikes of shape "
                f"{spikes.shape}."
            )
        spiked = spikes > 0
        n_bins = len(spiked)
        out = np.empty((n_bins, self.n_outputs), dtype=np.uint8)
        p = np.empty((n_bins, self.n_outputs), dtype=np.float64)
        for start in range(0, n_bins, _BLOCK_BINS):  # results do not depend on the blocks; memory does
            block = slice(start, min(start + _BLOCK_BINS, n_bins))
            p[block] = self.network.probabilities(self._chunk_features(spiked[block]))
            out[block] = self.rng.random(p[block].shape) < p[block]  # row by row: the stream step() draws
        self.last_probabilities = p[-1].copy()
        return (out, p) if return_probabilities else out

    # ------------------------------------------------------------------ internals
    def _step(self, spiked: NDArray[np.bool_]) -> NDArray[np.uint8]:
        """:meth:`step` on validated input: ``spiked`` is bool, shape ``(n_upstream,)``."""
        ages = self._ages
        np.copyto(ages, self._shifted, where=spiked)  # spiked broadcasts over the K slots
        ages += 1
        network, work = self.network, self._work
        if self._direct:  # no standardisation: the float64 table holds the float32 features
            np.take(self._table64, ages, out=self._inputs, mode="clip")
        else:
            if self._table32 is not None:
                np.take(self._table32, ages, out=self._features, mode="clip")
            else:
                self._features[...] = self._features_of(ages)
            network.load(work.features, work)
        p = network.forward(work)[0].astype(np.float64)
        self.n_bins_seen += 1
        self.last_probabilities = p
        return np.less(self.rng.random(self.n_outputs), p).view(np.uint8)

    def _features_of(self, ages: NDArray[np.int64]) -> NDArray[np.float32]:
        """``exp(-age / time_constant)`` as float32, the same shape as ``ages``."""
        if self._table32 is not None:
            return np.take(self._table32, ages, mode="clip")
        with np.errstate(under="ignore"):  # the operations of last_spikes_exponential
            return np.exp(-ages / self.time_constant).astype(np.float32)

    def _chunk_features(self, spiked: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Slot-major features of every bin of a chunk, ``(n_bins, n_features)``; advances the state."""
        n_bins, k_max = len(spiked), self.n_spikes
        t0 = self.n_bins_seen  # absolute index of the chunk's first bin
        bins = t0 + np.arange(n_bins)
        ages = np.full((n_bins, k_max, self.n_upstream), _NEVER, dtype=np.int64)
        for c in range(self.n_upstream):
            old_ages = self._ages[:, c][self._ages[:, c] < _NEVER]  # most recent first
            old = (t0 - 1) - old_ages[::-1]  # absolute bins of earlier spikes, ascending
            times = np.concatenate([old, t0 + np.flatnonzero(spiked[:, c])])
            last = np.searchsorted(times, bins, side="right") - 1
            for k in range(k_max):
                idx = last - k
                ok = idx >= 0
                ages[ok, k, c] = bins[ok] - times[idx[ok]]
            recent = times[::-1][:k_max]
            self._ages[:, c] = _NEVER
            self._ages[: len(recent), c] = bins[-1] - recent
        self.n_bins_seen += n_bins
        return self._features_of(ages).reshape(n_bins, self.n_features)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_upstream={self.n_upstream}, n_hidden={self.n_hidden}, "
            f"n_outputs={self.n_outputs}, n_spikes={self.n_spikes}, time_constant={self.time_constant}, "
            f"n_bins_seen={self.n_bins_seen})"
        )



def _check_counts(arr: NDArray, kind: str) -> None:
    """Raise unless ``arr`` (dtype kind ``kind``, not bool or unsigned) holds whole spike counts >= 0."""
    if kind not in "if":
        raise TypeError(f"`upstream_spikes` must be numeric spike counts; got dtype {arr.dtype}.")
    if kind == "f" and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
        raise DataFormatError(f"`upstream_spikes` must hold whole spike counts; got {arr.tolist()}.")
    if arr.min() < 0:
        raise DataFormatError(f"`upstream_spikes` must be >= 0; got {arr.tolist()}.")
