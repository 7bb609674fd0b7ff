"""Decoders: fixed readouts from downstream spikes to behaviour, and how to build, fit, save and load them."""

from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.continuous import ContinuousDecoder, KalmanDecoder, WienerDecoder
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.io import DECODER_SPECS, decoder_from_spec, load_decoder, save_decoder
from spikebridge.decoders.manual import HandDesignedDecoder
from spikebridge.decoders.patternnet import WindowMLPDecoder, load_patternnet_decoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.decoders.rewards import (
    correct_reward,
    cosine_reward,
    exploration_bonus,
    velocity_error_reward,
)

__all__ = [
    "DECODER_SPECS",
    "ContinuousDecoder",
    "HandDesignedDecoder",
    "KalmanDecoder",
    "SpikeDecoder",
    "WienerDecoder",
    "WindowClassifierDecoder",
    "WindowMLPDecoder",
    "correct_reward",
    "cosine_reward",
    "decoder_from_spec",
    "exploration_bonus",
    "load_decoder",
    "load_patternnet_decoder",
    "rank_neurons_by_information",
    "save_decoder",
    "velocity_error_reward",
]
