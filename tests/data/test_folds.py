"""trial_folds: a seeded partition of trials, optionally stratified by class."""

from __future__ import annotations

import numpy as np
import pytest

from spikebridge.data import trial_folds


def _check_partition(folds, trials):
    tests = [test for _, test in folds]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.sort(trials))  # each trial tested once
    sizes = [len(t) for t in tests]
    assert max(sizes) - min(sizes) <= 1
    for train, test in folds:
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted, distinct
        assert not np.intersect1d(train, test).size
        np.testing.assert_array_equal(np.union1d(train, test), np.sort(trials))


@pytest.mark.parametrize("n_trials, n_folds", [(10, 5), (202, 5), (7, 3), (2, 2), (13, 13)])
def test_folds_partition_the_trials(n_trials, n_folds):
    trials = np.arange(1, n_trials + 1) * 3  # ids need not be 0..n-1
    folds = trial_folds(trials, n_folds=n_folds, seed=42)
    assert len(folds) == n_folds
    _check_partition(folds, trials)


def test_matches_permutation_then_array_split():
    trials = np.arange(100, 120)
    order = np.random.default_rng(3).permutation(20)
    expected = np.array_split(trials[order], 4)
    for (_, test), want in zip(trial_folds(trials, n_folds=4, seed=3), expected):
        np.testing.assert_array_equal(test, np.sort(want))


def test_same_seed_same_folds_other_seed_other_folds():
    trials = np.arange(50)
    a, b = trial_folds(trials, seed=42), trial_folds(trials, seed=42)
    c = trial_folds(trials, seed=43)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c))


def test_unsorted_input_gives_sorted_output():
    trials = np.array([9, 2, 7, 4, 5, 1])
    _check_partition(trial_folds(trials, n_folds=3), trials)


def test_stratified_folds_hold_every_class_in_proportion():
    rng = np.random.default_rng(42)
    trials = np.arange(53)
    classes = rng.permutation(np.repeat([1, 2, 3], [25, 18, 10]))
    folds = trial_folds(trials, n_folds=5, seed=0, trial_classes=classes)
    _check_partition(folds, trials)
    for _, test in folds:
        counts = np.bincount(classes[test], minlength=4)[1:]
        assert np.all(counts >= [5, 3, 2]) and np.all(counts <= [5, 4, 2])


def test_stratified_false_ignores_classes():
    trials, classes = np.arange(20), np.repeat([0, 1], 10)
    plain = trial_folds(trials, n_folds=4, seed=1)
    unstratified = trial_folds(trials, n_folds=4, seed=1, stratified=False, trial_classes=classes)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(plain, unstratified))


def test_stratified_without_classes_is_plain():
    trials = np.arange(20)
    assert all(
        np.array_equal(x[1], y[1])
        for x, y in zip(trial_folds(trials, 4, 1), trial_folds(trials, 4, 1, stratified=True))
    )


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"n_folds": 1},
            ValueError,
            r"`n_folds` must be between 2 and the number of trials \(6\).*n_folds=1",
        ),
        ({"n_folds": 7}, ValueError, r"between 2 and the number of trials \(6\).*n_folds=7"),
        ({"n_folds": 2.0}, TypeError, "`n_folds` must be an integer"),
        ({"n_folds": True}, TypeError, "`n_folds` must be an integer"),
        ({"seed": -1}, ValueError, "`seed` must be >= 0"),
        ({"seed": "0"}, TypeError, "`seed` must be an integer"),
        (
            {"trial_classes": np.zeros(5)},
            ValueError,
            r"`trial_classes` must have shape \(n_trials,\) = \(6,\)",
        ),
        ({"n_folds": 3, "trial_classes": np.array([0, 0, 0, 1, 1, 1])}, None, None),
        (
            {"n_folds": 3, "trial_classes": np.array([0, 0, 0, 0, 1, 1])},
            ValueError,
            r"at least 3 trials per class.*\(1: 2\).*stratified=False",
        ),
    ],
)
def test_validation(kwargs, error, match):
    trials = np.arange(6)
    if error is None:
        _check_partition(trial_folds(trials, **kwargs), trials)
        return
    with pytest.raises(error, match=match):
        trial_folds(trials, **kwargs)


@pytest.mark.parametrize(
    "trials, match",
    [(np.zeros((3, 2)), r"1-D array .* got shape \(3, 2\)"), (np.array([1, 2, 2, 3]), "1 are repeated")],
)
def test_bad_trials(trials, match):
    with pytest.raises(ValueError, match=match):
        trial_folds(trials, n_folds=2)


@pytest.mark.shared_data
def test_rat01_folds_are_stratified_by_behaviour(rlpp_dir):
    from spikebridge.data import load_rlpp_mat

    rec = load_rlpp_mat(rlpp_dir / "rat01.mat")
    # A trial's press class: the largest label in it (2 low, 3 high).
    press = np.array([rec.behavior_labels[rec.trial_ids == t].max() for t in rec.trials])
    folds = trial_folds(rec.trials, n_folds=5, seed=0, trial_classes=press)
    _check_partition(folds, rec.trials)
    for _, test in folds:
        assert set(press[np.isin(rec.trials, test)]) == set(press)
