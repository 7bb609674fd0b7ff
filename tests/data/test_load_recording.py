"""load_recording: dispatch on the file's suffix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from spikebridge.data import load_recording
from spikebridge.exceptions import DataFormatError


def test_dispatches_mat_and_npz_case_insensitively(tmp_path):
    up = np.zeros((10, 2), dtype=np.uint8)
    labels = np.r_[np.zeros(5), np.ones(5)]
    trials = np.r_[np.full(5, np.nan), np.ones(5)]
    scipy.io.savemat(tmp_path / "a.MAT", {"mPFC": up, "segment": labels[None], "trialNo": trials[None]})
    rec = load_recording(tmp_path / "a.MAT", bin_size=0.005)
    assert (rec.n_bins, rec.bin_size, rec.upstream_region) == (10, 0.005, "mPFC")

    np.savez(tmp_path / "b.npz", upstream=up.reshape(2, 5, 2), condition=np.array([0, 1]), bin_ms=5.0)
    rec = load_recording(str(tmp_path / "b.npz"))
    assert (rec.n_bins, rec.n_classes) == (10, 2)


def test_nwb_path_goes_to_the_nwb_reader(tmp_path):
    with pytest.raises(FileNotFoundError, match="session.nwb"):
        load_recording(tmp_path / "session.nwb")


@pytest.mark.parametrize("name", ["data.csv", "data", "data.mat.gz"])
def test_unknown_suffix_lists_supported_ones(tmp_path, name):
    with pytest.raises(DataFormatError, match=r"Supported suffixes: \.mat, \.npz"):
        load_recording(tmp_path / name)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.npz"):
        load_recording(tmp_path / "gone.npz")
