"""Training speed on rat01: our default trainer vs the paper's algorithm and protocol, and replica batching.

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py [--repeats 3] [--skip-reproduce]

Everything is measured in this one process (and, for the 5-fold protocol, the processes it starts), so the
ratios compare like with like on the same machine at the same time. Medians over ``--repeats`` runs.
Writes benchmarks/results/bench_train.json.
"""

from __future__ import annotations

import _common  # noqa: F401  (thread limits before numpy/torch work)

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
from _common import RESULTS, machine, rat01_fold, test_success

from spikebridge._io import atomic_write_json
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.paper import PaperReinforceConfig, train_reinforce_paper
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce


def time_to_target(fold, target: float, seed: int, eval_every: int = 50) -> dict:
    """Train the default trainer once; training seconds (evaluation excluded) until held-out success >= target."""
    clock = {"train": 0.0, "mark": time.perf_counter(), "hit": None, "hit_update": None, "curve": []}

    def callback(update, averaged, history):
        now = time.perf_counter()
        clock["train"] += now - clock["mark"]
        if update % eval_every == 0 or update == config.n_updates - 1:
            success = test_success(averaged, fold)
            clock["curve"].append((update, round(clock["train"], 3), success))
            if clock["hit"] is None and success >= target:
                clock["hit"], clock["hit_update"] = clock["train"], update
        clock["mark"] = time.perf_counter()

    config = replace(ReinforceConfig(), seed=seed)
    net = PointProcessNetwork(fold.features.shape[1], fold.decoder.n_neurons, initial_rate=0.1,
                              generator=torch.Generator().manual_seed(seed))
    clock["mark"] = time.perf_counter()
    averaged, _ = train_reinforce(net, fold.decoder, fold.train, config, callback=callback)
    return {"seconds_to_target": clock["hit"], "updates_to_target": clock["hit_update"],
            "train_seconds": clock["train"], "updates_per_second": config.n_updates / clock["train"],
            "final_success": test_success(averaged, fold, n_samples=10), "curve": clock["curve"]}


def paper_episode_seconds(fold, n_replicas: int, n_episodes: int, seed: int = 0) -> float:
    """Wall seconds per episode of the paper's algorithm with ``n_replicas`` restarts batched."""
    net = PointProcessNetwork(fold.features.shape[1], fold.decoder.n_neurons, n_replicas=n_replicas,
                              initial_rate=0.5, generator=torch.Generator().manual_seed(seed))
    config = replace(PaperReinforceConfig(), n_episodes=n_episodes, seed=seed)
    start = time.perf_counter()
    train_reinforce_paper(net, fold.decoder, fold.train_paper, config)
    return (time.perf_counter() - start) / n_episodes


