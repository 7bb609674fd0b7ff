"""The embedded demo: a simulated healthy subject, its lesion, and a generator that restores its behaviour.

Pipeline: simulate -> fit the healthy decoder on the healthy downstream -> lesion -> train RL from behaviour
alone -> fit SL on the healthy downstream -> evaluate on held-out trials -> write the run folder. The report
is written from the run folder by :func:`spikebridge.report.write_report`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from spikebridge._io import atomic_save_npz, atomic_write_json
from spikebridge.data.folds import trial_folds
from spikebridge.data.recording import Recording
from spikebridge.data.windows import trial_windows
from spikebridge.decoders.continuous import WienerDecoder
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.experiments.biomimicry import biomimicry_summary
from spikebridge.experiments.ceilings import upstream_label_ceiling, upstream_velocity_ceiling
from spikebridge.experiments.reproduce import trial_classes
from spikebridge.features.history import last_spikes_exponential
from spikebridge.metrics.success import time_bin_success, trial_success, velocity_r2
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from spikebridge.training.supervised import SupervisedConfig, fit_supervised_trials

__all__ = ["DemoConfig", "run_demo"]

LEVER_CLASS_NAMES = ("rest", "low press", "high press")


@dataclass(frozen=True)
class DemoConfig:
    """Settings of ``spikebridge demo``."""

    task: str = "lever"
    """Simulated task: ``"lever"`` (rest / low / high press, like the paper's rats) or ``"reach"``."""
    seed: int = 0
    """Seeds the simulated subject, the split, every network and all sampling."""
    n_trials: int = 200
    """Simulated trials; one fifth are held out for testing."""
    n_read: int = 4
    """Downstream neurons the healthy decoder reads (the most informative ones)."""
    n_eval_samples: int = 10
    """Spike trains sampled per held-out trial for scoring."""
    eval_interval: int = 100
    """Updates between held-out checks for the learning curve (monitoring only, never selection)."""
    rl: ReinforceConfig = field(default_factory=ReinforceConfig)
    """Default RL trainer settings."""
    sl: SupervisedConfig = field(default_factory=lambda: SupervisedConfig(n_epochs=300))
    """Supervised baseline settings."""

    def __post_init__(self) -> None:
        if self.task not in ("lever", "reach"):
            raise ValueError(f"DemoConfig.task must be 'lever' or 'reach'; got {self.task!r}.")
        if self.n_read < 1 or self.n_trials < 10:
            raise ValueError("DemoConfig.n_read must be >= 1 and n_trials >= 10.")

    @classmethod
    def quick(cls, **kwargs) -> "DemoConfig":
        """A smoke-test setting: few trials and updates (seconds, not minutes)."""
        base = cls(**kwargs)
        return replace(base, n_trials=min(base.n_trials, 60), eval_interval=20,
                       rl=replace(base.rl, n_updates=60), sl=replace(base.sl, n_epochs=20))


def _simulate(config: DemoConfig):
    from spikebridge.simulate import simulate_lever_task, simulate_reach_task

    if config.task == "lever":
        return simulate_lever_task(n_trials=config.n_trials, seed=config.seed)
    return simulate_reach_task(n_trials=config.n_trials, seed=config.seed)


def _sample(network: PointProcessNetwork, trials: FlatTrials, n_samples: int, seed: int):
    with torch.no_grad():
        p = network(trials.features)[0]
        spikes = torch.rand((n_samples, *p.shape), generator=torch.Generator().manual_seed(seed)) < p
    return spikes.numpy().astype(np.uint8), p.numpy()


def run_demo(
    config: DemoConfig = DemoConfig(),
    *,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict:
    """Run the whole demo and write ``results.json``, ``arrays.npz`` and ``config.json`` into ``out_dir``.

    Returns
    -------
    results :
        The content of ``results.json``.
    """
    say = progress or (lambda line: None)
    start = time.perf_counter()
    torch.set_num_threads(1)
    seeds = np.random.SeedSequence([config.seed, 7]).generate_state(8)
    out_dir = Path(out_dir)

    say(f"[1/6] simulating a healthy {config.task} subject ({config.n_trials} trials)")
    subject = _simulate(config)
    healthy: Recording = subject.recording
    train, test = trial_folds(healthy.trials, 5, config.seed, trial_classes=trial_classes(healthy))[0]
    in_train = np.isin(healthy.trial_ids, train) & healthy.in_trial_labelled

    say(f"[2/6] fitting the healthy decoder on {len(train)} training trials of healthy downstream spikes")
    train_labels = np.where(in_train, healthy.behavior_labels, 0)
    order, information = rank_neurons_by_information(healthy.downstream_spikes, train_labels)
    if config.task == "lever":
        read = np.sort(order[: config.n_read])
        decoder = WindowClassifierDecoder(kind="mlp", random_state=int(seeds[0]) % 2**31)
        decoder.fit(healthy.downstream_spikes[:, read], train_labels, healthy.bin_size)
    else:  # a linear (Wiener) velocity readout of the whole downstream population
        read = np.arange(healthy.n_downstream)
        decoder = WienerDecoder().fit(healthy.downstream_spikes, healthy.behavior_continuous, healthy.bin_size,
                                      mask=in_train)
    healthy = replace(healthy, decoder_neurons=tuple(int(i) for i in read),
                      decoder_history_bins=decoder.history_bins)

    say("[3/6] lesion: downstream spikes removed; the generator sees upstream spikes and behaviour only")
    lesioned = healthy.lesioned()
    features = last_spikes_exponential(lesioned.upstream_spikes)
    train_trials = FlatTrials(trial_windows(lesioned, features, train, context_bins=decoder.history_bins))
    test_trials = FlatTrials(trial_windows(lesioned, features, test, context_bins=decoder.history_bins))
    test_labels = test_trials.labels.numpy()
    test_trial_ids = test_trials.trials[test_trials.trial_index]  # the window's own trial, context too

    curve: dict[str, list[float]] = {"eval/episodes": [], "eval/success": []}

    def score(spikes: np.ndarray) -> float:
        """Held-out time-bin success (lever) or velocity R^2 (reach), mean over samples."""
        if config.task == "lever":
            return float(np.mean(time_bin_success(decoder.predict(spikes), test_labels)))
        return float(np.mean(velocity_r2(decoder.predict(spikes), test_trials.targets.numpy(), test_labels > 0)))

    def monitor(update: int, averaged: PointProcessNetwork, history) -> None:
        if update % config.eval_interval == 0 or update == config.rl.n_updates - 1:
            spikes, _ = _sample(averaged, test_trials, 2, int(seeds[1]))
            curve["eval/episodes"].append(update)
            curve["eval/success"].append(score(spikes))
            say(f"      update {update:5d}: train reward {history.last('train/reward', 20):.3f}, "
                f"held-out {'success' if config.task == 'lever' else 'velocity R2'} {curve['eval/success'][-1]:.3f}")

    say(f"[4/6] training RL from decoded behaviour alone ({config.rl.n_updates} updates)")
    t0 = time.perf_counter()
    network = PointProcessNetwork(features.shape[1], decoder.n_neurons, initial_rate=min(10 * healthy.bin_size, 0.5),
                                  generator=torch.Generator().manual_seed(int(seeds[2])))
    network.standardize_inputs(train_trials.features)
    rl_net, history = train_reinforce(network, decoder, train_trials, replace(config.rl, seed=int(seeds[3])),
                                      callback=monitor)
    rl_seconds = time.perf_counter() - t0

    say(f"[5/6] fitting SL to the healthy downstream spikes ({config.sl.n_epochs} epochs)")
    t0 = time.perf_counter()
    target = torch.from_numpy(healthy.downstream_spikes[train_trials.bins][:, read].astype(np.float32))
    sl_net, _ = fit_supervised_trials(
        PointProcessNetwork(features.shape[1], decoder.n_neurons, initial_rate=0.5,
                            generator=torch.Generator().manual_seed(int(seeds[4]))).standardize_inputs(
                                train_trials.features),
        train_trials, target, config.sl, seed=int(seeds[5]),
    )
    sl_seconds = time.perf_counter() - t0

    say("[6/6] evaluating on held-out trials")
    rl_spikes, rl_p = _sample(rl_net, test_trials, config.n_eval_samples, int(seeds[6]))
    sl_spikes, sl_p = _sample(sl_net, test_trials, config.n_eval_samples, int(seeds[6]))
    true_spikes = healthy.downstream_spikes[test_trials.bins][:, read]
    decoded = {name: decoder.predict(s) for name, s in (("rl", rl_spikes), ("sl", sl_spikes), ("recorded", true_spikes))}
    methods = {}
    for name, seconds in (("rl", rl_seconds), ("sl", sl_seconds), ("recorded", 0.0)):
        if config.task == "lever":
            methods[name] = {
                "time_bin_success": [float(np.mean(time_bin_success(decoded[name], test_labels)))],
                "trial_success": [float(np.mean(trial_success(decoded[name], test_labels, test_trials.trial_index)))],
            }
        else:
            methods[name] = {"velocity_r2": [float(np.mean(velocity_r2(
                decoded[name], test_trials.targets.numpy(), test_labels > 0)))]}
        methods[name]["train_seconds"] = [seconds]
    if config.task == "lever":
        methods["upstream_ceiling"] = upstream_label_ceiling(train_trials, test_trials, healthy.n_classes, int(seeds[7]))
    else:
        methods["upstream_ceiling"] = upstream_velocity_ceiling(train_trials, test_trials)
    biomimicry = {
        "rl": biomimicry_summary(rl_spikes, test_labels, test_trial_ids, healthy.bin_size, recorded=true_spikes),
        "sl": biomimicry_summary(sl_spikes, test_labels, test_trial_ids, healthy.bin_size, recorded=true_spikes),
        "recorded": biomimicry_summary(true_spikes, test_labels, test_trial_ids, healthy.bin_size),
    }
    key = "time_bin_success" if config.task == "lever" else "velocity_r2"
    ratio = methods["rl"][key][0] / max(methods["recorded"][key][0], 1e-9)
    notes = [
        f"The RL generator never saw downstream spikes: it was trained on the lesioned recording with the "
        f"decoder's output as its only feedback. Its held-out {key} is {ratio:.1%} of the healthy truth's.",
        f"The decoder reads downstream neurons {read.tolist()} (the {config.n_read} with the most information "
        "about the behaviour on training trials); generated neuron i is compared with recorded neuron read[i].",
        "The learning curve's held-out success is for monitoring only; the trained model is the moving "
        "average of the weights at the end, not a selected episode.",
    ]
    results = {
        "task": config.task,
        "recording": healthy.describe(),
        "command": command or "spikebridge demo",
        "seed": config.seed,
        "methods": methods,
        "biomimicry": biomimicry,
        "history": {**history.as_dict(), **curve},
        "decoder": {"kind": type(decoder).__name__, "neurons": read.tolist(), "history_bins": decoder.history_bins,
                    "information_bits": information[read].tolist()},
        "n_train_trials": int(len(train)),
        "n_test_trials": int(len(test)),
        "notes": notes,
        "wall_seconds": time.perf_counter() - start,
    }
    arrays = dict(
        bins=test_trials.bins, labels=test_labels, trial_ids=test_trial_ids,
        upstream=healthy.upstream_spikes[test_trials.bins], true_downstream=true_spikes,
        rl_spikes=rl_spikes, sl_spikes=sl_spikes, rl_probabilities=rl_p, sl_probabilities=sl_p,
        true_probabilities=subject.downstream_rates[test_trials.bins][:, read],
        bin_size=np.array(healthy.bin_size),
    )
    if config.task == "lever":
        arrays.update(decoded_rl=decoded["rl"][0], decoded_sl=decoded["sl"][0], decoded_true=decoded["recorded"],
                      class_names=np.array(LEVER_CLASS_NAMES))
    else:
        arrays.update(velocity_true=test_trials.targets.numpy(), velocity_rl=decoded["rl"][0],
                      velocity_sl=decoded["sl"][0], velocity_decoded_true=decoded["recorded"],
                      class_names=np.array([f"target {k + 1}" for k in range(healthy.n_classes)]))
    atomic_save_npz(out_dir / "arrays.npz", **arrays)
    atomic_write_json(out_dir / "config.json", asdict(config))
    atomic_write_json(out_dir / "results.json", results)
    return results
