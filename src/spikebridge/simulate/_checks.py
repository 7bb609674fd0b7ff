"""Keyword-argument checks shared by the simulators; each error names the argument and the fix."""

from __future__ import annotations

import numbers

import numpy as np

from spikebridge._validation import check_positive_int, check_positive_number

__all__ = [
    "check_positive_int",
    "check_positive_number",
    "check_non_negative_number",
    "check_fraction",
    "check_fractions",
    "check_interval",
    "as_generator",
]


def check_non_negative_number(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number. Got {name}={value!r} of type {type(value).__name__}.")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Got {name}={value!r} instead.")
    return float(value)


def check_fraction(value: object, name: str) -> float:
    """Return ``value`` as a float after checking it lies in ``[0, 1]``."""
    value = check_non_negative_number(value, name)
    if value > 1:
        raise ValueError(f"`{name}` must be a fraction in [0, 1]. Got {name}={value!r} instead.")
    return value


def check_interval(value: object, name: str, *, allow_zero: bool = False) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of finite numbers with ``0 < low <= high`` (``0 <=`` if ``allow_zero``).

    A single number ``v`` is read as the degenerate interval ``(v, v)``.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(
            f"`{name}` must be a (low, high) pair of numbers, e.g. {name}=(0.4, 1.2). Got {name}={value!r}."
        )
    check = check_non_negative_number if allow_zero else check_positive_number
    low, high = (check(v, name) for v in value)
    if low > high:
        raise ValueError(
            f"`{name}` must satisfy low <= high. Got {name}={tuple(value)!r}; swap the two values."
        )
    return low, high


def as_generator(seed: object) -> np.random.Generator:
    """Turn ``seed`` (a non-negative int or a ``np.random.Generator``) into a generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"`seed` must be a non-negative int or a np.random.Generator. Got seed={seed!r} of type "
            f"{type(seed).__name__}."
        )
    if seed < 0:
        raise ValueError(f"`seed` must be >= 0. Got seed={seed!r} instead.")
    return np.random.default_rng(int(seed))


def check_fractions(values: object, name: str, size: int) -> np.ndarray:
    """Return ``size`` non-negative weights normalised to sum to 1, shape ``(size,)``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be {size} numbers. Got {name}={values!r}.") from None
    if arr.shape != (size,) or not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
        raise ValueError(
            f"`{name}` must be {size} non-negative numbers with a positive sum (they are normalised). "
            f"Got {name}={values!r}."
        )
    return arr / arr.sum()
