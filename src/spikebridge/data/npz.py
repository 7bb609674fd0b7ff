"""Trial-tensor ``.npz`` files: equal-length trials stacked on a first axis, read into one :class:`Recording`.

A file holds these arrays (``n_trials`` trials of ``n_bins`` bins each):

==============  ============================  ===========================================================
key             shape                         meaning
==============  ============================  ===========================================================
``upstream``    (n_trials, n_bins, n_up)      upstream spikes, 0/1 per bin (required)
``bin_ms``      scalar                        bin width in milliseconds (required)
``downstream``  (n_trials, n_bins, n_down)    downstream spikes, 0/1 per bin
``behavior``    (n_trials, n_bins, k)         continuous behaviour, e.g. hand velocity (float)
``labels``      (n_trials, n_bins)            behaviour class per bin, 0 = unlabelled
``condition``   (n_trials,)                   class of each trial, 0-based; used when ``labels`` is absent
==============  ============================  ===========================================================

A file needs ``labels`` or ``condition``.
"""

from __future__ import annotations

import numbers
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikebridge._io import atomic_save_npz
from spikebridge._validation import check_positive_number, check_spike_counts
from spikebridge.data.recording import Recording
from spikebridge.exceptions import DataFormatError

__all__ = ["load_trial_npz", "save_trial_npz", "TRIAL_NPZ_KEYS"]

TRIAL_NPZ_KEYS = ("upstream", "bin_ms", "downstream", "behavior", "labels", "condition")
"""Every key a trial-tensor ``.npz`` file may hold, required ones first."""

_REQUIRED = ("upstream", "bin_ms")


