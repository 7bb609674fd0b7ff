"""Recording: every bad input raises a typed error that names it; good input gives the derived views."""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise

import numpy as np
import pytest

from spikebridge.data import Recording
from spikebridge.exceptions import DataFormatError

N_BINS = 12


def _parts(**overrides):
    """Return a small valid recording's arguments: 2 trials of 4 labelled bins, gaps unlabelled."""
    rng = np.random.default_rng(42)
    labels = np.array([0, 1, 1, 2, 2, 0, 0, 1, 3, 3, 3, 0])
    trials = np.array([-1, 0, 0, 0, 0, -1, -1, 1, 1, 1, 1, -1])
    parts = dict(
        upstream_spikes=(rng.random((N_BINS, 3)) < 0.3).astype(np.uint8),
        behavior_labels=labels,
        trial_ids=trials,
        bin_size=0.01,
        downstream_spikes=(rng.random((N_BINS, 2)) < 0.3).astype(np.uint8),
    )
    parts.update(overrides)
    return parts


def test_valid_recording_and_derived_values():
    rec = Recording(**_parts(upstream_region="mPFC", downstream_region="M1", decoder_neurons=[1, 0]))
    assert (rec.n_bins, rec.n_upstream, rec.n_downstream, rec.n_classes) == (N_BINS, 3, 2, 3)
    assert rec.has_downstream
    assert rec.upstream_spikes.dtype == np.uint8
    assert rec.behavior_labels.dtype == np.int64 and rec.trial_ids.dtype == np.int64
    np.testing.assert_array_equal(rec.trials, [0, 1])
    np.testing.assert_array_equal(rec.trial_spans(), [[1, 4], [7, 10]])
    assert rec.upstream_names == ("up0", "up1", "up2") and rec.downstream_names == ("down0", "down1")
    assert rec.decoder_neurons == (1, 0)
    assert "2 trials" in rec.describe() and "M1" in rec.describe()
    lesioned = rec.lesioned()
    assert lesioned.downstream_spikes is None and lesioned.n_downstream is None
    assert "no M1 recording" in lesioned.describe()


def test_recording_is_frozen():
    rec = Recording(**_parts())
    with pytest.raises(AttributeError):
        rec.bin_size = 0.02


def test_labels_and_trials_accept_row_vectors_and_whole_floats():
    rec = Recording(
        **_parts(
            behavior_labels=_parts()["behavior_labels"][None, :].astype(float),
            trial_ids=_parts()["trial_ids"][:, None].astype(float),
        )
    )
    assert rec.behavior_labels.shape == (N_BINS,) and rec.trial_ids.shape == (N_BINS,)


@pytest.mark.parametrize(
    "bin_size, expectation",
    [
        (0.01, does_not_raise()),
        (np.float32(0.005), does_not_raise()),
        (1, does_not_raise()),
        (0.0, pytest.raises(ValueError, match="bin_size.*positive finite")),
        (-0.01, pytest.raises(ValueError, match="bin_size.*positive finite")),
        (float("nan"), pytest.raises(ValueError, match="bin_size.*positive finite")),
        (float("inf"), pytest.raises(ValueError, match="bin_size.*positive finite")),
        ("10ms", pytest.raises(TypeError, match="`bin_size` must be a number")),
        (None, pytest.raises(TypeError, match="`bin_size` must be a number")),
        (True, pytest.raises(TypeError, match="`bin_size` must be a number")),
    ],
)
def test_bin_size_is_validated(bin_size, expectation):
    with expectation:
        assert Recording(**_parts(bin_size=bin_size)).bin_size == float(bin_size)


@pytest.mark.parametrize("field", ["upstream_spikes", "downstream_spikes"])
@pytest.mark.parametrize(
    "dtype, bad_value, match",
    [
        (float, np.nan, "contains 1 NaN values"),
        (int, -1, r"negative spike counts \(min -1\)"),
        (np.uint8, 2, r"1 bins with more than one spike \(max 2\).*np.minimum"),
        (float, 0.5, "non-integer values"),
        (float, np.inf, "non-integer values"),
    ],
    ids=["nan", "negative", "count_above_one", "fractional", "inf"],
)
def test_bad_spike_values(field, dtype, bad_value, match):
    spikes = _parts()[field].astype(dtype)
    spikes[0, 0] = bad_value
    with pytest.raises(DataFormatError, match=f"`{field}` .*{match}"):
        Recording(**_parts(**{field: spikes}))


