"""Tests for spikebridge.simulate."""
