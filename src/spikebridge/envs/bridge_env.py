"""A Gymnasium environment of the bridge task: one bin of generated spikes per step, rewarded by a decoder."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

try:
    import gymnasium
    from gymnasium import spaces
except ImportError as err:  # pragma: no cover - exercised only without the optional dependency
    raise ImportError(
        "spikebridge.envs needs gymnasium (>= 1.0). Install it with `pip install gymnasium`, or "
        "`pip install spikebridge[baselines]` for gymnasium and stable-baselines3."
    ) from err

from spikebridge.data.recording import Recording
from spikebridge.data.windows import trial_windows
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.patternnet import WindowMLPDecoder
from spikebridge.features.history import last_spikes_exponential
from spikebridge.training.dataset import FlatTrials

__all__ = ["SpikeBridgeEnv"]


class SpikeBridgeEnv(gymnasium.Env):
    """The bridge task as a per-bin reinforcement-learning environment.

    An episode is one training trial window (its context bins, then its labelled bins). At each step
    the agent sees the upstream features of the current bin and emits a binary spike for every
    generated neuron the decoder reads. The decoder reads the spikes emitted so far in this episode
    (the current bin and ``decoder.history_bins`` before it, silent before the episode's first bin) and
    the reward is 1 when it decodes the bin's label, else 0. Unlabelled (context) bins give 0.

    Parameters
    ----------
    features :
        Upstream features per row, shape ``(n_rows, n_features)`` (numpy or torch), or a
        :class:`~spikebridge.training.dataset.FlatTrials`, which supplies features, labels and trial
        bounds (then ``labels``, ``starts`` and ``stops`` must be None).
    labels :
        Behaviour label per row, shape ``(n_rows,)``; 0 = unlabelled, ``1..decoder.n_classes`` = classes.
    starts, stops :
        First row and one past the last row of each trial window, shape ``(n_trials,)`` each, with
        ``0 <= start < stop <= n_rows``.
    decoder :
        The fixed readout. It is evaluated on one bin per step; a
        :class:`~spikebridge.decoders.patternnet.WindowMLPDecoder` runs on a numpy fast path, any other
        :class:`~spikebridge.decoders.base.SpikeDecoder` through :meth:`~SpikeDecoder.scores_torch`.
    render_mode :
        Only None (the environment does not render).

    Attributes
    ----------
    observation_space : gymnasium.spaces.Box
        Shape ``(n_features,)``, float32; per feature, bounded by the range of the given features and 0.
    action_space : gymnasium.spaces.MultiBinary
        ``MultiBinary(decoder.n_neurons)``: one spike (0/1) per generated neuron, in decoder input order.
    n_trials : int
        Number of trial windows an episode is drawn from.

    Notes
    -----
    ``reset`` draws the episode's trial uniformly with the environment's ``np_random`` (seeded by
    ``reset(seed=...)``, as Gymnasium specifies), unless ``options={"trial": k}`` names trial window
    ``k``. The decoder's input history is a ring buffer of the last ``history_bins + 1`` actions, zeroed at
    every reset, so the per-step decoded labels equal ``decoder.predict`` run on the whole episode's
    actions at once. After the last bin the episode terminates (never truncates) and the returned
    observation is all zeros.

    The ``info`` dict of every step holds ``decoded`` (the decoded label of the bin), ``label`` (its
    true label, 0 if unlabelled), ``trial`` (the trial window's position) and ``row`` (the bin's row).

    Examples
    --------
    >>> env = SpikeBridgeEnv(features, labels, starts, stops, decoder=decoder)  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())  # doctest: +SKIP
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        features: ArrayLike | torch.Tensor | FlatTrials,
        labels: ArrayLike | torch.Tensor | None = None,
        starts: ArrayLike | None = None,
        stops: ArrayLike | None = None,
        *,
        decoder: SpikeDecoder,
        render_mode: str | None = None,
    ) -> None:
        if isinstance(features, FlatTrials):
            extra = (("labels", labels), ("starts", starts), ("stops", stops))
            given = [name for name, value in extra if value is not None]
            if given:
                raise TypeError(
                    f"A FlatTrials already holds labels and trial bounds; do not pass {', '.join(given)} "
                    "with it. Pass either SpikeBridgeEnv(flat_trials, decoder=...) or "
                    "SpikeBridgeEnv(features, labels, starts, stops, decoder=...)."
                )
            labels, starts, stops = features.labels, features.starts, features.stops
            features = features.features
        elif labels is None or starts is None or stops is None:
            raise TypeError(
                "SpikeBridgeEnv needs labels, starts and stops along with a features array (or a FlatTrials "
                "in place of all four)."
            )
        if not isinstance(decoder, SpikeDecoder):
            raise TypeError(
                f"`decoder` must be a SpikeDecoder; got an object of type {type(decoder).__name__}."
            )
        if render_mode is not None:
            raise ValueError(
                f"SpikeBridgeEnv does not render; `render_mode` must be None. Got {render_mode!r}."
            )
        self.render_mode = render_mode
        self.decoder = decoder
        self._features = _as_feature_matrix(features)
        n_rows = self._features.shape[0]
        self._labels = _as_labels(labels, n_rows, decoder.n_classes)
        self._starts, self._stops = _as_bounds(starts, stops, n_rows)

        self.n_neurons = int(decoder.n_neurons)
        self.history_bins = int(decoder.history_bins)
        # bounds: the features' own range and 0 (the terminal observation); gymnasium warns on infinite ones
        self.observation_space = spaces.Box(
            low=np.minimum(self._features.min(axis=0), 0.0), high=np.maximum(self._features.max(axis=0), 0.0),
            dtype=np.float32,
        )
        self.action_space = spaces.MultiBinary(self.n_neurons)
        # Ring buffer of the last L = history_bins + 1 actions, stored twice so that the window in time order
        # is always the contiguous slice [pos + 1, pos + 1 + L).
        self._window_len = self.history_bins + 1
        self._buffer = np.zeros((2 * self._window_len, self.n_neurons), dtype=np.float32)
        # exact type: a subclass may override _scores, which the numpy path would not see
        self._fast = _MLPBinDecoder(decoder) if type(decoder) is WindowMLPDecoder else None
        self._trial = -1
        self._row = -1
        self._t = 0

    # ------------------------------------------------------------------ construction from a recording
    @classmethod
    def from_recording(
        cls,
        recording: Recording,
        decoder: SpikeDecoder,
        trials: ArrayLike,
        context_bins: int | None = None,
        *,
        features: NDArray | None = None,
    ) -> "SpikeBridgeEnv":
        """Build the environment on some trials of a recording.

        Parameters
        ----------
        recording :
            The recording; only its upstream spikes, labels and trial ids are read (never downstream spikes).
        decoder :
            The fixed readout.
        trials :
            Trial ids to draw episodes from, e.g. a fold's training trials, shape ``(n_trials,)``.
        context_bins :
            Unlabelled lead-in bins before each trial's first labelled bin; defaults to
            ``decoder.history_bins``, so the decoder's whole history is generated by the agent.
        features :
            Upstream features ``(recording.n_bins, n_features)``; defaults to the paper's
            :func:`~spikebridge.features.history.last_spikes_exponential` of the upstream spikes.

        Returns
        -------
        env :
            A :class:`SpikeBridgeEnv` over the trial windows, in the order of ``trials``.
        """
        if context_bins is None:
            context_bins = int(decoder.history_bins)
        if not _is_int(context_bins):
            raise TypeError(f"`context_bins` must be an integer. Got context_bins={context_bins!r}.")
        if context_bins < 0:
            raise ValueError(f"`context_bins` must be >= 0. Got context_bins={context_bins!r} instead.")
        if features is None:
            features = last_spikes_exponential(recording.upstream_spikes)
        windows = trial_windows(
            recording.lesioned(), features, np.asarray(trials), context_bins=int(context_bins)
        )
        return cls(FlatTrials(windows), decoder=decoder)

    # ------------------------------------------------------------------ gymnasium API
    @property
    def n_trials(self) -> int:
        """Number of trial windows."""
        return int(len(self._starts))

    @property
    def n_rows(self) -> int:
        """Number of bins (rows) over all trial windows."""
        return int(self._features.shape[0])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode on a random trial window (or ``options["trial"]``); returns ``(obs, info)``."""
        super().reset(seed=seed)
        trial = None if options is None else options.get("trial")
        if trial is None:
            trial = int(self.np_random.integers(self.n_trials))
        elif not _is_int(trial) or not 0 <= trial < self.n_trials:
            raise ValueError(
                f"options['trial'] must be a trial window position 0..{self.n_trials - 1}. "
                f"Got {trial!r} instead."
            )
        self._trial = int(trial)
        self._row = int(self._starts[self._trial])
        self._t = 0
        self._buffer[:] = 0.0
        return self._features[self._row].copy(), {"trial": self._trial, "row": self._row}

    def step(self, action: ArrayLike) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Emit the spikes of the current bin; returns ``(obs, reward, terminated, truncated, info)``."""
        if self._row < 0:
            raise RuntimeError(
                "No episode is running: call reset() before the first step(), and again after an episode "
                "terminates."
            )
        spikes = self._check_action(action)
        pos = self._t % self._window_len
        self._buffer[pos] = spikes
        self._buffer[pos + self._window_len] = spikes
        window = self._buffer[pos + 1 : pos + 1 + self._window_len]  # (L, n_neurons), oldest first
        decoded = self._decode_last(window)
        label = int(self._labels[self._row])
        reward = 1.0 if label > 0 and decoded == label else 0.0
        info = {"decoded": decoded, "label": label, "trial": self._trial, "row": self._row}
        self._row += 1
        self._t += 1
        terminated = self._row >= self._stops[self._trial]
        if terminated:
            obs = np.zeros(self._features.shape[1], dtype=np.float32)
            self._row = -1
        else:
            obs = self._features[self._row].copy()
        return obs, reward, bool(terminated), False, info

    # ------------------------------------------------------------------ helpers
    def _check_action(self, action: ArrayLike) -> NDArray[np.float32]:
        arr = np.asarray(action)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(
                f"The action must be a numeric 0/1 array of shape ({self.n_neurons},); got dtype {arr.dtype}."
            )
        if arr.shape != (self.n_neurons,):
            raise ValueError(
                f"The action must have shape ({self.n_neurons},), one spike per generated neuron the decoder "
                f"reads; got shape {arr.shape}. Pass a single bin's spikes, e.g. env.action_space.sample()."
            )
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"The action must hold spikes 0 or 1 per neuron; got {arr.tolist()}.")
        return arr.astype(np.float32, copy=False)

    def _decode_last(self, window: NDArray[np.float32]) -> int:
        """Decoded label (1..n_classes) of the newest bin of ``window`` ``(history_bins + 1, n_neurons)``."""
        if self._fast is not None:
            return self._fast(window)
        with torch.no_grad():
            scores = self.decoder.scores_torch(torch.from_numpy(window)[None])[0, -1]
        return int(scores.argmax()) + 1


