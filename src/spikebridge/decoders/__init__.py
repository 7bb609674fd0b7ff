"""spikebridge.decoders."""
