import numpy as np
import pytest
import torch

from spikebridge.decoders.rewards import cosine_reward, velocity_error_reward
from spikebridge.exceptions import DataFormatError

torch.set_num_threads(1)  # the test machines are small and shared (as in tests/training)


def test_velocity_error_reward_by_hand():
    target = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    decoded = torch.tensor([[[1.0, 0.0], [1.0, 2.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0], [3.0, 3.0]]])
    mask = torch.tensor([True, True, False])
    reward = velocity_error_reward(decoded, target, mask)
    np.testing.assert_allclose(reward.numpy(), [[0.0, -1.0, 0.0], [-1.0, -4.0, 0.0]])


def test_cosine_reward_by_hand():
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    decoded = torch.tensor([[5.0, 0.0], [-2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [1.0, 1.0]])
    mask = torch.tensor([True, True, True, True, False])
    reward = cosine_reward(decoded, target, mask)
    np.testing.assert_allclose(reward.numpy(), [1.0, -1.0, 0.0, 0.0, 0.0], atol=1e-7)
    zero = cosine_reward(torch.zeros(5, 2), target, mask)
    assert torch.isfinite(zero).all() and (zero == 0).all()


def test_rewards_batch_and_keep_gradients():
    target = torch.randn(6, 2)
    decoded = torch.randn(3, 4, 6, 2, requires_grad=True)
    mask = torch.ones(6, dtype=torch.bool)
    for reward in (velocity_error_reward, cosine_reward):
        out = reward(decoded, target, mask)
        assert out.shape == (3, 4, 6)
        out.sum().backward()
    assert decoded.grad is not None


@pytest.mark.parametrize("reward", [velocity_error_reward, cosine_reward])
def test_rewards_check_shapes(reward):
    with pytest.raises(DataFormatError, match="decoded"):
        reward(torch.zeros(5, 3), torch.zeros(5, 2), torch.ones(5, dtype=torch.bool))
    with pytest.raises(DataFormatError, match="mask"):
        reward(torch.zeros(5, 2), torch.zeros(5, 2), torch.ones(4, dtype=torch.bool))
