"""The cross-validation protocol: RL (default and paper), SL, recorded and upstream-ceiling per fold."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from spikebridge._io import atomic_save_npz
from spikebridge.data.folds import trial_folds
from spikebridge.data.recording import Recording
from spikebridge.data.windows import trial_windows
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.continuous import ContinuousDecoder
from spikebridge.decoders.io import decoder_from_spec
from spikebridge.decoders.subset import SubsetDecoder
from spikebridge.experiments.biomimicry import biomimicry_summary, population_summary
from spikebridge.experiments.ceilings import class_rate_code, upstream_label_ceiling, upstream_velocity_ceiling
from spikebridge.features.history import last_spikes_exponential
from spikebridge.metrics.matching import match_neurons
from spikebridge.metrics.success import time_bin_success, trial_success, velocity_r2
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.paper import PaperReinforceConfig, train_reinforce_paper
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from spikebridge.training.supervised import SupervisedConfig, fit_supervised_trials

__all__ = ["ReproduceConfig", "METHODS", "run_reproduce", "trial_classes"]

METHODS = ("rl", "rl_paper", "sl", "recorded", "class_rate_code", "upstream_ceiling")
"""Every method name that can appear in ``results.json``."""


@dataclass(frozen=True)
class ReproduceConfig:
    """Settings of one cross-validated comparison."""

    n_folds: int = 5
    """Folds of the trial-wise cross-validation."""
    seed: int = 0
    """Seeds the fold split, every network's initial weights, batch order and spike sampling."""
    methods: tuple[str, ...] = ("rl", "rl_paper", "sl")
    """Trained methods to run; ``recorded`` and ``upstream_ceiling`` are always added when possible."""
    n_eval_samples: int = 10
    """Spike trains sampled per test trial; success is averaged over them."""
    initial_rate_hz: float = 10.0
    """Initial firing rate of the default RL generator, in spikes per second (generic physiology)."""
    n_hidden: int = 64
    """Hidden units of every generator."""
    n_paper_restarts: int = 2
    """Restarts of the paper's algorithm per fold (the paper: 32), trained as one batch of replicas."""
    paper_context_bins: int = 100
    """Lead-in bins before each trial for the paper's algorithm (the paper: 100)."""
    n_jobs: int = 2
    """Folds trained in parallel processes (each uses one thread)."""
    decoder_neurons: tuple[int, ...] | None = None
    """Recorded neurons a decoder spec reads (default: the recording's own, or ranked for ``fit:``)."""
    generate: str = "read"
    """``"read"``: generate only the neurons the decoder reads (the paper). ``"all"``: generate every recorded
    downstream neuron (generated neuron i stands for recorded neuron i); the decoder reads its subset, and the
    other outputs get no behavioural reward: only the shared hidden layer and their 10 spikes/s start shape them."""
    rl: ReinforceConfig = field(default_factory=ReinforceConfig)
    """Default trainer settings."""
    rl_paper: PaperReinforceConfig = field(default_factory=PaperReinforceConfig)
    """Paper trainer settings."""
    sl: SupervisedConfig = field(default_factory=SupervisedConfig)
    """Supervised baseline settings."""

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in ("rl", "rl_paper", "sl")]
        if unknown:
            raise ValueError(f"Unknown methods {unknown}; choose from 'rl', 'rl_paper', 'sl'.")
        if self.generate not in ("read", "all"):
            raise ValueError(f"ReproduceConfig.generate must be 'read' or 'all'; got {self.generate!r}.")
        if self.n_eval_samples < 1 or self.n_jobs < 1 or self.n_paper_restarts < 1:
            raise ValueError("n_eval_samples, n_jobs and n_paper_restarts must be >= 1.")


def trial_classes(recording: Recording) -> np.ndarray:
    """The largest label of each trial (e.g. the press type), shape ``(n_trials,)``, for stratified folds."""
    mask = recording.in_trial_labelled
    trials, index = np.unique(recording.trial_ids[mask], return_inverse=True)
    out = np.zeros(len(trials), dtype=np.int64)
    np.maximum.at(out, index, recording.behavior_labels[mask])
    return out


def _evaluate(decoder, spikes: np.ndarray, trials: FlatTrials) -> dict[str, float]:
    """Success rates (class decoders) or velocity R^2 (continuous decoders), mean over samples."""
    labels = trials.labels.numpy()
    decoded = decoder.predict(spikes)
    if isinstance(decoder, ContinuousDecoder):
        return {"velocity_r2": float(np.mean(velocity_r2(decoded, trials.targets.numpy(), labels > 0)))}
    return {
        "time_bin_success": float(np.mean(time_bin_success(decoded, labels))),
        "trial_success": float(np.mean(trial_success(decoded, labels, trials.trial_index))),
    }


