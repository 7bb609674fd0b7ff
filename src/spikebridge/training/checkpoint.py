"""Checkpoints of the default RL trainer: save a :class:`ReinforceState`, restore it, resume bit for bit.

A checkpoint file is written with :func:`torch.save` and holds plain data only (tensors, dicts, lists,
ints, floats, strings), so it loads with ``torch.load(weights_only=True)``: nothing in it can run code.

==================  =======================================================================
key                 value
==================  =======================================================================
``format``          ``"spikebridge.reinforce_checkpoint"``
``version``         1
``update``          updates done so far (the next one to run)
``config``          the :class:`ReinforceConfig` as a dict; resuming with other settings fails
``network``         the trained network's ``state_dict()``
``averaged``        the averaged network's ``state_dict()``
``optimizer``       Adam's ``state_dict()``
``numpy_rng``       ``rng.bit_generator.state`` (a JSON-able dict)
``torch_rng``       ``generator.get_state()`` (a uint8 tensor)
``history``         ``{"episodes": [...], "values": {key: [...]}, "seconds": float}``
==================  =======================================================================

Files are written atomically (a temporary file, then :func:`os.replace`), so a run killed at any moment
leaves every checkpoint either whole or absent.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import asdict
from pathlib import Path

import torch

from spikebridge._io import atomic_write_bytes
from spikebridge.exceptions import DataFormatError
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.history import TrainingHistory
from spikebridge.training.reinforce import ReinforceConfig, ReinforceState

__all__ = ["save_checkpoint", "load_checkpoint", "list_checkpoints", "CheckpointCallback"]

FORMAT = "spikebridge.reinforce_checkpoint"
VERSION = 1
_KEYS = ("format", "version", "update", "config", "network", "averaged", "optimizer", "numpy_rng",
         "torch_rng", "history")
_NAME = re.compile(r"ckpt_(\d+)\.pt")


def save_checkpoint(path: str | os.PathLike[str], state: ReinforceState, config: ReinforceConfig) -> Path:
    """Write ``state`` (after ``state.update`` updates of a run with ``config``) to ``path`` atomically.

    Parameters
    ----------
    path :
        Destination file; replaced if it exists, parent folders created.
    state :
        The trainer's state.
    config :
        The run's trainer settings, stored so that a resume with other settings is refused.

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.
    """
    history = state.history
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "update": int(state.update),
        "config": asdict(config),
        "network": state.network.state_dict(),
        "averaged": state.averaged.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "numpy_rng": state.rng.bit_generator.state,
        "torch_rng": state.generator.get_state(),
        "history": {
            "episodes": list(history.episodes),
            "values": {key: list(values) for key, values in history.values.items()},
            "seconds": float(history.seconds),
        },
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], network: PointProcessNetwork, config: ReinforceConfig
) -> ReinforceState:
    """Restore the state saved at ``path`` into ``network``, ready for ``train_reinforce(..., state=...)``.

    Parameters
    ----------
    path :
        A file written by :func:`save_checkpoint`.
    network :
        A network of the saved architecture; its weights are overwritten with the saved ones.
    config :
        The run's trainer settings; they must equal the saved ones, since the exploration bonus is annealed
        over ``n_updates`` and the seed fixed the random streams.

    Returns
    -------
    state :
        The restored state; ``state.network is network``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If the file is truncated or corrupt, holds anything but plain data, or is not a checkpoint of
        this format.
    ValueError
        If ``config`` differs from the saved settings, or ``network`` has another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises OSError, RuntimeError, UnpicklingError... for damaged files
        raise DataFormatError(
            f"Could not read checkpoint {path}: the file is truncated or corrupt, or holds objects other "
            "than tensors and plain Python data (it is loaded with weights_only=True). Delete it to resume "
            f"from the previous checkpoint, or start again. ({type(err).__name__}: {_first_line(err)})"
        ) from err
    missing = [key for key in _KEYS if not isinstance(payload, dict) or key not in payload]
    if missing or payload["format"] != FORMAT:
        raise DataFormatError(
            f"{path} is not a spikebridge training checkpoint (missing {missing or 'the format tag'})."
        )
    if payload["version"] != VERSION:
        raise DataFormatError(
            f"{path} is checkpoint version {payload['version']}; this spikebridge reads version {VERSION}."
        )
    saved, wanted = payload["config"], asdict(config)
    changed = {key: (saved.get(key), value) for key, value in wanted.items() if saved.get(key) != value}
    if changed:
        listing = ", ".join(f"{key}: saved {a!r}, now {b!r}" for key, (a, b) in changed.items())
        raise ValueError(
            f"Checkpoint {path} was saved with other trainer settings ({listing}). Resume with the settings "
            "of the original run, or start a new run in another folder."
        )
    state = ReinforceState.initial(network, config)
    try:
        network.load_state_dict(payload["network"])
        state.averaged.load_state_dict(payload["averaged"])
    except RuntimeError as err:
        raise ValueError(
            f"Checkpoint {path} holds a network of another architecture: {_first_line(err)} Build the "
            "network with the n_features, n_outputs, n_hidden and n_replicas of the original run."
        ) from err
    state.optimizer.load_state_dict(payload["optimizer"])
    rng_state = payload["numpy_rng"]
    if rng_state.get("bit_generator") != type(state.rng.bit_generator).__name__:
        kind = rng_state.get("bit_generator")
        raise DataFormatError(f"{path} holds a {kind!r} random state; expected PCG64.")
    state.rng.bit_generator.state = rng_state
    state.generator.set_state(payload["torch_rng"])
    saved_history = payload["history"]
    state.history = TrainingHistory(list(saved_history["episodes"]),
                                    {k: list(v) for k, v in saved_history["values"].items()},
                                    float(saved_history["seconds"]))
    state.update = int(payload["update"])
    return state


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """List the ``ckpt_<update>.pt`` files in ``directory``, fewest updates first ([] if there are none)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


class CheckpointCallback:
    """A ``train_reinforce`` callback that saves ``state`` every ``every`` updates and after the last one.

    Files are ``directory/ckpt_<update>.pt``, ``update`` being the number of updates done; only the newest
    ``keep`` are kept.

    Parameters
    ----------
    state :
        The state passed to ``train_reinforce`` (it is updated in place, so this sees every update).
    config :
        The run's trainer settings.
    directory :
        Checkpoint folder, created when needed.
    every :
        Updates between checkpoints; must be >= 1.
    keep :
        Newest checkpoints kept; must be >= 1.

    Examples
    --------
    >>> state = ReinforceState.initial(network, config)  # doctest: +SKIP
    >>> save = CheckpointCallback(state, config, "run/checkpoints", every=100)  # doctest: +SKIP
    >>> train_reinforce(network, decoder, trials, config, state=state, callback=save)  # doctest: +SKIP
    """

    def __init__(
        self, state: ReinforceState, config: ReinforceConfig, directory: str | os.PathLike[str], *,
        every: int = 100, keep: int = 2,
    ) -> None:
        for name, value in (("every", every), ("keep", keep)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"CheckpointCallback's `{name}` must be >= 1; got {name}={value!r}.")
        self.state, self.config, self.directory = state, config, Path(directory)
        self.every, self.keep = every, keep

    def __call__(self, update: int, averaged: PointProcessNetwork, history: TrainingHistory) -> None:
        """Save after updates ``every``, ``2 * every``, ... and the last; keep only the newest ``keep``."""
        done = self.state.update
        if done % self.every and done != self.config.n_updates:
            return
        save_checkpoint(self.directory / f"ckpt_{done}.pt", self.state, self.config)
        for old in list_checkpoints(self.directory)[:-self.keep]:
            old.unlink(missing_ok=True)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
