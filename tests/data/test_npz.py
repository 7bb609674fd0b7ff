"""Trial-tensor .npz files: loading, every error path, and a save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.data import Recording, load_recording, load_trial_npz, save_trial_npz
from spikebridge.exceptions import DataFormatError

N_TRIALS, N_BINS, N_UP, N_DOWN = 4, 6, 3, 2


def _arrays(**overrides):
    rng = np.random.default_rng(42)
    arrays = {
        "upstream": (rng.random((N_TRIALS, N_BINS, N_UP)) < 0.3).astype(np.uint8),
        "downstream": (rng.random((N_TRIALS, N_BINS, N_DOWN)) < 0.3).astype(np.uint8),
        "behavior": rng.normal(size=(N_TRIALS, N_BINS, 2)),
        "condition": np.array([0, 2, 1, 0]),
        "bin_ms": np.asarray(20.0),
    }
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def _write(tmp_path, name="trials.npz", **overrides):
    path = tmp_path / name
    np.savez(path, **_arrays(**overrides))
    return path


def test_load_concatenates_trials_along_time(tmp_path):
    arrays = _arrays()
    rec = load_trial_npz(_write(tmp_path))
    assert rec.n_bins == N_TRIALS * N_BINS
    assert rec.bin_size == pytest.approx(0.02)
    assert rec.name == "trials"
    np.testing.assert_array_equal(rec.upstream_spikes[N_BINS : 2 * N_BINS], arrays["upstream"][1])
    np.testing.assert_array_equal(rec.downstream_spikes[-N_BINS:], arrays["downstream"][-1])
    np.testing.assert_array_equal(rec.behavior_continuous[:N_BINS], arrays["behavior"][0])
    np.testing.assert_array_equal(rec.trial_ids, np.repeat(np.arange(N_TRIALS), N_BINS))
    np.testing.assert_array_equal(rec.trials, np.arange(N_TRIALS))


def test_condition_gives_condition_plus_one_in_every_bin(tmp_path):
    rec = load_trial_npz(_write(tmp_path))
    np.testing.assert_array_equal(rec.behavior_labels, np.repeat([1, 3, 2, 1], N_BINS))
    assert rec.n_classes == 3


def test_labels_take_precedence_over_condition(tmp_path):
    labels = np.zeros((N_TRIALS, N_BINS), dtype=int)
    labels[:, 2:5] = 1
    labels[1, 3] = 2
    rec = load_trial_npz(_write(tmp_path, labels=labels))
    np.testing.assert_array_equal(rec.behavior_labels, labels.ravel())
    np.testing.assert_array_equal(
        rec.trial_spans(), [[2 + i * N_BINS, 4 + i * N_BINS] for i in range(N_TRIALS)]
    )


def test_minimal_file_and_2d_behavior(tmp_path):
    rec = load_trial_npz(_write(tmp_path, downstream=None, behavior=None))
    assert rec.downstream_spikes is None and rec.behavior_continuous is None
    rec = load_trial_npz(_write(tmp_path, behavior=np.ones((N_TRIALS, N_BINS))))
    assert rec.behavior_continuous.shape == (N_TRIALS * N_BINS, 1)


def test_needs_labels_or_condition(tmp_path):
    with pytest.raises(DataFormatError, match="needs labels or condition"):
        load_trial_npz(_write(tmp_path, condition=None))


def test_unknown_keys_list_the_allowed_keys(tmp_path):
    with pytest.raises(DataFormatError, match="Unknown key\\(s\\) spikes.*only upstream, bin_ms, downstream"):
        load_trial_npz(_write(tmp_path, spikes=np.zeros(3)))


@pytest.mark.parametrize("missing", ["upstream", "bin_ms"])
def test_missing_required_keys(tmp_path, missing):
    with pytest.raises(DataFormatError, match=f"Missing required key\\(s\\) {missing}"):
        load_trial_npz(_write(tmp_path, **{missing: None}))


@pytest.mark.parametrize(
    "key, value, match",
    [
        (
            "downstream",
            np.zeros((N_TRIALS, N_BINS + 1, N_DOWN)),
            r"`downstream` has shape \(4, 7, 2\) but `upstream` has "
            r"shape \(4, 6, 3\)",
        ),
        (
            "behavior",
            np.zeros((N_TRIALS + 1, N_BINS, 2)),
            r"`behavior` has shape \(5, 6, 2\) but `upstream` has",
        ),
        (
            "condition",
            np.zeros(N_TRIALS - 1, dtype=int),
            r"`condition` has shape \(3,\) but `upstream` has shape",
        ),
        ("labels", np.ones((N_TRIALS, N_BINS - 1), dtype=int), r"`labels` has shape \(4, 5\) but `upstream`"),
        ("labels", np.ones(N_TRIALS * N_BINS, dtype=int), r"`labels` must have shape \(n_trials, n_bins\)"),
        (
            "upstream",
            np.zeros((N_TRIALS * N_BINS, N_UP)),
            r"`upstream` must have shape \(n_trials, n_bins, n_neurons\)",
        ),
        (
            "behavior",
            np.zeros((N_TRIALS, N_BINS, 2, 1)),
            r"`behavior` must have shape \(n_trials, n_bins, k\)",
        ),
    ],
)
def test_shape_mismatches_name_both_shapes(tmp_path, key, value, match):
    with pytest.raises(DataFormatError, match=match):
        load_trial_npz(_write(tmp_path, **{key: value}))


@pytest.mark.parametrize("key", ["upstream", "downstream"])
@pytest.mark.parametrize(
    "dtype, bad_value, match",
    [
        (float, np.nan, "NaN"),
        (int, -1, "negative spike counts"),
        (float, 0.5, "non-integer"),
        (np.uint8, 3, "more than one spike"),
    ],
)
def test_bad_counts(tmp_path, key, dtype, bad_value, match):
    spikes = _arrays()[key].astype(dtype)
    spikes[1, 2, 0] = bad_value
    with pytest.raises(DataFormatError, match=f"`{key}` .*{match}"):
        load_trial_npz(_write(tmp_path, **{key: spikes}))


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        ({"bin_ms": np.asarray(0.0)}, ValueError, "`bin_ms` must be a positive"),
        ({"bin_ms": np.array([10.0, 20.0])}, DataFormatError, "`bin_ms` must be one number"),
        ({"bin_ms": np.asarray("10")}, TypeError, "`bin_ms` must be a number"),
        ({"condition": np.array([0, -1, 1, 0])}, DataFormatError, "`condition` must be >= 0"),
        ({"condition": np.array([0, 0.5, 1, 0])}, DataFormatError, "`condition` must hold whole numbers"),
        ({"labels": np.zeros((N_TRIALS, N_BINS))}, DataFormatError, "`labels` is 0 .* in all 4 x 6 bins"),
        ({"labels": np.full((N_TRIALS, N_BINS), np.nan)}, DataFormatError, "`labels` has NaN"),
    ],
)
def test_bad_scalars_and_classes(tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        load_trial_npz(_write(tmp_path, **overrides))


def test_missing_file_and_non_npz(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_trial_npz(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive")
    with pytest.raises(DataFormatError, match="not a readable .npz"):
        load_trial_npz(junk)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(DataFormatError, match="single .npy array"):
        load_trial_npz(single)


def test_error_messages_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="bad_file.npz: Unknown key"):
        load_trial_npz(_write(tmp_path, "bad_file.npz", extra=np.zeros(1)))


# ---------------------------------------------------------------------- saving
def _assert_same(a: Recording, b: Recording):
    np.testing.assert_array_equal(a.upstream_spikes, b.upstream_spikes)
    np.testing.assert_array_equal(a.behavior_labels, b.behavior_labels)
    np.testing.assert_array_equal(a.trial_ids, b.trial_ids)
    for name in ("downstream_spikes", "behavior_continuous"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert a.bin_size == pytest.approx(b.bin_size, rel=1e-12)


def test_round_trip_recording(tmp_path):
    rec = load_trial_npz(_write(tmp_path))
    out = save_trial_npz(tmp_path / "copy" / "again.npz", rec)
    assert out == tmp_path / "copy" / "again.npz"
    again = load_trial_npz(out)
    _assert_same(rec, again)
    assert again.upstream_spikes.dtype == np.uint8
    with np.load(out) as stored:
        assert sorted(stored.files) == ["behavior", "bin_ms", "downstream", "labels", "upstream"]
        assert stored["upstream"].dtype == np.uint8 and stored["upstream"].shape == (N_TRIALS, N_BINS, N_UP)
    assert sorted(p.name for p in out.parent.iterdir()) == ["again.npz"]  # no temp file left


def test_round_trip_arrays_as_keywords_and_mapping(tmp_path):
    arrays = _arrays(downstream=None)
    path = save_trial_npz(tmp_path / "kw.npz", **arrays)
    with np.load(path) as stored:
        np.testing.assert_array_equal(stored["condition"], arrays["condition"])
        np.testing.assert_array_equal(stored["upstream"], arrays["upstream"])
    _assert_same(load_trial_npz(path), load_trial_npz(save_trial_npz(tmp_path / "map.npz", arrays)))
    assert load_recording(path).n_bins == N_TRIALS * N_BINS


def test_save_validates_before_writing(tmp_path):
    path = tmp_path / "never.npz"
    with pytest.raises(DataFormatError, match="needs labels or condition"):
        save_trial_npz(path, **_arrays(condition=None))
    with pytest.raises(DataFormatError, match="Unknown key"):
        save_trial_npz(path, {**_arrays(), "rates": np.zeros(2)})
    assert not any(tmp_path.iterdir())


def test_save_argument_errors(tmp_path):
    rec = load_trial_npz(_write(tmp_path))
    with pytest.raises(TypeError, match="not both"):
        save_trial_npz(tmp_path / "x.npz", rec, bin_ms=10.0)
    with pytest.raises(TypeError, match="needs a recording or arrays"):
        save_trial_npz(tmp_path / "x.npz")
    with pytest.raises(TypeError, match="must be a Recording or a mapping"):
        save_trial_npz(tmp_path / "x.npz", np.zeros(3))


def _recording(trial_ids, labels=None):
    n = len(trial_ids)
    labels = np.ones(n, dtype=int) if labels is None else labels
    return Recording(
        upstream_spikes=np.zeros((n, 2)), behavior_labels=labels, trial_ids=trial_ids, bin_size=0.01
    )


@pytest.mark.parametrize(
    "trial_ids, labels, match",
    [
        ([0, 0, 1, 1, -1], [1, 1, 1, 1, 0], "1 bins .* lie outside trials"),
        ([0, 0, 1, 1, 1], None, r"different lengths \(2 to 3 bins\)"),
        ([0, 1, 0, 1], None, "not contiguous"),
    ],
)
def test_save_rejects_recordings_that_are_not_equal_trials(tmp_path, trial_ids, labels, match):
    rec = _recording(np.array(trial_ids), None if labels is None else np.array(labels))
    with pytest.raises(DataFormatError, match=match):
        save_trial_npz(tmp_path / "x.npz", rec)
    assert not any(tmp_path.iterdir())


def test_save_renumbers_trials_in_time_order(tmp_path):
    rec = _recording(np.array([7, 7, 3, 3, 5, 5]), np.array([1, 0, 2, 2, 0, 1]))
    again = load_trial_npz(save_trial_npz(tmp_path / "r.npz", rec))
    np.testing.assert_array_equal(again.trial_ids, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(again.behavior_labels, rec.behavior_labels)