def _sample(network: PointProcessNetwork, trials: FlatTrials, n_samples: int, seed: int) -> np.ndarray:
    with torch.no_grad():
        p = network(trials.features)[0]
        generator = torch.Generator().manual_seed(seed)
        spikes = torch.rand((n_samples, *p.shape), generator=generator) < p
    return spikes.numpy().astype(np.uint8)


def resolve_decoder(decoder, recording: Recording, train: np.ndarray, config: "ReproduceConfig"):
    """The fold's decoder and the recorded neurons it reads (None when no recorded neuron corresponds).

    A decoder object is used as it is, reading ``recording.decoder_neurons``; a ``fit:KIND`` spec is fitted
    here on the fold's training trials of the recorded downstream spikes (the healthy reference); other specs
    (a file, ``manual``) are loaded by :func:`~spikebridge.decoders.io.decoder_from_spec`.
    """
    if not isinstance(decoder, (str, os.PathLike)):
        return decoder, recording.decoder_neurons
    # a fitted decoder ranks its own neurons, and the hand-designed one defines what its generated neurons mean;
    # only a file decoder (the paper's) defaults to the recording's listed decoder neurons
    own_neurons = str(decoder).startswith("fit:") or str(decoder).strip().lower() == "manual"
    neurons = config.decoder_neurons if own_neurons else (config.decoder_neurons or recording.decoder_neurons)
    return decoder_from_spec(decoder, recording=recording, train_trials=train, decoder_neurons=neurons,
                             random_state=config.seed)


