"""The exact numpy forward pass of a trained staged point-process network (:class:`NumpyNetwork`).

Every output is defined element by element from exact arithmetic, so a row's probabilities do not depend
on the other rows, on BLAS or on the summation order.
:meth:`~spikebridge.models.generator.StagedPointProcess.predict_proba` and the streaming generator
(:class:`~spikebridge.closedloop.StreamingGenerator`) both run it, so streamed and offline probabilities
are bit-identical.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from spikebridge.exceptions import DataFormatError

__all__ = ["NumpyNetwork"]

_BLOCK_ROWS = 4096  # NumpyNetwork.probabilities works through long inputs in blocks of this many rows
_UNIT_ROUNDOFF = 2.0**-53  # float64
_SATURATION = 87.0  # |pre-activation| below this: the float32 sigmoid neither overflows nor underflows


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


def _as_matrix(value: ArrayLike, name: str) -> NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.ndim == 3 and arr.shape[0] == 1:  # PointProcessNetwork keeps a replica axis
        arr = arr[0]
    if arr.ndim != 2 or 0 in arr.shape:
        raise DataFormatError(
            f"`{name}` must be a non-empty matrix of shape (n_in, n_out) (or (1, n_in, n_out)); got shape "
            f"{arr.shape}."
        )
    return _finite32(arr, name)


def _as_vector(value: ArrayLike, name: str, size: int) -> NDArray[np.float32]:
    arr = np.asarray(value)
    if arr.size != size or (arr.ndim > 1 and arr.shape[-1] != size):
        raise DataFormatError(
            f"`{name}` must hold {size} values (shape ({size},), (1, {size}) or (1, 1, {size})) to match the "
            f"weights; got shape {arr.shape}."
        )
    return _finite32(arr.reshape(size), name)


class _Layer(NamedTuple):
    weights: NDArray[np.float64]  # (n_in, n_out), float32 values
    bias: NDArray[np.float64]  # (n_out,), float32 values
    bracket: NDArray[np.float64]  # (n_in + 1, 2 n_out): [[W, W], [b - bound, b + bound]] for inputs [x, 1]
    saturable: bool  # some |pre-activation| may reach _SATURATION


def _layer(weights: NDArray[np.float32], bias: NDArray[np.float32], input_bound: NDArray[np.float64],
           ) -> _Layer:
    """A layer whose inputs satisfy ``|x_k| <= input_bound[k]``, with its float64 rounding-error bound."""
    w, b = weights.astype(np.float64), bias.astype(np.float64)
    magnitude = input_bound @ np.abs(w) + np.abs(b)  # >= sum_k |x_k w_kj| + |b_j|
    # any float64 evaluation of [x, 1] @ [w; b -/+ bound] is within bound of the exact x @ w + b -/+ bound
    bound = 2.0 * (len(w) + 4) * _UNIT_ROUNDOFF * magnitude
    bracket = np.block([[w, w], [b - bound, b + bound]])
    return _Layer(np.ascontiguousarray(w), b, bracket, bool(np.any(magnitude >= _SATURATION)))


def _exact_round32(inputs: NDArray[np.float64], weights: NDArray[np.float64], bias: float) -> np.float32:
    """The float32 nearest to the exact ``inputs @ weights + bias`` (ties to even), for float32 values.

    Each product of two float32 numbers is exact in float64, ``math.fsum`` rounds their exact sum once
    to float64, and rounding that to float32 is right unless it lies exactly halfway between two float32
    numbers, which exact rational arithmetic then settles.
    """
    terms = (inputs * weights).tolist()
    terms.append(float(bias))
    total = math.fsum(terms)
    nearest = np.float32(total)
    if float(nearest) != total and math.isfinite(total):
        other = np.nextafter(nearest, np.float32(math.copysign(math.inf, total - float(nearest))))
        if (float(nearest) + float(other)) * 0.5 == total:  # a float32 tie: which side is the exact sum on?
            exact = sum(map(Fraction, terms), Fraction(0))
            if exact != total:
                nearest = max(nearest, other) if exact > total else min(nearest, other)
    return nearest


class _Workspace:
    """Preallocated arrays of one :meth:`NumpyNetwork.forward` over ``n_rows`` rows."""

    def __init__(self, network: "NumpyNetwork", n_rows: int) -> None:
        self.n_rows = n_rows
        self.augmented = np.ones((n_rows, network.n_features + 1))  # [inputs, 1]
        self.inputs = self.augmented[:, :-1]  # the (standardised) features, float32 values in float64
        self.features = np.empty((n_rows, network.n_features), np.float32)
        self.pre = [np.empty((n_rows, 2, len(layer.bias))) for layer in network.layers]  # z -/+ bound
        self.rounded = [np.empty((n_rows, 2, len(layer.bias)), np.float32) for layer in network.layers]
        self.pre_flat = [pre.reshape(n_rows, -1) for pre in self.pre]
        self.low = [rounded[:, 0] for rounded in self.rounded]  # (n_rows, n_units) each
        self.high = [rounded[:, 1] for rounded in self.rounded]
        self.hidden_augmented = np.ones((n_rows, network.n_hidden + 1))
        self.hidden = self.hidden_augmented[:, :-1]


class NumpyNetwork:
    """A trained staged point-process network in numpy, whose outputs do not depend on how rows are batched.

    ``x = (f - input_mean) / input_scale`` in float32 (``f``: features in [0, 1]),
    ``h = sigmoid(R(x W1 + b1))``, ``p = sigmoid(R(h W2 + b2))`` (a GLM: ``p = sigmoid(R(x W2 + b2))``), where
    ``R(.)`` is the float32 nearest to the *exact* value of the affine map (ties to even) and ``sigmoid``
    is :func:`scipy.special.expit` in float32 (one scalar ``expf`` per element). Every value is therefore
    a function of its own row alone: one row computed alone equals the same row in a matrix of any
    size, whatever BLAS kernel, summation order or blocking numpy picks. This is the forward pass of
    :meth:`StagedPointProcess.predict_proba` and of the streaming generator.

    Parameters
    ----------
    w1 :
        Input weights, shape ``(n_features, n_hidden)`` (a leading replica axis of length 1 is dropped),
        or None for a GLM.
    b1 :
        Hidden biases, ``n_hidden`` values, or None for a GLM.
    w2 :
        Output weights, shape ``(n_hidden, n_outputs)``, or ``(n_features, n_outputs)`` for a GLM.
    b2 :
        Output biases, ``n_outputs`` values.
    input_mean, input_scale :
        Input standardisation, ``n_features`` values each, or None (no standardisation; a mean of 0 and
        scale of 1 is the same and skipped).

    Attributes
    ----------
    n_features, n_hidden, n_outputs : int
        Sizes (``n_hidden = 0`` for a GLM).
    layers : tuple of _Layer
        Float64 copies of the float32 weights and biases, with their rounding-error bounds.
    n_exact : int
        Pre-activations settled by exact arithmetic so far (see Notes).

    Notes
    -----
    ``R(z)`` comes from one float64 BLAS product per layer, ``[x, 1] @ [[W, W], [b - bound, b + bound]]``.
    Every product of two float32 numbers is exact in float64, so each float64 result is within
    ``2 (n_in + 4) 2^-53 (sum_k |x_k w_k| + |b|) =: bound`` of its exact value for any summation order (the
    sum is bounded a priori from ``|f| <= 1`` and ``0 <= h <= 1``): the first lies below the exact ``z``,
    the second above. When they round to the same float32, that float32 is ``R(z)`` (rounding is
    monotonic). Otherwise (about one pre-activation in 10^4 to 10^5) it is recomputed exactly
    (:func:`math.fsum`, and :class:`fractions.Fraction` for a float32 tie).
    """

    def __init__(
        self,
        w1: ArrayLike | None,
        b1: ArrayLike | None,
        w2: ArrayLike,
        b2: ArrayLike,
        *,
        input_mean: ArrayLike | None = None,
        input_scale: ArrayLike | None = None,
    ) -> None:
        if (w1 is None) != (b1 is None):
            raise ValueError("Give both `w1` and `b1` (a network with a hidden layer) or neither (a GLM).")
        w2_ = _as_matrix(w2, "w2")
        if w1 is None:
            self.n_hidden, n_features, w1_, b1_ = 0, w2_.shape[0], None, None
        else:
            w1_ = _as_matrix(w1, "w1")
            n_features, self.n_hidden = w1_.shape
            if w2_.shape[0] != self.n_hidden:
                raise DataFormatError(
                    f"`w2` must have one row per hidden unit: w1 has {self.n_hidden} hidden units but w2 has "
                    f"shape {w2_.shape}."
                )
            b1_ = _as_vector(b1, "b1", self.n_hidden)
        self.n_features, self.n_outputs = int(n_features), int(w2_.shape[1])
        b2_ = _as_vector(b2, "b2", self.n_outputs)
        self.input_mean = self.input_scale = None
        input_bound = np.ones(self.n_features)  # the features lie in [0, 1]
        if input_mean is not None or input_scale is not None:
            mean = _as_vector(np.zeros(n_features) if input_mean is None else input_mean, "input_mean",
                              n_features)
            scale = _as_vector(np.ones(n_features) if input_scale is None else input_scale, "input_scale",
                               n_features)
            if np.any(scale == 0):
                raise ValueError("`input_scale` must be non-zero everywhere (constant features use scale 1).")
            if np.any(mean != 0) or np.any(scale != 1):  # else (f - 0) / 1 == f: skip it
                self.input_mean, self.input_scale = mean, scale
                # float32 subtraction and division are monotonic in f: the extremes are at f = 0 and f = 1
                ends = (np.array([[0.0], [1.0]], np.float32) - mean) / scale
                input_bound = np.abs(ends).max(axis=0).astype(np.float64)
        self._float32 = (w1_, b1_, w2_, b2_, self.input_mean, self.input_scale)
        if w1_ is None:
            self.layers: tuple[_Layer, ...] = (_layer(w2_, b2_, input_bound),)
        else:
            self.layers = (_layer(w1_, b1_, input_bound), _layer(w2_, b2_, np.ones(self.n_hidden)))
        self.n_exact = 0

    @classmethod
    def from_network(cls, network: object) -> "NumpyNetwork":
        """Copy the weights and input standardisation of a one-replica ``PointProcessNetwork``."""
        if network.n_replicas != 1:
            raise ValueError(f"The network holds {network.n_replicas} replicas; use one replica at a time.")
        params = {name: value.detach().cpu().numpy().copy() for name, value in network.state_dict().items()}
        return cls(params.get("w1"), params.get("b1"), params["w2"], params["b2"],
                   input_mean=params.get("input_mean"), input_scale=params.get("input_scale"))

    def reorder_inputs(self, order: NDArray[np.intp]) -> "NumpyNetwork":
        """The same network reading its features in another order: input ``j`` is this network's ``order[j]``.

        The exact pre-activations do not depend on the order of the terms, so the probabilities are the
        same bits for features permuted the same way.
        """
        w1, b1, w2, b2, mean, scale = self._float32
        if w1 is None:
            w2 = w2[order]
        else:
            w1 = w1[order]
        return NumpyNetwork(w1, b1, w2, b2, input_mean=None if mean is None else mean[order],
                            input_scale=None if scale is None else scale[order])

    def probabilities(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """Spike probabilities of every row.

        Parameters
        ----------
        features :
            Upstream features, shape ``(n_rows, n_features)``, float32, in [0, 1].

        Returns
        -------
        probabilities :
            Shape ``(n_rows, n_outputs)``, float64 (holding float32 values).
        """
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.n_features or features.dtype != np.float32:
            raise DataFormatError(
                f"`features` must be a float32 matrix of shape (n_rows, {self.n_features}); got "
                f"{features.dtype} of shape {features.shape}."
            )
        if features.size and not (features.min() >= 0 and features.max() <= 1):
            raise ValueError("`features` must lie in [0, 1] (last-K exponential features do).")
        out = np.empty((len(features), self.n_outputs))
        work = None
        for start in range(0, len(features), _BLOCK_ROWS):
            block = features[start : start + _BLOCK_ROWS]
            if work is None or work.n_rows != len(block):
                work = self.workspace(len(block))
            self.load(block, work)
            out[start : start + len(block)] = self.forward(work)
        return out

    def workspace(self, n_rows: int) -> _Workspace:
        """Preallocated arrays for :meth:`load` and :meth:`forward` on ``n_rows`` rows."""
        return _Workspace(self, n_rows)

    def load(self, features: NDArray[np.float32], work: _Workspace) -> None:
        """Standardise ``features`` ``(n_rows, n_features)`` (float32, in [0, 1]) into ``work.inputs``."""
        if self.input_mean is None:
            np.copyto(work.inputs, features)
        else:
            np.subtract(features, self.input_mean, out=work.features)
            np.divide(work.features, self.input_scale, out=work.inputs)  # float32 division, stored exactly

    def forward(self, work: _Workspace) -> NDArray[np.float32]:
        """Probabilities of the rows of ``work.inputs``: ``(n_rows, n_outputs)`` float32, a view into work."""
        x = work.augmented
        for i, layer in enumerate(self.layers):
            np.dot(x, layer.bracket, out=work.pre_flat[i])  # z - bound, z + bound
            np.copyto(work.rounded[i], work.pre[i], casting="same_kind")  # to float32
            low, high = work.low[i], work.high[i]
            if low.tobytes() != high.tobytes():
                self._settle(x, layer, low, high)
            if layer.saturable:
                with np.errstate(over="ignore", under="ignore"):
                    expit(low, out=low)
            else:
                expit(low, out=low)
            if i + 1 < len(self.layers):
                np.copyto(work.hidden, low)
                x = work.hidden_augmented
        return low

    def _settle(self, x: NDArray[np.float64], layer: _Layer, low: NDArray[np.float32],
                high: NDArray[np.float32]) -> None:
        """Replace the pre-activations whose float32 rounding the bound leaves open by the exact rounding."""
        n_units = low.shape[1]
        for flat in np.flatnonzero(low.view(np.uint32) != high.view(np.uint32)).tolist():
            row, unit = divmod(flat, n_units)
            low[row, unit] = _exact_round32(x[row, :-1], layer.weights[:, unit], layer.bias[unit])
            self.n_exact += 1
