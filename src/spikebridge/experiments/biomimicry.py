"""Biomimicry summary of generated spikes against recorded ones (glue over :mod:`spikebridge.metrics`)."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from spikebridge.metrics import (
    fano_factor,
    firing_rate,
    isi_cv,
    mean_abs_modulation_depth,
    mutual_information,
    pairwise_correlation,
    participation_ratio,
    psth,
    psth_correlation,
    subspace_angles_deg,
)

__all__ = ["biomimicry_summary", "population_summary"]


def biomimicry_summary(
    spikes: NDArray,
    labels: NDArray,
    trial_ids: NDArray,
    bin_size: float,
    *,
    recorded: NDArray | None = None,
    max_lag_bins: int | None = None,
) -> dict[str, float | list[float]]:
    """Per-neuron biomimicry metrics and their summaries, for one population.

    Parameters
    ----------
    spikes :
        Spikes to describe, ``(n_bins, n_neurons)`` or sampled ``(n_samples, n_bins, n_neurons)``; rates and
        information are averaged over samples, PSTHs use the mean over samples.
    labels, trial_ids :
        Shape ``(n_bins,)``; 0 / -1 outside labelled trial bins.
    bin_size :
        Seconds per bin.
    recorded :
        Recorded spikes of the matched neurons, ``(n_bins, n_neurons)``, for ``psth_correlation``.
    max_lag_bins :
        Lags of the mutual information (maximum over 0..max_lag_bins); default 0.5 s in bins, as the paper.

    Returns
    -------
    summary :
        ``firing_rate_hz``, ``isi_cv``, ``fano_factor``, ``modulation_depth``, ``mutual_information`` and,
        with ``recorded``, ``psth_correlation``: each the mean over neurons, plus ``psth_correlation_median``;
        ``per_neuron`` holds the same metrics neuron by neuron (lists).
    """
    classes = [int(c) for c in np.unique(labels) if c > 0]
    # the paper's contrasts, for any class set: the first class (rest) vs all others pooled, then each pair
    # among the others (low vs high); with two classes, just the one contrast
    others = classes[1:]
    contrasts = [(classes[0], tuple(others))] + [(a, b) for i, a in enumerate(others) for b in others[i + 1:]]
    samples = np.asarray(spikes)
    if samples.ndim == 2:
        samples = samples[None]
    lag = int(round(0.5 / bin_size)) if max_lag_bins is None else int(max_lag_bins)
    window = max(1, int(round(0.1 / bin_size)))
    with warnings.catch_warnings():  # a neuron with too few spikes has NaN ISI statistics in every sample
        warnings.simplefilter("ignore", RuntimeWarning)
        isi = np.nanmean([isi_cv(s) for s in samples], axis=0)
        fano = np.nanmean([fano_factor(s, window) for s in samples], axis=0)
    per_neuron = {
        "firing_rate_hz": firing_rate(samples, bin_size),
        "isi_cv": isi,
        "fano_factor": fano,
        "modulation_depth": np.mean(
            [mean_abs_modulation_depth(s, labels, contrasts=contrasts) for s in samples], axis=0),
        "mutual_information": np.mean([mutual_information(s, labels, max_lag=lag) for s in samples], axis=0),
    }
    if recorded is not None:
        per_neuron["psth_correlation"] = psth_correlation(samples, recorded, labels, trial_ids)
    out: dict = {}
    for key, values in per_neuron.items():
        values = np.asarray(values, dtype=float)
        out[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    if recorded is not None:
        corr = np.asarray(per_neuron["psth_correlation"], dtype=float)
        out["psth_correlation_median"] = float(np.nanmedian(corr)) if np.isfinite(corr).any() else float("nan")
    out["per_neuron"] = {key: np.asarray(values, dtype=float).tolist() for key, values in per_neuron.items()}
    return out


def population_summary(
    spikes: NDArray,
    labels: NDArray,
    trial_ids: NDArray,
    bin_size: float,
    *,
    recorded: NDArray | None = None,
    n_components: int = 3,
) -> dict[str, float]:
    """Population statistics of a whole generated (or recorded) population.

    Parameters
    ----------
    spikes :
        ``(n_bins, n_neurons)`` or sampled ``(n_samples, n_bins, n_neurons)``, ``n_neurons >= 2``.
    labels, trial_ids :
        Shape ``(n_bins,)``.
    bin_size :
        Seconds per bin.
    recorded :
        The matched recorded population, ``(n_bins, n_neurons)`` (column ``i`` paired with generated
        neuron ``i``), for ``subspace_angle_deg``.
    n_components :
        ``k`` of the PCA subspaces compared (capped at ``n_neurons - 1``).

    Returns
    -------
    summary :
        ``pairwise_correlation``: mean pairwise correlation of 100 ms spike counts inside labelled bins
        (mean over samples). ``participation_ratio``: dimensionality of the trial-averaged activity (the
        class PSTHs of every neuron, stacked over classes and time), per sampled session, then averaged.
        With ``recorded``, ``subspace_angle_deg``: the mean principal angle between the top-``k`` PCA
        subspaces of the generated (per session) and the recorded trial-averaged activity.
    """
    samples = np.asarray(spikes)
    if samples.ndim == 2:
        samples = samples[None]
    inside = labels > 0
    window = max(1, int(round(0.1 / bin_size)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pairwise = float(np.nanmean([pairwise_correlation(s[inside], window) for s in samples]))

    def activity(one: NDArray) -> NDArray:  # trial-averaged activity, (n_classes * n_window, n_neurons)
        flat = psth(one, labels, trial_ids).reshape(-1, samples.shape[-1])
        return flat[~np.isnan(flat).any(axis=1)]

    # one sampled session at a time: each has the recording's trials, so its PSTHs carry the same
    # trial-sampling noise as the recording's (averaging samples first would remove it and lower the ratio)
    sessions = [activity(s) for s in samples]
    out = {"pairwise_correlation": pairwise,
           "participation_ratio": float(np.nanmean([participation_ratio(a) for a in sessions]))}
    if recorded is not None:
        truth = activity(np.asarray(recorded))
        k = min(n_components, samples.shape[-1] - 1)
        out["subspace_angle_deg"] = float(np.mean([subspace_angles_deg(a, truth, k) for a in sessions]))
    return out