class _MLPBinDecoder:
    """One-bin evaluation of a :class:`WindowMLPDecoder` in numpy (about 10x faster than a torch call).

    Uses the decoder's folded first layer, so it matches ``decoder.decode_torch`` up to float32 rounding.
    """

    def __init__(self, decoder: WindowMLPDecoder) -> None:
        kernel = decoder._kernel.numpy()  # (n_hidden, n_neurons, L); index k multiplies s(t - (L - 1 - k))
        # flattened to match a time-ordered window (L, n_neurons) raveled row-major
        self.w1 = np.ascontiguousarray(kernel.transpose(0, 2, 1).reshape(kernel.shape[0], -1))
        self.b1 = decoder._bias1.numpy().copy()
        self.w2 = decoder._w2.numpy().copy()
        self.b2 = decoder._b2.numpy().copy()

    def __call__(self, window: NDArray[np.float32]) -> int:
        hidden = np.tanh(self.w1 @ window.reshape(-1) + self.b1)
        return int(np.argmax(self.w2 @ hidden + self.b2)) + 1


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_feature_matrix(features: object) -> NDArray[np.float32]:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    arr = np.asarray(features)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`features` must be a numeric array; got dtype {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            "`features` must have shape (n_rows, n_features) with at least one of each; got shape "
            f"{arr.shape}."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("`features` has NaN or infinite values; observations must be finite.")
    return arr


def _as_labels(labels: object, n_rows: int, n_classes: int) -> NDArray[np.int64]:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`labels` must be an integer array; got dtype {arr.dtype}.")
    if arr.shape != (n_rows,):
        raise ValueError(
            f"`labels` must have shape (n_rows,) = ({n_rows},), one per feature row; got {arr.shape}."
        )
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(
            "`labels` must hold whole numbers (0 = unlabelled); it has NaN or fractional values."
        )
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > n_classes):
        raise ValueError(
            f"`labels` must lie in 0..{n_classes} (0 = unlabelled, 1..{n_classes} = the decoder's classes); "
            f"got values from {arr.min()} to {arr.max()}."
        )
    return arr


def _as_bounds(starts: object, stops: object, n_rows: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    starts_arr, stops_arr = np.asarray(starts), np.asarray(stops)
    for name, arr in (("starts", starts_arr), ("stops", stops_arr)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"`{name}` must be an integer array of row indices; got dtype {arr.dtype}.")
    if starts_arr.ndim != 1 or starts_arr.shape != stops_arr.shape or starts_arr.size == 0:
        raise ValueError(
            "`starts` and `stops` must be 1-D arrays of the same length (n_trials >= 1); got shapes "
            f"{starts_arr.shape} and {stops_arr.shape}."
        )
    bad = (starts_arr < 0) | (stops_arr <= starts_arr) | (stops_arr > n_rows)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Each trial window needs 0 <= start < stop <= n_rows = {n_rows}; trial {k} has "
            f"start={int(starts_arr[k])}, stop={int(stops_arr[k])}."
        )
    return starts_arr.astype(np.int64), stops_arr.astype(np.int64)
