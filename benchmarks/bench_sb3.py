"""Generic-RL baseline: Stable-Baselines3 PPO (defaults, MlpPolicy) on the per-bin bridge environment.

Trains PPO on the training trials of rat01, fold 0, and evaluates the test time-bin success of its
stochastic spikes every ``--eval-every`` environment steps, until it reaches ``--target`` or runs out of
``--budget-seconds`` (or ``--total-timesteps``). Writes ``benchmarks/results/bench_sb3.json``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_sb3.py --budget-seconds 120

Other benchmarks call :func:`run_sb3_benchmark` directly (``from bench_sb3 import run_sb3_benchmark`` with
this folder on ``sys.path``).

Timing: ``seconds`` counts training only (environment steps and PPO updates); the evaluations are timed
separately (``eval_seconds``) and do not use up the budget. The thread limits below apply only when this
file is imported before numpy.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from spikebridge._io import atomic_write_json  # noqa: E402
from spikebridge.data import load_rlpp_mat, trial_folds  # noqa: E402
from spikebridge.data.windows import trial_windows  # noqa: E402
from spikebridge.decoders.base import SpikeDecoder  # noqa: E402
from spikebridge.decoders.patternnet import load_patternnet_decoder  # noqa: E402
from spikebridge.envs import SpikeBridgeEnv  # noqa: E402
from spikebridge.experiments.reproduce import trial_classes  # noqa: E402
from spikebridge.features.history import last_spikes_exponential  # noqa: E402
from spikebridge.metrics.success import time_bin_success  # noqa: E402
from spikebridge.training.dataset import FlatTrials  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / ".." / "shared" / "data" / "rlpp"
RESULTS_PATH = REPO_ROOT / "benchmarks" / "results" / "bench_sb3.json"
MAX_TIMESTEPS = 10**9
"""Step limit used when only a time budget is given."""


def evaluate_policy_success(
    policy: "torch.nn.Module", decoder: SpikeDecoder, test_trials: FlatTrials, n_samples: int,
    generator: torch.Generator,
) -> dict:
    """Test time-bin success of a policy's stochastic spikes, all test bins at once.

    The policy reads upstream features only (not its own past spikes), so its spike probabilities on
    every test bin come from one forward pass. ``n_samples`` Bernoulli spike trains are drawn from them
    and decoded over the test trial windows laid end to end (each window starts with the decoder's
    history of context bins, so no labelled bin reads another trial's spikes).

    Returns
    -------
    evaluation :
        ``test_success`` (mean over samples), ``test_success_per_sample``, ``mean_spike_probability``
        (per neuron, over all test bins) and ``decoded_fractions`` (per class, over labelled bins).
    """
    labels = test_trials.labels.numpy()
    with torch.no_grad():
        probs = policy.get_distribution(test_trials.features).distribution.probs  # (n_rows, n_neurons)
        spikes = (torch.rand((n_samples, *probs.shape), generator=generator) < probs).numpy().astype(np.uint8)
    decoded = decoder.predict(spikes)  # (n_samples, n_rows)
    success = np.atleast_1d(time_bin_success(decoded, labels))
    labelled = decoded[:, labels > 0]
    return {
        "test_success": float(success.mean()),
        "test_success_per_sample": success.tolist(),
        "mean_spike_probability": probs.mean(dim=0).tolist(),
        "decoded_fractions": [float((labelled == c).mean()) for c in range(1, decoder.n_classes + 1)],
    }


def run_sb3_benchmark(
    budget_seconds: float | None = 600.0,
    target: float = 0.78,
    seed: int = 0,
    *,
    total_timesteps: int | None = None,
    eval_every: int = 10_000,
    n_eval_samples: int = 5,
    fold: int = 0,
    data_dir: str | os.PathLike[str] = DATA_DIR,
    progress: Callable[[str], None] | None = print,
) -> dict:
    """Train SB3 PPO (default settings) on rat01's fold and time how long it takes to reach ``target``.

    Parameters
    ----------
    budget_seconds :
        Training wall-time limit in seconds (evaluations excluded); None for no limit.
    target :
        Test time-bin success at which training stops.
    seed :
        Seeds PPO (weights, environment, action sampling) and the evaluation's spike sampling.
    total_timesteps :
        Environment-step limit; None for no limit besides the budget.
    eval_every :
        Environment steps between evaluations (checked at the start of each 2048-step PPO rollout, when the
        policy has just been updated), plus one before training and one at the end.
    n_eval_samples :
        Spike trains sampled per test bin at each evaluation.
    fold :
        Which of the 5 stratified folds (split seed 0, as the reproduction protocol) to use.
    data_dir :
        Folder with ``rat01.mat`` and ``decoder_rat01_patternnet.mat``.
    progress :
        Called with one line per evaluation; None for silence.

    Returns
    -------
    result :
        ``sb3_reached_target``, ``sb3_seconds_to_target`` (training seconds at the first evaluation at or
        above target, or None), ``sb3_best_success``, ``sb3_steps`` (environment steps taken),
        ``budget_seconds``, ``target``, ``curve`` (one dict per evaluation: ``seconds``, ``wall_seconds``,
        ``steps``, ``test_success``, ...), ``setup`` and ``machine``.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    if budget_seconds is None and total_timesteps is None:
        raise ValueError("Give `budget_seconds`, `total_timesteps` or both; otherwise PPO would never stop.")
    torch.set_num_threads(1)
    data_dir = Path(data_dir)
    start_wall = time.perf_counter()
    recording = load_rlpp_mat(data_dir / "rat01.mat")
    decoder = load_patternnet_decoder(data_dir / "decoder_rat01_patternnet.mat")
    features = last_spikes_exponential(recording.upstream_spikes)
    train, test = trial_folds(recording.trials, 5, 0, trial_classes=trial_classes(recording))[fold]
    env = SpikeBridgeEnv.from_recording(recording, decoder, train, features=features)
    test_trials = FlatTrials(
        trial_windows(recording.lesioned(), features, test, context_bins=decoder.history_bins)
    )
    generator = torch.Generator().manual_seed(seed)
    budget = math.inf if budget_seconds is None else float(budget_seconds)
    curve: list[dict] = []

    class _EvalAndStop(BaseCallback):
        """Evaluates on the test trials every ``eval_every`` steps; stops at the target or the budget."""

        def __init__(self) -> None:
            super().__init__()
            self.eval_seconds = 0.0
            self.next_eval = 0
            self.reached = False

        def training_seconds(self) -> float:
            return time.perf_counter() - self.t_start - self.eval_seconds

        def evaluate(self) -> None:
            seconds = self.training_seconds()
            t0 = time.perf_counter()
            row = {"seconds": seconds, "steps": int(self.num_timesteps)}
            policy = self.model.policy
            row.update(evaluate_policy_success(policy, decoder, test_trials, n_eval_samples, generator))
            self.eval_seconds += time.perf_counter() - t0
            row["wall_seconds"] = time.perf_counter() - start_wall
            curve.append(row)
            self.next_eval = self.num_timesteps + eval_every
            self.reached = self.reached or row["test_success"] >= target
            if progress is not None:
                probs = ", ".join(f"{p:.3f}" for p in row["mean_spike_probability"])
                progress(f"{seconds:8.1f} s {row['steps']:>9d} steps  test success {row['test_success']:.3f}"
                         f"  p(spike) [{probs}]")

        def _on_training_start(self) -> None:
            self.t_start = time.perf_counter()
            self.evaluate()

        def _on_rollout_start(self) -> None:  # the policy was just updated
            if self.num_timesteps >= self.next_eval and not self.reached:
                self.evaluate()

        def _on_step(self) -> bool:
            return not self.reached and self.training_seconds() < budget

        def _on_training_end(self) -> None:
            if not curve or curve[-1]["steps"] != self.num_timesteps:
                self.evaluate()

    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0)
    callback = _EvalAndStop()
    model.learn(total_timesteps=MAX_TIMESTEPS if total_timesteps is None else int(total_timesteps),
                callback=callback)

    hit = next((row for row in curve if row["test_success"] >= target), None)
    return {
        "sb3_reached_target": hit is not None,
        "sb3_seconds_to_target": None if hit is None else hit["seconds"],
        "sb3_best_success": max(row["test_success"] for row in curve),
        "sb3_final_success": curve[-1]["test_success"],
        "sb3_steps": int(model.num_timesteps),
        "sb3_training_seconds": callback.training_seconds(),
        "eval_seconds": callback.eval_seconds,
        "budget_seconds": budget_seconds,
        "total_timesteps": total_timesteps,
        "target": target,
        "seed": seed,
        "curve": curve,
        "setup": {
            "recording": "rat01", "fold": fold, "n_folds": 5, "split_seed": 0,
            "n_train_trials": int(len(train)), "n_test_trials": int(len(test)),
            "n_train_rows": env.n_rows, "n_test_labelled_bins": int((test_trials.labels > 0).sum()),
            "context_bins": int(decoder.history_bins), "eval_every": eval_every,
            "n_eval_samples": n_eval_samples,
            "algorithm": "stable_baselines3.PPO('MlpPolicy') with default hyperparameters",
            "ppo": {"n_steps": model.n_steps, "batch_size": model.batch_size, "n_epochs": model.n_epochs,
                    "learning_rate": model.learning_rate, "gamma": model.gamma,
                    "gae_lambda": model.gae_lambda, "ent_coef": model.ent_coef},
        },
        "machine": machine_info(),
    }


