import numpy as np
import pytest
import scipy.stats

from spikebridge.exceptions import DataFormatError, NotFittedError
from spikebridge.models.generator import BernoulliGLM, StagedPointProcess


@pytest.fixture
def upstream():
    return (np.random.default_rng(0).random((300, 4)) < 0.2).astype(np.uint8)


def test_predict_sample_log_prob(upstream):
    model = StagedPointProcess(n_outputs=3, n_hidden=8, random_state=0).initialize(4, 0.01)
    p = model.predict_proba(upstream)
    assert p.shape == (300, 3) and np.all((p > 0) & (p < 1))
    spikes = model.sample(upstream, np.random.default_rng(1))
    assert spikes.shape == (300, 3) and spikes.dtype == np.uint8
    assert model.sample(upstream, np.random.default_rng(1), n_samples=5).shape == (5, 300, 3)
    np.testing.assert_allclose(model.log_prob(upstream, spikes), scipy.stats.bernoulli.logpmf(spikes, p), rtol=1e-4)
    assert model.score(upstream, spikes) <= 0


def test_same_seed_same_samples(upstream):
    model = StagedPointProcess(n_outputs=2, n_hidden=8, random_state=3).initialize(4, 0.01)
    a = model.sample(upstream, np.random.default_rng(7))
    b = model.sample(upstream, np.random.default_rng(7))
    assert np.array_equal(a, b)


def test_not_fitted_and_bad_shapes(upstream):
    with pytest.raises(NotFittedError, match="not fitted"):
        StagedPointProcess().predict_proba(upstream)
    model = StagedPointProcess(n_outputs=2, n_hidden=4).initialize(4, 0.01)
    with pytest.raises(DataFormatError, match="4 upstream neurons"):
        model.predict_proba(upstream[:, :3])
    with pytest.raises(DataFormatError, match="must have shape"):
        model.log_prob(upstream, np.zeros((300, 5), np.uint8))
    with pytest.raises(TypeError, match="numpy Generator"):
        model.sample(upstream, rng=0)
    with pytest.raises(ValueError, match="initial_rate_hz"):
        StagedPointProcess(initial_rate_hz=200.0).initialize(4, 0.01)


@pytest.mark.parametrize("cls", [StagedPointProcess, BernoulliGLM])
def test_save_load_round_trip(tmp_path, upstream, cls):
    model = cls(n_outputs=2, random_state=1).initialize(4, 0.01)
    path = model.save(tmp_path / "model.npz")
    loaded = cls.load(path)
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.predict_proba(upstream), model.predict_proba(upstream))
    with np.load(path, allow_pickle=False) as data:  # nothing in the file needs unpickling
        assert "meta" in data.files
