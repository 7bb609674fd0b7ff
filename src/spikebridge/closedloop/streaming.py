"""A streaming staged point-process generator: one upstream bin in, one bin of downstream spikes out.

:class:`StreamingGenerator` runs the network of a
:class:`~spikebridge.models.generator.StagedPointProcess` bin by bin in plain numpy, keeping the
upstream feature state incrementally, so a closed loop never recomputes the history.

Feature state
-------------
For every upstream neuron the generator keeps the *ages* (bins since) of its last ``K`` spikes in an
integer ``(n_upstream, K)`` array, plus how many of those slots are filled. Each bin every age grows by
one and a neuron that spiked shifts its ages right and puts a 0 in front: O(K) integer work per neuron
and bin, with no drift. The features are then ``exp(-age / time_constant)`` (0 for a spike that has not
happened), computed with the same numpy operations as
:func:`~spikebridge.features.history.last_spikes_exponential`, so the float32 features are **identical**
(``np.array_equal``) to the offline ones. The multiply-decay alternative (keep the features and multiply
them by ``exp(-1 / time_constant)`` every bin) is also O(1) but accumulates one rounding per bin and so
drifts away from the offline float32 values; it is not used.

Probabilities
-------------
If the network standardises its inputs (``input_mean`` and ``input_scale`` in its state), the features
are standardised in float32 exactly as torch does, ``(x - mean) / scale`` (IEEE subtraction and
division are correctly rounded, so this step is bit-identical too). Each layer's pre-activation is
accumulated in float64 from the float32 inputs and weights (every product of two float32 numbers is
exact in float64) and rounded to float32 before the float32 sigmoid.
The result therefore does not depend on the BLAS kernel or on how the stream is cut: :meth:`step` bin by
bin and :meth:`run` on chunks of any size give ``np.array_equal`` probabilities. Against the offline
:meth:`~spikebridge.models.generator.StagedPointProcess.predict_proba`, which accumulates in float32 in
torch (MKL) and uses torch's own float32 ``exp``, they agree to float32 rounding of the network, not
bit for bit: ``np.allclose(streamed, offline, rtol=1e-5, atol=1e-7)`` (observed: max relative
difference about 2e-6).

Spikes
------
Bin ``t`` draws ``u_t = rng.random(n_outputs)`` and emits ``u_t < p_t``. A numpy ``Generator`` fills
``rng.random((n_bins, n_outputs))`` row by row from the same stream, so with the same generator state
the streamed spikes equal the offline ``(rng.random(p.shape) < p)`` of
:meth:`~spikebridge.models.generator.StagedPointProcess.sample` wherever the offline and streamed
probabilities are on the same side of the draw; they can differ only when a draw falls within the
~1e-7 gap between the two probabilities (about 1e-7 per draw), which the tests' seeds do not hit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts
from spikebridge.exceptions import DataFormatError, NotFittedError

__all__ = ["StreamingGenerator"]

_BLOCK_BINS = 4096  # run() works through long chunks in blocks of this many bins


def _sigmoid32_(z: NDArray[np.float32]) -> NDArray[np.float32]:
    """``1 / (1 + exp(-z))`` in float32, in place, composed the way torch's vectorised sigmoid is.

    Call it under ``np.errstate(over="ignore", under="ignore")``: ``exp`` overflows to inf for
    ``z < -88.7`` and the probability is then 0, as in torch (and underflows to 0 for large ``z``: 1).
    """
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += np.float32(1.0)
    np.reciprocal(z, out=z)
    return z


def _as_matrix(value: ArrayLike, name: str) -> NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] == 1:  # PointProcessNetwork keeps a replica axis
        arr = arr[0]
    if arr.ndim != 2 or 0 in arr.shape:
        raise DataFormatError(
            f"`{name}` must be a non-empty matrix of shape (n_in, n_out) (or (1, n_in, n_out)); got "
            f"shape {arr.shape}."
        )
    return _finite32(arr, name)


def _as_bias(value: ArrayLike, name: str, size: int) -> NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.size != size or (arr.ndim > 1 and arr.shape[-1] != size):
        raise DataFormatError(
            f"`{name}` must hold {size} values (shape ({size},), (1, {size}) or (1, 1, {size})) to "
            f"match the weights; got shape {arr.shape}."
        )
    return _finite32(arr.reshape(size), name)


def _finite32(arr: NDArray, name: str) -> NDArray[np.float32]:
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"`{name}` must be a numeric array; got dtype {arr.dtype}.")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"`{name}` has NaN or infinite values (or values beyond float32); the network needs finite "
            "weights."
        )
    return out


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
        if (w1 is None) != (b1 is None):
            raise ValueError("Give both `w1` and `b1` (a network with a hidden layer) or neither (a GLM).")
        w2_ = _as_matrix(w2, "w2")
        if w1 is None:
            self.n_hidden = 0
            n_features = w2_.shape[0]
            self._w1 = self._b1 = self._w1x = None
        else:
            w1_ = _as_matrix(w1, "w1")
            n_features, self.n_hidden = w1_.shape
            if w2_.shape[0] != self.n_hidden:
                raise DataFormatError(
                    f"`w2` must have one row per hidden unit: w1 has {self.n_hidden} hidden units but "
                    f"w2 has shape {w2_.shape}."
                )
            b1_ = _as_bias(b1, "b1", self.n_hidden)
            self._w1, self._b1 = w1_, b1_
            # float64 copies (exact) with the bias as a last row, for inputs that end in a constant 1
            self._w1x = np.vstack([w1_, b1_[None, :]]).astype(np.float64)
        if n_features % self.n_spikes:
            raise DataFormatError(
                f"The network has {n_features} input features, which is not a multiple of "
                f"n_spikes={self.n_spikes}; pass the `n_spikes` the model was built with."
            )
        self.n_features = int(n_features)
        self.n_upstream = self.n_features // self.n_spikes
        self.n_outputs = int(w2_.shape[1])
        self._w2, self._b2 = w2_, _as_bias(b2, "b2", self.n_outputs)
        self._w2x = np.vstack([self._w2, self._b2[None, :]]).astype(np.float64)
        self._input_mean = self._input_scale = None
        if input_mean is not None or input_scale is not None:
            mean = np.zeros(self.n_features) if input_mean is None else input_mean
            scale = np.ones(self.n_features) if input_scale is None else input_scale
            self._input_mean = _as_bias(mean, "input_mean", self.n_features)
            self._input_scale = _as_bias(scale, "input_scale", self.n_features)
            if np.any(self._input_scale == 0):
                raise ValueError("`input_scale` must be non-zero everywhere (constant features use scale 1).")
        self._slots = np.arange(self.n_spikes)
        shape = (self.n_upstream, self.n_spikes)
        self._buf = {  # preallocated work arrays of step()
            "neg_ages": np.empty(shape, np.int64), "shifted": np.zeros(shape, np.int64),
            "valid": np.zeros(shape, bool), "exp": np.empty(shape, np.float64),
            "features": np.empty(self.n_features, np.float32), "x": np.ones(self.n_features + 1),
            "z1": np.empty(self.n_hidden), "h": np.ones(self.n_hidden + 1),
        }
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
        self._ages = np.zeros((self.n_upstream, self.n_spikes), dtype=np.int64)
        self._n_seen = np.zeros(self.n_upstream, dtype=np.int64)
        # 1.0 where a slot holds a spike, else 0.0
        self._valid = np.zeros((self.n_upstream, self.n_spikes), dtype=np.float64)
        self.n_bins_seen = 0
        self.last_probabilities: NDArray[np.float64] | None = None

    @property
    def current_features(self) -> NDArray[np.float32]:
        """Features of the last processed bin, ``(n_upstream * n_spikes,)``, float32, unstandardised."""
        if self.n_bins_seen == 0:
            return np.zeros(self.n_features, dtype=np.float32)
        return self._features_from_ages(self._ages, self._slots[None, :] < self._n_seen[:, None]).reshape(-1)

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
        return self._step(self._check_bin(upstream_spikes))

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
            p[block] = self._probabilities(self._chunk_features(spiked[block]))
            out[block] = self.rng.random(p[block].shape) < p[block]  # row by row: the stream step() draws
        self.last_probabilities = p[-1].copy()
        return (out, p) if return_probabilities else out

    # ------------------------------------------------------------------ internals
    def _check_bin(self, upstream_spikes: ArrayLike) -> NDArray[np.bool_]:
        arr = np.asarray(upstream_spikes)
        if arr.shape != (self.n_upstream,):
            raise DataFormatError(
                f"One bin of upstream spikes must have shape ({self.n_upstream},); got shape {arr.shape}. "
                "Use `run` for several bins at once."
            )
        kind = arr.dtype.kind
        if kind == "b":
            return arr
        if kind not in "iuf":
            raise TypeError(f"`upstream_spikes` must be numeric spike counts; got dtype {arr.dtype}.")
        if kind == "f" and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
            raise DataFormatError(f"`upstream_spikes` must hold whole spike counts; got {arr.tolist()}.")
        if kind != "u" and arr.min() < 0:
            raise DataFormatError(f"`upstream_spikes` must be >= 0; got {arr.tolist()}.")
        return arr > 0

    def _step(self, spiked: NDArray[np.bool_]) -> NDArray[np.uint8]:
        ages, buf = self._ages, self._buf
        ages += 1
        if spiked.any():  # shift the ages of the neurons that fired and put a 0 in front
            shifted = buf["shifted"]
            shifted[:, 1:] = ages[:, :-1]
            np.copyto(ages, shifted, where=spiked[:, None])
            self._n_seen += spiked
            np.minimum(self._n_seen, self.n_spikes, out=self._n_seen)
            np.less(self._slots, self._n_seen[:, None], out=buf["valid"])
            np.copyto(self._valid, buf["valid"])
        self.n_bins_seen += 1
        # features as last_spikes_exponential computes them: exp(-lag / time_constant), cast to float32
        np.negative(ages, out=buf["neg_ages"])
        np.true_divide(buf["neg_ages"], self.time_constant, out=buf["exp"])
        np.exp(buf["exp"], out=buf["exp"])
        buf["exp"] *= self._valid  # x * 1.0 == x, x * 0.0 == 0: the same as np.where(valid, x, 0)
        features = buf["features"]
        np.copyto(features, buf["exp"].reshape(-1), casting="same_kind")
        if self._input_mean is not None:
            features -= self._input_mean
            features /= self._input_scale
        x = buf["x"]
        np.copyto(x[:-1], features)  # float32 -> float64 is exact; x[-1] == 1 carries the bias
        with np.errstate(over="ignore", under="ignore"):
            if self._w1 is not None:
                np.matmul(x, self._w1x, out=buf["z1"])
                h32 = _sigmoid32_(buf["z1"].astype(np.float32))
                np.copyto(buf["h"][:-1], h32)
                x = buf["h"]
            p = _sigmoid32_((x @ self._w2x).astype(np.float32)).astype(np.float64)
        self.last_probabilities = p
        return (self.rng.random(self.n_outputs) < p).astype(np.uint8)

    def _features_from_ages(self, ages: NDArray[np.int64], valid: NDArray[np.bool_]) -> NDArray[np.float32]:
        # the operations of last_spikes_exponential: exp(-lag / time_constant) in float64, cast to float32
        return np.where(valid, np.exp(-ages / self.time_constant), 0.0).astype(np.float32)

    def _chunk_features(self, spiked: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Features of every bin of a chunk, shape ``(n_bins, n_features)``; advances the state to its end."""
        n_bins, k_max = len(spiked), self.n_spikes
        t0 = self.n_bins_seen  # absolute index of the chunk's first bin
        t_prev = t0 - 1
        bins = t0 + np.arange(n_bins)
        ages = np.zeros((n_bins, self.n_upstream, k_max), dtype=np.int64)
        valid = np.zeros((n_bins, self.n_upstream, k_max), dtype=bool)
        for c in range(self.n_upstream):
            n_old = int(self._n_seen[c])
            old = t_prev - self._ages[c, :n_old][::-1]  # absolute bins of earlier spikes, ascending
            times = np.concatenate([old, t0 + np.flatnonzero(spiked[:, c])])
            last = np.searchsorted(times, bins, side="right") - 1
            for k in range(k_max):
                idx = last - k
                ok = idx >= 0
                ages[ok, c, k] = bins[ok] - times[idx[ok]]
                valid[:, c, k] = ok
            recent = times[::-1][:k_max]
            self._n_seen[c] = len(recent)
            self._ages[c, : len(recent)] = bins[-1] - recent
            self._valid[c] = self._slots < len(recent)
        self.n_bins_seen += n_bins
        return self._features_from_ages(ages, valid).reshape(n_bins, self.n_features)

    def _probabilities(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """Probabilities of a chunk, ``(n_bins, n_outputs)``, float32; the arithmetic of :meth:`_step`."""
        if self._input_mean is not None:
            features = (features - self._input_mean) / self._input_scale
        ones = np.ones((len(features), 1))
        x = np.hstack([features.astype(np.float64), ones])
        with np.errstate(over="ignore", under="ignore"):
            if self._w1 is not None:
                x = np.hstack([_sigmoid32_((x @ self._w1x).astype(np.float32)).astype(np.float64), ones])
            return _sigmoid32_((x @ self._w2x).astype(np.float32))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n_upstream={self.n_upstream}, n_hidden={self.n_hidden}, "
            f"n_outputs={self.n_outputs}, n_spikes={self.n_spikes}, time_constant={self.time_constant}, "
            f"n_bins_seen={self.n_bins_seen})"
        )

