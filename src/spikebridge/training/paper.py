"""The paper's behavioural-RL trainer, as published (Wu et al., Nature Computational Science 2026).

REINFORCE on a staged point-process network: spikes are drawn from a firing-rate prior that fades
over training, each labelled bin is rewarded when the decoder reads the right behaviour (plus an
annealed bonus for rarely decoded classes), credit is a truncated discounted return z-scored over
labelled bins, and the weights take plain gradient-ascent steps. Restarts are the network's replica
axis; the weights of the replica and episode with the highest *training*-batch reward are returned.

The default trainer, :func:`spikebridge.training.reinforce.train_reinforce`, is faster and steadier;
this one exists to reproduce the paper and to compare against it.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from spikebridge._validation import check_positive_int, check_positive_number
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.rewards import correct_reward, exploration_bonus
from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.history import TrainingHistory
from spikebridge.training.returns import discounted_returns, normalize

__all__ = ["PaperReinforceConfig", "firing_rate_prior", "train_reinforce_paper"]


@dataclass(frozen=True)
class PaperReinforceConfig:
    """Settings of the paper's trainer; the defaults are the published ones.

    The number of restarts is not a setting: it is the ``n_replicas`` of the network passed in (the
    paper used 32). With the default ``initial_weights="uniform"`` the trainer redraws that network's
    weights itself, so only its shape matters.
    """

    n_episodes: int = 5000
    """Episodes, one trial batch and one gradient step each; E of the bonus annealing."""
    batch_trials: int = 20
    """Trials per episode (each window already starts with its context bins)."""
    learning_rate_start: float = 1.2
    """Gradient-ascent step size at the first episode."""
    learning_rate_stop: float = 0.5
    """Step size at the last episode; it changes linearly in between."""
    discount: float = 0.98
    """gamma of the return ``G_t = (1/L) sum_{j<L} gamma^j r_{t+j}``."""
    horizon_bins: int = 100
    """L, the bins summed in the return (1 s at 10 ms bins)."""
    prior_spikes: float = 0.2
    """M of the firing-rate prior ``p' = (c p + M) / (c + N)``."""
    prior_bins: float = 1.5
    """N of the firing-rate prior; early in training ``p'`` is close to ``M / N``."""
    exploration_weight: float = 1.0
    """epsilon of the bonus ``epsilon (1 - e/E) (n_max / n_a - 1)`` for rarely decoded classes."""
    reset_interval: int = 100
    """Every this many episodes, outputs whose ``p`` barely varies are re-initialised; 0 = never."""
    reset_min_std: float = 0.01
    """An output is re-initialised when the std of its ``p`` over the batch's bins is below this."""
    initial_weights: str = "uniform"
    """``"uniform"``: before the first episode every weight and bias is redrawn uniformly in [-1, 1] (with
    this config's ``seed``), and re-initialised outputs are redrawn the same way, as in the authors'
    release; ``"network"``: keep the network's own weights and use its ``reset_parameters``."""
    credit_context: bool = False
    """False (the release): unlabelled bins, the context bins included, get ``G = 0`` and so no gradient;
    True: they get the z-scored return of their bin like the labelled ones."""
    selection_window: int = 1
    """Episodes averaged in the selection score of a replica; 1 = the paper's best single batch."""
    seed: int = 0
    """Seed of the batch order, the spike sampling and the output re-initialisations."""

    def __post_init__(self) -> None:
        prefix = "PaperReinforceConfig."
        for name in ("n_episodes", "batch_trials", "horizon_bins", "selection_window"):
            check_positive_int(getattr(self, name), prefix + name)
        check_positive_int(self.reset_interval, prefix + "reset_interval", minimum=0)
        check_positive_int(self.seed, prefix + "seed", minimum=0)
        for name in ("learning_rate_start", "learning_rate_stop", "discount", "prior_bins"):
            check_positive_number(getattr(self, name), prefix + name)
        if self.discount > 1:
            raise ValueError(f"`{prefix}discount` must be in (0, 1]. Got discount={self.discount!r} instead.")
        for name in ("prior_spikes", "exploration_weight", "reset_min_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"`{prefix}{name}` must be a finite number. Got {name}={value!r}.")
            if value < 0:
                raise ValueError(f"`{prefix}{name}` must be >= 0. Got {name}={value!r} instead.")
        if self.initial_weights not in ("uniform", "network"):
            raise ValueError(
                f"`{prefix}initial_weights` must be 'uniform' or 'network'. "
                f"Got initial_weights={self.initial_weights!r} instead."
            )
        if self.prior_spikes > self.prior_bins:
            raise ValueError(
                f"`{prefix}prior_spikes` (M) must not exceed `prior_bins` (N), or the prior's spike "
                f"probability can exceed 1. Got prior_spikes={self.prior_spikes!r}, "
                f"prior_bins={self.prior_bins!r}."
            )
        if self.selection_window > self.n_episodes:
            raise ValueError(
                f"`{prefix}selection_window` must be <= n_episodes, or no episode can be selected. "
                f"Got selection_window={self.selection_window}, n_episodes={self.n_episodes}."
            )

    def learning_rate(self, episode: int) -> float:
        """Step size at 0-based ``episode``: linear from ``learning_rate_start`` to ``learning_rate_stop``."""
        fraction = episode / (self.n_episodes - 1) if self.n_episodes > 1 else 0.0
        return self.learning_rate_start + (self.learning_rate_stop - self.learning_rate_start) * fraction

    def bonus_weight(self, episode: int) -> float:
        """Weight of the exploration bonus, epsilon times the annealing ``1 - episode / n_episodes``."""
        return self.exploration_weight * (1 - episode / self.n_episodes)


def firing_rate_prior(p: torch.Tensor, episode: int, *, m: float = 0.2, n: float = 1.5) -> torch.Tensor:
    """Apply the paper's firing-rate prior, ``p' = (c p + M) / (c + N)``.

    Parameters
    ----------
    p :
        Spike probabilities of the network, shape ``(..., n_bins, n_outputs)`` (e.g.
        ``(n_replicas, n_rows, n_outputs)``).
    episode :
        0-based training episode ``e``.
    m, n :
        M and N of the prior; with a small ``c`` (early training), ``p'`` is close to ``M / N``.

    Returns
    -------
    p_prime :
        Same shape as ``p``; the probabilities spikes are drawn from.

    Notes
    -----
    ``c = max(1e-3, (e + 1) std_t(p))``, with the std (sample std, as MATLAB's ``std``) over the bins
    axis, separately for each output neuron (and replica). ``c`` grows with the episode and with how
    much the network modulates its output, so the prior fades as training goes on: ``p' -> p``.

    Examples
    --------
    >>> p = torch.tensor([[0.2], [0.8]])
    >>> firing_rate_prior(p, episode=0)  # c = std = 0.42: both pulled towards M / N = 0.133
    tensor([[0.1480],
            [0.2803]])
    """
    spread = p.std(dim=-2, keepdim=True) if p.shape[-2] > 1 else torch.zeros_like(p[..., :1, :])
    c = ((episode + 1) * spread).clamp_min(1e-3)
    return (c * p + m) / (c + n)


def train_reinforce_paper(
    network: PointProcessNetwork,
    decoder: SpikeDecoder,
    trials: FlatTrials,
    config: PaperReinforceConfig = PaperReinforceConfig(),
    *,
    callback: Callable[[int, PointProcessNetwork, TrainingHistory], bool | None] | None = None,
) -> tuple[PointProcessNetwork, TrainingHistory]:
    """Train ``network`` with the paper's REINFORCE recipe and return its best restart and episode.

    Each episode: draw ``batch_trials`` trials, compute ``p`` and the prior ``p'``, sample spikes from
    ``p'``, decode them, reward each labelled bin decoded correctly plus the annealed exploration bonus,
    take the discounted return ``G`` within each trial, z-score it with the mean and std of the labelled
    bins (0 at unlabelled bins), and step the weights along ``sum_t G_t (s_t - p'_t) d logit_t / d theta``
    (the Jacobian of the prior is ignored) divided by the number of labelled bins.

    Parameters
    ----------
    network :
        The generator; its outputs are the decoder's inputs, in order. Each replica is one restart, with
        its own initial weights and spike samples but the same trial batches. With the default
        ``config.initial_weights="uniform"`` its weights are first redrawn uniformly in [-1, 1] (see
        Notes), so how it was built (e.g. ``initial_rate``) does not matter. Trained in place: at the end
        it holds every replica's last weights.
    decoder :
        Fixed readout (black box: only its decoded labels are used).
    trials :
        Training trials (features and labels only).
    config :
        Trainer settings.
    callback :
        Called after each episode as ``callback(episode, network, history)``; returning False stops.

    Returns
    -------
    best_network :
        A 1-replica copy of ``network`` holding the weights of the replica and episode with the highest
        training-batch reward (moving average over ``selection_window`` episodes). These are the weights
        that produced that batch, i.e. before that episode's update. No test data is involved.
    history :
        Per episode: ``train/reward`` (fraction of labelled bins decoded correctly, mean over replicas),
        ``train/bonus``, ``train/spike_probability`` (mean ``p'``), ``train/learning_rate``,
        ``train/reset_outputs``, and the selection so far: ``train/best_reward``, ``train/best_replica``,
        ``train/best_episode`` (NaN until ``selection_window`` episodes have run).

    Notes
    -----
    Choices the paper leaves open:

    - **Initial weights** (the choice that decides whether one run learns). The text gives no
      initialisation; the authors' release draws every weight and bias uniformly in [-1, 1], and so do
      we (``initial_weights="uniform"``). On rat01 that network starts with outputs at different mean
      rates and ``std_t(p)`` of about 0.03 (0.0004-0.08 over outputs and restarts), so
      ``c = (e + 1) std_t(p)`` passes N within tens of episodes and the spikes follow ``p`` early. A
      network started flat at ``p = 0.5`` (``PointProcessNetwork``'s ``1/sqrt(fan_in)`` init with
      ``initial_rate=0.5``) has ``std_t(p)`` of about 0.005: for hundreds of episodes the spikes are
      drawn at about ``M/N`` whatever ``p`` is, ``p`` ends near 0.5 when the prior fades, the decoder
      reads one class, and a 5000-episode run on rat01 fold 0 ended at 0.32 test time-bin success
      (training reward ~0.50). With the uniform init one such run scored 0.77, the authors' single-run
      result.
    - ``G`` is z-scored with the mean and std of its labelled bins, separately per replica, and set to
      0 at unlabelled bins (the context bins included), as in the release
      (``credit_context=False``). Giving the context bins the z-scored return too learned more slowly
      on rat01 (0.47 vs 0.72 test success after 1000 episodes).
    - The gradient is a mean over the batch's labelled bins (the release divides by all its bins,
      context included: the same scale up to a constant factor); the learning rate 1.2 -> 0.5 is set
      for that mean.
    - The return is computed within each trial's window (rewards of the next trial in the batch never
      leak into it), and rewards past the window's end count as 0. The bonus counts ``n_a`` over the
      batch's labelled bins and is added before ``G`` is computed and z-scored.
    - ``std_t(p)`` in the prior and in the re-initialisation test is taken over all bins of the batch,
      separately per output neuron (and replica).

    References
    ----------
    Wu et al., A generative spike prediction model using behavioral reinforcement to re-establish neural
    functional connections. Nature Computational Science (2026). doi:10.1038/s43588-025-00915-5
    """
    _check_compatible(network, decoder, trials)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    observations = BernoulliObservations()
    uniform = config.initial_weights == "uniform"
    if uniform:
        _uniform_init(network, generator)
    selection = _BestEpisode(network, config.selection_window)
    history = TrainingHistory()
    start = time.perf_counter()
    for episode in range(config.n_episodes):
        batch = trials.sample_batch(config.batch_trials, rng)                          # 1. data
        labelled = batch.labels > 0
        n_labelled = max(int(labelled.sum()), 1)
        credited = slice(None) if config.credit_context else labelled                 # rows with G != 0
        with torch.no_grad():
            p = network(batch.features)                                              # (R, rows, out)
            p_prime = firing_rate_prior(p, episode, m=config.prior_spikes, n=config.prior_bins)  # 2. prior
            spikes = observations.sample(p_prime, generator)                         # 3. act
            decoded = decoder.decode_torch(spikes)                                   # 4. reward
            correct = correct_reward(decoded, batch.labels)
            bonus = exploration_bonus(decoded, batch.labels, decoder.n_classes, config.bonus_weight(episode))
            batch_reward = correct.sum(dim=-1) / n_labelled                          # (R,)
            selection.update(episode, batch_reward, network)                         # 5. select
            returns = _trial_returns(correct + bonus, batch.trial_index, config.discount, config.horizon_bins)
            advantage = normalize(returns, labelled, dim=-1)                         # 6. credit, per replica
            # minus d loss / d logit of the loss -sum_t G_t log p'(s_t) / n_labelled (prior's Jacobian ignored)
            logit_credit = (spikes - p_prime).mul_(advantage.unsqueeze(-1)).div_(n_labelled)[:, credited]
        logits = network.logits(batch.features[credited])                            # 7. learn
        loss = -(logit_credit * logits).sum()  # same gradient, no graph over uncredited rows
        network.zero_grad(set_to_none=True)
        loss.backward()
        learning_rate = config.learning_rate(episode)
        _gradient_step(network, learning_rate)
        n_reset = 0                                                                  # 8. reset
        if config.reset_interval and (episode + 1) % config.reset_interval == 0:
            n_reset = _reset_flat_outputs(network, p, config.reset_min_std, generator, uniform)
        history.record(                                                              # 9. log
            episode,
            train_reward=float(batch_reward.mean()),
            train_bonus=float(bonus.sum()) / (n_labelled * network.n_replicas),
            train_spike_probability=float(p_prime.mean()),
            train_learning_rate=learning_rate,
            train_reset_outputs=n_reset,
            train_best_reward=selection.best_score,
            train_best_replica=selection.best_replica,
            train_best_episode=selection.best_episode,
        )
        if callback is not None and callback(episode, network, history) is False:
            break
    history.seconds = time.perf_counter() - start
    return selection.best_network(), history


# ---------------------------------------------------------------------------------------- helpers
def _check_compatible(network: PointProcessNetwork, decoder: SpikeDecoder, trials: FlatTrials) -> None:
    if network.n_outputs != decoder.n_neurons:
        raise ValueError(
            f"The generator has {network.n_outputs} outputs but the decoder reads {decoder.n_neurons} "
            "neurons; build the generator with n_outputs=decoder.n_neurons."
        )
    if trials.features.shape[-1] != network.n_features:
        raise ValueError(
            f"The trials have {trials.features.shape[-1]} features per bin but the generator expects "
            f"{network.n_features}; build it with n_features=trials.features.shape[1]."
        )
    if not bool((trials.labels > 0).any()):
        raise ValueError(
            "The trials have no labelled bins (all labels are 0), so there is no reward to learn from."
        )


def _trial_returns(
    reward: torch.Tensor, trial_index: NDArray[np.int64], discount: float, horizon_bins: int
) -> torch.Tensor:
    """Discounted returns computed within each trial of a flat batch; reward and result ``(..., n_rows)``."""
    trial_index = np.asarray(trial_index)
    n_trials = int(trial_index[-1]) + 1
    starts = np.searchsorted(trial_index, np.arange(n_trials))  # rows of a trial are contiguous, in order
    position = np.arange(len(trial_index)) - starts[trial_index]
    trial, pos = torch.from_numpy(trial_index), torch.from_numpy(position)
    padded = reward.new_zeros(*reward.shape[:-1], n_trials, int(position.max()) + 1)
    padded[..., trial, pos] = reward
    return discounted_returns(padded, discount, horizon_bins)[..., trial, pos]


def _gradient_step(network: nn.Module, learning_rate: float) -> None:
    """Plain SGD on the surrogate loss (gradient ascent on the expected reward); no momentum, no decay."""
    with torch.no_grad():
        for param in network.parameters():
            if param.grad is not None:
                param.sub_(learning_rate * param.grad)


def _uniform(shape: torch.Size, generator: torch.Generator) -> torch.Tensor:
    return 2 * torch.rand(shape, generator=generator) - 1


def _uniform_init(network: PointProcessNetwork, generator: torch.Generator) -> None:
    """Redraw every weight and bias of ``network`` uniformly in [-1, 1], as the authors' release does."""
    with torch.no_grad():
        for param in network.parameters():
            param.copy_(_uniform(param.shape, generator))


def _reset_flat_outputs(
    network: PointProcessNetwork, p: torch.Tensor, min_std: float, generator: torch.Generator, uniform: bool
) -> int:
    """Re-initialise the outputs whose ``p`` ``(R, rows, out)`` has a std below ``min_std``; count them."""
    flat = p.std(dim=1) < min_std if p.shape[1] > 1 else torch.ones(p.shape[0], p.shape[2], dtype=torch.bool)
    if not bool(flat.any()):
        return 0
    if uniform:
        with torch.no_grad():
            mask = flat[:, None, :].to(network.w2.dtype)
            network.w2.copy_(mask * _uniform(network.w2.shape, generator) + (1 - mask) * network.w2)
            network.b2.copy_(mask * _uniform(network.b2.shape, generator) + (1 - mask) * network.b2)
    else:
        network.reset_parameters(generator=generator, outputs=flat)
    return int(flat.sum())


class _BestEpisode:
    """Per replica, the highest selection score so far and a copy of the weights that earned it."""

    def __init__(self, network: PointProcessNetwork, window: int) -> None:
        self.network = network
        self.recent: deque[torch.Tensor] = deque(maxlen=window)
        self.scores = torch.full((network.n_replicas,), -math.inf)
        self.episodes = torch.full((network.n_replicas,), -1, dtype=torch.int64)
        self.weights = {name: param.detach().clone() for name, param in network.named_parameters()}

    def update(self, episode: int, reward: torch.Tensor, network: PointProcessNetwork) -> None:
        """Record this episode's batch reward ``(R,)``, earned by the current (pre-update) weights."""
        self.recent.append(reward.detach().clone())
        if len(self.recent) < self.recent.maxlen:
            return
        score = torch.stack(list(self.recent)).mean(dim=0)
        improved = score > self.scores
        if not bool(improved.any()):
            return
        self.scores = torch.where(improved, score, self.scores)
        self.episodes = torch.where(improved, torch.full_like(self.episodes, episode), self.episodes)
        for name, param in network.named_parameters():
            mask = improved.view(-1, *([1] * (param.dim() - 1)))
            self.weights[name] = torch.where(mask, param.detach(), self.weights[name])

    @property
    def best_replica(self) -> int | float:
        """Replica with the highest score (NaN before any score)."""
        return int(self.scores.argmax()) if bool(torch.isfinite(self.scores).any()) else math.nan

    @property
    def best_score(self) -> float:
        """Highest score over replicas (NaN before any score)."""
        best = float(self.scores.max())
        return best if math.isfinite(best) else math.nan

    @property
    def best_episode(self) -> int | float:
        """Episode of the best replica's best score (NaN before any score)."""
        replica = self.best_replica
        return math.nan if isinstance(replica, float) else int(self.episodes[replica])

    def best_network(self) -> PointProcessNetwork:
        """Copy the network into 1 replica holding the best replica's best weights."""
        replica = self.best_replica
        if isinstance(replica, float):
            warnings.warn(
                "train_reinforce_paper stopped before `selection_window` episodes had run, so no episode "
                "was selected; returning replica 0's last weights. Run more episodes or lower "
                "`selection_window`.",
                RuntimeWarning,
                stacklevel=3,
            )
            weights, replica = {n: p.detach() for n, p in self.network.named_parameters()}, 0
        else:
            weights = self.weights
        best = copy.deepcopy(self.network)
        for name in weights:
            setattr(best, name, nn.Parameter(weights[name][replica : replica + 1].clone()))
        best.n_replicas = 1
        return best
