"""Neo interoperability: Recording -> neo.Block -> Recording, errors, and an Elephant measure."""

from __future__ import annotations

import sys

import numpy as np
import pytest

neo = pytest.importorskip("neo", reason="needs the nwb extra: pip install spikebridge[nwb]")
pq = pytest.importorskip("quantities")
dissimilarity = pytest.importorskip("elephant.spike_train_dissimilarity")

from spikebridge.data.neo_interop import recording_from_neo, recording_to_neo  # noqa: E402
from spikebridge.exceptions import DataFormatError  # noqa: E402
from spikebridge.simulate import simulate_lever_task, simulate_reach_task  # noqa: E402


@pytest.fixture(scope="module")
def reach():
    return simulate_reach_task(n_trials=4, n_upstream=10, n_downstream=6, seed=42).recording


def _read(block, recording, **kwargs):
    kwargs = {"bin_size": recording.bin_size, "upstream_region": recording.upstream_region,
              "downstream_region": recording.downstream_region, **kwargs}
    return recording_from_neo(block, **kwargs)


@pytest.mark.parametrize("simulate", [simulate_lever_task, simulate_reach_task])
def test_round_trip_is_exact(simulate):
    rec = simulate(n_trials=4, n_upstream=10, n_downstream=6, seed=42).recording
    back = _read(recording_to_neo(rec, t_start=3.0), rec)
    for field in ("upstream_spikes", "downstream_spikes", "behavior_labels", "trial_ids"):
        np.testing.assert_array_equal(getattr(back, field), getattr(rec, field), err_msg=field)
    if rec.behavior_continuous is not None:
        np.testing.assert_allclose(back.behavior_continuous, rec.behavior_continuous, atol=1e-9)
    assert (back.name, back.upstream_names, back.downstream_names) == (rec.name, rec.upstream_names,
                                                                       rec.downstream_names)


def test_block_layout(reach):
    segment = recording_to_neo(reach).segments[0]
    trains = segment.spiketrains
    assert [st.annotations["role"] for st in trains] == ["upstream"] * 10 + ["downstream"] * 6
    assert trains[10].annotations == {"region": "M1", "role": "downstream", "neuron_index": 0}
    assert len(trains[3]) == reach.upstream_spikes[:, 3].sum()
    assert trains[0].t_stop == reach.n_bins * reach.bin_size * pq.s
    trials = {epoch.name: epoch for epoch in segment.epochs}["trials"]
    np.testing.assert_array_equal(trials.array_annotations["trial_id"], np.arange(4))
    bins_per_trial = np.bincount(reach.trial_ids[reach.trial_ids >= 0])
    np.testing.assert_allclose(trials.durations.magnitude / reach.bin_size, bins_per_trial)
    assert segment.analogsignals[0].shape == (reach.n_bins, 2)


def test_lesioned_recording_and_labels_from_epoch_text(reach):
    lesioned = reach.lesioned()
    block = recording_to_neo(lesioned)
    for epoch in block.segments[0].epochs:
        epoch.array_annotations.clear()  # fall back to the labels, which hold the integers as text
    back = recording_from_neo(block, bin_size=reach.bin_size, upstream_region="PMd", downstream_region=None)
    assert back.downstream_spikes is None
    np.testing.assert_array_equal(back.behavior_labels, reach.behavior_labels)
    np.testing.assert_array_equal(back.trial_ids, reach.trial_ids)


def test_errors_name_what_exists(reach):
    block = recording_to_neo(reach)
    with pytest.raises(DataFormatError, match=r"upstream_region='mPFC'.*'M1' \(6 trains\), 'PMd' \(10 "):
        recording_from_neo(block, bin_size=0.01, upstream_region="mPFC", downstream_region="M1")
    with pytest.raises(DataFormatError, match=r"no Epoch named 'segments'.*'behavior_labels', 'trials'"):
        _read(block, reach, label_epoch="segments")
    with pytest.raises(DataFormatError, match=r"no AnalogSignal named 'eye'.*'behavior_continuous'"):
        _read(block, reach, behavior_signal="eye")
    block.segments.append(neo.Segment())
    with pytest.raises(DataFormatError, match=r"2 segments.*block.segments\[0\]"):
        _read(block, reach)
    with pytest.raises(DataFormatError, match="more than one spike"):
        _read(block.segments[0], reach, bin_size=0.2)


def test_van_rossum_distance_between_recorded_and_generated_trains(reach):
    """Elephant reads the trains as they are: identical trains are 0 apart, a jittered copy is not."""
    recorded = recording_to_neo(reach).segments[0].spiketrains[10:]
    rng = np.random.default_rng(42)
    jittered = [st.duplicate_with_new_data(np.clip(np.sort(st.magnitude + rng.normal(0, 0.005, len(st))),
                                                   0, st.t_stop.magnitude) * pq.s) for st in recorded]
    time_constant = 0.02 * pq.s
    same = dissimilarity.van_rossum_distance([recorded[0], recorded[0]], time_constant=time_constant)
    assert same[0, 1] == pytest.approx(0.0, abs=1e-6)
    apart = dissimilarity.van_rossum_distance([recorded[0], jittered[0]], time_constant=time_constant)
    other_neuron = dissimilarity.van_rossum_distance([recorded[0], recorded[1]], time_constant=time_constant)
    assert 0 < apart[0, 1] < other_neuron[0, 1]


def test_missing_neo_gives_the_install_hint(monkeypatch, reach):
    monkeypatch.setitem(sys.modules, "neo", None)
    with pytest.raises(ImportError, match=r"optional package `neo`.*pip install spikebridge\[nwb\]"):
        recording_to_neo(reach)
