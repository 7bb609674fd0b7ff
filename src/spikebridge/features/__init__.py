"""spikebridge.features."""
