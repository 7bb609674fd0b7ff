import numpy as np
import pytest
import torch

from spikebridge.decoders.manual import HandDesignedDecoder
from spikebridge.exceptions import DataFormatError

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def hand_decode(spikes, window, rest_score, pairs):
    n_bins = len(spikes)
    out = []
    for t in range(n_bins):
        rates = [sum(spikes[u, i] for u in range(t - window + 1, t + 1) if u >= 0) / window
                 for i in range(spikes.shape[1])]
        scores = [rest_score] + [rates[a] - rates[b] for a, b in pairs]
        out.append(int(np.argmax(scores)) + 1)
    return np.array(out)


def test_paper_defaults():
    decoder = HandDesignedDecoder()
    assert (decoder.n_neurons, decoder.n_classes) == (4, 3)
    assert decoder.window_bins_ == 50 and decoder.history_bins == 49  # 0.5 s of 10 ms bins


def test_hand_examples():
    decoder = HandDesignedDecoder(window_bins=4)
    spikes = np.zeros((12, 4), dtype=np.uint8)
    spikes[0:2, 0] = 1  # bins 0-4: fr1 - fr3 = 0.25, 0.5, 0.5, 0.5, 0.25 -> low while above 0.3
    spikes[6:9, 1] = 1  # bins 6-11: fr2 = 0.25, 0.5, 0.75, 0.75, 0.5, 0.25
    spikes[8, 3] = 1  # fr4 = 0.25 on bins 8-11, so bins 6-11: fr2 - fr4 = 0.25, 0.5, 0.5, 0.5, 0.25, 0
    expected = [1, 2, 2, 2, 1, 1, 1, 3, 3, 3, 1, 1]
    np.testing.assert_array_equal(decoder.predict(spikes), expected)


def test_matches_hand_computation_for_a_custom_decoder():
    rng = np.random.default_rng(0)
    pairs = ((0, 1), (2, 3), (5, 4))
    decoder = HandDesignedDecoder(window_bins=8, rest_score=0.1, pairs=pairs, n_neurons=6)
    spikes = (rng.random((200, 6)) < 0.3).astype(np.uint8)
    assert decoder.n_classes == 4
    np.testing.assert_array_equal(decoder.predict(spikes), hand_decode(spikes, 8, 0.1, pairs))


def test_window_from_seconds_and_override():
    assert HandDesignedDecoder(window_seconds=0.2, bin_size=0.05).window_bins_ == 4
    assert HandDesignedDecoder(window_seconds=0.2, bin_size=0.05, window_bins=3).window_bins_ == 3
    assert HandDesignedDecoder(window_seconds=0.001, bin_size=0.01).window_bins_ == 1


def test_batched_equals_unbatched_and_rates():
    rng = np.random.default_rng(1)
    decoder = HandDesignedDecoder(window_bins=5)
    spikes = (rng.random((3, 40, 4)) < 0.4).astype(np.uint8)
    batched = decoder.predict(spikes)
    for k in range(3):
        np.testing.assert_array_equal(batched[k], decoder.predict(spikes[k]))
    rates = decoder.firing_rates(spikes[0])
    assert rates.shape == (40, 4)
    np.testing.assert_allclose(rates[10], spikes[0, 6:11].mean(axis=0), atol=1e-6)
    assert decoder.decode_torch(torch.zeros(2, 3, 7, 4)).shape == (2, 3, 7)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"pairs": ((0, 4), (1, 3))}, ValueError, "two different neurons"),
    ({"pairs": ((1, 1),)}, ValueError, "two different neurons"),
    ({"pairs": "ab"}, TypeError, "pairs"),
    ({"pairs": ()}, TypeError, "pairs"),
    ({"pairs": ((0.0, 2),)}, TypeError, "pairs"),
    ({"window_seconds": 0.0}, ValueError, "window_seconds"),
    ({"window_bins": 0}, ValueError, "window_bins"),
    ({"bin_size": -0.01}, ValueError, "bin_size"),
    ({"rest_score": "0.3"}, TypeError, "rest_score"),
    ({"n_neurons": 0}, ValueError, "n_neurons"),
])
def test_validates_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        HandDesignedDecoder(**kwargs)


def test_neuron_count_mismatch():
    with pytest.raises(DataFormatError, match="reads 4 neurons but got spikes of 2"):
        HandDesignedDecoder().predict(np.zeros((10, 2)))
