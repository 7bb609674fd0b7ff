"""spikebridge: train downstream spike generators from behaviour alone.

A point-process generator maps upstream spikes to downstream spike probabilities and is trained by
reinforcement learning from the behaviour a fixed decoder reads from its spikes (Wu et al., Nature
Computational Science 2026). Recorded downstream spikes are used only for baselines and evaluation.
"""

from spikebridge.data import Recording, load_recording, load_rlpp_mat, load_trial_npz, trial_folds
from spikebridge.exceptions import DataFormatError, NotFittedError

__version__ = "0.1.0"

__all__ = [
    "DataFormatError",
    "NotFittedError",
    "Recording",
    "load_recording",
    "load_rlpp_mat",
    "load_trial_npz",
    "trial_folds",
    "__version__",
]
