"""Closed-loop drift scenario: does online learning win back the behaviour when the readout changes.

Pipeline: simulate a healthy lever subject -> fit the healthy decoder on the healthy downstream of the
first trials -> lesion -> pre-train an RL generator offline on those trials (behaviour only) -> stream the
remaining trials one by one through :class:`~spikebridge.closedloop.online.OnlineLearner`. From
``drift_trial`` on, the decoder's inputs drift: over ``drift_ramp_trials`` trials each decoder input moves
from its own generated neuron to another one, as when electrodes shift under a prosthesis. The
permutation is the one of the read neurons under which the pre-trained generator does worst on the
pre-training trials (the session is never looked at). The session runs twice from the same state and
seeds, with online learning on and off.
"""

from __future__ import annotations

import copy
import io
import itertools
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from spikebridge._io import atomic_write_bytes, atomic_write_json
from spikebridge.closedloop.online import OnlineConfig, OnlineLearner
from spikebridge.data.recording import Recording
from spikebridge.data.windows import TrialWindows, trial_windows
from spikebridge.decoders.base import SpikeDecoder
from spikebridge.decoders.fitted import WindowClassifierDecoder
from spikebridge.decoders.ranking import rank_neurons_by_information
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.history import TrainingHistory
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce

__all__ = [
    "ClosedLoopConfig", "PermutedInputDecoder", "run_drift_scenario", "worst_permutation", "moving_average",
    "format_drift_summary",
]

RUN_NAMES = ("learning", "no_learning")


class PermutedInputDecoder(SpikeDecoder):
    """A decoder whose inputs have drifted towards other generated neurons.

    Input ``j`` of ``decoder`` receives ``(1 - mix) * s_j + mix * s_{permutation[j]}``: with ``mix = 0``
    it is ``decoder`` itself, with ``mix = 1`` generated neuron ``permutation[j]`` feeds input ``j``.

    Parameters
    ----------
    decoder :
        The healthy readout.
    permutation :
        Shape ``(n_neurons,)``, a permutation of ``0..n_neurons-1``.
    mix :
        Progress of the drift in [0, 1].
    """

    def __init__(self, decoder: SpikeDecoder, permutation: ArrayLike, mix: float = 1.0) -> None:
        perm = np.asarray(permutation)
        n = decoder.n_neurons
        if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(n)):
            raise ValueError(
                f"`permutation` must be a permutation of 0..{n - 1} (one entry per decoder input); "
                f"got {perm.tolist()}."
            )
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"`mix` must be in [0, 1]; got mix={mix!r}.")
        self.decoder, self.permutation, self.mix = decoder, perm, float(mix)
        self.n_neurons, self.history_bins, self.n_classes = n, decoder.history_bins, decoder.n_classes
        self._index = torch.as_tensor(perm, dtype=torch.long)

    def _scores(self, spikes: torch.Tensor) -> torch.Tensor:
        if self.mix == 0.0:
            return self.decoder._scores(spikes)
        moved = spikes.index_select(-1, self._index)
        if self.mix < 1.0:
            moved = torch.lerp(spikes.to(moved.dtype), moved, self.mix)
        return self.decoder._scores(moved)


