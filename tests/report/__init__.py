"""Tests for spikebridge.report."""
