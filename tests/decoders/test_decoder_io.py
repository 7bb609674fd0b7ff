import json

import numpy as np
import pytest
import scipy.signal
import torch

from spikebridge.decoders.continuous import KalmanDecoder, WienerDecoder
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.io import decoder_from_spec, load_decoder, save_decoder
from spikebridge.decoders.manual import HandDesignedDecoder
from spikebridge.decoders.patternnet import WindowMLPDecoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.simulate import simulate_lever_task, simulate_reach_task

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def spikes_for(n_neurons, seed=0, n_bins=300):
    return (np.random.default_rng(seed).random((n_bins, n_neurons)) < 0.3).astype(np.uint8)


def classification_data(n_neurons=3, n_bins=400):
    spikes = spikes_for(n_neurons, n_bins=n_bins)
    labels = 1 + spikes[:, 0] + np.roll(spikes[:, 1], 2)  # classes 1..3
    return spikes, labels


def make(name):
    """One decoder of each saved kind, fitted where needed."""
    rng = np.random.default_rng(5)
    if name == "window_mlp":
        return WindowMLPDecoder(rng.normal(size=(4, 12)), rng.normal(size=4), rng.normal(size=(3, 4)),
                                rng.normal(size=3), n_neurons=3, input_offset=rng.random(12),
                                input_gain=1 + rng.random(12), input_ymin=-1.0)
    spikes, labels = classification_data()
    if name in ("mlp", "logistic"):
        return WindowClassifierDecoder(kind=name, n_hidden=3, history_seconds=0.05, random_state=3).fit(
            spikes, labels, 0.01)
    if name == "manual":
        return HandDesignedDecoder(window_bins=6, rest_score=0.2, pairs=((0, 1), (2, 1)), n_neurons=3)
    drive = np.column_stack([spikes[:, 0] - spikes[:, 1], np.roll(spikes[:, 2], 1)]).astype(float)
    velocity = scipy.signal.lfilter([1.0], [1.0, -0.9], drive, axis=0)  # smooth, forgets in ~10 bins
    if name == "wiener":
        return WienerDecoder(history_seconds=0.05).fit(spikes, velocity, 0.01)
    return KalmanDecoder(step_seconds=0.03).fit(spikes, velocity, 0.01)


NAMES = ["window_mlp", "mlp", "logistic", "manual", "wiener", "kalman"]


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_predicts_identically(tmp_path, name):
    decoder = make(name)
    path = save_decoder(decoder, tmp_path / "decoder.npz", neurons_read=[4, 1, 7])
    loaded = load_decoder(path)
    assert type(loaded) is type(decoder)
    assert (loaded.n_neurons, loaded.history_bins) == (decoder.n_neurons, decoder.history_bins)
    batch = np.stack([spikes_for(3, seed=s) for s in (1, 2)])
    np.testing.assert_array_equal(loaded.predict(batch), decoder.predict(batch))
    if hasattr(decoder, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(batch), decoder.predict_proba(batch))
    with np.load(path, allow_pickle=False) as data:  # no pickles inside
        meta = json.loads(str(data["metadata"]))
    assert meta["kind"] in ("window_mlp", "window_classifier", "hand_designed", "wiener", "kalman")
    assert meta["neurons_read"] == [4, 1, 7]


