"""One durable training run: the default RL generator on one cross-validation fold, checkpointed.

The fold, windows, seeds and evaluation are those of :func:`~spikebridge.experiments.reproduce.run_reproduce`,
so fold ``k`` of a run here gives the ``rl`` result of fold ``k`` there. A run folder holds:

=========================  ==================================================================
``config.json``            the :class:`TrainRunConfig`
``checkpoints/ckpt_N.pt``  the trainer's state after ``N`` updates (the newest few; see
                           :mod:`spikebridge.training.checkpoint`)
``model.pt``               the trained (averaged) network; read it with :func:`load_network`
``history.json``           ``train/reward`` and ``train/bonus`` per update
``results.json``           held-out time-bin and trial success of the fold's test trials
=========================  ==================================================================

A run killed at any point continues with ``resume=True`` (``spikebridge train ... --resume``) from its
newest checkpoint and ends with exactly the weights of a run that never stopped.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from spikebridge._io import atomic_write_bytes, atomic_write_json
from spikebridge.data import load_recording
from spikebridge.data.folds import trial_folds
from spikebridge.data.windows import trial_windows
from spikebridge.exceptions import DataFormatError
from spikebridge.experiments.reproduce import (
    ReproduceConfig,
    _evaluate,
    _sample,
    resolve_decoder,
    trial_classes,
)
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.checkpoint import CheckpointCallback, list_checkpoints, load_checkpoint
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.history import TrainingHistory
from spikebridge.training.reinforce import ReinforceConfig, ReinforceState, train_reinforce

__all__ = ["TrainRunConfig", "run_training", "save_network", "load_network"]

_MODEL_FORMAT = "spikebridge.point_process_network"


@dataclass(frozen=True)
class TrainRunConfig:
    """Settings of one training run; saved as the run folder's ``config.json``."""

    recording: str
    """Recording file (the paper's ``.mat``, a trial ``.npz`` or ``.nwb``)."""
    decoder: str
    """Decoder SPEC, as for ``spikebridge reproduce``: the paper's ``*_patternnet.mat``, a saved decoder
    ``.npz``, ``manual``, or ``fit:mlp`` / ``fit:logistic`` / ``fit:wiener`` / ``fit:kalman`` (fitted on the
    fold's training trials of the recorded downstream spikes; the generator never sees them)."""
    decoder_neurons: tuple[int, ...] | None = None
    """0-based downstream neurons the decoder reads, in its input order; None: from the recording file."""
    fold: int = 0
    """Which fold's test trials are held out (0 .. n_folds - 1)."""
    n_folds: int = 5
    """Folds of the trial-wise cross-validation."""
    seed: int = 0
    """Seeds the fold split, the initial weights, batch order, spike sampling and evaluation."""
    initial_rate_hz: float = 10.0
    """Initial firing rate of the generator, in spikes per second."""
    n_hidden: int = 64
    """Hidden units of the generator."""
    n_eval_samples: int = 10
    """Spike trains sampled per test trial; success is averaged over them."""
    checkpoint_every: int = 100
    """Updates between checkpoints."""
    keep_checkpoints: int = 2
    """Newest checkpoints kept."""
    rl: ReinforceConfig = field(default_factory=ReinforceConfig)
    """Trainer settings; its ``seed`` is replaced by one derived from ``seed`` and ``fold``."""

    def __post_init__(self) -> None:
        lowest = {"n_folds": 2, "n_eval_samples": 1, "checkpoint_every": 1, "keep_checkpoints": 1,
                  "n_hidden": 0}
        for name, low in lowest.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"TrainRunConfig.{name} must be an integer >= {low}; got {name}={value!r}.")
        if not isinstance(self.fold, int) or not 0 <= self.fold < self.n_folds:
            raise ValueError(
                f"TrainRunConfig.fold must be an integer in 0 .. n_folds - 1 = {self.n_folds - 1}; "
                f"got fold={self.fold!r}."
            )

    @property
    def protocol(self) -> ReproduceConfig:
        """The cross-validation settings of ``spikebridge reproduce`` that this run's fold belongs to."""
        return ReproduceConfig(
            n_folds=self.n_folds, seed=self.seed, methods=("rl",), n_eval_samples=self.n_eval_samples,
            initial_rate_hz=self.initial_rate_hz, n_hidden=self.n_hidden,
            decoder_neurons=self.decoder_neurons, rl=self.rl,
        )

    @classmethod
    def from_dict(cls, values: dict) -> "TrainRunConfig":
        """Rebuild a config from its ``config.json`` form (``asdict`` with lists for tuples)."""
        values = dict(values)
        values["rl"] = ReinforceConfig(**values.get("rl", {}))
        if values.get("decoder_neurons") is not None:
            values["decoder_neurons"] = tuple(values["decoder_neurons"])
        return cls(**values)


