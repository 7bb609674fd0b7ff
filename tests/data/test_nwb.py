"""NWB files: a public two-region layout, every error path, round trips and generated-spike files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pynwb = pytest.importorskip("pynwb", reason="needs the nwb extra: pip install spikebridge[nwb]")
from pynwb.testing.mock.file import mock_NWBFile  # noqa: E402

from spikebridge.data import load_recording  # noqa: E402
from spikebridge.data.nwb import (  # noqa: E402
    _bin_spike_times,
    load_nwb,
    recording_to_nwb,
    save_generated_nwb,
)
from spikebridge.data.recording import Recording  # noqa: E402
from spikebridge.exceptions import DataFormatError  # noqa: E402
from spikebridge.simulate import simulate_lever_task, simulate_reach_task  # noqa: E402

DURATION = 6.0  # seconds
PMD_RATES = (10.0, 20.0, 30.0, 40.0)  # spikes/s of the PMd units, ids 0..3
M1_RATES = (15.0, 25.0, 50.0)  # spikes/s of the M1 units, ids 4..6
TARGETS = ("right", "up", "left", "up", "right")  # sorted: left=1, right=2, up=3
TRIAL_STARTS = 0.5 + 1.1 * np.arange(len(TARGETS))


def _session(*, units=True, trials=True, link="electrodes"):
    """Build, in memory, an NWB file laid out like a public PMd/M1 reaching dataset (e.g. DANDI 000128).

    Units fire regularly at known rates, trials last 1 s with a ``target`` and a ``move_onset_time``
    0.4 s after their start, and ``processing["behavior"]["hand_velocity"]`` is ``(t, -2 t)`` at 100 Hz.
    """
    nwbfile = mock_NWBFile()
    device = nwbfile.create_device(name="Utah arrays")
    groups = {region: nwbfile.create_electrode_group(name=region, description=f"{region} array",
                                                     location=region, device=device)
              for region in ("PMd", "M1")}
    regions = ["PMd"] * len(PMD_RATES) + ["M1"] * len(M1_RATES)
    for region in regions:
        nwbfile.add_electrode(group=groups[region], location=region)
    if units:
        for unit, (region, rate) in enumerate(zip(regions, PMD_RATES + M1_RATES)):
            times = (np.arange(int(DURATION * rate)) + 0.3) / rate
            link_to = {"electrodes": [unit]} if link == "electrodes" else {"electrode_group": groups[region]}
            nwbfile.add_unit(spike_times=times, **link_to)
    if trials:
        nwbfile.add_trial_column(name="target", description="Reach target.")
        nwbfile.add_trial_column(name="move_onset_time", description="Movement onset, s.")
        for start, target in zip(TRIAL_STARTS, TARGETS):
            nwbfile.add_trial(start_time=start, stop_time=start + 1.0, target=target,
                              move_onset_time=start + 0.4)
    behavior = nwbfile.create_processing_module(name="behavior", description="Hand kinematics.")
    t = np.arange(601) / 100.0
    behavior.add(pynwb.TimeSeries(name="hand_velocity", data=np.stack([t, -2 * t], axis=1), unit="cm/s",
                                  rate=100.0, starting_time=0.0))
    return nwbfile


def _write(nwbfile, path):
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


LOAD = dict(upstream_location="PMd", downstream_location="M1", behavior_series="hand_velocity",
            condition_column="target")


# ---------------------------------------------------------------------- the public layout
def test_loads_a_two_region_file_from_disk(tmp_path):
    rec = load_nwb(_write(_session(), tmp_path / "sub-J_ses-1.nwb"), **LOAD)
    assert (rec.n_bins, rec.n_upstream, rec.n_downstream) == (600, 4, 3)
    assert (rec.upstream_region, rec.downstream_region) == ("PMd", "M1")
    assert (rec.name, rec.bin_size) == ("sub-J_ses-1", 0.01)
    np.testing.assert_allclose(rec.upstream_spikes.mean(0) / rec.bin_size, PMD_RATES)
    np.testing.assert_allclose(rec.downstream_spikes.mean(0) / rec.bin_size, M1_RATES)
    first = np.round(TRIAL_STARTS / 0.01).astype(int)
    expected_labels = np.zeros(600, dtype=int)
    expected_trials = np.full(600, -1)
    for k, (a, label) in enumerate(zip(first, [2, 3, 1, 3, 2])):
        expected_labels[a:a + 100] = label
        expected_trials[a:a + 100] = k
    np.testing.assert_array_equal(rec.behavior_labels, expected_labels)
    np.testing.assert_array_equal(rec.trial_ids, expected_trials)
    centres = (np.arange(600) + 0.5) * 0.01
    np.testing.assert_allclose(rec.behavior_continuous, np.stack([centres, -2 * centres], axis=1), atol=1e-12)
    assert rec.upstream_names == ("0", "1", "2", "3")


def test_units_with_an_electrode_group_column_and_load_recording(tmp_path):
    path = _write(_session(link="electrode_group"), tmp_path / "session.nwb")
    rec = load_recording(path, **LOAD)
    assert (rec.n_upstream, rec.n_downstream, rec.n_classes) == (4, 3, 3)


def test_trial_window_offsets_from_align_to_column():
    rec = load_nwb(_session(), **LOAD, trial_window=(-0.1, 0.3), align_to="move_onset_time")
    onset = np.round((TRIAL_STARTS + 0.4) / 0.01).astype(int)
    np.testing.assert_array_equal(np.flatnonzero(rec.trial_ids == 2), np.arange(onset[2] - 10, onset[2] + 30))
    assert (rec.behavior_labels > 0).sum() == 5 * 40
    both_columns = load_nwb(_session(), **LOAD, trial_window=("start_time", "move_onset_time"))
    assert (both_columns.trial_ids == 0).sum() == 40


def test_nan_windows_are_skipped_and_overlaps_warned():
    nwbfile = _session()
    nwbfile.trials["move_onset_time"].data[1] = np.nan  # e.g. a failed trial without a movement
    with pytest.warns(UserWarning, match=r"1 of 5 trials have a NaN trial window edge.*trial ids 1\)"):
        rec = load_nwb(nwbfile, **LOAD, trial_window=(-0.1, 0.3), align_to="move_onset_time")
    np.testing.assert_array_equal(rec.trials, [0, 2, 3, 4])
    with pytest.warns(UserWarning, match="40 bins lie in more than one of the trial windows"):
        rec = load_nwb(_session(), **LOAD, trial_window=(0.0, 1.2))
    assert (rec.trial_ids == 0).sum() == 110  # 120 bins, less the 10 that trial 1 (1.1 s later) takes


def test_unit_ids_pick_units_in_the_given_order():
    rec = load_nwb(_session(), upstream_unit_ids=[2, 0], downstream_unit_ids=[6], condition_column="target",
                   t_start=0.0, t_stop=DURATION)
    assert rec.n_bins == 600
    assert (rec.upstream_names, rec.upstream_region, rec.downstream_region) == (("2", "0"), "PMd", "M1")
    np.testing.assert_allclose(rec.upstream_spikes.mean(0) / rec.bin_size, [30.0, 10.0])
    assert rec.behavior_continuous is None


def test_label_column_of_integer_labels():
    nwbfile = _session()
    nwbfile.add_trial_column(name="outcome", description="1 = success, 2 = failure",
                             data=[1, 1, 2, 1, 0])
    rec = load_nwb(nwbfile, upstream_location="PMd", label_column="outcome")
    assert rec.downstream_spikes is None
    assert [int(rec.behavior_labels[rec.trial_ids == k][0]) for k in range(5)] == [1, 1, 2, 1, 0]


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("build, kwargs, match", [
    (dict(units=False), LOAD, r"no units table.*processing modules \['behavior'\]"),
    (dict(), {**LOAD, "upstream_location": "PFC"},
     r"No units are in upstream_location='PFC'.*'M1' \(3 units\), 'PMd' \(4 units\)"),
    (dict(trials=False), LOAD, "no trials table"),
    (dict(), {**LOAD, "upstream_location": None, "upstream_unit_ids": [0, 99]},
     r"ids \[99\].*0, 1, 2, 3, 4, 5, 6"),
    (dict(), {**LOAD, "behavior_series": "eye_position"},
     r"no TimeSeries named 'eye_position'.*behavior/hand_vel"),
    (dict(), {**LOAD, "condition_column": "reach_dir"},
     r"no column 'reach_dir'.*'target', 'move_onset_time'"),
    (dict(), {**LOAD, "condition_column": None}, "Say where the behaviour labels are"),
    (dict(), {"condition_column": "target"}, r"Say which units are upstream.*'PMd' \(4 units\)"),
])
def test_broken_files_name_what_is_missing_and_what_exists(build, kwargs, match):
    with pytest.raises(DataFormatError, match=match):
        load_nwb(_session(**build), **kwargs)


def test_overlapping_selections_and_conflicting_arguments():
    with pytest.raises(DataFormatError, match="both upstream and downstream"):
        load_nwb(_session(), upstream_unit_ids=[0, 1], downstream_unit_ids=[1], condition_column="target")
    with pytest.raises(ValueError, match="not both"):
        load_nwb(_session(), upstream_location="PMd", upstream_unit_ids=[0], condition_column="target")
    with pytest.raises(ValueError, match="align_to"):
        load_nwb(_session(), **LOAD, align_to="move_onset_time")


def test_several_spikes_in_a_bin_raise_unless_clip_counts():
    with pytest.raises(DataFormatError, match=r"more than one spike at bin_size=0.05.*bin_size=0.025.*clip_"):
        load_nwb(_session(), **LOAD, bin_size=0.05)
    with pytest.warns(UserWarning, match=r"clip_counts=True: \d+ bins of 4 units .* \(\d+ spikes dropped\)"):
        rec = load_nwb(_session(), **LOAD, bin_size=0.05, clip_counts=True)
    assert rec.upstream_spikes.max() == 1


def test_missing_and_non_nwb_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.nwb"):
        load_nwb(tmp_path / "gone.nwb")
    (tmp_path / "text.nwb").write_text("not hdf5")
    with pytest.raises(DataFormatError, match="Cannot read .*text.nwb as an NWB"):
        load_recording(tmp_path / "text.nwb")


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("simulate", [simulate_lever_task, simulate_reach_task])
def test_recording_round_trip_is_exact(tmp_path, simulate):
    rec = simulate(n_trials=6, seed=3).recording
    back = load_recording(recording_to_nwb(rec, tmp_path / "sim.nwb", t_start=2.5))
    for field in ("upstream_spikes", "downstream_spikes", "behavior_labels", "trial_ids"):
        np.testing.assert_array_equal(getattr(back, field), getattr(rec, field), err_msg=field)
    if rec.behavior_continuous is None:
        assert back.behavior_continuous is None
    else:
        np.testing.assert_allclose(back.behavior_continuous, rec.behavior_continuous, atol=1e-9)
    assert (back.bin_size, back.name, back.upstream_region, back.downstream_region) == (
        rec.bin_size, rec.name, rec.upstream_region, rec.downstream_region)
    assert back.upstream_names == rec.upstream_names and back.downstream_names == rec.downstream_names


def test_labels_constant_per_trial_are_a_trials_column(tmp_path):
    rng = np.random.default_rng(42)
    labels = np.repeat([0, 1, 0, 2, 0, 2, 0], 10)
    trials = np.repeat([-1, 0, -1, 1, -1, 2, -1], 10)
    rec = Recording(upstream_spikes=rng.random((70, 3)) < 0.2, behavior_labels=labels, trial_ids=trials,
                    bin_size=0.005, decoder_neurons=(1,), decoder_history_bins=4,
                    downstream_spikes=rng.random((70, 2)) < 0.2)
    path = recording_to_nwb(rec, tmp_path / "constant.nwb", metadata={"source": "test"})
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert list(nwbfile.trials["behavior_label"].data[:]) == [1, 2, 2]
        assert "behavior" not in nwbfile.processing
        assert json.loads(nwbfile.notes)["spikebridge"]["metadata"] == {"source": "test"}
    back = load_nwb(path)
    np.testing.assert_array_equal(back.behavior_labels, labels)
    np.testing.assert_array_equal(back.trial_ids, trials)
    assert (back.decoder_neurons, back.decoder_history_bins, back.bin_size) == ((1,), 4, 0.005)


def test_recording_to_nwb_refuses_what_it_cannot_write(tmp_path):
    up = np.zeros((6, 1))
    split = Recording(upstream_spikes=up, behavior_labels=np.ones(6), trial_ids=[0, 0, 1, 1, 0, 0],
                      bin_size=0.01)
    with pytest.raises(DataFormatError, match=r"Trials \[0\] are not runs of consecutive bins"):
        recording_to_nwb(split, tmp_path / "x.nwb")
    same = Recording(upstream_spikes=up, downstream_spikes=up, behavior_labels=np.ones(6),
                     trial_ids=np.zeros(6), bin_size=0.01, upstream_region="M1", downstream_region="M1")
    with pytest.raises(ValueError, match="Both regions are named 'M1'"):
        recording_to_nwb(same, tmp_path / "x.nwb")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------- generated spikes
def test_save_generated_nwb_stores_spikes_metadata_and_stimulation(tmp_path):
    rng = np.random.default_rng(42)
    spikes = (rng.random((200, 3)) < 0.1).astype(np.uint8)
    spikes[5, 0] = 2
    stimulation = {"time_s": np.array([0.1, 0.6]), "channel": np.array([3, 7]),
                   "amplitude_ua": np.array([20.0, 40.0]), "phase_width_us": np.array([200.0, 100.0]),
                   "interphase_gap_us": np.array([50.0, 50.0])}
    metadata = {"model": "BernoulliGLM", "decoder": "paper_lever", "seed": np.int64(42)}
    path = save_generated_nwb(tmp_path / "out" / "generated.nwb", spikes, 0.005, t_start=1.0,
                              metadata=metadata, stimulation=stimulation)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        stored = json.loads(nwbfile.notes)["spikebridge"]
        assert stored["metadata"] == {"model": "BernoulliGLM", "decoder": "paper_lever", "seed": 42}
        assert "model=BernoulliGLM, decoder=paper_lever, seed=42" in nwbfile.units.description
        times = [np.asarray(nwbfile.units["spike_times"][j]) for j in range(3)]
        pulses = nwbfile.intervals["stimulation"]
        np.testing.assert_allclose(pulses["stop_time"].data[:], [0.1 + 450e-6, 0.6 + 250e-6])
        np.testing.assert_array_equal(pulses["channel"].data[:], [3, 7])
        assert list(nwbfile.units["unit_name"].data[:]) == ["gen0", "gen1", "gen2"]
    rebinned = np.stack([np.bincount(((t - 1.0) / 0.005).astype(int), minlength=200) for t in times], axis=1)
    np.testing.assert_array_equal(rebinned, spikes)
    assert [p.name for p in path.parent.iterdir()] == ["generated.nwb"]  # no temporary file left


def test_save_generated_nwb_is_atomic_and_checks_shapes(tmp_path, monkeypatch):
    path = save_generated_nwb(tmp_path / "g.nwb", np.eye(4), 0.01)
    before = path.read_bytes()
    with pytest.raises(DataFormatError, match=r"pass one sample, e.g. generated_spikes\[0\]"):
        save_generated_nwb(path, np.zeros((2, 4, 4)), 0.01)
    with pytest.raises(DataFormatError, match="'time_s'"):
        save_generated_nwb(path, np.eye(4), 0.01, stimulation={"channel": [1]})

    def fail(self, container):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pynwb.NWBHDF5IO, "write", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        save_generated_nwb(path, np.zeros((4, 4)), 0.01)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.nwb"]


# ---------------------------------------------------------------------- binning and optional imports
@settings(max_examples=30, deadline=None)
@given(bins=st.sets(st.integers(0, 199), max_size=50), bin_size=st.floats(1e-3, 0.5),
       t_start=st.floats(-5, 5))
def test_spikes_at_bin_centres_rebin_exactly(bins, bin_size, t_start):
    bins = np.array(sorted(bins), dtype=int)
    times = t_start + (bins + 0.5) * bin_size
    binned = _bin_spike_times([times], t_start, bin_size, 200, names=["u"], clip_counts=False)
    np.testing.assert_array_equal(np.flatnonzero(binned[:, 0]), bins)


def test_core_package_imports_without_pynwb():
    code = ("import sys, spikebridge, spikebridge.data.nwb, spikebridge.data.neo_interop; "
            "print(sorted({'pynwb', 'neo', 'elephant', 'h5py'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_missing_pynwb_gives_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ImportError, match=r"pip install spikebridge\[nwb\]"):
        load_nwb(tmp_path / "x.nwb")


def test_reproduce_runs_end_to_end_on_the_public_layout(tmp_path):
    """The PMd/M1 reaching layout through `spikebridge reproduce` with a fitted velocity decoder."""
    from spikebridge.cli import main

    nwbfile = mock_NWBFile()
    device = nwbfile.create_device(name="arrays")
    groups = {r: nwbfile.create_electrode_group(name=r, description=r, location=r, device=device) for r in ("PMd", "M1")}
    rng = np.random.default_rng(0)
    n_trials, duration = 12, 1.0
    starts = 0.2 + 1.2 * np.arange(n_trials)
    t_end = starts[-1] + 1.5
    targets = rng.integers(0, 4, n_trials)
    angle = np.pi / 2 * targets
    t = np.arange(int(t_end * 100)) / 100.0
    velocity = np.zeros((len(t), 2))
    for start, a in zip(starts, angle):
        inside = (t >= start) & (t < start + duration)
        speed = np.sin(np.pi * (t[inside] - start) / duration)
        velocity[inside] = 10 * speed[:, None] * np.array([np.cos(a), np.sin(a)])
    for unit in range(10):
        region = "PMd" if unit < 6 else "M1"
        nwbfile.add_electrode(group=groups[region], location=region)
        preferred = rng.uniform(0, 2 * np.pi)
        drive = 15 + 10 * (velocity @ np.array([np.cos(preferred), np.sin(preferred)])) / 10
        p = np.clip(drive, 1, 60) * 0.01
        times = t[rng.random(len(t)) < p] + 0.005
        nwbfile.add_unit(spike_times=times, electrodes=[unit])
    nwbfile.add_trial_column(name="target", description="Reach target.")
    for start, target in zip(starts, targets):
        nwbfile.add_trial(start_time=start, stop_time=start + duration, target=f"t{target}")
    behavior = nwbfile.create_processing_module(name="behavior", description="Hand kinematics.")
    behavior.add(pynwb.TimeSeries(name="hand_velocity", data=velocity, unit="cm/s", rate=100.0, starting_time=0.0))
    path = _write(nwbfile, tmp_path / "reach.nwb")
    out = tmp_path / "run"
    code = main(["reproduce", "--recording", str(path), "--decoder", "fit:wiener", "--out", str(out),
                 "--folds", "2", "--jobs", "1", "--quick", "--methods", "rl,sl",
                 "--upstream-location", "PMd", "--downstream-location", "M1",
                 "--behavior-series", "hand_velocity", "--condition-column", "target"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for name in ("rl", "sl", "recorded", "upstream_ceiling"):
        assert len(results["methods"][name]["velocity_r2"]) == 2
    assert results["methods"]["recorded"]["velocity_r2"][0] > 0
