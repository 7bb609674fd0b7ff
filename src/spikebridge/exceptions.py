"""Exceptions raised by spikebridge."""

from __future__ import annotations

__all__ = ["NotFittedError", "DataFormatError"]


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit`` was called."""


class DataFormatError(ValueError):
    """Raised when a file or array does not have the layout spikebridge expects."""