def run_training(
    config: TrainRunConfig,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train the default RL generator on one fold, checkpointing into ``out_dir``; return ``results.json``.

    Parameters
    ----------
    config :
        Run settings.
    out_dir :
        Run folder (see the module docstring for its files).
    resume :
        Continue from the newest checkpoint in ``out_dir/checkpoints``, if there is one (else start
        afresh). The settings must equal those in ``out_dir/config.json``.
    progress :
        Called with one line of text at each checkpoint.

    Returns
    -------
    results :
        ``{"recording", "fold", "time_bin_success", "trial_success", "final_train_reward", "n_updates",
        "resumed_from_update" (None for a fresh run), "train_seconds", "train_trials", "test_trials",
        "config"}``.

    Raises
    ------
    FileExistsError
        If ``out_dir`` already holds checkpoints and ``resume`` is False.
    ValueError
        If ``resume`` is True and ``config`` differs from the run's ``config.json``.
    """
    out_dir = Path(out_dir)
    saved = list_checkpoints(out_dir / "checkpoints")
    if saved and not resume:
        raise FileExistsError(
            f"{out_dir} already holds checkpoints ({saved[-1].name}); pass resume=True (--resume) to "
            "continue that run, or choose another run folder."
        )
    config_json = _jsonable(asdict(config))
    if resume and (out_dir / "config.json").is_file():
        before = json.loads((out_dir / "config.json").read_text())
        if before != config_json:
            changed = sorted(k for k in set(before) | set(config_json) if before.get(k) != config_json.get(k))
            raise ValueError(
                f"{out_dir} was started with other settings (they differ in {changed}); resume it with the "
                "settings in its config.json, or choose another run folder."
            )
    recording = load_recording(config.recording)
    if config.decoder_neurons is not None:
        recording = dataclasses.replace(recording, decoder_neurons=tuple(config.decoder_neurons))
    features = last_spikes_exponential(recording.upstream_spikes)
    folds = trial_folds(recording.trials, config.n_folds, config.seed, trial_classes=trial_classes(recording))
    train, test = folds[config.fold]
    seeds = np.random.SeedSequence([config.seed, config.fold]).generate_state(8)
    decoder, _ = resolve_decoder(config.decoder, recording, train, config.protocol)
    context = decoder.history_bins
    lesioned = recording.lesioned()  # everything the generator sees is cut from this
    train_trials = FlatTrials(trial_windows(lesioned, features, train, context_bins=context))
    test_trials = FlatTrials(trial_windows(lesioned, features, test, context_bins=context))
    network = PointProcessNetwork(
        features.shape[1], decoder.n_neurons, n_hidden=config.n_hidden,
        initial_rate=min(config.initial_rate_hz * recording.bin_size, 0.5),
        generator=torch.Generator().manual_seed(int(seeds[0])),
    )
    network.standardize_inputs(train_trials.features)
    rl_config = dataclasses.replace(config.rl, seed=int(seeds[1]))
    atomic_write_json(out_dir / "config.json", config_json)

    if resume and saved:
        state = load_checkpoint(saved[-1], network, rl_config)
        resumed_from = state.update
    else:
        state, resumed_from = ReinforceState.initial(network, rl_config), None
    checkpoint = CheckpointCallback(state, rl_config, out_dir / "checkpoints", every=config.checkpoint_every,
                                    keep=config.keep_checkpoints)

    def after_update(update: int, averaged: PointProcessNetwork, history: TrainingHistory) -> None:
        checkpoint(update, averaged, history)
        if progress is not None and state.update % config.checkpoint_every == 0:
            reward = history.last("train/reward", 50)
            progress(f"update {state.update}/{rl_config.n_updates}: train/reward {reward:.3f}")

    averaged, history = train_reinforce(network, decoder, train_trials, rl_config, state=state,
                                        callback=after_update)
    save_network(out_dir / "model.pt", averaged)
    atomic_write_json(out_dir / "history.json", history.as_dict())
    spikes = _sample(averaged, test_trials, config.n_eval_samples, int(seeds[2]))
    results = {
        "recording": recording.name,
        "fold": config.fold,
        **_evaluate(decoder, spikes, test_trials),  # time_bin_success, trial_success (or velocity_r2)
        "final_train_reward": history.last("train/reward", 50) if history.episodes else float("nan"),
        "n_updates": state.update,
        "resumed_from_update": resumed_from,
        "train_seconds": history.seconds,
        "train_trials": train.tolist(),
        "test_trials": test.tolist(),
        "config": config_json,
    }
    atomic_write_json(out_dir / "results.json", results)
    return results


def save_network(path: str | os.PathLike[str], network: PointProcessNetwork) -> Path:
    """Write ``network``'s architecture and weights to ``path`` atomically, as plain (weights-only) data."""
    payload = {
        "format": _MODEL_FORMAT,
        "n_features": network.n_features, "n_outputs": network.n_outputs, "n_hidden": network.n_hidden,
        "n_replicas": network.n_replicas, "initial_rate": float(network.initial_rate),
        "state_dict": network.state_dict(),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_network(path: str | os.PathLike[str]) -> PointProcessNetwork:
    """Read a network written by :func:`save_network` (a run folder's ``model.pt``).

    Parameters
    ----------
    path :
        The ``model.pt`` file.

    Returns
    -------
    network :
        The trained network, with its input standardisation.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise DataFormatError(f"Could not read {path} as a spikebridge model file: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != _MODEL_FORMAT:
        raise DataFormatError(f"{path} is not a spikebridge model file (written by save_network).")
    network = PointProcessNetwork(payload["n_features"], payload["n_outputs"], n_hidden=payload["n_hidden"],
                                  n_replicas=payload["n_replicas"], initial_rate=payload["initial_rate"])
    network.load_state_dict(payload["state_dict"])
    return network.requires_grad_(False)


def _jsonable(obj):
    """Tuples as lists, as ``config.json`` stores them."""
    return json.loads(json.dumps(obj))
