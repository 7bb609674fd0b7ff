"""The paper's .mat format: the real rat01 file, and synthetic files for every error path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from spikebridge.data import Recording, load_recording, load_rlpp_mat
from spikebridge.exceptions import DataFormatError


# ---------------------------------------------------------------------- the real file
@pytest.fixture(scope="module")
def rat01(rlpp_dir) -> Recording:
    return load_rlpp_mat(rlpp_dir / "rat01.mat")


@pytest.mark.shared_data
def test_rat01_shapes_and_metadata(rat01):
    assert rat01.n_bins == 166607
    assert rat01.upstream_spikes.shape == (166607, 17)
    assert rat01.downstream_spikes.shape == (166607, 15)
    assert rat01.upstream_spikes.dtype == np.uint8 and rat01.downstream_spikes.dtype == np.uint8
    assert len(rat01.trials) == 202
    np.testing.assert_array_equal(rat01.trials, np.arange(1, 203))  # trialNo's own 1-based ids
    assert rat01.decoder_neurons == (10, 11)  # M1order starts 11, 12 (1-based)
    assert rat01.decoder_history_bins == 60
    assert rat01.bin_size == 0.01
    assert (rat01.upstream_region, rat01.downstream_region, rat01.name) == ("mPFC", "M1", "rat01")
    assert rat01.n_classes == 3


@pytest.mark.shared_data
def test_rat01_labels_and_rates(rat01):
    labels, trials = rat01.behavior_labels, rat01.trial_ids
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert np.all(trials[labels > 0] >= 0)  # the cut-off press before trial 1 is unlabelled
    assert np.all(labels[:206] == 0)
    # README: about 13 spikes/s in mPFC and 19 spikes/s in M1.
    assert rat01.upstream_spikes.mean() / rat01.bin_size == pytest.approx(13, abs=1)
    assert rat01.downstream_spikes.mean() / rat01.bin_size == pytest.approx(19, abs=1)


@pytest.mark.shared_data
def test_rat01_bin_size_override_and_dispatch(rlpp_dir):
    rec = load_rlpp_mat(rlpp_dir / "rat01.mat", bin_size=0.02)
    assert rec.bin_size == 0.02
    assert load_recording(rlpp_dir / "rat01.mat").n_bins == 166607


# ---------------------------------------------------------------------- synthetic files
N_BINS = 40


def _variables(**overrides):
    rng = np.random.default_rng(42)
    segment = np.zeros(N_BINS, dtype=np.uint8)
    trial_no = np.full(N_BINS, np.nan)
    segment[5:15], trial_no[5:15] = 1, 1
    segment[20:30], trial_no[20:30] = 3, 2
    variables = {
        "mPFC": (rng.random((N_BINS, 4)) < 0.2).astype(np.uint8),
        "M1": (rng.random((N_BINS, 5)) < 0.2).astype(np.uint8),
        "segment": segment[None, :],
        "trialNo": trial_no[None, :],
        "M1order": np.array([[4], [2], [5], [1], [3]], dtype=np.uint8),
        "M1num_pre": np.uint8(2),
        "his": np.uint8(3),
        "DataIndex": "synth07",
    }
    variables.update(overrides)
    return {k: v for k, v in variables.items() if v is not None}


def _write(tmp_path, name="synthetic.mat", **overrides):
    path = tmp_path / name
    scipy.io.savemat(path, _variables(**overrides))
    return path


def test_synthetic_file_loads(tmp_path):
    rec = load_rlpp_mat(_write(tmp_path))
    assert rec.upstream_spikes.shape == (N_BINS, 4) and rec.downstream_spikes.shape == (N_BINS, 5)
    assert rec.decoder_neurons == (1, 3)  # ids 4 and 2, 0-based, ascending
    assert rec.decoder_history_bins == 3
    assert rec.name == "synth07"
    np.testing.assert_array_equal(rec.trials, [1, 2])
    assert rec.trial_ids.dtype == np.int64 and rec.trial_ids[0] == -1
    np.testing.assert_array_equal(rec.trial_spans(), [[5, 14], [20, 29]])


def test_file_without_m1_loads_with_no_downstream(tmp_path):
    rec = load_rlpp_mat(_write(tmp_path, M1=None))
    assert rec.downstream_spikes is None and not rec.has_downstream
    assert rec.decoder_neurons == (1, 3)


def test_optional_metadata_may_be_absent(tmp_path):
    rec = load_rlpp_mat(
        _write(tmp_path, "stem_name.mat", M1order=None, M1num_pre=None, his=None, DataIndex=None)
    )
    assert rec.decoder_neurons is None and rec.decoder_history_bins is None
    assert rec.name == "stem_name"


def test_labelled_bins_without_trial_become_unlabelled(tmp_path):
    segment = _variables()["segment"].copy()
    segment[0, :3] = 2  # a press cut off before the first trial: labelled but trialNo NaN
    rec = load_rlpp_mat(_write(tmp_path, segment=segment))
    assert np.all(rec.behavior_labels[:3] == 0)
    np.testing.assert_array_equal(rec.trials, [1, 2])


def test_column_vectors_are_accepted(tmp_path):
    v = _variables()
    rec = load_rlpp_mat(_write(tmp_path, segment=v["segment"].T, trialNo=v["trialNo"].T))
    assert rec.n_bins == N_BINS


@pytest.mark.parametrize("missing", [["mPFC"], ["segment"], ["trialNo"], ["segment", "trialNo"]])
def test_missing_required_variables(tmp_path, missing):
    path = _write(tmp_path, **{name: None for name in missing})
    with pytest.raises(
        DataFormatError, match=f"lacks the required variable\\(s\\) {', '.join(missing)}"
    ) as info:
        load_rlpp_mat(path)
    message = str(info.value)
    assert "the file has" in message and "M1 (40, 5)" in message  # lists what the file does hold


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        load_rlpp_mat(tmp_path / "nope.mat")


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "junk.mat"
    path.write_bytes(b"this is not matlab")
    with pytest.raises(DataFormatError, match="not a readable MATLAB"):
        load_rlpp_mat(path)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"M1": np.zeros((N_BINS - 1, 5), dtype=np.uint8)}, r"`M1` .* has 39 bins .* `mPFC` has 40"),
        ({"segment": np.zeros((1, N_BINS + 2))}, r"`segment` .* shape \(1, 40\).*got shape \(1, 42\)"),
        ({"trialNo": np.zeros((2, N_BINS))}, r"`trialNo` .*one value per bin.*got shape \(2, 40\)"),
        ({"mPFC": np.zeros((4, N_BINS), dtype=np.uint8)}, r"`M1` .* has 40 bins.*`mPFC` looks transposed"),
        ({"mPFC": np.zeros((4, N_BINS), dtype=np.uint8), "M1": None}, r"`segment`.*`mPFC` looks transposed"),
        ({"M1": np.zeros((5, N_BINS), dtype=np.uint8)}, r"`M1` .* has 5 bins.*`M1` looks transposed"),
        ({"mPFC": np.zeros((N_BINS, 2, 2))}, r"`mPFC` .* \(n_bins, n_neurons\) matrix"),
        ({"trialNo": np.full((1, N_BINS), 1.5)}, "whole trial numbers"),
        ({"trialNo": np.full((1, N_BINS), -2.0)}, "negative trial numbers"),
        ({"M1num_pre": None}, "has `M1order` but not `M1num_pre`"),
        ({"M1num_pre": np.uint8(9)}, r"`M1num_pre` = 9 .* exceeds the 5 ids"),
        ({"M1order": np.array([[7], [1]])}, r"1-based neuron ids >= 1 <= 5.*\[7.0, 1.0\]"),
        ({"M1order": np.array([[0], [1]])}, "1-based neuron ids"),
        ({"his": np.array([1, 2])}, "`his` .* must be one number"),
        ({"his": -1.0}, "`his` .* whole number >= 0"),
    ],
)
def test_malformed_variables(tmp_path, overrides, match):
    with pytest.raises(DataFormatError, match=match):
        load_rlpp_mat(_write(tmp_path, **overrides))


def test_spike_counts_above_one_are_an_error_not_clipped(tmp_path):
    up = _variables()["mPFC"].copy()
    up[3, 1] = 2
    with pytest.raises(DataFormatError, match="more than one spike"):
        load_rlpp_mat(_write(tmp_path, mPFC=up))


@pytest.mark.parametrize("bin_size, error", [(0.0, ValueError), ("10ms", TypeError)])
def test_bad_bin_size(tmp_path, bin_size, error):
    with pytest.raises(error, match="bin_size"):
        load_rlpp_mat(_write(tmp_path), bin_size=bin_size)