def load_trial_npz(path: str | os.PathLike[str]) -> Recording:
    """Load a trial-tensor ``.npz`` file (see the module docstring for its keys).

    Parameters
    ----------
    path :
        The ``.npz`` file.

    Returns
    -------
    recording :
        The trials concatenated along time: ``upstream_spikes`` ``(n_trials * n_bins, n_up)``, trial ``i``
        in bins ``i * n_bins`` to ``(i + 1) * n_bins - 1``; ``trial_ids`` the trial index 0..n_trials-1
        of each bin (no bin is outside a trial); ``behavior_labels`` from ``labels`` if present, else
        ``condition + 1`` in every bin of the trial (so condition 0 becomes class 1); ``downstream_spikes``
        and ``behavior_continuous`` ``(n_trials * n_bins, k)`` when present; ``bin_size`` ``bin_ms / 1000``
        seconds; ``name`` the file stem.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If the file is not an ``.npz`` archive, has a key outside :data:`TRIAL_NPZ_KEYS`, lacks
        ``upstream``, ``bin_ms`` or both of ``labels`` and ``condition``, its arrays disagree in shape, or
        the spikes are not 0/1 counts.

    Notes
    -----
    Concatenating trials puts the last bin of one trial right before the first bin of the next, so
    history features that reach back across a trial start read the previous trial's end.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such .npz file: {path}")
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder; `load_trial_npz` needs one .npz file.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise DataFormatError(f"{path} is not a readable .npz archive of numeric arrays: {err}") from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataFormatError(
            f"{path} holds a single .npy array, not an .npz archive with keys {', '.join(TRIAL_NPZ_KEYS)}."
        )
    with loaded:
        try:
            arrays = {key: loaded[key] for key in loaded.files}
        except ValueError as err:  # an object array inside, which would need pickle
            raise DataFormatError(f"{path} holds an array that needs pickle to load: {err}") from err
    try:
        return _recording_from_arrays(_check_trial_arrays(arrays), name=path.stem)
    except DataFormatError as err:
        raise DataFormatError(f"{path}: {err}") from err


def save_trial_npz(
    path: str | os.PathLike[str],
    recording: Recording | Mapping[str, ArrayLike] | None = None,
    /,
    **arrays: ArrayLike,
) -> Path:
    """Save trials to a trial-tensor ``.npz`` file atomically, readable by :func:`load_trial_npz`.

    Give either a :class:`Recording` or the arrays themselves (as a mapping or keyword arguments), with
    the keys and shapes in the module docstring.

    Parameters
    ----------
    path :
        Destination file (written exactly there; ``.npz`` is not appended). Parent folders are created.
    recording :
        A recording whose bins all lie in trials of one length, each trial one contiguous run of bins
        (as :func:`load_trial_npz` returns). Trials are stored in time order and renumbered 0..n_trials-1;
        per-bin labels go to ``labels``. Region and neuron names are not stored.
    **arrays :
        ``upstream`` ``(n_trials, n_bins, n_up)``, ``bin_ms``, and optionally ``downstream``,
        ``behavior``, ``labels``, ``condition``.

    Returns
    -------
    path :
        The written file.

    Raises
    ------
    TypeError
        If both ``recording`` and keyword arrays are given, or neither.
    DataFormatError
        If the trials are not of one length or contiguous, or the arrays would not load (the same checks
        as :func:`load_trial_npz`); nothing is written then.
    """
    if recording is not None and arrays:
        raise TypeError(
            f"`save_trial_npz` takes a recording or keyword arrays, not both; got a recording and "
            f"{', '.join(arrays)}."
        )
    if isinstance(recording, Recording):
        arrays = _trial_arrays_from_recording(recording)
    elif isinstance(recording, Mapping):
        arrays = dict(recording)
    elif recording is not None:
        raise TypeError(
            f"`recording` must be a Recording or a mapping of arrays; got {type(recording).__name__}."
        )
    if not arrays:
        raise TypeError("`save_trial_npz` needs a recording or arrays, e.g. save_trial_npz(path, rec).")
    checked = _check_trial_arrays(arrays)
    return atomic_save_npz(path, **checked)


# ---------------------------------------------------------------------- helpers
def _check_trial_arrays(arrays: Mapping[str, Any]) -> dict[str, NDArray]:
    """Validate trial-tensor arrays and return them with their canonical dtypes."""
    unknown = sorted(set(arrays) - set(TRIAL_NPZ_KEYS))
    if unknown:
        raise DataFormatError(
            f"Unknown key(s) {', '.join(unknown)}. A trial-tensor .npz may hold only "
            f"{', '.join(TRIAL_NPZ_KEYS)} (upstream and bin_ms required)."
        )
    missing = [key for key in _REQUIRED if key not in arrays]
    if missing:
        raise DataFormatError(
            f"Missing required key(s) {', '.join(missing)}; got keys {', '.join(arrays) or 'none'}."
        )
    if "labels" not in arrays and "condition" not in arrays:
        raise DataFormatError(
            "A trial-tensor .npz needs labels or condition: `labels` (n_trials, n_bins), a class per bin "
            "with 0 = unlabelled, or `condition` (n_trials,), a 0-based class per trial."
        )
    checked: dict[str, NDArray] = {}
    up = check_spike_counts(arrays["upstream"], "upstream", ndim=3)
    checked["upstream"] = up
    trials_bins = up.shape[:2]
    checked["bin_ms"] = np.asarray(_check_bin_ms(arrays["bin_ms"]))

    if "downstream" in arrays:
        down = check_spike_counts(arrays["downstream"], "downstream", ndim=3)
        _check_leading_shape("downstream", down.shape, 2, up.shape)
        checked["downstream"] = down
    if "behavior" in arrays:
        behavior = np.asarray(arrays["behavior"])
        if not np.issubdtype(behavior.dtype, np.number):
            raise TypeError(f"`behavior` must be a numeric array; got dtype {behavior.dtype}.")
        if behavior.ndim == 2:
            behavior = behavior[:, :, None]
        if behavior.ndim != 3:
            raise DataFormatError(
                f"`behavior` must have shape (n_trials, n_bins, k); got an array of shape {behavior.shape}."
            )
        _check_leading_shape("behavior", behavior.shape, 2, up.shape)
        checked["behavior"] = behavior.astype(np.float64)
    if "labels" in arrays:
        labels = _whole_numbers(arrays["labels"], "labels", ndim=2, expected="(n_trials, n_bins)")
        _check_leading_shape("labels", labels.shape, 2, up.shape)
        checked["labels"] = labels
    if "condition" in arrays:
        condition = _whole_numbers(arrays["condition"], "condition", ndim=1, expected="(n_trials,)")
        _check_leading_shape("condition", condition.shape, 1, up.shape)
        checked["condition"] = condition
    if "labels" in checked:
        if not np.any(checked["labels"] > 0):
            raise DataFormatError(
                f"`labels` is 0 (unlabelled) in all {trials_bins[0]} x {trials_bins[1]} bins; label each "
                "behaviour class 1..n_classes."
            )
    return checked


def _check_bin_ms(value: Any) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise DataFormatError(
            f"`bin_ms` must be one number (milliseconds); got an array of shape {arr.shape}."
        )
    number = arr.reshape(()).item()
    if not isinstance(number, numbers.Real) or isinstance(number, bool):
        raise TypeError(f"`bin_ms` must be a number of milliseconds. Got bin_ms={number!r}.")
    return check_positive_number(float(number), "bin_ms")


def _check_leading_shape(name: str, shape: tuple[int, ...], n_axes: int, up_shape: tuple[int, ...]) -> None:
    if tuple(shape[:n_axes]) != tuple(up_shape[:n_axes]):
        axes = "(n_trials, n_bins)" if n_axes == 2 else "(n_trials,)"
        raise DataFormatError(
            f"`{name}` has shape {tuple(shape)} but `upstream` has shape {tuple(up_shape)}; their leading "
            f"axes {axes} must agree."
        )


def _whole_numbers(value: Any, name: str, *, ndim: int, expected: str) -> NDArray[np.int64]:
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be an integer array; got dtype {arr.dtype}.")
    if arr.ndim != ndim:
        raise DataFormatError(f"`{name}` must have shape {expected}; got an array of shape {arr.shape}.")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(f"`{name}` has NaN or infinite values; it must hold whole numbers >= 0.")
        if not np.all(arr == np.round(arr)):
            raise DataFormatError(f"`{name}` must hold whole numbers; it has fractional values.")
    if arr.size and arr.min() < 0:
        raise DataFormatError(f"`{name}` must be >= 0; got min {arr.min()}.")
    return arr.astype(np.int64)


def _recording_from_arrays(arrays: Mapping[str, NDArray], *, name: str) -> Recording:
    up = arrays["upstream"]
    n_trials, n_bins, n_up = up.shape
    if "labels" in arrays:
        labels = arrays["labels"].reshape(-1)
    else:
        labels = np.repeat(arrays["condition"] + 1, n_bins)
    down = arrays.get("downstream")
    behavior = arrays.get("behavior")
    return Recording(
        upstream_spikes=up.reshape(n_trials * n_bins, n_up),
        behavior_labels=labels,
        trial_ids=np.repeat(np.arange(n_trials, dtype=np.int64), n_bins),
        bin_size=float(arrays["bin_ms"]) / 1000.0,
        downstream_spikes=None if down is None else down.reshape(n_trials * n_bins, down.shape[2]),
        behavior_continuous=None
        if behavior is None
        else behavior.reshape(n_trials * n_bins, behavior.shape[2]),
        name=name,
    )


def _trial_arrays_from_recording(recording: Recording) -> dict[str, NDArray]:
    trial_ids = recording.trial_ids
    if np.any(trial_ids < 0):
        raise DataFormatError(
            f"{int((trial_ids < 0).sum())} bins of {recording.name!r} lie outside trials (trial_ids == -1); "
            "a trial-tensor .npz stores whole trials only. Keep only the bins of trials first."
        )
    starts = np.concatenate([[0], np.flatnonzero(np.diff(trial_ids) != 0) + 1])
    lengths = np.diff(np.append(starts, len(trial_ids)))
    run_ids = trial_ids[starts]
    if len(np.unique(run_ids)) != len(run_ids):
        raise DataFormatError(
            f"The trials of {recording.name!r} are not contiguous: some trial id occurs in more than one "
            "run of bins. A trial-tensor .npz needs each trial to be one run of bins."
        )
    if np.any(lengths != lengths[0]):
        raise DataFormatError(
            f"The trials of {recording.name!r} have different lengths ({lengths.min()} to {lengths.max()} "
            "bins); a trial-tensor .npz needs equal-length trials. Cut or pad them to one length first."
        )
    n_trials, n_bins = len(starts), int(lengths[0])
    arrays: dict[str, NDArray] = {
        "upstream": recording.upstream_spikes.reshape(n_trials, n_bins, recording.n_upstream),
        "bin_ms": np.asarray(recording.bin_size * 1000.0),
        "labels": recording.behavior_labels.reshape(n_trials, n_bins),
    }
    if recording.downstream_spikes is not None:
        arrays["downstream"] = recording.downstream_spikes.reshape(n_trials, n_bins, -1)
    if recording.behavior_continuous is not None:
        arrays["behavior"] = recording.behavior_continuous.reshape(n_trials, n_bins, -1)
    return arrays
