"""Healthy two-region subjects simulated with known ground truth (the tests' ground truth)."""

from spikebridge.simulate.lever import LEVER_LABELS, simulate_lever_task
from spikebridge.simulate.mapping import UpstreamToDownstreamMapping
from spikebridge.simulate.reach import simulate_reach_task
from spikebridge.simulate.subject import SimulatedSubject

__all__ = [
    "LEVER_LABELS",
    "SimulatedSubject",
    "UpstreamToDownstreamMapping",
    "simulate_lever_task",
    "simulate_reach_task",
]
