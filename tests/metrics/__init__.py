"""Tests for spikebridge.metrics."""
