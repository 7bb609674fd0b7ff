"""The paper's published per-fold success rates (``paper_results/successRate.mat``), for comparison."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import scipy.io

__all__ = ["load_paper_success", "find_paper_success"]


def load_paper_success(path: str | Path, subject_index: int) -> dict[str, dict[str, list[float]]]:
    """Per-fold published test success of one subject.

    Parameters
    ----------
    path :
        ``successRate.mat`` with ``testSucRateRL``, ``testSucRateSL``, ``testTrialSucRateRL`` and
        ``testTrialSucRateSL``, each of shape ``(n_subjects, n_folds)``.
    subject_index :
        Row of the subject (0-based; rat01 is 0).

    Returns
    -------
    published :
        ``{"rl": {"time_bin_success": [...], "trial_success": [...]}, "sl": {...}}``.
    """
    mat = scipy.io.loadmat(path)
    out = {}
    for method, suffix in (("rl", "RL"), ("sl", "SL")):
        tb = np.asarray(mat[f"testSucRate{suffix}"], dtype=float)
        ts = np.asarray(mat[f"testTrialSucRate{suffix}"], dtype=float)
        if not 0 <= subject_index < tb.shape[0]:
            raise ValueError(f"subject_index={subject_index} is outside the {tb.shape[0]} subjects in {path}.")
        out[method] = {"time_bin_success": tb[subject_index].tolist(), "trial_success": ts[subject_index].tolist()}
    return out


def find_paper_success(recording_path: str | Path, recording_name: str) -> dict | None:
    """Published numbers for a paper recording (``ratNN``) if ``paper_results/`` sits beside it, else None."""
    match = re.fullmatch(r"rat0*(\d+)", recording_name)
    table = Path(recording_path).resolve().parent / "paper_results" / "successRate.mat"
    if match is None or not table.exists():
        return None
    try:
        return load_paper_success(table, int(match.group(1)) - 1)
    except (ValueError, KeyError):
        return None
