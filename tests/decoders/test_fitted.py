import numpy as np
import pytest
import torch

from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.simulate import simulate_lever_task

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def window_rule(seed=0, n_bins=2000):
    """Class 2 exactly when neuron 0 fired 3 bins earlier, else class 1; neuron 1 is noise."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((n_bins, 2)) < 0.3).astype(np.uint8)
    labels = np.ones(n_bins, dtype=np.int64)
    labels[3:][spikes[:-3, 0] == 1] = 2
    return spikes, labels


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_fits_a_planted_window_rule(kind):
    spikes, labels = window_rule()
    decoder = WindowClassifierDecoder(kind=kind, history_seconds=0.05, random_state=0)
    decoder.fit(spikes, labels, 0.01)
    assert (decoder.n_neurons, decoder.history_bins, decoder.n_classes) == (2, 5, 2)
    test_spikes, test_labels = window_rule(seed=1)
    assert (decoder.predict(test_spikes) == test_labels).mean() > 0.99
    if kind == "logistic":
        contrast = decoder.coefs_[0][1] - decoder.coefs_[0][0]  # class 2 vs class 1, lag-major
        assert np.argmax(np.abs(contrast)) == 3 * 2 + 0  # lag 3, neuron 0


def test_too_short_a_window_cannot_see_the_rule():
    spikes, labels = window_rule()
    decoder = WindowClassifierDecoder(kind="logistic", history_seconds=0.02).fit(spikes, labels, 0.01)
    assert (decoder.predict(spikes) == labels).mean() < 0.8


def test_history_bins_from_seconds():
    spikes, labels = window_rule(n_bins=300)
    assert WindowClassifierDecoder(kind="logistic").fit(spikes, labels, 0.01).history_bins_ == 60
    no_history = WindowClassifierDecoder(kind="logistic", history_seconds=0.0).fit(spikes, labels, 0.1)
    assert no_history.history_bins == 0


def test_batched_equals_unbatched():
    spikes, labels = window_rule(n_bins=500)
    decoder = WindowClassifierDecoder(kind="mlp", n_hidden=4, history_seconds=0.05, random_state=0)
    decoder.fit(spikes, labels, 0.01)
    batch = (np.random.default_rng(3).random((4, 80, 2)) < 0.3).astype(np.uint8)
    predicted = decoder.predict(batch)
    proba = decoder.predict_proba(batch)
    for k in range(4):
        np.testing.assert_array_equal(predicted[k], decoder.predict(batch[k]))
        np.testing.assert_allclose(proba[k], decoder.predict_proba(batch[k]), rtol=1e-6)
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-5)
    assert decoder.decode_torch(torch.zeros(2, 3, 20, 2)).shape == (2, 3, 20)


def test_scores_match_the_dense_window_computation():
    spikes, labels = window_rule(n_bins=400)
    decoder = WindowClassifierDecoder(kind="mlp", n_hidden=3, history_seconds=0.04, random_state=1)
    decoder.fit(spikes, labels, 0.01)
    padded = np.vstack([np.zeros((4, 2)), spikes])
    windows = np.stack([padded[4 + t - np.arange(5)].ravel() for t in range(len(spikes))])  # lag-major
    hidden = np.tanh(windows @ decoder.coefs_[0].T + decoder.intercepts_[0])
    scores = hidden @ decoder.coefs_[1].T + decoder.intercepts_[1]
    with torch.no_grad():
        ours = decoder.scores_torch(torch.as_tensor(spikes, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(ours, scores, atol=1e-4)


def test_same_seed_same_fit():
    spikes, labels = window_rule(n_bins=400)
    fits = [WindowClassifierDecoder(n_hidden=3, history_seconds=0.03, random_state=7) for _ in range(2)]
    fits = [decoder.fit(spikes, labels, 0.01) for decoder in fits]
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)


def test_not_fitted_and_neuron_mismatch():
    decoder = WindowClassifierDecoder(kind="bogus")  # the constructor only stores its arguments
    with pytest.raises(NotFittedError, match="not fitted"):
        decoder.predict(np.zeros((10, 2)))
    assert not hasattr(decoder, "n_neurons")
    spikes, labels = window_rule(n_bins=200)
    fitted = WindowClassifierDecoder(kind="logistic", history_seconds=0.02).fit(spikes, labels, 0.01)
    with pytest.raises(DataFormatError, match="reads 2 neurons but got spikes of 3"):
        fitted.predict(np.zeros((10, 3)))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"kind": "svm"}, ValueError, "kind"),
    ({"n_hidden": 0}, ValueError, "n_hidden"),
    ({"history_seconds": -0.1}, ValueError, "history_seconds"),
    ({"l2_strength": -1.0}, ValueError, "l2_strength"),
    ({"max_iterations": 2.5}, TypeError, "max_iterations"),
    ({"random_state": "seed"}, TypeError, "random_state"),
])
def test_fit_validates_arguments(kwargs, error, match):
    spikes, labels = window_rule(n_bins=100)
    with pytest.raises(error, match=match):
        WindowClassifierDecoder(**kwargs).fit(spikes, labels, 0.01)


def test_fit_validates_data():
    spikes, labels = window_rule(n_bins=100)
    decoder = WindowClassifierDecoder(kind="logistic")
    with pytest.raises(ValueError, match="bin_size"):
        decoder.fit(spikes, labels, 0.0)
    with pytest.raises(DataFormatError, match="one label per bin"):
        decoder.fit(spikes, labels[:-1], 0.01)
    with pytest.raises(DataFormatError, match="no labelled bins"):
        decoder.fit(spikes, np.zeros(100, dtype=int), 0.01)
    with pytest.raises(DataFormatError, match="n_bins, n_neurons"):
        decoder.fit(spikes[:, 0], labels, 0.01)
    with pytest.warns(RuntimeWarning, match="no labelled bin"):
        decoder.fit(spikes, np.where(labels == 2, 3, 1), 0.01)  # class 2 never occurs


def test_warns_when_not_converged():
    spikes, labels = window_rule(n_bins=300)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        WindowClassifierDecoder(max_iterations=2, random_state=0).fit(spikes, labels, 0.01)


@pytest.fixture(scope="module")
def lever():
    # Stronger upstream tuning and 60 upstream neurons than the defaults: with the defaults even the true
    # downstream rates decode only about 0.9 of held-out bins, so there is no margin to test against.
    return simulate_lever_task(n_trials=60, n_upstream=60, n_downstream=10,
                               upstream_tuning_strength=(1.0, 2.0), output_gain=2.5, seed=1).recording


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_recovers_behaviour_from_simulated_healthy_m1(lever, kind):
    labels = lever.behavior_labels * lever.in_trial_labelled
    test = np.isin(lever.trial_ids, lever.trials[::4])
    train_labels, test_labels = np.where(test, 0, labels), np.where(test, labels, 0)
    order, _ = rank_neurons_by_information(lever.downstream_spikes, train_labels)
    read = np.sort(order[:4])
    decoder = WindowClassifierDecoder(kind=kind, random_state=0)
    decoder.fit(lever.downstream_spikes[:, read], train_labels, lever.bin_size)
    decoded = decoder.predict(lever.downstream_spikes[:, read])
    held_out = test_labels > 0
    assert (decoded[held_out] == test_labels[held_out]).mean() > 0.9


def test_fits_rat01_decoder_neurons(rlpp_dir):
    from spikebridge.data import load_rlpp_mat

    rec = load_rlpp_mat(rlpp_dir / "rat01.mat")
    spikes = rec.downstream_spikes[:, list(rec.decoder_neurons)]  # 166k bins x 2 neurons x 61 lags
    labels = rec.behavior_labels * rec.in_trial_labelled
    test = np.isin(rec.trial_ids, rec.trials[::5])
    decoder = WindowClassifierDecoder(kind="logistic").fit(spikes, np.where(test, 0, labels), rec.bin_size)
    decoded = decoder.predict(spikes)
    held_out = test & (labels > 0)
    assert decoder.history_bins == 60
    assert (decoded[held_out] == labels[held_out]).mean() > 0.88


def test_n_classes_covers_classes_missing_from_training():
    spikes, labels = window_rule(n_bins=300)
    with pytest.warns(RuntimeWarning, match=r"Classes \[3\]"):
        decoder = WindowClassifierDecoder(kind="logistic", history_seconds=0.03)
        decoder.fit(spikes, labels, 0.01, n_classes=3)
    assert decoder.n_classes == 3 and decoder.predict_proba(spikes).shape == (300, 3)
    with pytest.raises(DataFormatError, match="n_classes=1"):
        decoder.fit(spikes, labels, 0.01, n_classes=1)
