"""Adaptation to a new decoder: train against A, swap to B mid-training, and watch success recover.

Compared on the same fold with: SL (fitted to the recordings; it cannot adapt without them), RL trained from
scratch against B, and no adaptation (the A-trained generator read by B).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from spikebridge.data.folds import trial_folds
from spikebridge.data.recording import Recording
from spikebridge.data.windows import trial_windows
from spikebridge.decoders.continuous import ContinuousDecoder
from spikebridge.experiments.reproduce import ReproduceConfig, _evaluate, _sample, resolve_decoder, trial_classes
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from spikebridge.training.supervised import SupervisedConfig, fit_supervised_trials

__all__ = ["AdaptConfig", "run_adapt", "recovery_episodes"]


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of ``spikebridge adapt``."""

    fold: int = 0
    """Which fold of the 5-fold split to use (train on its training trials, score its test trials)."""
    n_folds: int = 5
    """Folds of the split."""
    seed: int = 0
    """Seed of the split, weights and sampling."""
    swap_update: int = 500
    """Updates against decoder A before the swap."""
    after_updates: int = 600
    """Updates against decoder B after the swap."""
    eval_interval: int = 20
    """Updates between held-out checks of the success curve (monitoring only)."""
    n_eval_samples: int = 4
    """Spike trains per check."""
    rl: ReinforceConfig = field(default_factory=ReinforceConfig)
    """Trainer settings (``n_updates`` is replaced by the phases above)."""
    sl: SupervisedConfig = field(default_factory=SupervisedConfig)
    """Supervised baseline settings."""


def recovery_episodes(episodes: list[int], success: list[float], swap: int, fraction: float = 0.95) -> int | None:
    """Updates after ``swap`` until success first reaches ``fraction`` of its final level (mean of the last 5).

    Returns None when it never does.
    """
    episodes_arr, success_arr = np.asarray(episodes), np.asarray(success)
    after = episodes_arr >= swap
    if not after.any():
        return None
    final = success_arr[after][-5:].mean()
    hit = np.flatnonzero(after & (success_arr >= fraction * final))
    return None if len(hit) == 0 else int(episodes_arr[hit[0]] - swap)