@dataclass(frozen=True)
class ClosedLoopConfig:
    """Settings of ``spikebridge closed-loop``."""

    seed: int = 0
    """Seeds the simulated subject, the decoder, the generator and all sampling."""
    n_pretrain_trials: int = 120
    """First trials of the simulated subject: the healthy decoder is fitted and RL pre-trained on them."""
    n_session_trials: int = 400
    """Later trials, streamed one at a time in the online session."""
    n_read: int = 4
    """Downstream neurons the healthy decoder reads (the most informative ones)."""
    drift_trial: int = 60
    """Session trial at which the decoder starts to drift."""
    drift_ramp_trials: int = 20
    """Trials over which the drift goes from none to complete (1 = abrupt)."""
    drift_permutation: tuple[int, ...] | None = None
    """Decoder input ``j`` drifts to generated neuron ``drift_permutation[j]``. None: the permutation of
    the read neurons under which the pre-trained generator does worst on the pre-training trials
    (:func:`worst_permutation`)."""
    moving_average_trials: int = 20
    """Trailing window of the moving average of the per-trial success."""
    post_fraction: float = 0.2
    """The post-drift level is the mean success over this last fraction of the session."""
    recovery_bar: float = 0.9
    """Online learning passes if its post-drift level is at least this fraction of its pre-drift level."""
    runs: tuple[str, ...] = RUN_NAMES
    """Which sessions to run: ``"learning"`` (online learning on) and/or ``"no_learning"`` (off)."""
    pretrain: ReinforceConfig = field(default_factory=lambda: ReinforceConfig(n_updates=800, prior_weight=0.0))
    """Offline RL pre-training before the session (few updates, so the scenario stays quick). No biomimetic
    prior: the online learner's updates carry none, so the scenario measures adaptation alone."""
    online: OnlineConfig = field(default_factory=OnlineConfig)
    """Online learner settings; its ``seed`` is replaced by one derived from ``seed`` (same for both runs)."""
    decoder_max_iterations: int = 500
    """L-BFGS iterations of the healthy decoder's fit."""

    def __post_init__(self) -> None:
        if self.n_read < 2:
            raise ValueError(f"ClosedLoopConfig.n_read must be >= 2 (drift swaps inputs); got {self.n_read}.")
        if self.n_pretrain_trials < 10:
            raise ValueError(
                f"ClosedLoopConfig.n_pretrain_trials must be >= 10; got {self.n_pretrain_trials}."
            )
        if not 1 <= self.drift_trial < self.n_session_trials:
            raise ValueError(
                f"ClosedLoopConfig.drift_trial must be in [1, n_session_trials={self.n_session_trials}); got "
                f"{self.drift_trial}."
            )
        if self.drift_ramp_trials < 1 or self.moving_average_trials < 1:
            raise ValueError("ClosedLoopConfig.drift_ramp_trials and moving_average_trials must be >= 1.")
        perm, identity = self.drift_permutation, list(range(self.n_read))
        if perm is not None and (sorted(perm) != identity or list(perm) == identity):
            raise ValueError(
                f"ClosedLoopConfig.drift_permutation must be a permutation of 0..{self.n_read - 1} other "
                f"than the identity (or None for the worst one); got {perm!r}."
            )
        if not 0 < self.post_fraction <= 1:
            raise ValueError(f"ClosedLoopConfig.post_fraction must be in (0, 1]; got {self.post_fraction!r}.")
        if self.n_session_trials - self.n_post_trials < self.drift_trial + self.drift_ramp_trials - 1:
            raise ValueError(
                "The post-drift window (the last post_fraction of the session) must start after the drift is "
                f"complete (trial {self.drift_trial + self.drift_ramp_trials - 1}); make the session longer."
            )
        bad = [name for name in self.runs if name not in RUN_NAMES]
        if bad or not self.runs:
            raise ValueError(f"ClosedLoopConfig.runs must hold some of {RUN_NAMES}; got {self.runs!r}.")

    @property
    def n_post_trials(self) -> int:
        """Trials in the post-drift window at the end of the session."""
        return max(1, int(round(self.post_fraction * self.n_session_trials)))

    def drift_mix(self, trial: int) -> float:
        """Progress of the drift (0 = none, 1 = complete) at session trial ``trial``."""
        return float(np.clip((trial - self.drift_trial + 1) / self.drift_ramp_trials, 0.0, 1.0))

    @classmethod
    def quick(cls, **kwargs) -> "ClosedLoopConfig":
        """Return a smoke-test setting: few trials and updates (seconds, not minutes)."""
        base = cls(**kwargs)
        return replace(base, n_pretrain_trials=30, n_session_trials=40, drift_trial=10, drift_ramp_trials=5,
                       moving_average_trials=5, pretrain=replace(base.pretrain, n_updates=30, batch_trials=8),
                       decoder_max_iterations=60)


def moving_average(values: ArrayLike, window: int) -> NDArray[np.float64]:
    """Trailing mean over the last ``window`` values (fewer at the start), shape ``(n,)``.

    Examples
    --------
    >>> moving_average([1.0, 3.0, 5.0], 2)
    array([1., 2., 4.])
    """
    x = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x)])
    stop = np.arange(1, len(x) + 1)
    start = np.maximum(stop - window, 0)
    return (csum[stop] - csum[start]) / (stop - start)


