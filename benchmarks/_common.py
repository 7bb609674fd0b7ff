"""Shared set-up of the benchmarks: thread limits first, then the rat01 fold-0 problem."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import platform  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
RLPP = (REPO / ".." / "shared" / "data" / "rlpp").resolve()
RESULTS = REPO / "benchmarks" / "results"


@dataclass
class Fold:
    """One cross-validation fold of a recording, ready for the trainers."""

    recording: object
    decoder: object
    features: np.ndarray
    train: object  # FlatTrials, decoder-history context
    test: object
    train_paper: object  # FlatTrials, the paper's 100-bin context


def rat01_fold(fold: int = 0, seed: int = 0) -> Fold:
    """Fold ``fold`` of rat01 with the paper's decoder (the layout ``spikebridge reproduce`` uses)."""
    from spikebridge.data import load_rlpp_mat, trial_folds
    from spikebridge.data.windows import trial_windows
    from spikebridge.decoders.patternnet import load_patternnet_decoder
    from spikebridge.experiments.reproduce import trial_classes
    from spikebridge.features.history import last_spikes_exponential
    from spikebridge.training.dataset import FlatTrials

    if not RLPP.is_dir():
        raise SystemExit(f"benchmark needs the paper's data at {RLPP}")
    recording = load_rlpp_mat(RLPP / "rat01.mat")
    decoder = load_patternnet_decoder(RLPP / "decoder_rat01_patternnet.mat")
    features = last_spikes_exponential(recording.upstream_spikes)
    train, test = trial_folds(recording.trials, 5, seed, trial_classes=trial_classes(recording))[fold]
    lesioned = recording.lesioned()
    windows = lambda trials, context: FlatTrials(trial_windows(lesioned, features, trials, context_bins=context))  # noqa: E731
    h = decoder.history_bins
    return Fold(recording, decoder, features, windows(train, h), windows(test, h), windows(train, max(h, 100)))


def test_success(network, fold: Fold, n_samples: int = 4, seed: int = 1) -> float:
    """Held-out time-bin success of a network's sampled spikes through the fold's decoder."""
    from spikebridge.metrics.success import time_bin_success

    with torch.no_grad():
        p = network(fold.test.features)[0]
        spikes = (torch.rand((n_samples, *p.shape), generator=torch.Generator().manual_seed(seed)) < p).float()
        decoded = fold.decoder.decode_torch(spikes).numpy()
    return float(np.mean(time_bin_success(decoded, fold.test.labels.numpy())))


def machine() -> dict:
    """What the numbers were measured on."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
