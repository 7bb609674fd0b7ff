"""Closed-loop use of a trained generator: streaming bin by bin and a loopback bridge service."""

from spikebridge.closedloop.bridge import BridgeServer, serve_bridge
from spikebridge.closedloop.streaming import StreamingGenerator

__all__ = ["BridgeServer", "StreamingGenerator", "serve_bridge"]
