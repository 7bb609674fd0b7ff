"""The biomimicry trade-off study: sweep the information prior's weight and score success and biomimicry.

Every point is one cross-validated ``reproduce`` run of the default RL trainer with a different
``prior_weight``, on the same folds and seeds. The paper's algorithm, SL and the recording are scored
once, as reference points. RL never sees downstream spikes; they are used only to score.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from spikebridge._io import atomic_write_json
from spikebridge.data.recording import Recording
from spikebridge.experiments.reproduce import ReproduceConfig, _jsonable, run_reproduce

__all__ = ["TradeoffConfig", "run_tradeoff", "DEFAULT_WEIGHTS"]

DEFAULT_WEIGHTS = (0.0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.5)
"""Prior weights of the sweep: 0 (no prior) and a log-spaced range up to where success collapses."""


@dataclass(frozen=True)
class TradeoffConfig:
    """Settings of ``spikebridge biomimicry``."""

    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    """Prior weights to train RL with (reward per bin given up per nat per spike)."""
    references: tuple[str, ...] = ("rl_paper", "sl")
    """Reference methods scored once (the recording is always added when it has downstream spikes)."""
    highlight_weight: float | None = None
    """The 'RL with the prior' point of the bar figure; default: the trainer's own ``prior_weight`` when it
    is swept, else the largest weight whose mean time-bin success stays within 0.05 of the weight-0 run."""
    reproduce: ReproduceConfig = field(default_factory=ReproduceConfig)
    """Folds, seed, generation mode and trainer settings shared by every run (``methods`` is set here)."""

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("TradeoffConfig.weights is empty; give at least one prior weight, e.g. (0, 0.01).")
        bad = [w for w in self.weights if not (isinstance(w, (int, float)) and w >= 0 and math.isfinite(w))]
        if bad:
            raise ValueError(f"TradeoffConfig.weights must be finite numbers >= 0; got {bad}.")
        unknown = [m for m in self.references if m not in ("rl_paper", "sl")]
        if unknown:
            raise ValueError(f"Unknown reference methods {unknown}; choose from 'rl_paper', 'sl'.")


def _point(results: dict, method: str, **extra) -> dict:
    scores = results["methods"][method]
    return {
        "method": method, **extra,
        "time_bin_success": scores["time_bin_success"], "trial_success": scores.get("trial_success"),
        "train_seconds": scores.get("train_seconds"),
        "biomimicry": results.get("biomimicry", {}).get(method, {}),
    }


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values))


def run_tradeoff(
    recording: Recording,
    decoder,
    config: TradeoffConfig = TradeoffConfig(),
    *,
    out_dir: str | os.PathLike[str],
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the sweep and the references; write ``out_dir/tradeoff.json`` and every run's spikes.

    Parameters
    ----------
    recording :
        The recording (with downstream spikes, to score biomimicry).
    decoder :
        Decoder object or SPEC, as for :func:`~spikebridge.experiments.reproduce.run_reproduce`.
    config :
        Sweep settings.
    out_dir :
        Output folder: ``tradeoff.json``, ``w_<weight>/`` and ``references/``, each with its
        ``results.json`` and ``fold_<k>/<method>_test_spikes.npz``.
    progress :
        Called with a line of text per finished run.

    Returns
    -------
    tradeoff :
        ``{"weights", "highlight_weight", "points": [one per weight], "references": {method: point}, ...}``;
        each point has per-fold ``time_bin_success``, ``trial_success`` and ``biomimicry`` (as in
        ``results.json``).
    """
    if not recording.has_downstream:
        raise ValueError(
            "The biomimicry trade-off scores generated spikes against recorded downstream spikes, and this "
            "recording has none; pass a recording with downstream spikes (they are used to score only)."
        )
    out = Path(out_dir)
    base = config.reproduce
    points = []
    for weight in config.weights:
        run_config = replace(base, methods=("rl",), rl=replace(base.rl, prior_weight=float(weight)))
        run_dir = out / f"w_{weight:g}"
        results = run_reproduce(recording, decoder, run_config, out_dir=run_dir)
        atomic_write_json(run_dir / "results.json", results)
        point = _point(results, "rl", prior_weight=float(weight), run_dir=run_dir.name,
                       label=f"RL, prior weight {weight:g}")
        points.append(point)
        if progress:
            bio = point["biomimicry"]
            progress(f"prior weight {weight:g}: success {_mean(point['time_bin_success']):.3f}, "
                     f"MI {_mean(bio['mutual_information']):.3f}, modulation {_mean(bio['modulation_depth']):.3f}")
    references: dict[str, dict] = {}
    ref_config = replace(base, methods=tuple(config.references))
    results = run_reproduce(recording, decoder, ref_config, out_dir=out / "references")
    atomic_write_json(out / "references" / "results.json", results)
    labels = {"recorded": "recorded", "sl": "SL (fitted to the recordings)", "rl_paper": "the paper's RL",
              "class_rate_code": "recorded class rates, true class"}
    for method in ("recorded", "class_rate_code", *config.references):
        if method in results["methods"]:
            references[method] = _point(results, method, run_dir="references", label=labels[method])
    if progress:
        progress("references: " + ", ".join(
            f"{m} {_mean(p['time_bin_success']):.3f}" for m, p in references.items()))
    highlight = config.highlight_weight
    if highlight is None and base.rl.prior_weight in config.weights:  # the trainer's default weight
        highlight = base.rl.prior_weight
    if highlight is None:
        floor = _mean(points[0]["time_bin_success"]) - 0.05 if config.weights[0] == 0 else -math.inf
        kept = [p["prior_weight"] for p in points if _mean(p["time_bin_success"]) >= floor]
        highlight = max(kept) if kept else points[0]["prior_weight"]
    tradeoff = {
        "recording": recording.name, "decoder": str(decoder) if isinstance(decoder, (str, Path)) else type(decoder).__name__,
        "n_folds": base.n_folds, "seed": base.seed, "generate": base.generate, "bin_size": recording.bin_size,
        "read_neurons": results["decoder"][0]["neurons_read"],
        "weights": [float(w) for w in config.weights], "highlight_weight": float(highlight),
        "points": points, "references": references, "config": _jsonable(asdict(config)),
    }
    atomic_write_json(out / "tradeoff.json", tradeoff)
    return tradeoff

