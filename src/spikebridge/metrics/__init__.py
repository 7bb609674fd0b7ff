"""Biomimicry and goodness-of-fit metrics: pure functions of spikes, labels and probabilities."""


from spikebridge.metrics.goodness_of_fit import TimeRescalingResult, rescaled_intervals, time_rescaling_ks
from spikebridge.metrics.information import label_entropy, mutual_information
from spikebridge.metrics.population import pairwise_correlation, participation_ratio, subspace_angles_deg
from spikebridge.metrics.rates import fano_factor, firing_rate, isi_cv
from spikebridge.metrics.success import per_trial_success, time_bin_success, trial_success, velocity_r2
from spikebridge.metrics.tuning import (
    class_mean_rates,
    mean_abs_modulation_depth,
    modulation_depth,
    psth,
    psth_correlation,
    tuning_correlation,
)

__all__ = [
    "per_trial_success",
    "time_bin_success",
    "trial_success",
    "TimeRescalingResult",
    "class_mean_rates",
    "fano_factor",
    "firing_rate",
    "isi_cv",
    "label_entropy",
    "mean_abs_modulation_depth",
    "modulation_depth",
    "mutual_information",
    "pairwise_correlation",
    "participation_ratio",
    "psth",
    "psth_correlation",
    "rescaled_intervals",
    "subspace_angles_deg",
    "time_rescaling_ks",
    "tuning_correlation",
    "velocity_r2",
]
