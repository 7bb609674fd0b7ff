import numpy as np
import pytest
import scipy.io
import torch

from spikebridge.decoders.patternnet import WindowMLPDecoder, load_patternnet_decoder
from spikebridge.exceptions import DataFormatError


def hand_decode(spikes, w1, b1, w2, b2, offset, gain, ymin, history):
    n_bins, n = spikes.shape
    out = []
    for t in range(n_bins):
        x = np.zeros((history + 1) * n)
        for lag in range(history + 1):
            if t - lag >= 0:
                x[lag * n:(lag + 1) * n] = spikes[t - lag]
        z = (x - offset) * gain + ymin
        h = np.tanh(w1 @ z + b1)
        y = w2 @ h + b2
        out.append(np.argmax(y) + 1)
    return np.array(out)


def random_decoder(rng, n=2, history=5, hidden=4, classes=3):
    n_in = (history + 1) * n
    params = dict(w1=rng.normal(size=(hidden, n_in)), b1=rng.normal(size=hidden), w2=rng.normal(size=(classes, hidden)),
                  b2=rng.normal(size=classes), offset=rng.random(n_in) * 0.1, gain=1 + rng.random(n_in), ymin=-1.0)
    dec = WindowMLPDecoder(params["w1"], params["b1"], params["w2"], params["b2"], n_neurons=n,
                           input_offset=params["offset"], input_gain=params["gain"], input_ymin=params["ymin"])
    return dec, params


def test_decoder_matches_hand_computation():
    rng = np.random.default_rng(1)
    dec, p = random_decoder(rng)
    spikes = (rng.random((60, 2)) < 0.3).astype(np.uint8)
    expected = hand_decode(spikes, p["w1"], p["b1"], p["w2"], p["b2"], p["offset"], p["gain"], p["ymin"], 5)
    np.testing.assert_array_equal(dec.predict(spikes), expected)
    assert dec.history_bins == 5 and dec.n_neurons == 2 and dec.n_classes == 3


def test_decoder_batched_equals_unbatched():
    rng = np.random.default_rng(2)
    dec, _ = random_decoder(rng)
    spikes = (rng.random((4, 50, 2)) < 0.3).astype(np.uint8)
    batched = dec.predict(spikes)
    for k in range(4):
        np.testing.assert_array_equal(batched[k], dec.predict(spikes[k]))
    proba = dec.predict_proba(spikes)
    assert proba.shape == (4, 50, 3)
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-5)


def test_decoder_neuron_count_mismatch():
    dec, _ = random_decoder(np.random.default_rng(3))
    with pytest.raises(DataFormatError, match="reads 2 neurons but got spikes of 3"):
        dec.predict(np.zeros((10, 3)))
    with pytest.raises(DataFormatError, match="multiple of n_neurons"):
        WindowMLPDecoder(np.zeros((4, 13)), np.zeros(4), np.zeros((3, 4)), np.zeros(3), n_neurons=2)


def test_load_paper_decoder_file(rlpp_dir):
    dec = load_patternnet_decoder(rlpp_dir / "decoder_rat01_patternnet.mat")
    assert (dec.n_neurons, dec.history_bins, dec.n_classes) == (2, 60, 3)
    mat = scipy.io.loadmat(rlpp_dir / "decoder_rat01_patternnet.mat")
    rng = np.random.default_rng(0)
    spikes = (rng.random((80, 2)) < 0.2).astype(np.uint8)
    step = mat["x1_step1"]
    expected = hand_decode(spikes, mat["IW1_1"], mat["b1"].ravel(), mat["LW2_1"], mat["b2"].ravel(),
                           step["xoffset"][0, 0].ravel(), step["gain"][0, 0].ravel(),
                           float(step["ymin"][0, 0].ravel()[0]), 60)
    np.testing.assert_array_equal(dec.predict(spikes), expected)


def test_paper_decoder_on_recorded_m1_is_the_ceiling(rlpp_dir):
    from spikebridge.data import load_rlpp_mat

    rec = load_rlpp_mat(rlpp_dir / "rat01.mat")
    dec = load_patternnet_decoder(rlpp_dir / "decoder_rat01_patternnet.mat")
    decoded = dec.predict(rec.downstream_spikes[:, list(rec.decoder_neurons)])
    mask = rec.behavior_labels > 0
    assert 0.90 <= (decoded[mask] == rec.behavior_labels[mask]).mean() <= 0.95


def test_load_decoder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_patternnet_decoder(tmp_path / "nope.mat")
    scipy.io.savemat(tmp_path / "bad.mat", {"b1": np.zeros(3)})
    with pytest.raises(DataFormatError, match="missing decoder variables"):
        load_patternnet_decoder(tmp_path / "bad.mat")


def test_decode_torch_shapes():
    dec, _ = random_decoder(np.random.default_rng(4))
    spikes = torch.zeros(3, 2, 20, 2)
    assert dec.decode_torch(spikes).shape == (3, 2, 20)