def run_drift_scenario(
    config: ClosedLoopConfig = ClosedLoopConfig(),
    *,
    out_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
) -> dict:
    """Run the drift scenario with online learning on and off; optionally write the run folder.

    Parameters
    ----------
    config :
        Scenario settings.
    out_dir :
        If given, ``results.json``, ``config.json`` and the figure ``closed_loop.png`` are written there.
    progress :
        Called with one line per stage.
    command :
        The command line, stored in the results.

    Returns
    -------
    results :
        The content of ``results.json``. ``runs[name]`` (``"learning"``, ``"no_learning"``) holds
        ``success`` (time-bin success of each session trial's emitted spikes), ``moving_average``,
        ``pre_drift`` (mean success before the drift), ``post_drift`` (mean over the last
        ``post_fraction`` of the session), ``recovered_fraction = post_drift / pre_drift``, ``resets``
        and ``seconds``; ``meets_bar`` says whether learning on recovered at least ``recovery_bar`` and
        learning off did not.
    """
    say = progress or (lambda line: None)
    start = time.perf_counter()
    torch.set_num_threads(1)
    setup = _prepare(config, say)
    online = replace(config.online, seed=setup.online_seed)
    runs = {}
    for name in config.runs:
        say(f"[4/4] streaming {setup.session.n_trials} session trials, online learning "
            f"{'on' if name == 'learning' else 'off'}")
        runs[name] = _run_session(setup, online, config, learning=name == "learning")
    bar = config.recovery_bar
    learning_ok = "learning" not in runs or runs["learning"]["recovered_fraction"] >= bar
    stays_degraded = "no_learning" not in runs or runs["no_learning"]["recovered_fraction"] < bar
    results = {
        "scenario": "decoder drift: the decoder's inputs move to other generated neurons",
        "command": command or "spikebridge closed-loop",
        "seed": config.seed,
        "recording": setup.recording.describe(),
        "decoder": {"kind": type(setup.decoder).__name__, "neurons": setup.read.tolist(),
                    "history_bins": setup.decoder.history_bins, "information_bits": setup.information_bits},
        "drift": {
            "kind": "decoder input j moves from generated neuron j to permutation[j], linearly over the ramp",
            "permutation": setup.permutation.tolist(),
            "chosen": "worst on the pre-training trials" if config.drift_permutation is None else "given",
            "pretrain_success_before": setup.pretrain_success,
            "pretrain_success_after": setup.drifted_success,
            "start_trial": config.drift_trial, "ramp_trials": config.drift_ramp_trials,
            "mix": [config.drift_mix(k) for k in range(setup.session.n_trials)],
        },
        "pretrain": {"n_updates": config.pretrain.n_updates, "seconds": setup.pretrain_seconds,
                     "train_reward_last_50": setup.history.last("train/reward", 50)},
        "online": asdict(online),
        "n_session_trials": int(setup.session.n_trials),
        "n_post_trials": config.n_post_trials,
        "recovery_bar": bar,
        "runs": runs,
        "meets_bar": bool(learning_ok and stays_degraded),
        "notes": [
            "success = time-bin success of the one spike train emitted in each trial (fraction of its "
            "labelled bins decoded correctly); the learner also drew counterfactual spike trains, passed "
            "through the decoder, for its updates (a real prosthesis observes only the emitted one).",
            "pre_drift = mean success over the session trials before the drift; post_drift = mean over the "
            f"last {config.n_post_trials} trials; recovered_fraction = post_drift / pre_drift.",
        ],
        "wall_seconds": time.perf_counter() - start,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        atomic_write_json(out_dir / "config.json", asdict(config))
        atomic_write_json(out_dir / "results.json", results)
        atomic_write_bytes(out_dir / "closed_loop.png", _figure_png(results, config))
    return results


def worst_permutation(
    network: PointProcessNetwork, decoder: SpikeDecoder, trials: FlatTrials, *, seed: int,
    max_candidates: int = 720,
) -> tuple[NDArray[np.int64], float]:
    """Find the permutation of the decoder's inputs under which ``network`` does worst on ``trials``.

    Parameters
    ----------
    network :
        The generator (one replica).
    decoder :
        The readout whose inputs are permuted.
    trials :
        Trials to score on (training trials: the choice must not look at the session).
    seed :
        Seeds the spike sampling (and the candidates when there are too many to try all).
    max_candidates :
        Every non-identity permutation is tried when there are at most this many (up to 6 inputs), else
        this many random ones.

    Returns
    -------
    permutation :
        Shape ``(decoder.n_neurons,)``.
    success :
        Time-bin success of ``network`` on ``trials`` under it (mean over 2 spike trains per trial).
    """
    n = decoder.n_neurons
    identity = tuple(range(n))
    if math.factorial(n) - 1 <= max_candidates:
        candidates = [np.array(p) for p in itertools.permutations(range(n)) if p != identity]
    else:
        rng = np.random.default_rng(seed)
        candidates = [p for p in (rng.permutation(n) for _ in range(max_candidates)) if tuple(p) != identity]
    success = _success_under(network, decoder, trials, candidates, seed)
    worst = int(np.argmin(success))
    return candidates[worst].astype(np.int64), float(success[worst])


# ---------------------------------------------------------------------------------------- internals
@dataclass(frozen=True)
class _Setup:
    """Everything both sessions share: subject, decoder, session trials, pre-trained generator, drift."""

    recording: Recording
    decoder: WindowClassifierDecoder
    read: NDArray[np.int64]
    information_bits: list[float]
    session: TrialWindows
    pretrained: PointProcessNetwork
    history: TrainingHistory
    pretrain_seconds: float
    online_seed: int
    permutation: NDArray[np.int64]
    pretrain_success: float
    drifted_success: float


def _prepare(config: ClosedLoopConfig, say: Callable[[str], None]) -> _Setup:
    """Simulate the subject, fit its healthy decoder, pre-train the generator and choose the drift."""
    from spikebridge.simulate import simulate_lever_task

    seeds = np.random.SeedSequence([config.seed, 23]).generate_state(4)
    n_trials = config.n_pretrain_trials + config.n_session_trials
    say(f"[1/4] simulating a healthy lever subject ({config.n_pretrain_trials} + {config.n_session_trials} "
        "trials)")
    healthy = simulate_lever_task(n_trials=n_trials, seed=config.seed).recording
    pretrain_ids = healthy.trials[: config.n_pretrain_trials]
    session_ids = healthy.trials[config.n_pretrain_trials :]
    in_pretrain = np.isin(healthy.trial_ids, pretrain_ids) & healthy.in_trial_labelled
    labels = np.where(in_pretrain, healthy.behavior_labels, 0)
    order, information = rank_neurons_by_information(healthy.downstream_spikes, labels)
    read = np.sort(order[: config.n_read])
    say(f"[2/4] fitting the healthy decoder on downstream neurons {read.tolist()} of the first trials")
    decoder = WindowClassifierDecoder(kind="mlp", max_iterations=config.decoder_max_iterations,
                                      random_state=int(seeds[0]) % 2**31)
    decoder.fit(healthy.downstream_spikes[:, read], labels, healthy.bin_size)

    lesioned = healthy.lesioned()
    features = last_spikes_exponential(lesioned.upstream_spikes)
    context = decoder.history_bins
    pretrain = FlatTrials(trial_windows(lesioned, features, pretrain_ids, context_bins=context))
    session = trial_windows(lesioned, features, session_ids, context_bins=context)
    say(f"[3/4] pre-training the generator offline from behaviour alone ({config.pretrain.n_updates} "
        "updates)")
    t0 = time.perf_counter()
    network = PointProcessNetwork(features.shape[1], decoder.n_neurons,
                                  initial_rate=min(10 * healthy.bin_size, 0.5),
                                  generator=torch.Generator().manual_seed(int(seeds[1])))
    network.standardize_inputs(pretrain.features)
    pretrain_config = replace(config.pretrain, seed=int(seeds[2]))
    pretrained, history = train_reinforce(network, decoder, pretrain, pretrain_config)
    pretrain_seconds = time.perf_counter() - t0

    if config.drift_permutation is None:
        permutation, drifted = worst_permutation(pretrained, decoder, pretrain, seed=int(seeds[3]))
    else:
        permutation = np.asarray(config.drift_permutation, dtype=np.int64)
        drifted = float(_success_under(pretrained, decoder, pretrain, [permutation], int(seeds[3]))[0])
    identity = [np.arange(config.n_read)]
    before = float(_success_under(pretrained, decoder, pretrain, identity, int(seeds[3]))[0])
    return _Setup(healthy, decoder, read, information[read].tolist(), session, pretrained, history,
                  pretrain_seconds, int(seeds[3]), permutation, before, drifted)


def _success_under(network: PointProcessNetwork, decoder: SpikeDecoder, trials: FlatTrials,
                   permutations: list[NDArray], seed: int) -> NDArray[np.float64]:
    """Time-bin success of 2 spike trains per trial under each permutation of the decoder's inputs."""
    with torch.no_grad():
        p = network(trials.features)[0]
        spikes = (torch.rand((2, *p.shape), generator=torch.Generator().manual_seed(seed)) < p).float()
        labelled = trials.labels > 0
        out = []
        for perm in permutations:
            decoded = PermutedInputDecoder(decoder, perm).decode_torch(spikes)
            out.append(float((decoded == trials.labels)[:, labelled].float().mean()))
    return np.asarray(out)


def _run_session(setup: _Setup, online: OnlineConfig, config: ClosedLoopConfig, *, learning: bool) -> dict:
    """Stream the session through a fresh copy of the pre-trained generator; per-trial success and levels."""
    network = copy.deepcopy(setup.pretrained).requires_grad_(True)
    learner = OnlineLearner(network, setup.decoder, online, learning=learning)
    session = setup.session
    t0 = time.perf_counter()
    success = []
    for k in range(session.n_trials):
        learner.decoder = PermutedInputDecoder(setup.decoder, setup.permutation, config.drift_mix(k))
        valid = session.bins[k] >= 0
        success.append(learner.process_trial(session.features[k][valid], session.labels[k][valid]).success)
    success = np.asarray(success)
    pre = float(success[: config.drift_trial].mean())
    post = float(success[-config.n_post_trials :].mean())
    return {
        "success": success.tolist(),
        "moving_average": moving_average(success, config.moving_average_trials).tolist(),
        "pre_drift": pre,
        "post_drift": post,
        "recovered_fraction": post / pre if pre > 0 else float("nan"),
        "resets": int(sum(learner.history.values["online/resets"])),
        "seconds": time.perf_counter() - t0,
    }


def _figure_png(results: dict, config: ClosedLoopConfig) -> bytes:
    """Per-trial success (dots) and its moving average (lines) for each run, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8.0, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    colours = {"learning": "tab:blue", "no_learning": "tab:red"}
    names = {"learning": "online learning on", "no_learning": "online learning off"}
    for name, run in results["runs"].items():
        trials = np.arange(len(run["success"]))
        ax.plot(trials, run["success"], ".", ms=2.5, alpha=0.35, color=colours[name])
        ax.plot(trials, run["moving_average"], color=colours[name],
                label=f"{names[name]} (recovered {run['recovered_fraction']:.0%})")
        ax.axhline(run["pre_drift"] * config.recovery_bar, color=colours[name], ls=":", lw=0.8)
    ax.axvspan(config.drift_trial - 0.5, config.drift_trial + config.drift_ramp_trials - 1.5, color="0.85",
               label="decoder drifting")
    ax.axvline(results["n_session_trials"] - config.n_post_trials - 0.5, color="0.4", ls="--", lw=0.8)
    ax.set_xlabel("session trial")
    ax.set_ylabel("time-bin success")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Decoder drift (inputs moved to other neurons: {results['drift']['permutation']}), seed "
                 f"{results['seed']}. Dotted: {config.recovery_bar:.0%} of pre-drift; dashed: post-drift "
                 "window",
                 fontsize=8)
    ax.legend(loc="best", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def format_drift_summary(results: dict) -> str:
    """Format the printed table: pre- and post-drift success and the recovered fraction, learning on/off."""
    drift = results["drift"]
    lines = [
        f"closed-loop drift scenario (seed {results['seed']}): {results['n_session_trials']} session trials; "
        f"decoder inputs drift to neurons {drift['permutation']} from trial {drift['start_trial']} over "
        f"{drift['ramp_trials']} trials",
        "",
        f"{'online learning':<18}{'pre-drift':>11}{'post-drift':>12}{'recovered':>11}{'session s':>11}",
    ]
    for name, run in results["runs"].items():
        label = "on" if name == "learning" else "off"
        lines.append(f"{label:<18}{run['pre_drift']:>11.3f}{run['post_drift']:>12.3f}"
                     f"{run['recovered_fraction']:>11.1%}{run['seconds']:>11.1f}")
    verdict = "met" if results["meets_bar"] else "NOT met"
    lines.append(f"post-drift = last {results['n_post_trials']} trials; bar: learning on recovers >= "
                 f"{results['recovery_bar']:.0%} of its pre-drift level and off does not: {verdict}")
    lines.append(f"wall time {results['wall_seconds']:.1f} s")
    return "\n".join(lines)