def _run_fold(
    recording: Recording,
    decoder,
    features: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    fold: int,
    config: ReproduceConfig,
    out_dir: str | None,
) -> dict:
    torch.set_num_threads(1)
    seeds = np.random.SeedSequence([config.seed, fold]).generate_state(8)
    decoder, neurons = resolve_decoder(decoder, recording, train, config)
    continuous = isinstance(decoder, ContinuousDecoder)
    context = decoder.history_bins
    lesioned = recording.lesioned()  # everything RL sees is cut from this
    train_trials = FlatTrials(trial_windows(lesioned, features, train, context_bins=context))
    test_trials = FlatTrials(trial_windows(lesioned, features, test, context_bins=context))
    test_labels = test_trials.labels.numpy()
    test_trial_ids = test_trials.trials[test_trials.trial_index]  # the window's own trial, context too
    population = config.generate == "all"
    if population and continuous:
        raise ValueError("generate='all' is for class decoders; a velocity decoder already reads the population.")
    if population and (not recording.has_downstream or neurons is None):
        raise ValueError(
            "generate='all' needs the recorded downstream population and the neurons the decoder reads "
            "(decoder_neurons), so that generated neuron i can stand for recorded neuron i."
        )
    read = list(neurons) if neurons is not None else None
    n_out = recording.n_downstream if population else decoder.n_neurons
    # with the whole population generated, the decoder reads its neurons out of all of them
    readout = SubsetDecoder(decoder, read, n_out) if population else decoder
    generated_ids = list(range(n_out)) if population else read  # recorded neuron of each generated output
    recorded = None
    if recording.has_downstream and read is not None:
        recorded = recording.downstream_spikes[test_trials.bins][:, generated_ids]
    result: dict = {"biomimicry": {}}

    if population:  # evaluation only: pair the unread outputs with recorded neurons on the training trials
        recorded_train = recording.downstream_spikes[train_trials.bins]
        train_labels = train_trials.labels.numpy()
        train_trial_ids = train_trials.trials[train_trials.trial_index]

    def finish(method: str, spikes: np.ndarray, seconds: float, extra: dict | None = None,
               network: PointProcessNetwork | None = None) -> None:
        result[method] = {**_evaluate(readout, spikes, test_trials), "train_seconds": seconds, **(extra or {})}
        if recorded is not None:
            own = [generated_ids.index(i) for i in read]  # the decoder-read outputs
            summary = biomimicry_summary(
                spikes[..., own], test_labels, test_trial_ids, recording.bin_size,
                recorded=None if method == "recorded" else recorded[:, own],
            )
            if population:
                if network is None:  # the recording itself, or a code built neuron by neuron from it
                    match = np.arange(n_out)
                else:
                    train_spikes = _sample(network, train_trials, 2, int(seeds[2]))
                    match = match_neurons(train_spikes, recorded_train, train_labels, train_trial_ids,
                                          fixed=dict(zip(own, read)))
                matched = None if method == "recorded" else recorded[:, match]
                everyone = biomimicry_summary(spikes, test_labels, test_trial_ids, recording.bin_size, recorded=matched)
                summary.update({f"{k}_all_neurons": v for k, v in everyone.items() if k != "per_neuron"})
                summary["per_neuron_all_neurons"] = everyone["per_neuron"]
                summary["matched_recorded_neuron"] = match.tolist()
                summary.update(population_summary(spikes, test_labels, test_trial_ids, recording.bin_size,
                                                  recorded=matched))
            result["biomimicry"][method] = summary
        if out_dir is not None:
            atomic_save_npz(
                Path(out_dir) / f"fold_{fold}" / f"{method}_test_spikes.npz",
                bins=test_trials.bins, spikes=spikes, labels=test_labels, trial_ids=test_trial_ids,
            )

    n_features = features.shape[1]
    if "rl" in config.methods:
        start = time.perf_counter()
        rate = min(config.initial_rate_hz * recording.bin_size, 0.5)
        network = PointProcessNetwork(
            n_features, n_out, n_hidden=config.n_hidden, initial_rate=rate,
            generator=torch.Generator().manual_seed(int(seeds[0])),
        )
        network.standardize_inputs(train_trials.features)
        rl_config = _with_seed(config.rl, int(seeds[1]))
        trained, history = train_reinforce(network, readout, train_trials, rl_config)
        seconds = time.perf_counter() - start
        spikes = _sample(trained, test_trials, config.n_eval_samples, int(seeds[2]))
        finish("rl", spikes, seconds, {"final_train_reward": history.last("train/reward", 50)}, trained)
    if "rl_paper" in config.methods and not continuous:
        start = time.perf_counter()
        # the paper gives each trial 100 bins of lead-in (at least the decoder's history)
        paper_context = max(context, config.paper_context_bins)
        paper_trials = FlatTrials(trial_windows(lesioned, features, train, context_bins=paper_context))
        network = PointProcessNetwork(
            n_features, n_out, n_hidden=config.n_hidden, initial_rate=0.5,
            n_replicas=config.n_paper_restarts, generator=torch.Generator().manual_seed(int(seeds[3])),
        )
        trained, history = train_reinforce_paper(network, readout, paper_trials, _with_seed(config.rl_paper, int(seeds[4])))
        seconds = time.perf_counter() - start
        spikes = _sample(trained, test_trials, config.n_eval_samples, int(seeds[2]))
        finish("rl_paper", spikes, seconds, {"n_restarts": config.n_paper_restarts}, trained)
    if recorded is not None:
        finish("recorded", recorded[None], 0.0)
        if not continuous:  # what recorded-level modulation buys with perfect knowledge of the class
            code = class_rate_code(recording.downstream_spikes[train_trials.bins][:, generated_ids],
                                   train_trials.labels.numpy(), test_labels, config.n_eval_samples, int(seeds[2]))
            finish("class_rate_code", code, 0.0)
        if "sl" in config.methods:
            start = time.perf_counter()
            network = PointProcessNetwork(
                n_features, n_out, n_hidden=config.n_hidden, initial_rate=0.5,
                generator=torch.Generator().manual_seed(int(seeds[5])),
            )
            network.standardize_inputs(train_trials.features)
            target = torch.from_numpy(recording.downstream_spikes[train_trials.bins][:, generated_ids].astype(np.float32))
            trained, _ = fit_supervised_trials(network, train_trials, target, config.sl, seed=int(seeds[6]))
            seconds = time.perf_counter() - start
            spikes = _sample(trained, test_trials, config.n_eval_samples, int(seeds[2]))
            finish("sl", spikes, seconds, network=trained)
    # upstream-information ceiling: same features, behaviour read directly
    if continuous:
        ceiling = upstream_velocity_ceiling(train_trials, test_trials)
    else:
        ceiling = upstream_label_ceiling(train_trials, test_trials, recording.n_classes, int(seeds[7]))
    result["upstream_ceiling"] = {key: values[0] for key, values in ceiling.items()}
    result["decoder"] = {"kind": type(decoder).__name__, "neurons_read": None if neurons is None else list(neurons)}
    return result


_WORKER: tuple = ()


def _init_worker(*shared) -> None:
    global _WORKER
    _WORKER = shared


def _run_worker_fold(train: np.ndarray, test: np.ndarray, fold: int) -> dict:
    recording, decoder, features, config, out_dir = _WORKER
    return _run_fold(recording, decoder, features, train, test, fold, config, out_dir)


def _with_seed(config, seed: int):
    from dataclasses import replace

    return replace(config, seed=seed)


