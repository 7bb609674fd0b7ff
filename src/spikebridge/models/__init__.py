"""spikebridge.models."""
