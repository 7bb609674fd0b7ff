"""Spike generators with the estimator contract: upstream spikes in, downstream probabilities and spikes out.

The probabilities (:meth:`StagedPointProcess.predict_proba`, and so :meth:`~StagedPointProcess.sample`)
come from :class:`~spikebridge.models.numpy_network.NumpyNetwork`, a numpy copy of the trained network
whose every output is defined element by element from exact arithmetic. The streaming generator
(:class:`~spikebridge.closedloop.StreamingGenerator`) runs the same forward pass on one-bin matrices,
so streamed and offline probabilities are bit-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.numpy_network import NumpyNetwork
from spikebridge.models.observations import get_observation_model

__all__ = ["StagedPointProcess", "BernoulliGLM", "NumpyNetwork"]


class StagedPointProcess:
    """The paper's staged point-process generator over last-K exponential upstream features.

    ``x_t`` = :func:`~spikebridge.features.history.last_spikes_exponential` of the upstream spikes,
    ``h_t = sigmoid(W1 x_t + b1)``, ``p_t = sigmoid(W2 h_t + b2)``, ``s_t ~ Bernoulli(p_t)`` per neuron.

    Parameters
    ----------
    n_outputs :
        Generated downstream neurons.
    n_hidden :
        Hidden units (0 gives a GLM; see :class:`BernoulliGLM`).
    n_spikes, time_constant :
        Feature settings (K and the decay time constant in bins).
    initial_rate_hz :
        Initial firing rate of every output in spikes per second.
    observation_model :
        ``"bernoulli"`` (or an instance).
    random_state :
        Seed of the initial weights.

    Attributes
    ----------
    network_ : PointProcessNetwork
        The fitted network (one replica).
    bin_size_ : float
        Bin size the model was built for, in seconds.
    """

    def __init__(
        self,
        *,
        n_outputs: int = 2,
        n_hidden: int = 64,
        n_spikes: int = 5,
        time_constant: float = 150.0,
        initial_rate_hz: float = 10.0,
        observation_model: str = "bernoulli",
        random_state: int | None = None,
    ) -> None:
        self.n_outputs = n_outputs
        self.n_hidden = n_hidden
        self.n_spikes = n_spikes
        self.time_constant = time_constant
        self.initial_rate_hz = initial_rate_hz
        self.observation_model = observation_model
        self.random_state = random_state

    # ------------------------------------------------------------------ building
    def features(self, upstream_spikes: NDArray) -> NDArray[np.float32]:
        """Upstream features, shape ``(n_bins, n_upstream * n_spikes)``."""
        return last_spikes_exponential(upstream_spikes, n_spikes=self.n_spikes, time_constant=self.time_constant)

    def initialize(self, n_upstream: int, bin_size: float) -> "StagedPointProcess":
        """Build fresh weights for ``n_upstream`` upstream neurons at ``bin_size`` seconds; returns self."""
        check_positive_int(self.n_outputs, "n_outputs")
        check_positive_int(self.n_hidden, "n_hidden", minimum=0)
        check_positive_int(n_upstream, "n_upstream")
        bin_size = check_positive_number(bin_size, "bin_size")
        rate = check_positive_number(self.initial_rate_hz, "initial_rate_hz") * bin_size
        if rate >= 1:
            raise ValueError(
                f"initial_rate_hz={self.initial_rate_hz} is >= one spike per bin at bin_size={bin_size}; "
                "lower it or use smaller bins."
            )
        get_observation_model(self.observation_model)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.network_ = PointProcessNetwork(
            n_upstream * self.n_spikes, self.n_outputs, n_hidden=self.n_hidden, initial_rate=rate,
            generator=torch.Generator().manual_seed(seed),
        )
        self.n_upstream_ = int(n_upstream)
        self.bin_size_ = bin_size
        return self

    # ------------------------------------------------------------------ estimator API
    def predict_proba(self, upstream_spikes: NDArray) -> NDArray[np.float64]:
        """Spike probability per bin and output.

        Computed by :class:`NumpyNetwork` (not by the torch network that training uses, which agrees to
        float32 rounding): the value of a bin does not depend on the other bins, on BLAS or on the
        summation order, so :class:`~spikebridge.closedloop.StreamingGenerator` reproduces it bit for bit.

        Parameters
        ----------
        upstream_spikes :
            Shape ``(n_bins, n_upstream)``.

        Returns
        -------
        probabilities :
            Shape ``(n_bins, n_outputs)``, float64 (holding float32 values).
        """
        return self._predict_proba(self._check_upstream(upstream_spikes))

    def sample(self, upstream_spikes: NDArray, rng: np.random.Generator, n_samples: int | None = None) -> NDArray:
        """Bernoulli spikes, shape ``(n_bins, n_outputs)`` or ``(n_samples, n_bins, n_outputs)``, uint8."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"`rng` must be a numpy Generator (np.random.default_rng(seed)); got {type(rng).__name__}.")
        p = self.predict_proba(upstream_spikes)
        shape = p.shape if n_samples is None else (check_positive_int(n_samples, "n_samples"), *p.shape)
        return (rng.random(shape) < p).astype(np.uint8)

    def log_prob(self, upstream_spikes: NDArray, downstream_spikes: NDArray) -> NDArray[np.float64]:
        """``log P(downstream | upstream)`` per bin and neuron, shape ``(n_bins, n_outputs)``."""
        up = self._check_upstream(upstream_spikes)
        down = check_spike_counts(downstream_spikes, "downstream_spikes")
        if down.shape != (len(up), self.n_outputs):
            raise DataFormatError(
                f"downstream_spikes must have shape ({len(up)}, {self.n_outputs}) to match the upstream bins and "
                f"the model's outputs; got {down.shape}."
            )
        with torch.no_grad():
            logits = self.network_.logits(torch.from_numpy(self.features(up)))[0]
            obs = get_observation_model(self.observation_model)
            return obs.log_prob_logits(logits, torch.from_numpy(down.astype(np.float32))).double().numpy()

    def score(self, upstream_spikes: NDArray, downstream_spikes: NDArray) -> float:
        """Mean log-likelihood per bin and neuron (higher is better)."""
        return float(self.log_prob(upstream_spikes, downstream_spikes).mean())

    def _predict_proba(self, upstream: NDArray) -> NDArray[np.float64]:
        return NumpyNetwork.from_network(self.network_).probabilities(self.features(upstream))

    def _check_upstream(self, upstream_spikes: NDArray) -> NDArray:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'initialize' and train it, or 'load' one."
            )
        up = check_spike_counts(upstream_spikes, "upstream_spikes", binary=False)
        if up.shape[1] != self.n_upstream_:
            raise DataFormatError(
                f"The model was built for {self.n_upstream_} upstream neurons; got upstream_spikes with {up.shape[1]}."
            )
        return up

    # ------------------------------------------------------------------ files (no pickle)
    def save(self, path: str | Path) -> Path:
        """Write settings and weights to one ``.npz`` (loaded without unpickling anything)."""
        from spikebridge._io import atomic_save_npz

        self._check_upstream(np.zeros((1, getattr(self, "n_upstream_", 1)), np.uint8))
        meta = {k: getattr(self, k) for k in ("n_outputs", "n_hidden", "n_spikes", "time_constant",
                                               "initial_rate_hz", "observation_model", "random_state")}
        meta.update(kind=type(self).__name__, n_upstream=self.n_upstream_, bin_size=self.bin_size_)
        weights = {f"param_{k}": v.detach().numpy() for k, v in self.network_.state_dict().items()}
        return atomic_save_npz(path, meta=np.array(json.dumps(meta)), **weights)

    @classmethod
    def load(cls, path: str | Path) -> "StagedPointProcess":
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            state = {k[len("param_"):]: torch.from_numpy(data[k]) for k in data.files if k.startswith("param_")}
        kind = meta.pop("kind")
        n_upstream, bin_size = meta.pop("n_upstream"), meta.pop("bin_size")
        model_cls = {"StagedPointProcess": StagedPointProcess, "BernoulliGLM": BernoulliGLM}.get(kind)
        if model_cls is None:
            raise DataFormatError(f"{path} holds a model of unknown kind {kind!r}.")
        model = model_cls(**meta) if model_cls is StagedPointProcess else model_cls(
            **{k: v for k, v in meta.items() if k != "n_hidden"})
        model.initialize(n_upstream, bin_size)
        model.network_.load_state_dict(state)
        return model


class BernoulliGLM(StagedPointProcess):
    """A Bernoulli GLM over the same features: ``p_t = sigmoid(W x_t + b)`` (no hidden layer)."""

    def __init__(
        self,
        *,
        n_outputs: int = 2,
        n_spikes: int = 5,
        time_constant: float = 150.0,
        initial_rate_hz: float = 10.0,
        observation_model: str = "bernoulli",
        random_state: int | None = None,
    ) -> None:
        super().__init__(n_outputs=n_outputs, n_hidden=0, n_spikes=n_spikes, time_constant=time_constant,
                         initial_rate_hz=initial_rate_hz, observation_model=observation_model,
                         random_state=random_state)
