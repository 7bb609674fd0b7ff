"""Recordings and their file formats: the paper's ``.mat``, trial-tensor ``.npz``, and trial folds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from spikebridge.data.folds import trial_folds
from spikebridge.data.npz import load_trial_npz, save_trial_npz
from spikebridge.data.recording import Recording
from spikebridge.data.rlpp_mat import load_rlpp_mat
from spikebridge.exceptions import DataFormatError

__all__ = [
    "Recording",
    "load_recording",
    "load_rlpp_mat",
    "load_trial_npz",
    "save_trial_npz",
    "trial_folds",
]

_LOADERS = {".mat": load_rlpp_mat, ".npz": load_trial_npz}


def load_recording(path: str | os.PathLike[str], **kwargs: Any) -> Recording:
    """Load a recording, choosing the reader by the file's suffix.

    Parameters
    ----------
    path :
        A ``.mat`` file in the paper's format (read by :func:`load_rlpp_mat`) or a trial-tensor ``.npz``
        file (read by :func:`load_trial_npz`). The suffix is matched case-insensitively.
    **kwargs :
        Passed on to the reader, e.g. ``bin_size`` for :func:`load_rlpp_mat`.

    Returns
    -------
    recording :
        See the reader's documentation.

    Raises
    ------
    DataFormatError
        If the suffix is ``.nwb`` (not supported yet) or not one of the supported suffixes, or the reader
        rejects the file.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        raise DataFormatError(
            f"Cannot read {path}: NWB support is coming but not available yet. Convert it to a trial-tensor "
            ".npz (see spikebridge.data.save_trial_npz) for now."
        )
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise DataFormatError(
            f"Cannot tell the format of {path} from its suffix {path.suffix!r}. Supported suffixes: "
            f"{', '.join(_LOADERS)} (.mat = the paper's MATLAB format, .npz = trial tensors)."
        )
    return loader(path, **kwargs)
