"""Seeded k-fold splits of trials for cross-validation."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["trial_folds"]


def trial_folds(
    trials: ArrayLike,
    n_folds: int = 5,
    seed: int = 0,
    *,
    stratified: bool = True,
    trial_classes: ArrayLike | None = None,
) -> list[tuple[NDArray, NDArray]]:
    """Split trial ids into ``n_folds`` seeded train/test folds; each trial is tested exactly once.

    Parameters
    ----------
    trials :
        Distinct trial ids, shape ``(n_trials,)``, e.g. :attr:`Recording.trials`.
    n_folds :
        Number of folds, ``2 <= n_folds <= n_trials``.
    seed :
        Seed of the shuffle, an integer >= 0. The same seed gives the same folds.
    stratified :
        If True and ``trial_classes`` is given, every fold's test set holds each class in about the
        class's overall proportion (so every fold has every class). Ignored without ``trial_classes``.
    trial_classes :
        Class of each trial, shape ``(n_trials,)``, aligned with ``trials``, or None for a plain split.

    Returns
    -------
    folds :
        ``n_folds`` pairs ``(train_trials, test_trials)``, each sorted ascending. The test sets are
        disjoint, cover all trials, and differ in size by at most one; ``train_trials`` is the rest.

    Raises
    ------
    TypeError
        If ``n_folds`` or ``seed`` is not an integer.
    ValueError
        If ``trials`` is not a 1-D array of distinct ids, ``n_folds`` is out of range, ``trial_classes``
        does not match ``trials``, or a class has fewer than ``n_folds`` trials when stratifying.

    Notes
    -----
    The trials are shuffled with ``np.random.default_rng(seed).permutation``. Unstratified, the shuffled
    ids are cut into ``n_folds`` consecutive pieces with :func:`numpy.array_split`. Stratified, the
    shuffled ids are stably grouped by class and dealt round-robin to the folds, so each class is spread
    as evenly as possible and the fold sizes still differ by at most one.

    Examples
    --------
    >>> import numpy as np
    >>> from spikebridge.data import trial_folds
    >>> folds = trial_folds(np.arange(10), n_folds=5, seed=0)
    >>> [len(test) for _, test in folds]
    [2, 2, 2, 2, 2]
    >>> sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(10))
    True
    """
    trials = np.asarray(trials)
    if trials.ndim != 1:
        raise ValueError(
            f"`trials` must be a 1-D array of trial ids, shape (n_trials,); got shape {trials.shape}."
        )
    n_trials = trials.shape[0]
    if len(np.unique(trials)) != n_trials:
        raise ValueError(
            f"`trials` must hold distinct trial ids; {n_trials - len(np.unique(trials))} are repeated. "
            "Pass np.unique(trial_ids) (or Recording.trials)."
        )
    if isinstance(n_folds, bool) or not isinstance(n_folds, numbers.Integral):
        raise TypeError(
            f"`n_folds` must be an integer. Got n_folds={n_folds!r} of type {type(n_folds).__name__}."
        )
    if not 2 <= n_folds <= n_trials:
        raise ValueError(
            f"`n_folds` must be between 2 and the number of trials ({n_trials}). Got n_folds={n_folds!r}; "
            "use fewer folds or more trials."
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an integer. Got seed={seed!r} of type {type(seed).__name__}.")
    if seed < 0:
        raise ValueError(f"`seed` must be >= 0. Got seed={seed!r} instead.")
    n_folds = int(n_folds)

    order = np.random.default_rng(int(seed)).permutation(n_trials)
    if stratified and trial_classes is not None:
        classes = np.asarray(trial_classes)
        if classes.shape != (n_trials,):
            raise ValueError(
                f"`trial_classes` must have shape (n_trials,) = ({n_trials},), one class per trial; got "
                f"shape {classes.shape}."
            )
        values, counts = np.unique(classes, return_counts=True)
        small = counts < n_folds
        if small.any():
            listed = ", ".join(f"{v!r}: {c}" for v, c in zip(values[small].tolist(), counts[small].tolist()))
            raise ValueError(
                f"Stratified {n_folds}-fold splitting needs at least {n_folds} trials per class; these "
                f"classes have fewer ({listed}). Use fewer folds, or stratified=False."
            )
        grouped = order[np.argsort(classes[order], kind="stable")]
        fold_of = np.empty(n_trials, dtype=np.int64)
        fold_of[grouped] = np.arange(n_trials) % n_folds
        pieces = [np.flatnonzero(fold_of == k) for k in range(n_folds)]
    else:
        pieces = np.array_split(order, n_folds)

    folds = []
    for k in range(n_folds):
        is_test = np.zeros(n_trials, dtype=bool)
        is_test[pieces[k]] = True
        folds.append((np.sort(trials[~is_test]), np.sort(trials[is_test])))
    return folds
