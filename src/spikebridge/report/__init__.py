"""spikebridge.report."""