def run_reproduce(
    recording: Recording,
    decoder: SpikeDecoder,
    config: ReproduceConfig = ReproduceConfig(),
    *,
    out_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Cross-validate every method on ``recording`` with ``decoder``; return a ``results.json``-ready dict.

    Parameters
    ----------
    recording :
        The recording. RL methods only ever see its upstream spikes and labels (their trial windows are
        cut from ``recording.lesioned()``); SL and the ``recorded`` ceiling need its downstream spikes and
        ``decoder_neurons``, and are skipped without them.
    decoder :
        The fixed behavioural readout.
    config :
        Protocol settings.
    out_dir :
        If given, each fold's scored test spikes are written to ``out_dir/fold_<k>/<method>_test_spikes.npz``.
    progress :
        Called with one line of text per finished fold.

    Returns
    -------
    results :
        ``{"methods": {name: {"time_bin_success": [per fold], "trial_success": [...],
        "train_seconds": [...]}}, "folds": [...], "wall_seconds": float, "config": {...}}``.
    """
    if isinstance(decoder, (str, os.PathLike)):
        if not str(decoder).startswith("fit:"):  # fail fast on a bad file or spec, before any fold starts
            resolve_decoder(decoder, recording, recording.trials, config)
    elif recording.decoder_neurons is not None and len(recording.decoder_neurons) != decoder.n_neurons:
        raise ValueError(
            f"The recording lists {len(recording.decoder_neurons)} decoder neurons but the decoder reads "
            f"{decoder.n_neurons}. Pass a decoder built for this recording, or set decoder_neurons to match."
        )
    start = time.perf_counter()
    features = last_spikes_exponential(recording.upstream_spikes)
    folds = trial_folds(recording.trials, config.n_folds, config.seed, trial_classes=trial_classes(recording))
    shared = (recording, decoder, features, config, None if out_dir is None else str(out_dir))
    per_fold: list[dict] = [None] * len(folds)  # type: ignore[list-item]
    if config.n_jobs == 1 or len(folds) == 1:
        for k, (tr, te) in enumerate(folds):
            per_fold[k] = _run_fold(recording, decoder, features, tr, te, k, config, shared[-1])
            if progress:
                progress(_fold_line(k, per_fold[k]))
    else:
        # the recording and its features go to each worker once, not once per fold
        context = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(config.n_jobs, len(folds)), mp_context=context,
                                      initializer=_init_worker, initargs=shared)
        try:
            futures = {pool.submit(_run_worker_fold, tr, te, k): k for k, (tr, te) in enumerate(folds)}
            for future in cf.as_completed(futures):
                k = futures[future]
                per_fold[k] = future.result()
                if progress:
                    progress(_fold_line(k, per_fold[k]))
        except BaseException:  # Ctrl-C, SIGTERM (see the CLI) or a failed fold: stop the other folds too
            pool.shutdown(wait=False, cancel_futures=True)
            for child in multiprocessing.active_children():
                child.terminate()
            raise
        pool.shutdown()
    methods: dict[str, dict[str, list[float]]] = {}
    for name in METHODS:
        if all(name in fold for fold in per_fold):
            methods[name] = {key: [fold[name][key] for fold in per_fold] for key in per_fold[0][name]}
    biomimicry: dict[str, dict[str, list]] = {}
    for name in METHODS:
        if all(name in fold["biomimicry"] for fold in per_fold):
            keys = per_fold[0]["biomimicry"][name]
            biomimicry[name] = {key: _per_fold([fold["biomimicry"][name][key] for fold in per_fold]) for key in keys}
    return {
        "recording": recording.name,
        "methods": methods,
        "biomimicry": biomimicry,
        "decoder": [fold["decoder"] for fold in per_fold],
        "folds": [{"train_trials": tr.tolist(), "test_trials": te.tolist()} for tr, te in folds],
        "wall_seconds": time.perf_counter() - start,
        "config": _jsonable(asdict(config)),
    }


def _per_fold(values: list):
    """Fold values side by side; a dict of per-neuron lists becomes one dict of per-fold lists."""
    if values and isinstance(values[0], dict):
        return {key: [value[key] for value in values] for key in values[0]}
    return values


def _fold_line(fold: int, result: dict) -> str:
    methods = {m: r for m, r in result.items() if m in METHODS}
    if any("velocity_r2" in r for r in methods.values()):
        return f"fold {fold}: " + ", ".join(f"{m} {r['velocity_r2']:.3f}" for m, r in methods.items()) + "  (velocity R2)"
    parts = [f"{m} {r['time_bin_success']:.3f}/{r['trial_success']:.3f}" for m, r in methods.items()]
    return f"fold {fold}: " + ", ".join(parts) + "  (time-bin/trial success)"


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj
