import numpy as np
import scipy.stats
import torch

from spikebridge.models.network import PointProcessNetwork
from spikebridge.models.observations import BernoulliObservations, get_observation_model


def test_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, size=(50, 3))
    s = (rng.random((50, 3)) < 0.5).astype(float)
    ours = BernoulliObservations.log_prob(torch.tensor(p), torch.tensor(s)).numpy()
    np.testing.assert_allclose(ours, scipy.stats.bernoulli.logpmf(s, p), rtol=1e-6)
    logits = torch.logit(torch.tensor(p))
    np.testing.assert_allclose(BernoulliObservations.log_prob_logits(logits, torch.tensor(s)).numpy(),
                               scipy.stats.bernoulli.logpmf(s, p), rtol=1e-6)


def test_sample_frequency_matches_probability():
    p = torch.full((20000, 2), 0.2)
    s = BernoulliObservations.sample(p, torch.Generator().manual_seed(0))
    assert abs(float(s.mean()) - 0.2) < 0.01
    assert set(np.unique(s.numpy())) <= {0.0, 1.0}


def test_network_shapes_and_initial_rate():
    net = PointProcessNetwork(10, 3, n_hidden=8, n_replicas=4, initial_rate=0.1,
                              generator=torch.Generator().manual_seed(0))
    x = torch.rand(100, 10)
    with torch.no_grad():
        p = net(x)
    assert p.shape == (4, 100, 3)
    assert float(p.min()) >= 0 and float(p.max()) <= 1
    assert abs(float(p.mean()) - 0.1) < 0.06
    glm = PointProcessNetwork(10, 3, n_hidden=0)
    assert glm(x).shape == (1, 100, 3)


def test_replicas_are_independent_copies():
    net = PointProcessNetwork(5, 2, n_hidden=4, n_replicas=3, generator=torch.Generator().manual_seed(0))
    x = torch.rand(7, 5)
    full = net(x)
    for r in range(3):
        h = torch.sigmoid(x @ net.w1[r] + net.b1[r])
        torch.testing.assert_close(full[r], torch.sigmoid(h @ net.w2[r] + net.b2[r]))


def test_reset_selected_outputs_only():
    net = PointProcessNetwork(5, 3, n_hidden=4, n_replicas=2, generator=torch.Generator().manual_seed(0))
    before = net.w2.detach().clone()
    mask = torch.tensor([[True, False, False], [False, False, True]])
    net.reset_parameters(torch.Generator().manual_seed(1), outputs=mask)
    after = net.w2.detach()
    assert torch.equal(before[0, :, 1:], after[0, :, 1:]) and not torch.equal(before[0, :, 0], after[0, :, 0])
    assert torch.equal(before[1, :, :2], after[1, :, :2])


def test_observation_model_builder():
    assert isinstance(get_observation_model("bernoulli"), BernoulliObservations)
    import pytest

    with pytest.raises(ValueError, match="Unknown observation_model"):
        get_observation_model("poisson")
