"""spikebridge.experiments."""
