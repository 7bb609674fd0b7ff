"""A tiny two-class task with a hand-made decoder, for fast end-to-end tests."""

from __future__ import annotations

import numpy as np
import scipy.io

from spikebridge.data.recording import Recording
from spikebridge.decoders.patternnet import WindowMLPDecoder

HISTORY = 4


def toy_recording(n_trials: int = 24, seed: int = 0) -> Recording:
    """Trials of 8 unlabelled, 12 'rest' (1) and 12 'press' (2) bins; upstream neuron 0 fires in presses."""
    rng = np.random.default_rng(seed)
    per_trial = np.r_[np.zeros(8), np.ones(12), 2 * np.ones(12)].astype(int)
    labels = np.tile(per_trial, n_trials)
    trials = np.repeat(np.arange(n_trials), len(per_trial))
    n_bins = len(labels)
    p_up = np.where(labels[:, None] == 2, [0.6, 0.1, 0.3], [0.05, 0.4, 0.3])
    upstream = (rng.random((n_bins, 3)) < p_up).astype(np.uint8)
    p_down = np.where(labels[:, None] == 2, [0.7, 0.2], [0.05, 0.2])
    downstream = (rng.random((n_bins, 2)) < p_down).astype(np.uint8)
    return Recording(upstream, labels, trials, 0.01, downstream_spikes=downstream,
                     decoder_neurons=(0,), decoder_history_bins=HISTORY, name="toy")


def toy_decoder_params() -> dict[str, np.ndarray]:
    """Reads neuron 0 over the last HISTORY + 1 bins: 'press' when it fired in >= 2 of them."""
    n_inputs = HISTORY + 1
    return {
        "IW1_1": 2.0 * np.ones((1, n_inputs)), "b1": np.array([[-3.0]]),
        "LW2_1": np.array([[-1.0], [1.0]]), "b2": np.zeros((2, 1)),
        "xoffset": np.zeros((n_inputs, 1)), "gain": np.ones((n_inputs, 1)), "ymin": np.array([[0.0]]),
    }


def toy_decoder() -> WindowMLPDecoder:
    """The toy decoder as an object."""
    p = toy_decoder_params()
    return WindowMLPDecoder(p["IW1_1"], p["b1"], p["LW2_1"], p["b2"], n_neurons=1,
                            input_offset=p["xoffset"], input_gain=p["gain"], input_ymin=0.0)


def save_toy_decoder(path) -> None:
    """Write the toy decoder in the paper's patternnet .mat layout."""
    p = toy_decoder_params()
    step = np.empty((1, 1), dtype=[("xoffset", "O"), ("gain", "O"), ("ymin", "O")])
    step[0, 0] = (p["xoffset"], p["gain"], p["ymin"])
    scipy.io.savemat(path, {"x1_step1": step, "b1": p["b1"], "IW1_1": p["IW1_1"], "b2": p["b2"], "LW2_1": p["LW2_1"]})