def run_adapt(
    recording: Recording,
    decoder_a,
    decoder_b,
    config: AdaptConfig = AdaptConfig(),
    *,
    neurons_b: tuple[int, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train against ``decoder_a``, swap to ``decoder_b``, and compare with the methods that cannot adapt.

    ``decoder_a`` and ``decoder_b`` are decoder objects or SPECs (see ``spikebridge reproduce --decoder``);
    both must read the same number of generated neurons. ``neurons_b`` are the recorded neurons a fitted B
    is fitted on (default: A's), e.g. another pair, so that B reads the generated neurons with another code.
    """
    say = progress or (lambda line: None)
    torch.set_num_threads(1)
    start = time.perf_counter()
    seeds = np.random.SeedSequence([config.seed, 11]).generate_state(8)
    train, test = trial_folds(recording.trials, config.n_folds, config.seed,
                              trial_classes=trial_classes(recording))[config.fold]
    spec_config = ReproduceConfig(seed=config.seed)
    a, neurons_a = resolve_decoder(decoder_a, recording, train, spec_config)
    # a fitted B reads the same recorded neurons as A by default, so the generator's outputs keep their meaning
    chosen = neurons_b if neurons_b is not None else neurons_a
    spec_b = replace(spec_config, decoder_neurons=None if chosen is None else tuple(chosen))
    b, neurons_b = resolve_decoder(decoder_b, recording, train, spec_b)
    if a.n_neurons != b.n_neurons:
        raise ValueError(
            f"Decoder A reads {a.n_neurons} generated neurons and decoder B {b.n_neurons}; a swap needs the same "
            "number (the generator's outputs feed both)."
        )
    features = last_spikes_exponential(recording.upstream_spikes)
    context = max(a.history_bins, b.history_bins)
    lesioned = recording.lesioned()
    train_trials = FlatTrials(trial_windows(lesioned, features, train, context_bins=context))
    test_trials = FlatTrials(trial_windows(lesioned, features, test, context_bins=context))
    key = "velocity_r2" if isinstance(b, ContinuousDecoder) else "time_bin_success"

    def score(network: PointProcessNetwork, decoder) -> float:
        return _evaluate(decoder, _sample(network, test_trials, config.n_eval_samples, int(seeds[0])), test_trials)[key]

    def new_network(seed: int) -> PointProcessNetwork:
        net = PointProcessNetwork(features.shape[1], a.n_neurons, initial_rate=min(10 * recording.bin_size, 0.5),
                                  generator=torch.Generator().manual_seed(seed))
        return net.standardize_inputs(train_trials.features)

    curve: dict[str, list] = {"episodes": [], "success_on_a": [], "success_on_b": []}

    def monitor(offset: int, n_updates: int):
        def callback(update, averaged, history):
            if update % config.eval_interval == 0 or update == n_updates - 1:
                curve["episodes"].append(offset + update)
                curve["success_on_a"].append(score(averaged, a))
                curve["success_on_b"].append(score(averaged, b))
        return callback

    say(f"training against decoder A for {config.swap_update} updates")
    phase_a = replace(config.rl, n_updates=config.swap_update, seed=int(seeds[1]))
    trained_a, _ = train_reinforce(new_network(int(seeds[2])), a, train_trials, phase_a,
                                   callback=monitor(0, config.swap_update))
    no_adaptation = {"on_a": score(trained_a, a), "on_b": score(trained_a, b)}
    say(f"swap to decoder B: A-trained generator scores {no_adaptation['on_b']:.3f} on B; "
        f"adapting for {config.after_updates} updates")
    phase_b = replace(config.rl, n_updates=config.after_updates, seed=int(seeds[3]))
    adapted, _ = train_reinforce(trained_a.requires_grad_(True), b, train_trials, phase_b,
                                 callback=monitor(config.swap_update, config.after_updates))
    say("training against decoder B from scratch, for comparison")
    scratch_curve = {"episodes": [], "success_on_b": []}

    def scratch_monitor(update, averaged, history):
        if update % config.eval_interval == 0 or update == config.swap_update - 1:
            scratch_curve["episodes"].append(update)
            scratch_curve["success_on_b"].append(score(averaged, b))

    scratch, _ = train_reinforce(new_network(int(seeds[4])), b, train_trials,
                                 replace(config.rl, n_updates=config.swap_update, seed=int(seeds[5])),
                                 callback=scratch_monitor)
    table = {
        "rl_adapted": {"on_b": score(adapted, b)},
        "rl_scratch_on_b": {"on_b": score(scratch, b)},
        "no_adaptation": no_adaptation,
    }
    if recording.has_downstream and neurons_a is not None:
        say("fitting SL to the recordings (it keeps that fit after the swap)")
        target = torch.from_numpy(recording.downstream_spikes[train_trials.bins][:, list(neurons_a)].astype(np.float32))
        sl, _ = fit_supervised_trials(new_network(int(seeds[6])), train_trials, target, config.sl, seed=int(seeds[7]))
        table["sl"] = {"on_a": score(sl, a), "on_b": score(sl, b)}
        if neurons_b is not None:
            recorded = recording.downstream_spikes[test_trials.bins][:, list(neurons_b)][None]
            table["recorded_on_b"] = {"on_b": _evaluate(b, recorded, test_trials)[key]}
    recovery = recovery_episodes(curve["episodes"], curve["success_on_b"], config.swap_update)
    return {
        "recording": recording.name,
        "metric": key,
        "decoder_a": str(decoder_a) if isinstance(decoder_a, str) else type(a).__name__,
        "decoder_b": str(decoder_b) if isinstance(decoder_b, str) else type(b).__name__,
        "swap_update": config.swap_update,
        "curve": curve,
        "scratch_curve": scratch_curve,
        "table": table,
        "recovery_episodes": recovery,
        "config": asdict(config),
        "wall_seconds": time.perf_counter() - start,
    }