@pytest.mark.parametrize(
    "spikes, error, match",
    [
        (np.zeros(N_BINS), DataFormatError, r"must have shape \(n_bins, n_neurons\)"),
        (np.zeros((N_BINS, 0)), DataFormatError, "is empty"),
        (np.array([["a"] * 2] * N_BINS), TypeError, "numeric array of spike counts"),
        (np.full((N_BINS, 2), None, dtype=object), TypeError, "numeric array of spike counts"),
    ],
)
def test_bad_spike_arrays(spikes, error, match):
    with pytest.raises(error, match=match):
        Recording(**_parts(upstream_spikes=spikes))


def test_bool_spikes_are_accepted():
    rec = Recording(**_parts(upstream_spikes=_parts()["upstream_spikes"].astype(bool)))
    assert rec.upstream_spikes.dtype == np.uint8


@pytest.mark.parametrize(
    "field, value",
    [
        ("upstream_spikes", np.zeros((N_BINS - 1, 3))),
        ("downstream_spikes", np.zeros((N_BINS + 1, 2))),
        ("behavior_labels", np.ones(N_BINS - 2)),
        ("trial_ids", np.zeros(N_BINS + 3)),
        ("behavior_continuous", np.zeros((N_BINS - 1, 2))),
    ],
)
def test_n_bins_mismatch(field, value):
    with pytest.raises(DataFormatError, match=f"same number of bins.*{field}="):
        Recording(**_parts(**{field: value}))


@pytest.mark.parametrize("field", ["behavior_labels", "trial_ids"])
@pytest.mark.parametrize(
    "value, error, match",
    [
        (np.where(np.arange(N_BINS) == 3, np.nan, 1.0), DataFormatError, "NaN"),
        (np.where(np.arange(N_BINS) == 3, np.inf, 1.0), DataFormatError, "infinite"),
        (np.full(N_BINS, 1.5), DataFormatError, "whole numbers"),
        (np.ones((N_BINS, 2)), DataFormatError, r"must have shape \(n_bins,\)"),
        (np.array(["1"] * N_BINS), TypeError, "must be numeric"),
    ],
)
def test_bad_label_and_trial_vectors(field, value, error, match):
    with pytest.raises(error, match=f"`{field}`.*{match}"):
        Recording(**_parts(**{field: value}))


def test_negative_labels():
    labels = _parts()["behavior_labels"].copy()
    labels[0] = -1
    with pytest.raises(DataFormatError, match=r"`behavior_labels` must be >= 0.*got min -1"):
        Recording(**_parts(behavior_labels=labels))


def test_no_labelled_bins():
    with pytest.raises(DataFormatError, match="no labelled bins"):
        Recording(**_parts(behavior_labels=np.zeros(N_BINS, dtype=int)))


def test_labelled_bins_outside_trials_warn_and_are_left_out_of_trials():
    trials = _parts()["trial_ids"].copy()
    trials[7:11] = -1  # all of trial 1
    with pytest.warns(UserWarning, match="4 labelled bins have no trial.*set their label to 0"):
        rec = Recording(**_parts(trial_ids=trials))
    np.testing.assert_array_equal(rec.trials, [0])
    np.testing.assert_array_equal(rec.trial_spans(), [[1, 4]])


def test_behavior_continuous_checks():
    rec = Recording(**_parts(behavior_continuous=np.arange(N_BINS, dtype=float)))
    assert rec.behavior_continuous.shape == (N_BINS, 1)
    with pytest.raises(DataFormatError, match=r"n_behavior_dims\); got \(12, 2, 1\)"):
        Recording(**_parts(behavior_continuous=np.zeros((N_BINS, 2, 1))))
    cont = np.zeros((N_BINS, 2))
    cont[0] = np.nan  # an unlabelled bin: allowed
    Recording(**_parts(behavior_continuous=cont))
    cont[1] = np.nan  # a labelled bin: not allowed
    with pytest.raises(DataFormatError, match="NaN or infinite values in labelled bins"):
        Recording(**_parts(behavior_continuous=cont))


def test_neuron_names():
    rec = Recording(**_parts(upstream_names=["a", "b", "c"]))
    assert rec.upstream_names == ("a", "b", "c")
    with pytest.raises(DataFormatError, match="`downstream_names` has 3 names for 2 neurons"):
        Recording(**_parts(downstream_names=("x", "y", "z")))
    with pytest.warns(UserWarning, match="duplicate names"):
        Recording(**_parts(upstream_names=("a", "a", "b")))


def test_decoder_neurons_must_index_downstream():
    with pytest.raises(DataFormatError, match=r"`decoder_neurons` \(0, 2\) index past the 2"):
        Recording(**_parts(decoder_neurons=(0, 2)))
    with pytest.raises(DataFormatError, match="index past"):
        Recording(**_parts(decoder_neurons=(-1,)))
