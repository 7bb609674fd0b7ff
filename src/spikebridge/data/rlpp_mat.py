"""Load the paper's MATLAB recordings (mPFC upstream, M1 downstream, 10 ms bins) into a :class:`Recording`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from numpy.typing import NDArray

from spikebridge._validation import check_positive_number
from spikebridge.data.recording import Recording
from spikebridge.exceptions import DataFormatError

__all__ = ["load_rlpp_mat", "RLPP_BIN_SIZE"]

RLPP_BIN_SIZE = 0.01
"""Bin width of the paper's files in seconds (10 ms); the files do not store it."""

_REQUIRED = ("mPFC", "segment", "trialNo")


def load_rlpp_mat(path: str | os.PathLike[str], *, bin_size: float = RLPP_BIN_SIZE) -> Recording:
    """Load one of the paper's ``.mat`` recordings.

    Parameters
    ----------
    path :
        A MATLAB v5/v7 ``.mat`` file with the variables below.
    bin_size :
        Bin width in seconds. The format's bins are 10 ms and the file does not store it; override only
        for files known to be binned differently.

    Returns
    -------
    recording :
        ``upstream_spikes`` from ``mPFC`` ``(n_bins, n_upstream)``; ``downstream_spikes`` from ``M1``
        ``(n_bins, n_downstream)``, or None when the file has no ``M1``; ``behavior_labels`` from
        ``segment`` ``(n_bins,)``; ``trial_ids`` from ``trialNo`` ``(n_bins,)`` with NaN -> -1; regions
        ``"mPFC"`` and ``"M1"``; ``decoder_neurons`` the 0-based ids of the first ``M1num_pre`` neurons of
        ``M1order``, ascending; ``decoder_history_bins`` from ``his``; ``name`` from ``DataIndex``, else
        the file stem.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If the file is not a readable MATLAB v5/v7 file, lacks ``mPFC``, ``segment`` or ``trialNo``, or
        its variables disagree in shape or range.

    Notes
    -----
    Variables (``n_bins`` bins of 10 ms):

    ======================  ==================  ==================================================
    variable                shape               meaning
    ======================  ==================  ==================================================
    ``mPFC`` (required)     (n_bins, n_up)      upstream spikes, 0/1 per bin
    ``segment`` (required)  (1, n_bins)         0 unlabelled, 1 rest, 2 press low, 3 press high
    ``trialNo`` (required)  (1, n_bins)         trial id of labelled bins, NaN elsewhere
    ``M1``                  (n_bins, n_down)    downstream spikes, 0/1 per bin
    ``M1order``             (n_down, 1)         1-based M1 ids ranked by information, best first
    ``M1num_pre``           scalar              how many top-ranked M1 neurons the decoder reads
    ``his``                 scalar              past bins the decoder reads besides the current
    ``DataIndex``           string              dataset name
    ======================  ==================  ==================================================

    Labelled bins whose ``trialNo`` is NaN belong to no trial; they are set to 0 (unlabelled). In
    ``rat01.mat`` these are 65 bins of a press at the very start, cut off before its trial began.
    Spike counts above 1 are an error (see :class:`Recording`); they are not clipped.

    Examples
    --------
    >>> rec = load_rlpp_mat("rat01.mat")  # doctest: +SKIP
    >>> rec.upstream_spikes.shape, rec.decoder_neurons  # doctest: +SKIP
    ((166607, 17), (10, 11))
    """
    bin_size = check_positive_number(bin_size, "bin_size")
    path = Path(path)
    variables = _read_mat(path)
    missing = [name for name in _REQUIRED if name not in variables]
    if missing:
        raise DataFormatError(
            f"{path} lacks the required variable(s) {', '.join(missing)}. A recording in the paper's format "
            f"needs {', '.join(_REQUIRED)}; the file has {_listing(variables)}."
        )

    upstream = _matrix(variables["mPFC"], "mPFC", path)
    n_bins = upstream.shape[0]
    downstream = None
    if "M1" in variables:
        downstream = _matrix(variables["M1"], "M1", path)
        if downstream.shape[0] != n_bins:
            hint = ""
            if downstream.shape[1] == n_bins:
                hint = " `M1` looks transposed."
            elif downstream.shape[0] == upstream.shape[1]:
                hint = " `mPFC` looks transposed."
            raise DataFormatError(
                f"`M1` in {path} has {downstream.shape[0]} bins (shape {downstream.shape}) but `mPFC` has "
                f"{n_bins} (shape {upstream.shape}). Both must be (n_bins, n_neurons) on the same bins.{hint}"
            )
    segment = _per_bin(variables["segment"], "segment", upstream.shape, path)
    trial_no = _per_bin(variables["trialNo"], "trialNo", upstream.shape, path).astype(np.float64)

    in_trial = np.isfinite(trial_no)
    if np.any(trial_no[in_trial] != np.round(trial_no[in_trial])):
        raise DataFormatError(f"`trialNo` in {path} must hold whole trial numbers or NaN; it has fractions.")
    trial_ids = np.full(n_bins, -1, dtype=np.int64)
    trial_ids[in_trial] = trial_no[in_trial].astype(np.int64)
    if np.any(trial_ids[in_trial] < 0):
        raise DataFormatError(f"`trialNo` in {path} has negative trial numbers; use NaN outside trials.")
    labels = np.asarray(segment)
    if np.issubdtype(labels.dtype, np.floating):
        labels = np.where(np.isnan(labels), 0, labels)  # MATLAB NaN = no label; Recording checks the rest
    labels = np.where(in_trial, labels, 0)

    decoder_neurons = _decoder_neurons(variables, downstream, path)
    his = variables.get("his")
    return Recording(
        upstream_spikes=upstream,
        behavior_labels=labels,
        trial_ids=trial_ids,
        bin_size=bin_size,
        downstream_spikes=downstream,
        upstream_region="mPFC",
        downstream_region="M1",
        decoder_neurons=decoder_neurons,
        decoder_history_bins=None if his is None else _scalar_int(his, "his", path, minimum=0),
        name=_string(variables.get("DataIndex")) or path.stem,
    )


def _read_mat(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"No such .mat file: {path}")
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder; `load_rlpp_mat` needs one .mat file.")
    try:
        raw = scipy.io.loadmat(path)
    except NotImplementedError as err:  # scipy raises this for HDF5-based v7.3 files
        raise DataFormatError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read. Re-save it in MATLAB with "
            "save(filename, ..., '-v7')."
        ) from err
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError) as err:
        raise DataFormatError(f"{path} is not a readable MATLAB v5/v7 .mat file: {err}") from err
    return {key: value for key, value in raw.items() if not key.startswith("__")}


def _listing(variables: dict[str, Any]) -> str:
    if not variables:
        return "no variables"
    return ", ".join(f"{k} {getattr(v, 'shape', '')}".rstrip() for k, v in variables.items())


def _matrix(value: Any, name: str, path: Path) -> NDArray:
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise DataFormatError(
            f"`{name}` in {path} must be a (n_bins, n_neurons) matrix; got shape {arr.shape}."
        )
    return arr


def _per_bin(value: Any, name: str, upstream_shape: tuple[int, ...], path: Path) -> NDArray:
    arr = np.asarray(value)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.ravel()
    n_bins = upstream_shape[0]
    if arr.ndim != 1 or arr.shape[0] != n_bins:
        hint = ""
        if arr.ndim == 1 and arr.shape[0] == upstream_shape[1]:
            hint = " `mPFC` looks transposed."
        raise DataFormatError(
            f"`{name}` in {path} must hold one value per bin, shape (1, {n_bins}), to match `mPFC` of "
            f"shape {upstream_shape}; got shape {np.shape(value)}.{hint}"
        )
    if not np.issubdtype(arr.dtype, np.number) and arr.dtype != bool:
        raise DataFormatError(f"`{name}` in {path} must be numeric; got dtype {arr.dtype}.")
    return arr


def _scalar_int(value: Any, name: str, path: Path, *, minimum: int) -> int:
    arr = np.asarray(value)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
        raise DataFormatError(
            f"`{name}` in {path} must be one number; got shape {arr.shape}, dtype {arr.dtype}."
        )
    number = arr.item()
    if not float(number).is_integer() or number < minimum:
        raise DataFormatError(f"`{name}` in {path} must be a whole number >= {minimum}; got {number!r}.")
    return int(number)


def _decoder_neurons(
    variables: dict[str, Any], downstream: NDArray | None, path: Path
) -> tuple[int, ...] | None:
    has_order, has_num = "M1order" in variables, "M1num_pre" in variables
    if not (has_order or has_num):
        return None
    if not (has_order and has_num):
        present, absent = ("M1order", "M1num_pre") if has_order else ("M1num_pre", "M1order")
        raise DataFormatError(
            f"{path} has `{present}` but not `{absent}`; the decoder's neurons need both (or neither)."
        )
    order = np.asarray(variables["M1order"])
    if (
        order.ndim > 2
        or (order.ndim == 2 and 1 not in order.shape)
        or not np.issubdtype(order.dtype, np.number)
    ):
        raise DataFormatError(f"`M1order` in {path} must be a vector of neuron ids; got shape {order.shape}.")
    order = order.ravel().astype(np.float64)
    n_pre = _scalar_int(variables["M1num_pre"], "M1num_pre", path, minimum=1)
    if n_pre > order.size:
        raise DataFormatError(f"`M1num_pre` = {n_pre} in {path} exceeds the {order.size} ids in `M1order`.")
    chosen = order[:n_pre]
    n_down = None if downstream is None else downstream.shape[1]
    if (
        not np.all(chosen == np.round(chosen))
        or chosen.min() < 1
        or (n_down is not None and chosen.max() > n_down)
    ):
        limit = "" if n_down is None else f" <= {n_down} (the number of M1 neurons)"
        raise DataFormatError(
            f"`M1order` in {path} must hold 1-based neuron ids >= 1{limit}; its first {n_pre} are "
            f"{chosen.tolist()}."
        )
    return tuple(sorted(int(i) - 1 for i in chosen))


def _string(value: Any) -> str:
    """Return a MATLAB char array as a str ('' when absent or empty)."""
    if value is None:
        return ""
    arr = np.asarray(value)
    if arr.dtype.kind != "U" or arr.size == 0:
        return ""
    return "".join(str(x) for x in arr.ravel()).strip()
