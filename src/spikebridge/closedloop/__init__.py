"""Closed-loop use of a trained generator: streaming bin by bin, online learning, and a loopback bridge."""

from spikebridge.closedloop.bridge import BridgeServer, serve_bridge
from spikebridge.closedloop.online import OnlineConfig, OnlineLearner, TrialOutcome, policy_gradient_step
from spikebridge.closedloop.streaming import StreamingGenerator

__all__ = [
    "BridgeServer",
    "OnlineConfig",
    "OnlineLearner",
    "StreamingGenerator",
    "TrialOutcome",
    "policy_gradient_step",
    "serve_bridge",
]