def machine_info() -> dict:
    """Platform, core counts and library versions of this run."""
    import gymnasium
    import stable_baselines3

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "numpy": np.__version__,
        "stable_baselines3": stable_baselines3.__version__, "gymnasium": gymnasium.__version__,
    }


def _table(result: dict) -> str:
    header = f"{'train s':>8} {'wall s':>8} {'steps':>9} {'success':>8}"
    lines = [header + "  p(spike) per neuron   decoded fractions"]
    for row in result["curve"]:
        probs = " ".join(f"{p:.3f}" for p in row["mean_spike_probability"])
        fractions = " ".join(f"{f:.2f}" for f in row["decoded_fractions"])
        lines.append(f"{row['seconds']:8.1f} {row['wall_seconds']:8.1f} {row['steps']:9d} "
                     f"{row['test_success']:8.3f}  {probs:<20} {fractions}")
    seconds = result["sb3_seconds_to_target"]
    reached = "not reached" if seconds is None else f"reached after {seconds:.1f} s"
    lines.append(
        f"target {result['target']:.2f}: {reached}"
        f"; best {result['sb3_best_success']:.3f}; {result['sb3_steps']} steps in "
        f"{result['sb3_training_seconds']:.1f} s of training (+{result['eval_seconds']:.1f} s evaluating)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="training wall-time limit (default 600; none when --total-timesteps is given)")
    parser.add_argument("--total-timesteps", type=int, default=None, help="environment-step limit")
    parser.add_argument("--target", type=float, default=0.78, help="test time-bin success to stop at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=10_000,
                        help="environment steps between evaluations")
    parser.add_argument("--n-eval-samples", type=int, default=5, help="spike trains per test bin")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH, help="result JSON file")
    args = parser.parse_args(argv)
    budget = args.budget_seconds
    if budget is None and args.total_timesteps is None:
        budget = 600.0
    result = run_sb3_benchmark(
        budget, args.target, args.seed, total_timesteps=args.total_timesteps, eval_every=args.eval_every,
        n_eval_samples=args.n_eval_samples,
    )
    print(_table(result))
    atomic_write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