def paper_forward_seconds(fold, n_replicas: int, repeats: int = 5) -> float:
    """Median seconds of the network's forward (no gradient) over one paper-mode batch: a floor of an episode."""
    net = PointProcessNetwork(fold.features.shape[1], fold.decoder.n_neurons, n_replicas=n_replicas)
    batch = fold.train_paper.sample_batch(PaperReinforceConfig().batch_trials, np.random.default_rng(0))
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            net(batch.features)
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def reproduce_seconds(n_jobs: int) -> tuple[float, dict]:
    """Wall seconds of the full 5-fold ``reproduce`` with the default trainer only."""
    from _common import RLPP

    from spikebridge.data import load_rlpp_mat
    from spikebridge.decoders.patternnet import load_patternnet_decoder
    from spikebridge.experiments.reproduce import ReproduceConfig, run_reproduce

    recording = load_rlpp_mat(RLPP / "rat01.mat")
    decoder = load_patternnet_decoder(RLPP / "decoder_rat01_patternnet.mat")
    start = time.perf_counter()
    results = run_reproduce(recording, decoder, ReproduceConfig(methods=("rl",), n_jobs=n_jobs))
    return time.perf_counter() - start, results["methods"]["rl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.78, help="held-out time-bin success to reach")
    parser.add_argument("--skip-reproduce", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    fold = rat01_fold(0)
    out: dict = {"machine": machine(), "target": args.target, "repeats": args.repeats}

    ours = [time_to_target(fold, args.target, seed) for seed in range(args.repeats)]
    hits = [r["seconds_to_target"] for r in ours if r["seconds_to_target"] is not None]
    out["ours"] = {
        "seconds_to_target_median": statistics.median(hits) if hits else None,
        "reached_target": f"{len(hits)}/{len(ours)}",
        "updates_per_second_median": statistics.median(r["updates_per_second"] for r in ours),
        "final_success": [r["final_success"] for r in ours],
        "runs": ours,
    }
    one = statistics.median(paper_episode_seconds(fold, 1, 200, seed) for seed in range(args.repeats))
    many = statistics.median(paper_episode_seconds(fold, 32, 20, seed) for seed in range(args.repeats))
    protocol = 32 * 5000 * one
    out["paper_mode"] = {"episode_seconds_1_replica": one, "episode_seconds_32_replicas": many,
                         "run_seconds_5000_episodes": 5000 * one,
                         "protocol_seconds_per_fold_32_restarts": protocol,
                         "protocol_seconds_32_batched_replicas": 5000 * many,
                         "forward_seconds_1_replica": paper_forward_seconds(fold, 1),
                         "forward_seconds_32_replicas": paper_forward_seconds(fold, 32)}
    out["replicas_32_over_1"] = many / one
    if hits:
        out["speedup_vs_paper_protocol"] = protocol / statistics.median(hits)
    if not args.skip_reproduce:
        seconds, rl = reproduce_seconds(args.jobs)
        out["reproduce_seconds"] = seconds
        out["reproduce_rl"] = {k: rl[k] for k in ("time_bin_success", "trial_success")}
        out["reproduce_rl_mean"] = {k: float(np.mean(rl[k])) for k in ("time_bin_success", "trial_success")}
    sb3_file = RESULTS / "bench_sb3.json"
    if sb3_file.exists():
        sb3 = json.loads(sb3_file.read_text())
        out["sb3_reached_target"] = bool(sb3.get("sb3_reached_target"))
        if sb3.get("sb3_seconds_to_target") and hits:
            out["speedup_vs_sb3"] = sb3["sb3_seconds_to_target"] / statistics.median(hits)
        elif hits:
            out["sb3_budget_over_ours"] = sb3.get("budget_seconds", 0) / statistics.median(hits)
    out["load_average_at_end"] = machine()["load_average"]
    atomic_write_json(RESULTS / "bench_train.json", out)

    print(f"machine: {out['machine']['platform']}, {out['machine']['cpu_count']} CPUs, torch threads 1")
    print(f"{'measure':<52}{'value':>14}")
    rows = [
        ("ours: seconds to held-out success >= %.2f (median)" % args.target, out["ours"]["seconds_to_target_median"]),
        ("ours: runs reaching the target", out["ours"]["reached_target"]),
        ("ours: updates per second", out["ours"]["updates_per_second_median"]),
        ("paper mode: seconds per episode, 1 replica", one),
        ("paper mode: seconds per episode, 32 replicas", many),
        ("paper protocol (32 x 5000 episodes) seconds per fold", protocol),
        ("replicas_32_over_1", out["replicas_32_over_1"]),
        ("paper mode: network forward alone, 32 replicas, seconds", out["paper_mode"]["forward_seconds_32_replicas"]),
        ("speedup_vs_paper_protocol", out.get("speedup_vs_paper_protocol")),
        ("reproduce_seconds (5 folds, rl only)", out.get("reproduce_seconds")),
        ("speedup_vs_sb3", out.get("speedup_vs_sb3", "n/a")),
    ]
    for name, value in rows:
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{name:<52}{text:>14}")
    print(f"wrote {RESULTS / 'bench_train.json'}")


if __name__ == "__main__":
    main()
