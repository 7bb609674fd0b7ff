"""Recordings and their file formats: the paper's ``.mat``, trial-tensor ``.npz``, and trial folds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from spikebridge.data.folds import trial_folds
from spikebridge.data.neo_interop import recording_from_neo, recording_to_neo
from spikebridge.data.npz import load_trial_npz, save_trial_npz
from spikebridge.data.nwb import load_nwb, recording_to_nwb, save_generated_nwb
from spikebridge.data.recording import Recording
from spikebridge.data.rlpp_mat import load_rlpp_mat
from spikebridge.exceptions import DataFormatError

__all__ = [
    "load_nwb",
    "recording_from_neo",
    "recording_to_neo",
    "recording_to_nwb",
    "save_generated_nwb",
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
        A ``.mat`` file in the paper's format (read by :func:`load_rlpp_mat`), a trial-tensor ``.npz``
        file (read by :func:`load_trial_npz`) or an ``.nwb`` file (read by
        :func:`spikebridge.data.nwb.load_nwb`; needs ``pip install spikebridge[nwb]``). The suffix is
        matched case-insensitively.
    **kwargs :
        Passed on to the reader, e.g. ``bin_size`` for :func:`load_rlpp_mat`, or ``upstream_location``
        for ``load_nwb``.

    Returns
    -------
    recording :
        See the reader's documentation.

    Raises
    ------
    DataFormatError
        If the suffix is not one of the supported suffixes, or the reader rejects the file.
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".nwb":
        from spikebridge.data.nwb import load_nwb  # needs the optional pynwb: imported only for .nwb files

        return load_nwb(path, **kwargs)
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise DataFormatError(
            f"Cannot tell the format of {path} from its suffix {path.suffix!r}. Supported suffixes: "
            f"{', '.join(_LOADERS)}, .nwb (.mat = the paper's MATLAB format, .npz = trial tensors, "
            ".nwb = Neurodata Without Borders)."
        )
    return loader(path, **kwargs)
