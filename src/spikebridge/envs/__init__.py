"""Reinforcement-learning environments of the bridge task, for generic RL libraries (Gymnasium API).

Needs the optional dependency ``gymnasium`` (``pip install spikebridge[baselines]``).
"""

from spikebridge.envs.bridge_env import SpikeBridgeEnv

__all__ = ["SpikeBridgeEnv"]
