"""A windowed classifier decoder fitted to recorded downstream spikes (the paper's readout, trained here)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.optimize
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from spikebridge._validation import check_positive_int
from spikebridge.decoders._windows import (
    as_label_vector,
    as_spike_matrix,
    causal_conv,
    check_non_negative_number,
    fitted_attribute,
    history_from_seconds,
    lag_major_to_kernel,
    window_features,
)
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.patternnet import _MATMUL_MIN_NEURONS, causal_conv_matmul
from spikebridge.exceptions import DataFormatError

__all__ = ["WindowClassifierDecoder"]

_KINDS = ("mlp", "logistic")


class WindowClassifierDecoder(SpikeDecoder):
    """Classifier of the behaviour from the current bin and a window of past bins, fitted to spikes.

    At bin ``t`` the input is ``x(t) = [s(t), s(t-1), ..., s(t-H)]`` (each block all neurons in order;
    zeros before the first bin). ``kind="mlp"`` scores ``W2 tanh(W1 x + b1) + b2`` (the paper's decoder,
    one tanh hidden layer); ``kind="logistic"`` scores ``W1 x + b1`` (multinomial logistic regression).
    After :meth:`fit` it is a :class:`SpikeDecoder`: the first layer runs as one causal convolution, so
    the trainer can score batches of generated spikes.

    Parameters
    ----------
    kind :
        ``"mlp"`` or ``"logistic"``.
    n_hidden :
        Hidden tanh units (``"mlp"`` only; the paper used 8 for rat01).
    history_seconds :
        Length of the past window in seconds; ``fit`` sets ``history_bins_ = round(history_seconds /
        bin_size)`` (the paper: 60 bins of 10 ms).
    l2_strength :
        Weight of the L2 penalty ``0.5 * l2_strength * sum(W**2)`` on the weights (not the biases), added
        to the mean cross-entropy over labelled bins. Inputs are standardised during fitting.
    max_iterations :
        Most L-BFGS iterations (:func:`scipy.optimize.minimize`, ``L-BFGS-B``, gradients by torch);
        reaching it gives a ``RuntimeWarning``.
    random_state :
        Seed (int), ``np.random.Generator`` or None, for the initial weights of ``"mlp"`` (``"logistic"``
        starts at zero and is deterministic).

    Attributes
    ----------
    history_bins_, n_neurons_, n_classes_ :
        Past bins read, neurons read, and classes (labels ``1..n_classes_``); also exposed without the
        trailing underscore as the :class:`SpikeDecoder` attributes.
    coefs_ :
        Weights of each layer in the input space of raw spikes (the standardisation folded in),
        ``[W1]`` or ``[W1, W2]``; ``W1`` has shape ``(n_first, (history_bins_ + 1) * n_neurons_)``,
        lag-major, and ``W2`` shape ``(n_classes_, n_hidden)``.
    intercepts_ :
        Biases of each layer, shapes ``(n_first,)`` and ``(n_classes_,)``.
    n_iterations_ :
        L-BFGS iterations run.
    loss_ :
        Final penalised training loss.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> spikes = (rng.random((400, 2)) < 0.3).astype(np.uint8)
    >>> labels = 1 + spikes[:, 0]  # class 2 exactly when neuron 0 fires
    >>> decoder = WindowClassifierDecoder(kind="logistic", history_seconds=0.02).fit(spikes, labels, 0.01)
    >>> decoder.history_bins, bool((decoder.predict(spikes) == labels).all())
    (2, True)
    """

    def __init__(
        self,
        *,
        kind: str = "mlp",
        n_hidden: int = 8,
        history_seconds: float = 0.6,
        l2_strength: float = 1e-2,
        max_iterations: int = 500,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.kind = kind
        self.n_hidden = n_hidden
        self.history_seconds = history_seconds
        self.l2_strength = l2_strength
        self.max_iterations = max_iterations
        self.random_state = random_state

    # ------------------------------------------------------------------ SpikeDecoder attributes
    @property
    def n_neurons(self) -> int:  # type: ignore[override]
        """Neurons read per bin (set by :meth:`fit`)."""
        return self._fitted("n_neurons_")

    @property
    def history_bins(self) -> int:  # type: ignore[override]
        """Past bins read besides the current one (set by :meth:`fit`)."""
        return self._fitted("history_bins_")

    @property
    def n_classes(self) -> int:  # type: ignore[override]
        """Number of behaviour classes (set by :meth:`fit`)."""
        return self._fitted("n_classes_")

    def _fitted(self, name: str) -> int:
        return fitted_attribute(self, name, "fit(spikes, labels, bin_size)")

    # ------------------------------------------------------------------ fitting
    def fit(
        self, spikes: NDArray, labels: NDArray, bin_size: float, *, n_classes: int | None = None
    ) -> "WindowClassifierDecoder":
        """Fit the classifier on the labelled bins.

        Parameters
        ----------
        spikes :
            Recorded spikes of the neurons to read, in decoder-input order, shape ``(n_bins, n_neurons)``.
            Every bin feeds the windows, labelled or not.
        labels :
            Behaviour class per bin, shape ``(n_bins,)``; 0 = not used for fitting (set the labels of
            held-out trials to 0 to fit on training trials only).
        bin_size :
            Bin width in seconds, to turn ``history_seconds`` into bins.
        n_classes :
            Number of behaviour classes (labels ``1..n_classes``); the largest label when None. Pass it
            when the training bins might lack the highest class.

        Returns
        -------
        self :
            The fitted decoder.

        Raises
        ------
        TypeError, ValueError
            On a wrong type or value of a constructor argument or of ``bin_size``.
        spikebridge.exceptions.DataFormatError
            On malformed spikes or labels, or labels of a different length.

        Warns
        -----
        RuntimeWarning
            If L-BFGS stops at ``max_iterations`` (raise it, or raise ``l2_strength``), or a class in
            ``1..n_classes`` has no training bin.

        Notes
        -----
        The windows of the labelled bins are built in memory, ``n_labelled x (history_bins + 1) x
        n_neurons`` float64 values (40 MB for rat01's 20k labelled bins, 2 neurons and 61 bins).
        """
        kind = self._check_params()
        history_bins = history_from_seconds(self.history_seconds, bin_size)
        counts = as_spike_matrix(spikes)
        n_bins, n_neurons = counts.shape
        labels = as_label_vector(labels, n_bins)
        rows = np.flatnonzero(labels > 0)
        if n_classes is None:
            n_classes = int(labels.max())
        else:
            n_classes = check_positive_int(n_classes, "n_classes")
            if labels.max() > n_classes:
                raise DataFormatError(
                    f"`labels` go up to {labels.max()} but n_classes={n_classes}; labels must be in "
                    "0..n_classes."
                )
        missing = sorted(set(range(1, n_classes + 1)) - set(np.unique(labels[rows]).tolist()))
        if missing:
            warnings.warn(
                f"Classes {missing} have no labelled bin; the decoder will rarely output them. Check that "
                "the labels are 1..n_classes and that every class occurs in the training trials.",
                RuntimeWarning, stacklevel=2,
            )
        x = window_features(torch.as_tensor(counts), history_bins, torch.as_tensor(rows))
        target = torch.as_tensor(labels[rows] - 1)
        mean = x.mean(dim=0)
        scale = x.std(dim=0)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        x = (x - mean) / scale
        params = self._initial_params(kind, x.shape[1], n_classes)
        loss, n_iterations = self._minimise(params, x, target, kind)
        # Fold the standardisation into the first layer: W1 (x - m) / s + b1 = (W1 / s) x + (b1 - W1 m / s).
        w1 = params[0].detach() / scale
        b1 = params[1].detach() - w1 @ mean
        self.coefs_ = [w1.numpy()] + ([params[2].detach().numpy()] if kind == "mlp" else [])
        self.intercepts_ = [b1.numpy()] + ([params[3].detach().numpy()] if kind == "mlp" else [])
        self.history_bins_ = history_bins
        self.n_neurons_ = n_neurons
        self.n_classes_ = n_classes
        self.n_iterations_ = n_iterations
        self.loss_ = loss
        self._build()
        return self

    def _check_params(self) -> str:
        if self.kind not in _KINDS:
            raise ValueError(f"`kind` must be one of {_KINDS}. Got kind={self.kind!r} instead.")
        check_positive_int(self.n_hidden, "n_hidden")
        check_positive_int(self.max_iterations, "max_iterations")
        check_non_negative_number(self.l2_strength, "l2_strength")
        rs = self.random_state
        if rs is not None and not isinstance(rs, np.random.Generator) and (
            isinstance(rs, bool) or not isinstance(rs, numbers.Integral)
        ):
            raise TypeError(
                f"`random_state` must be None, an int or a np.random.Generator. Got random_state={rs!r}."
            )
        return self.kind

    def _initial_params(self, kind: str, n_inputs: int, n_classes: int) -> list[torch.Tensor]:
        if kind == "logistic":
            shapes = [(n_classes, n_inputs), (n_classes,)]
            return [torch.zeros(s, dtype=torch.float64) for s in shapes]
        seed = int(np.random.default_rng(self.random_state).integers(2**62))
        generator = torch.Generator().manual_seed(seed)

        def uniform(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
            bound = 1.0 / np.sqrt(fan_in)
            return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

        n_hidden = int(self.n_hidden)
        return [
            uniform((n_hidden, n_inputs), n_inputs), uniform((n_hidden,), n_inputs),
            uniform((n_classes, n_hidden), n_hidden), uniform((n_classes,), n_hidden),
        ]

    def _minimise(
        self, params: list[torch.Tensor], x: torch.Tensor, target: torch.Tensor, kind: str
    ) -> tuple[float, int]:
        """Full-batch L-BFGS (scipy's L-BFGS-B, torch autograd gradients) on the penalised loss.

        Replaces the entries of ``params`` by the solution; returns the final loss and the iteration count.
        """
        l2 = float(self.l2_strength)
        max_iterations = int(self.max_iterations)
        shapes = [p.shape for p in params]
        sizes = [p.numel() for p in params]

        def unpack(flat: NDArray) -> list[torch.Tensor]:
            chunks = torch.split(torch.as_tensor(flat, dtype=torch.float64), sizes)
            return [c.reshape(shape).requires_grad_(True) for c, shape in zip(chunks, shapes)]

        def objective(flat: NDArray) -> tuple[float, NDArray]:
            p = unpack(flat)
            scores = x @ p[0].T + p[1]
            if kind == "mlp":
                scores = torch.tanh(scores) @ p[2].T + p[3]
            loss = F.cross_entropy(scores, target) + 0.5 * l2 * sum((w**2).sum() for w in p[0::2])
            grads = torch.autograd.grad(loss, p)
            return float(loss.detach()), torch.cat([g.reshape(-1) for g in grads]).numpy()

        start = torch.cat([p.detach().reshape(-1) for p in params]).numpy()
        result = scipy.optimize.minimize(
            objective, start, jac=True, method="L-BFGS-B",
            options={"maxiter": max_iterations, "ftol": 1e-6, "gtol": 1e-4},
        )
        if not np.isfinite(result.fun):
            raise RuntimeError(
                f"Fitting {type(self).__name__} diverged (loss {result.fun}). Raise `l2_strength` or check "
                "the spikes."
            )
        if result.nit >= max_iterations:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iterations={max_iterations} L-BFGS "
                f"iterations (loss {result.fun:.4g}). Raise `max_iterations`, raise `l2_strength`, or use "
                "kind='logistic'.",
                RuntimeWarning, stacklevel=3,
            )
        params[:] = [value.detach().clone() for value in unpack(result.x)]
        return float(result.fun), int(result.nit)

    # ------------------------------------------------------------------ decoding
    def _build(self) -> None:
        """Turn the fitted numpy weights into the torch tensors :meth:`_scores` uses."""
        self._kernel = lag_major_to_kernel(self.coefs_[0], self.n_neurons_)
        self._bias1 = torch.tensor(self.intercepts_[0], dtype=torch.float32)
        if len(self.coefs_) == 2:
            self._w2 = torch.tensor(self.coefs_[1], dtype=torch.float32)
            self._b2 = torch.tensor(self.intercepts_[1], dtype=torch.float32)

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        # wide readouts run the convolution as a matrix product (equal up to float rounding, faster)
        wide = self.n_neurons_ >= _MATMUL_MIN_NEURONS and not spikes.requires_grad  # out= has no autograd
        conv = causal_conv_matmul if wide else causal_conv
        first = conv(spikes, self._kernel, self._bias1)  # (batch, n_first, n_bins)
        if len(self.coefs_) == 1:
            return first.transpose(1, 2)
        return torch.einsum("bht,ch->btc", torch.tanh(first), self._w2) + self._b2