def test_save_refuses_unfitted_and_unknown(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        save_decoder(WienerDecoder(), tmp_path / "w.npz")
    with pytest.raises(NotFittedError, match="not fitted"):
        save_decoder(WindowClassifierDecoder(), tmp_path / "c.npz")
    with pytest.raises(TypeError, match="can save"):
        save_decoder(object(), tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_decoder(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(DataFormatError, match="no `metadata`"):
        load_decoder(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFormatError, match="Could not read"):
        load_decoder(tmp_path / "junk.npz")
    path = save_decoder(make("manual"), tmp_path / "manual.npz")
    with np.load(path) as data:
        meta = json.loads(str(data["metadata"]))
    meta["version"] = 99
    np.savez(tmp_path / "future.npz", metadata=np.array(json.dumps(meta)))
    with pytest.raises(DataFormatError, match="version 99"):
        load_decoder(tmp_path / "future.npz")
    meta.update(version=1, kind="quantum")
    np.savez(tmp_path / "odd.npz", metadata=np.array(json.dumps(meta)))
    with pytest.raises(DataFormatError, match="Unknown decoder kind 'quantum'"):
        load_decoder(tmp_path / "odd.npz")


@pytest.mark.parametrize("name", NAMES)
def test_neuron_count_mismatch_is_a_clear_error(name):
    decoder = make(name)
    with pytest.raises(DataFormatError, match="reads 3 neurons but got spikes of 5"):
        decoder.predict(spikes_for(5))
    with pytest.raises(DataFormatError, match="reads 3 neurons but got spikes of 2"):
        decoder.predict(np.stack([spikes_for(2)] * 2))


# ---------------------------------------------------------------------- specs
@pytest.fixture(scope="module")
def lever():
    return simulate_lever_task(n_trials=24, n_upstream=20, n_downstream=6, seed=3).recording


@pytest.fixture(scope="module")
def reach():
    return simulate_reach_task(n_trials=16, n_upstream=20, n_downstream=8, seed=3).recording


def test_spec_manual():
    decoder, neurons = decoder_from_spec("manual")
    assert isinstance(decoder, HandDesignedDecoder) and neurons is None
    decoder, neurons = decoder_from_spec("manual", decoder_neurons=[3, 0, 2, 1])
    assert neurons == (3, 0, 2, 1)
    with pytest.raises(DataFormatError, match="reads 4 neurons but `decoder_neurons` names 2"):
        decoder_from_spec("manual", decoder_neurons=[0, 1])


def test_spec_fit_classifier_reads_the_top_ranked_training_neurons(lever):
    train = lever.trials[: len(lever.trials) // 2]
    decoder, neurons = decoder_from_spec("fit:logistic", recording=lever, train_trials=train)
    labels = np.where(np.isin(lever.trial_ids, train) & lever.in_trial_labelled, lever.behavior_labels, 0)
    order, _ = rank_neurons_by_information(lever.downstream_spikes, labels)
    assert neurons == tuple(sorted(order[:2].tolist()))
    assert isinstance(decoder, WindowClassifierDecoder)
    assert decoder.n_neurons == 2 and decoder.kind == "logistic"
    decoder, neurons = decoder_from_spec("fit:mlp", recording=lever, decoder_neurons=(5, 0, 3))
    assert neurons == (5, 0, 3) and decoder.n_neurons == 3 and decoder.kind == "mlp"
    _, neurons = decoder_from_spec("FIT:LOGISTIC", recording=lever, n_read=3)
    assert len(neurons) == 3


@pytest.mark.parametrize("spec, cls", [("fit:wiener", WienerDecoder), ("fit:kalman", KalmanDecoder)])
def test_spec_fit_continuous_reads_all_neurons(reach, spec, cls):
    decoder, neurons = decoder_from_spec(spec, recording=reach, train_trials=reach.trials[:10])
    assert isinstance(decoder, cls) and neurons == tuple(range(8)) and decoder.n_outputs == 2


def test_spec_saved_file_returns_its_neurons(tmp_path):
    path = save_decoder(make("logistic"), tmp_path / "d.npz", neurons_read=(2, 4, 6))
    decoder, neurons = decoder_from_spec(str(path))
    assert isinstance(decoder, WindowClassifierDecoder) and neurons == (2, 4, 6)
    _, neurons = decoder_from_spec(path, decoder_neurons=[0, 1, 2])
    assert neurons == (0, 1, 2)


def test_spec_paper_file(rlpp_dir):
    from spikebridge.data import load_rlpp_mat

    rec = load_rlpp_mat(rlpp_dir / "rat01.mat")
    decoder, neurons = decoder_from_spec(str(rlpp_dir / "decoder_rat01_patternnet.mat"), recording=rec)
    assert isinstance(decoder, WindowMLPDecoder) and neurons == (10, 11)
    with pytest.raises(DataFormatError, match="not a multiple of n_neurons=3"):
        decoder_from_spec(str(rlpp_dir / "decoder_rat01_patternnet.mat"), decoder_neurons=[1, 2, 3])


def test_spec_errors(lever, reach):
    with pytest.raises(ValueError, match="Accepted forms: .*manual.*fit:kalman"):
        decoder_from_spec("fit:svm", recording=lever)
    with pytest.raises(TypeError, match="spec"):
        decoder_from_spec(3)
    with pytest.raises(ValueError, match="downstream_spikes"):
        decoder_from_spec("fit:mlp")
    with pytest.raises(ValueError, match="downstream_spikes"):
        decoder_from_spec("fit:mlp", recording=lever.lesioned())
    with pytest.raises(ValueError, match="behavior_continuous"):
        decoder_from_spec("fit:wiener", recording=lever)
    with pytest.raises(ValueError, match="not trials"):
        decoder_from_spec("fit:logistic", recording=lever, train_trials=[0, 999])
    with pytest.raises(ValueError, match="n_read"):
        decoder_from_spec("fit:logistic", recording=lever, n_read=7)
    with pytest.raises(DataFormatError, match="index past"):
        decoder_from_spec("fit:wiener", recording=reach, decoder_neurons=[0, 8])
    with pytest.raises(DataFormatError, match="distinct"):
        decoder_from_spec("fit:wiener", recording=reach, decoder_neurons=[1, 1])


def test_fit_spec_options(lever):
    decoder, _ = decoder_from_spec("fit:logistic:history=0.3", recording=lever)
    assert decoder.history_bins == 30
    with pytest.raises(ValueError, match="Unknown option"):
        decoder_from_spec("fit:mlp:depth=3", recording=lever)
    with pytest.raises(ValueError, match="not a float"):
        decoder_from_spec("fit:mlp:history=long", recording=lever)
    with pytest.raises(ValueError, match="does not apply"):
        decoder_from_spec("fit:logistic:hidden=4", recording=lever)
