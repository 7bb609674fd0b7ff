import numpy as np
import pytest
import torch

from spikebridge.decoders.ranking import rank_neurons_by_information

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def planted(seed=0, n_bins=3000, lag=20):
    """Five neurons firing at random; neuron 3 fires more ``lag`` bins before each class-2 bin."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(rng.integers(1, 3, size=n_bins // 50), 50)
    spikes = (rng.random((n_bins, 5)) < 0.1).astype(np.uint8)
    ahead = np.roll(labels == 2, -lag)  # true at t - lag when the label at t is 2
    ahead[-lag:] = False
    spikes[:, 3] = rng.random(n_bins) < np.where(ahead, 0.5, 0.05)
    return spikes, labels


def test_planted_informative_neuron_ranks_first():
    spikes, labels = planted()
    order, information = rank_neurons_by_information(spikes, labels, max_lag_bins=50)
    assert order[0] == 3
    assert sorted(order.tolist()) == list(range(5))
    assert information.shape == (5,) and information.argmax() == 3
    assert np.all(np.diff(information[order]) <= 0)  # information is in neuron order, order sorts it
    assert information[3] > 0.3 and np.all(np.delete(information, 3) < 0.1)


def test_lags_are_searched():
    spikes, labels = planted(lag=40)
    _, without_lag = rank_neurons_by_information(spikes, labels, max_lag_bins=0, smoothing_sigma_bins=0)
    _, with_lag = rank_neurons_by_information(spikes, labels, max_lag_bins=50, smoothing_sigma_bins=0)
    assert with_lag[3] > without_lag[3] + 0.1


@pytest.mark.parametrize("max_lag_bins, error", [(-1, ValueError), (1.5, TypeError), ("5", TypeError)])
def test_validates_max_lag(max_lag_bins, error):
    spikes, labels = planted()
    with pytest.raises(error, match="max_lag_bins"):
        rank_neurons_by_information(spikes, labels, max_lag_bins=max_lag_bins)


def test_reproduces_paper_ranking_on_rat01(rlpp_dir):
    from spikebridge.data import load_rlpp_mat

    rec = load_rlpp_mat(rlpp_dir / "rat01.mat")
    order, _ = rank_neurons_by_information(rec.downstream_spikes, rec.behavior_labels, max_lag_bins=50)
    assert tuple(sorted(order[:2].tolist())) == rec.decoder_neurons  # the paper's M1order[:M1num_pre]
