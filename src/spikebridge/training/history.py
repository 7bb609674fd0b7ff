"""Training history: one row of namespaced scalars per update."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainingHistory"]


@dataclass
class TrainingHistory:
    """Per-update metrics, e.g. ``train/reward`` and ``train/success_rate``.

    Keys are namespaced as in ``docs/metrics.md``; every recorded update appends one value per key.
    """

    episodes: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, episode: int, **metrics: float) -> None:
        """Append one update's metrics (``train_reward=...`` is stored as ``train/reward``)."""
        self.episodes.append(int(episode))
        for key, value in metrics.items():
            self.values.setdefault(key.replace("_", "/", 1), []).append(float(value))

    def as_dict(self) -> dict[str, list[float] | list[int] | float]:
        """JSON-ready dictionary."""
        return {"episodes": list(self.episodes), "seconds": self.seconds, **{k: list(v) for k, v in self.values.items()}}

    def last(self, key: str, n: int = 1) -> float:
        """Mean of the last ``n`` values of ``key``."""
        return float(np.mean(self.values[key][-n:]))
