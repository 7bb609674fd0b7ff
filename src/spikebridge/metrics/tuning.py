"""Behaviour tuning: class mean rates, modulation depth, PSTHs and their agreement between two populations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from spikebridge.exceptions import DataFormatError
from spikebridge.metrics._checks import (
    as_labels,
    as_samples_mean,
    as_trial_ids,
    check_positive_int,
    check_sigma,
    smooth,
)

__all__ = [
    "class_mean_rates",
    "modulation_depth",
    "mean_abs_modulation_depth",
    "psth",
    "psth_correlation",
    "tuning_correlation",
]

ClassSpec = int | Sequence[int]
"""One behaviour class, or several pooled together, e.g. ``2`` or ``(2, 3)``."""


def _classes(labels: NDArray[np.int64], classes: Sequence[int] | None) -> NDArray[np.int64]:
    present = np.unique(labels[labels > 0])
    if classes is None:
        return present
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`classes` must be a non-empty sequence of ints. Got classes={classes!r}.")
    missing = np.setdiff1d(arr, present)
    if missing.size:
        raise DataFormatError(
            f"`classes` asks for {missing.tolist()}, which no labelled bin has (labels present: "
            f"{present.tolist()}). Drop those classes or check the labels."
        )
    return arr.astype(np.int64)


def _pooled_mean(rates: NDArray, labels: NDArray, spec: ClassSpec, argument: str) -> NDArray:
    members = np.atleast_1d(np.asarray(spec))
    if members.ndim != 1 or members.size == 0 or not np.issubdtype(members.dtype, np.integer):
        raise TypeError(
            f"Each side of each entry of `{argument}` must be an int or a tuple of ints; got {spec!r}."
        )
    if np.any(members <= 0):
        raise DataFormatError(
            f"`{argument}` names class {spec!r}; classes are labels >= 1 (0 is unlabelled)."
        )
    mask = np.isin(labels, members)
    if not mask.any():
        raise DataFormatError(
            f"`{argument}` names class {spec!r}, but no bin has that label. Labels present: "
            f"{np.unique(labels[labels > 0]).tolist()}."
        )
    return rates[mask].mean(axis=0)


def class_mean_rates(
    spikes: NDArray, labels: NDArray, *, classes: Sequence[int] | None = None
) -> NDArray[np.float64]:
    """Mean spike count per bin of each neuron in each behaviour class.

    Parameters
    ----------
    spikes :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` (averaged over samples).
    labels :
        Shape ``(n_bins,)``; 0 = unlabelled.
    classes :
        Classes to report, in order; default: every label > 0 present, ascending.

    Returns
    -------
    rates :
        Spikes per bin, shape ``(n_classes, n_neurons)``.

    Examples
    --------
    >>> class_mean_rates(np.array([[1], [0], [1], [1]]), np.array([1, 1, 2, 0]))
    array([[0.5],
           [1. ]])
    """
    rates = as_samples_mean(spikes, "spikes")
    return _class_mean_rates(rates, as_labels(labels, rates.shape[0]), classes)


def _class_mean_rates(rates: NDArray, labels: NDArray, classes: Sequence[int] | None) -> NDArray:
    return np.stack([rates[labels == c].mean(axis=0) for c in _classes(labels, classes)])


def modulation_depth(
    spikes: NDArray,
    labels: NDArray,
    *,
    contrasts: Sequence[tuple[ClassSpec, ClassSpec]] = ((1, 2), (1, 3), (2, 3)),
) -> NDArray[np.float64]:
    """Difference of mean rate between two behaviours, per contrast and neuron (the paper's modulation depth).

    Parameters
    ----------
    spikes :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` (averaged over samples).
    labels :
        Shape ``(n_bins,)``; 0 = unlabelled.
    contrasts :
        Pairs ``(a, b)``; each side is a class or a tuple of classes whose bins are pooled, e.g.
        ``(1, (2, 3))`` for rest against all presses.

    Returns
    -------
    depth :
        ``depth[c, n] = mean_rate_n[b] - mean_rate_n[a]`` for contrast ``c = (a, b)``, in spikes per bin
        (divide by the bin size for spikes/s), shape ``(n_contrasts, n_neurons)``.

    Examples
    --------
    >>> spikes = np.array([[0], [0], [1], [1], [0], [1]])
    >>> modulation_depth(spikes, np.array([1, 1, 2, 2, 3, 3]))
    array([[ 1. ],
           [ 0.5],
           [-0.5]])
    """
    rates = as_samples_mean(spikes, "spikes")
    labels = as_labels(labels, rates.shape[0])
    if isinstance(contrasts, np.ndarray):
        contrasts = contrasts.tolist()
    if isinstance(contrasts, (str, bytes)) or not isinstance(contrasts, Sequence) or len(contrasts) == 0:
        raise TypeError(
            f"`contrasts` must be a non-empty sequence of (a, b) pairs. Got contrasts={contrasts!r}."
        )
    depth = []
    for contrast in contrasts:
        if not isinstance(contrast, Sequence) or len(contrast) != 2:
            raise TypeError(f"Each entry of `contrasts` must be a pair (a, b). Got {contrast!r}.")
        first, second = contrast
        depth.append(_pooled_mean(rates, labels, second, "contrasts")
                     - _pooled_mean(rates, labels, first, "contrasts"))
    return np.stack(depth)


def mean_abs_modulation_depth(
    spikes: NDArray,
    labels: NDArray,
    *,
    contrasts: Sequence[tuple[ClassSpec, ClassSpec]] = ((1, (2, 3)), (2, 3)),
) -> NDArray[np.float64]:
    """Average the absolute modulation depth over contrasts, per neuron (the paper's summary).

    The default contrasts are rest (1) against the pooled presses (2, 3), and low (2) against high (3)
    press, as in the lever task.

    Parameters
    ----------
    spikes :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)``.
    labels :
        Shape ``(n_bins,)``; 0 = unlabelled.
    contrasts :
        As in :func:`modulation_depth`.

    Returns
    -------
    depth :
        Spikes per bin, shape ``(n_neurons,)``; average it over neurons for one number per population.
    """
    return np.abs(modulation_depth(spikes, labels, contrasts=contrasts)).mean(axis=0)


def psth(
    spikes: NDArray,
    labels: NDArray,
    trial_ids: NDArray,
    *,
    n_bins_window: int = 100,
    n_bins_before: int = 0,
    smoothing_sigma_bins: float = 5.0,
    classes: Sequence[int] | None = None,
) -> NDArray[np.float64]:
    """Peri-stimulus time histogram of each neuron for each behaviour class, aligned at the class onset.

    In each trial, the onset of class ``c`` is the first bin of that trial labelled ``c``. The window
    ``[onset - n_bins_before, onset + n_bins_window)`` of the smoothed rate is averaged over the trials that
    contain ``c``; the window may run past the class segment. Bins outside the recording are left out of
    the average.

    Parameters
    ----------
    spikes :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` (averaged over samples).
    labels :
        Shape ``(n_bins,)``; 0 = unlabelled.
    trial_ids :
        Shape ``(n_bins,)``; negative = outside trials (never aligned on).
    n_bins_window, n_bins_before :
        Bins after (including the onset) and before the onset.
    smoothing_sigma_bins :
        Gaussian smoothing width in bins, applied over the whole recording first; 0 = none.
    classes :
        Classes to align on, in order; default: every label > 0 present, ascending.

    Returns
    -------
    psth :
        Spikes per bin, shape ``(n_classes, n_bins_before + n_bins_window, n_neurons)``; NaN where no trial
        has data.

    Examples
    --------
    >>> spikes = np.array([[0], [1], [0], [0], [1], [0]])
    >>> psth(spikes, np.array([0, 1, 1, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 1]), n_bins_window=2,
    ...      smoothing_sigma_bins=0)[0, :, 0]
    array([1., 0.])
    """
    rates = as_samples_mean(spikes, "spikes")
    n_bins = rates.shape[0]
    return _psth(
        rates, as_labels(labels, n_bins), as_trial_ids(trial_ids, n_bins),
        n_after=check_positive_int(n_bins_window, "n_bins_window"),
        n_before=check_positive_int(n_bins_before, "n_bins_before", minimum=0),
        sigma=check_sigma(smoothing_sigma_bins), classes=classes,
    )


def _psth(rates: NDArray, labels: NDArray, trial_ids: NDArray, *, n_after: int, n_before: int, sigma: float,
          classes: Sequence[int] | None) -> NDArray:
    n_bins = rates.shape[0]
    rates = smooth(rates, sigma)
    offsets = np.arange(-n_before, n_after)
    out = []
    for c in _classes(labels, classes):
        candidates = np.flatnonzero((labels == c) & (trial_ids >= 0))
        if candidates.size == 0:
            raise DataFormatError(
                f"Class {c} never occurs inside a trial (trial_ids >= 0), so it has no onset to align on."
            )
        _, first = np.unique(trial_ids[candidates], return_index=True)
        window = candidates[first][:, None] + offsets[None, :]  # (n_trials_with_c, n_window)
        inside = (window >= 0) & (window < n_bins)
        gathered = np.where(inside[..., None], rates[np.clip(window, 0, n_bins - 1)], 0.0)
        count = inside.sum(axis=0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(count > 0, gathered.sum(axis=0) / np.maximum(count, 1), np.nan))
    return np.stack(out)


def _paired_pearson(first: NDArray, second: NDArray) -> NDArray[np.float64]:
    """Pearson r between column ``n`` of ``first`` and of ``second`` (rows with NaN in either dropped)."""
    keep = ~(np.isnan(first).any(axis=1) | np.isnan(second).any(axis=1))
    first, second = first[keep], second[keep]
    a, b = first - first.mean(axis=0), second - second.mean(axis=0)
    # Columns that vary only by rounding error count as constant.
    varies = (np.ptp(first, axis=0) > 1e-12 * np.abs(first).max(axis=0)) & (
        np.ptp(second, axis=0) > 1e-12 * np.abs(second).max(axis=0))
    norm = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(varies, (a * b).sum(axis=0) / np.where(varies, norm, 1.0), np.nan)


def _check_paired(generated: NDArray, recorded: NDArray) -> tuple[NDArray, NDArray]:
    gen = as_samples_mean(generated, "generated")
    rec = as_samples_mean(recorded, "recorded")
    if gen.shape != rec.shape:
        raise DataFormatError(
            f"`generated` (per sample {gen.shape}) and `recorded` ({rec.shape}) must have the same "
            "(n_bins, n_neurons): neuron i of one is compared with neuron i of the other."
        )
    return gen, rec


def psth_correlation(
    generated: NDArray,
    recorded: NDArray,
    labels: NDArray,
    trial_ids: NDArray,
    *,
    n_bins_window: int = 100,
    n_bins_before: int = 0,
    smoothing_sigma_bins: float = 5.0,
    classes: Sequence[int] | None = None,
) -> NDArray[np.float64]:
    """Pearson correlation between the class PSTHs of paired neurons (generated ``i`` vs recorded ``i``).

    Parameters
    ----------
    generated :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` (the PSTH of the sample mean).
    recorded :
        Shape ``(n_bins, n_neurons)``.
    labels, trial_ids :
        Shape ``(n_bins,)`` each, as in :func:`psth`.
    n_bins_window, n_bins_before, smoothing_sigma_bins, classes :
        As in :func:`psth`.

    Returns
    -------
    correlation :
        Pearson r of the class PSTHs concatenated over classes, shape ``(n_neurons,)``; NaN where either
        PSTH is constant.
    """
    gen, rec = _check_paired(generated, recorded)
    n_bins, n_neurons = gen.shape
    kwargs = dict(
        n_after=check_positive_int(n_bins_window, "n_bins_window"),
        n_before=check_positive_int(n_bins_before, "n_bins_before", minimum=0),
        sigma=check_sigma(smoothing_sigma_bins), classes=classes,
    )
    labels, trial_ids = as_labels(labels, n_bins), as_trial_ids(trial_ids, n_bins)
    gen_psth = _psth(gen, labels, trial_ids, **kwargs).reshape(-1, n_neurons)
    rec_psth = _psth(rec, labels, trial_ids, **kwargs).reshape(-1, n_neurons)
    return _paired_pearson(gen_psth, rec_psth)


def tuning_correlation(
    generated: NDArray, recorded: NDArray, labels: NDArray, *, classes: Sequence[int] | None = None
) -> NDArray[np.float64]:
    """Pearson correlation across behaviour classes between the mean rates of paired neurons.

    Parameters
    ----------
    generated :
        Shape ``(n_bins, n_neurons)``, or ``(n_samples, n_bins, n_neurons)`` (averaged over samples).
    recorded :
        Shape ``(n_bins, n_neurons)``.
    labels :
        Shape ``(n_bins,)``; 0 = unlabelled. At least 2 classes are needed (3 or more to be meaningful).
    classes :
        As in :func:`class_mean_rates`.

    Returns
    -------
    correlation :
        Shape ``(n_neurons,)``; NaN where either tuning curve is flat.
    """
    gen, rec = _check_paired(generated, recorded)
    labels = as_labels(labels, gen.shape[0])
    gen_tuning = _class_mean_rates(gen, labels, classes)
    if gen_tuning.shape[0] < 2:
        raise DataFormatError("`labels` has one behaviour class; a tuning correlation needs at least 2.")
    return _paired_pearson(gen_tuning, _class_mean_rates(rec, labels, classes))
