"""Online behavioural learning in a closed loop: update the generator trial by trial as feedback arrives.

:class:`OnlineLearner` couples a generator (a :class:`~spikebridge.models.network.PointProcessNetwork`), a
decoder (the readout of the generated spikes, a black box) and a stream of trials. For each trial it
emits one spike train, learns how the decoded behaviour compares with the intended one at the end of the
trial, and takes a small policy-gradient step. :func:`policy_gradient_step` is that step, the same one the
offline trainer (:func:`~spikebridge.training.reinforce.train_reinforce`) takes on a batch.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.continuous import ContinuousDecoder
from spikebridge.exceptions import DataFormatError
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.dataset import TrialBatch
from spikebridge.training.history import TrainingHistory
from spikebridge.training.objectives import Objective, objective_for
from spikebridge.training.policy_gradient import policy_gradient_step

__all__ = ["OnlineConfig", "OnlineLearner", "TrialOutcome", "policy_gradient_step"]

_OBSERVATIONS = BernoulliObservations()


@dataclass(frozen=True)
class OnlineConfig:
    """Settings of :class:`OnlineLearner` (generic: the same on every dataset)."""

    learning_rate: float = 1e-2
    """Adam step size (as offline: each step sees ``replay_trials + 1`` trials instead of 32, so steps are
    noisier, but smaller ones recovered too slowly from a drifted readout)."""
    n_samples: int = 8
    """Spike trains per trial used for learning: the emitted one and ``n_samples - 1`` counterfactual ones."""
    replay_trials: int = 7
    """Earlier trials (inputs and labels only) kept in a buffer and re-sampled with each update."""
    updates_per_trial: int = 1
    """Policy-gradient steps after each trial."""
    exploration_weight: float = 0.1
    """Constant weight of the bonus for rarely decoded classes (online there is no schedule to anneal it)."""
    reset_std_below: float = 0.01
    """An output whose spike probability varies by less than this (std over the bins of the last
    ``reset_window_trials`` trials) is re-initialised: the paper's rule for dead outputs, which get no
    gradient (0 = never)."""
    reset_window_trials: int = 20
    """Trials over which that std is measured (the paper: a batch of 20 trials); counted anew after resets."""
    seed: int = 0
    """Seed of the emitted and the counterfactual spike sampling (two separate streams)."""

    def __post_init__(self) -> None:
        for name in ("n_samples", "updates_per_trial", "reset_window_trials"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"OnlineConfig.{name} must be a positive integer; got {value!r}.")
        if self.n_samples < 2:
            raise ValueError(
                f"OnlineConfig.n_samples must be >= 2 (the leave-one-out baseline needs the emitted spike "
                f"train and at least one counterfactual one); got {self.n_samples}."
            )
        replay = self.replay_trials
        if not isinstance(replay, int) or isinstance(replay, bool) or replay < 0:
            raise ValueError(f"OnlineConfig.replay_trials must be an integer >= 0; got {replay!r}.")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"OnlineConfig.learning_rate must be > 0; got {self.learning_rate!r}.")
        if not (self.exploration_weight >= 0 and math.isfinite(self.exploration_weight)):
            raise ValueError(
                f"OnlineConfig.exploration_weight must be >= 0; got {self.exploration_weight!r}."
            )
        if not 0 <= self.reset_std_below < 0.5:
            raise ValueError(
                f"OnlineConfig.reset_std_below must be in [0, 0.5) (0 = never); got {self.reset_std_below!r}."
            )


@dataclass(frozen=True)
class TrialOutcome:
    """What happened in one closed-loop trial.

    Attributes
    ----------
    spikes : ndarray
        The emitted spikes, shape ``(n_bins, n_outputs)``, uint8.
    decoded : ndarray
        The decoder's reading of them: labels ``(n_bins,)`` for a class decoder, values
        ``(n_bins, n_behavior_dims)`` for a continuous one.
    reward : ndarray
        Task reward of each bin, shape ``(n_bins,)``, float; 0 on unlabelled bins.
    mean_reward : float
        Mean reward over the labelled bins. For a class decoder this is the trial's time-bin success.
    updated : bool
        Whether the generator took a learning step after this trial.
    """

    spikes: NDArray[np.uint8]
    decoded: NDArray
    reward: NDArray[np.float64]
    mean_reward: float
    updated: bool

    @property
    def success(self) -> float:
        """Time-bin success of the trial (fraction of labelled bins decoded correctly; class decoders)."""
        return self.mean_reward


class OnlineLearner:
    """Generate spikes trial by trial and learn from the decoded behaviour at the end of each trial.

    For every incoming trial (:meth:`process_trial`: the upstream features of its window and the
    intended behaviour per bin, e.g. a recorded session replayed with its labels, or a simulated subject):

    1. **act**: compute the spike probabilities and emit **one** spike train from them (its own random
       stream, so it does not depend on the learning switch);
    2. **feedback**: the decoder reads the emitted spikes; at the end of the trial the per-bin reward
       (1 per labelled bin decoded correctly, for a class decoder) is known;
    3. **learn** (only with ``learning=True``): one or more :func:`policy_gradient_step` on this trial and
       the ``replay_trials`` previous ones, then the trial enters the replay buffer. An output whose
       probability hardly varied over the trial (std < ``reset_std_below``: silent or saturated, so it gets
       no gradient) is re-initialised, as the paper does during offline training.

    **Counterfactual samples.** A real prosthesis observes only the emitted spike train and its decoded
    behaviour. The learning signal here also uses ``n_samples - 1`` extra spike trains per trial that are
    never emitted, each passed through the decoder, exactly like the offline trainer, so that each one's
    baseline is the mean return of the others (leave-one-out). Replayed trials are re-sampled from the
    current network (all ``n_samples`` counterfactual; the buffer stores inputs and labels, not spikes),
    so every update stays on-policy. This needs a decoder that can be queried offline (a model of the
    readout, as here); the emitted spikes always go into the update as sample 0.

    Parameters
    ----------
    network :
        The generator, with one replica; its outputs are the decoder's inputs, in order. Updated in place.
    decoder :
        The readout (class or continuous). It may change between trials (drift): set :attr:`decoder`.
    config :
        Learner settings.
    learning :
        If False the learner only acts and reports (the network's weights never change).

    Attributes
    ----------
    history : TrainingHistory
        Per trial: ``online/reward`` (mean reward per labelled bin of the emitted spikes, the time-bin
        success for a class decoder), ``online/updated`` (1 if a learning step followed) and
        ``online/resets`` (outputs re-initialised after the trial).
    n_trials_seen : int
        Trials processed so far.

    Examples
    --------
    >>> learner = OnlineLearner(network, decoder, OnlineConfig(seed=0))  # doctest: +SKIP
    >>> outcome = learner.process_trial(trial_features, trial_labels)  # doctest: +SKIP
    >>> outcome.success  # doctest: +SKIP
    0.84
    """

    def __init__(
        self,
        network: PointProcessNetwork,
        decoder: SpikeDecoder | ContinuousDecoder,
        config: OnlineConfig = OnlineConfig(),
        *,
        learning: bool = True,
    ) -> None:
        if not isinstance(network, PointProcessNetwork):
            raise TypeError(f"`network` must be a PointProcessNetwork; got {type(network).__name__}.")
        if network.n_replicas != 1:
            raise ValueError(
                f"The online learner drives one generator; got a network with {network.n_replicas} replicas."
            )
        if not isinstance(config, OnlineConfig):
            raise TypeError(f"`config` must be an OnlineConfig; got {type(config).__name__}.")
        self.network = network
        self.config = config
        self.learning = bool(learning)
        self.decoder = decoder
        seeds = np.random.SeedSequence(config.seed).generate_state(2)
        self._emit_generator = torch.Generator().manual_seed(int(seeds[0]))
        self._learn_generator = torch.Generator().manual_seed(int(seeds[1]))
        self.optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
        self._buffer: deque[TrialBatch] = deque(maxlen=config.replay_trials)
        self._recent_probabilities: deque[torch.Tensor] = deque(maxlen=config.reset_window_trials)
        self.history = TrainingHistory()
        self.n_trials_seen = 0

    @property
    def decoder(self) -> SpikeDecoder | ContinuousDecoder:
        """The readout of the generated spikes; assign a new one to model a changed (drifted) readout."""
        return self._decoder

    @decoder.setter
    def decoder(self, decoder: SpikeDecoder | ContinuousDecoder) -> None:
        objective = objective_for(decoder, exploration_weight=self.config.exploration_weight)
        if decoder.n_neurons != self.network.n_outputs:
            raise ValueError(
                f"The generator has {self.network.n_outputs} outputs but the decoder reads "
                f"{decoder.n_neurons} neurons; build the generator with n_outputs=decoder.n_neurons."
            )
        self._decoder, self._objective = decoder, objective

    def process_trial(
        self, features: ArrayLike, labels: ArrayLike, targets: ArrayLike | None = None
    ) -> TrialOutcome:
        """Run one trial: emit spikes, score the decoded behaviour, and (if learning) update the generator.

        Parameters
        ----------
        features :
            Upstream features of the trial window, shape ``(n_bins, n_features)`` (in the units the
            network was trained on; the network applies its own standardisation).
        labels :
            Intended behaviour class per bin, shape ``(n_bins,)``; 0 = unlabelled. The first
            ``decoder.history_bins`` bins must be unlabelled context, so that with the trials laid end to
            end (replay) no labelled bin is decoded from another trial's spikes.
        targets :
            Intended continuous behaviour, ``(n_bins, n_behavior_dims)``, for a continuous decoder.

        Returns
        -------
        outcome :
            The emitted spikes, their decoding, per-bin reward and whether a step was taken.
        """
        trial = self._as_trial(features, labels, targets)
        with torch.no_grad():
            probabilities = torch.sigmoid(self.network.logits(trial.features))[0]
            emitted = _OBSERVATIONS.sample(probabilities, self._emit_generator)
            reward, _ = self._objective.reward(emitted[None, None], trial, 0.0)
            decoded = self._decode(emitted)
        reward = reward[0, 0].double().numpy()
        labelled = trial.labels.numpy() > 0
        mean_reward = float(reward[labelled].mean())
        updated, n_reset = self.learning, 0
        if self.learning:
            batch = _concatenate([trial, *reversed(self._buffer)])
            for step in range(self.config.updates_per_trial):
                policy_gradient_step(
                    self.network, self.optimizer, self._objective, batch, n_samples=self.config.n_samples,
                    generator=self._learn_generator, observed_spikes=emitted if step == 0 else None,
                )
            if self.config.replay_trials:
                self._buffer.append(trial)
            n_reset = self._reset_dead_outputs(probabilities)
        self.history.record(self.n_trials_seen, online_reward=mean_reward, online_updated=float(updated),
                            online_resets=float(n_reset))
        self.n_trials_seen += 1
        return TrialOutcome(emitted.numpy().astype(np.uint8), decoded, reward, mean_reward, updated)

    # ------------------------------------------------------------------ internals
    def _reset_dead_outputs(self, probabilities: torch.Tensor) -> int:
        """Record this trial's probabilities ``(n_bins, n_outputs)``; re-draw the outputs that stayed flat."""
        recent = self._recent_probabilities
        recent.append(probabilities)
        if self.config.reset_std_below == 0 or len(recent) < recent.maxlen:
            return 0
        dead = torch.cat(list(recent)).std(dim=0) < self.config.reset_std_below
        if not bool(dead.any()):
            return 0
        recent.clear()
        network = self.network
        network.reset_parameters(generator=self._learn_generator, outputs=dead[None])  # then clear Adam's
        keep = (~dead).to(network.w2.dtype)
        for param in (network.w2, network.b2):
            for moment in self.optimizer.state.get(param, {}).values():
                if torch.is_tensor(moment) and moment.shape == param.shape:
                    moment.mul_(keep)
        return int(dead.sum())

    def _decode(self, spikes: torch.Tensor) -> NDArray:
        if isinstance(self._decoder, SpikeDecoder):
            return self._decoder.decode_torch(spikes).numpy().astype(np.int64)
        return self._decoder.predict_torch(spikes).double().numpy()

    def _as_trial(self, features: ArrayLike, labels: ArrayLike, targets: ArrayLike | None) -> TrialBatch:
        x = np.asarray(features, dtype=np.float32)
        y = np.asarray(labels)
        n_features = self.network.n_features
        if x.ndim != 2 or x.shape[1] != n_features:
            raise DataFormatError(
                f"`features` must have shape (n_bins, {n_features}) (the network's inputs); got {x.shape}."
            )
        if y.shape != (len(x),) or y.dtype.kind not in "iu":
            raise DataFormatError(
                f"`labels` must be integer classes of shape ({len(x)},) (one per bin, 0 = unlabelled); got "
                f"shape {y.shape} and dtype {y.dtype}."
            )
        labelled = np.flatnonzero(y > 0)
        if len(labelled) == 0:
            raise ValueError("The trial has no labelled bins (all labels are 0); nothing can be rewarded.")
        history_bins = self._decoder.history_bins
        if labelled[0] < history_bins:
            raise ValueError(
                f"The trial's first labelled bin is bin {labelled[0]}, but the decoder reads {history_bins} "
                f"past bins; start each trial window with >= {history_bins} unlabelled context bins (e.g. "
                "trial_windows(..., context_bins=decoder.history_bins))."
            )
        target = None
        if targets is not None:
            target = torch.as_tensor(np.asarray(targets, dtype=np.float32))
            if target.ndim != 2 or len(target) != len(x):
                raise DataFormatError(
                    f"`targets` must have shape (n_bins, n_behavior_dims) with n_bins={len(x)}; got "
                    f"{tuple(target.shape)}."
                )
        return TrialBatch(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)),
                          np.zeros(len(x), dtype=np.int64), target)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(learning={self.learning}, n_trials_seen={self.n_trials_seen}, "
                f"config={self.config})")


def _concatenate(trials: list[TrialBatch]) -> TrialBatch:
    """Lay trials end to end (the first one first) as one batch."""
    if len(trials) == 1:
        return trials[0]
    index = np.concatenate([np.full(len(t.labels), k, dtype=np.int64) for k, t in enumerate(trials)])
    targets = None
    if all(t.targets is not None for t in trials):
        targets = torch.cat([t.targets for t in trials])
    features = torch.cat([t.features for t in trials])
    return TrialBatch(features, torch.cat([t.labels for t in trials]), index, targets)
