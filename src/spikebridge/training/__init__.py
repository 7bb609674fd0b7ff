"""spikebridge.training."""
