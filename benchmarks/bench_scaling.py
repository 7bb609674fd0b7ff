"""How the default trainer's update time and memory grow with the number of upstream and generated neurons.

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_scaling.py [--updates 20] [--rounds 3]

Simulated data of rat01's shape (160 training trials of ~290 bins, 10 ms bins, ~13 spikes/s upstream) with
upstream neurons 17 -> 100 -> 1000 and generated neurons 2 -> 20 -> 200. The decoder is a random window MLP
(61 bins, 8 hidden units, 3 classes) reading either every generated neuron or only the first 2 (the paper's
decoders read 2-3; the rest of the population is then generated alongside). Each size runs in a fresh process
so its peak memory (max RSS) is its own. Each size also times the parts of an update alone (gathering the
batch's feature rows, the network's forward and backward, drawing the spikes' uniforms, decoding) to show
where the time goes. The headline factors (1000 upstream x 200 generated over the rat01 size 17 x 2) are medians
over ``--rounds`` pairs run back to back, so a change of machine load between sizes does not skew them.
Writes benchmarks/results/bench_scaling.json.
"""

from __future__ import annotations

import _common  # noqa: F401  (thread limits before numpy/torch work)

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from _common import RESULTS, machine

from spikebridge._io import atomic_write_json

SIZES = [(17, 2), (100, 2), (1000, 2), (17, 20), (17, 200), (100, 20), (1000, 200)]
PARTS = ("batch_seconds", "network_seconds", "sampling_seconds", "decoder_seconds")


def one_size(n_upstream: int, n_out: int, read: str, n_updates: int, seed: int = 0) -> dict:
    """Seconds per update (median over updates after a warm-up) and peak RSS for one size, in this process."""
    from spikebridge.data.recording import Recording
    from spikebridge.data.windows import trial_windows
    from spikebridge.decoders.patternnet import WindowMLPDecoder
    from spikebridge.features.history import last_spikes_exponential
    from spikebridge.models.network import PointProcessNetwork
    from spikebridge.training.dataset import FlatTrials
    from spikebridge.training.reinforce import ReinforceConfig, train_reinforce

    rng = np.random.default_rng(seed)
    n_trials, trial_bins, gap = 160, 230, 60
    n_bins = n_trials * (trial_bins + gap)
    labels = np.zeros(n_bins, np.int64)
    trials = -np.ones(n_bins, np.int64)
    for k in range(n_trials):
        start = k * (trial_bins + gap) + gap
        labels[start:start + 100] = 1
        labels[start + 100:start + trial_bins] = 2 + (k % 2)
        trials[start:start + trial_bins] = k
    upstream = (rng.random((n_bins, n_upstream)) < 0.13).astype(np.uint8)
    recording = Recording(upstream, labels, trials, 0.01)
    features = last_spikes_exponential(upstream)
    n_read = n_out if read == "all" else min(2, n_out)
    history = 60
    decoder = WindowMLPDecoder(rng.normal(size=(8, (history + 1) * n_read)) * 0.3, rng.normal(size=8),
                               rng.normal(size=(3, 8)), rng.normal(size=3), n_neurons=n_read)
    if n_read < n_out:
        from spikebridge.decoders.subset import SubsetDecoder

        decoder = SubsetDecoder(decoder, np.arange(n_read), n_out)
    flat = FlatTrials(trial_windows(recording, features, np.arange(n_trials), context_bins=history))
    network = PointProcessNetwork(features.shape[1], n_out, initial_rate=0.1,
                                  generator=torch.Generator().manual_seed(seed)).standardize_inputs(flat.features)
    stamps: list[float] = []
    config = ReinforceConfig(n_updates=n_updates + 3, seed=seed)
    train_reinforce(network, decoder, flat, config, callback=lambda u, a, h: stamps.append(time.perf_counter()))
    per_update = float(np.median(np.diff(stamps[2:])))
    fastest = float(np.min(np.diff(stamps[2:])))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    parts = update_parts(network, decoder, flat, config, seed)
    return {"n_upstream": n_upstream, "n_generated": n_out, "decoder_reads": n_read,
            "seconds_per_update": per_update, "seconds_per_update_min": fastest, "peak_rss_mb": peak_mb,
            "n_features": int(features.shape[1]),
            **parts}


def update_parts(network, decoder, flat, config, seed: int, repeats: int = 5) -> dict:
    """Median seconds of the parts of one update, each timed alone: where an update's time goes."""
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    batch = flat.sample_batch(config.batch_trials, rng)
    shape = (config.n_samples, network.n_replicas, len(batch.labels), network.n_outputs)

    def network_pass():  # forward over the batch's rows and backward of the surrogate loss
        network.zero_grad(set_to_none=True)
        (network.logits(batch.features) * 1e-3).sum().backward()

    def decode():
        with torch.no_grad():
            decoder.decode_torch(torch.zeros(shape))

    parts = {"batch": lambda: flat.sample_batch(config.batch_trials, rng), "network": network_pass,
             "sampling": lambda: torch.rand(shape, generator=generator), "decoder": decode}
    seconds = {}
    for name, part in parts.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            part()
            times.append(time.perf_counter() - start)
        seconds[f"{name}_seconds"] = float(np.median(times))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the rat01 size right before each 1000 x 200 size, for the headline ratios")
    parser.add_argument("--child", nargs=3, metavar=("N_UP", "N_OUT", "READ"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_size(int(args.child[0]), int(args.child[1]), args.child[2], args.updates)))
        return
    rows = []
    started = machine()["load_average"]

    def child(n_up: int, n_out: int, read: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--updates", str(args.updates), "--child", str(n_up),
                              str(n_out), read], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    for read in ("all", "first2"):
        for n_up, n_out in SIZES:
            if read == "first2" and n_out == 2:
                continue
            rows.append(child(n_up, n_out, read))
            r = rows[-1]
            print(f"upstream {r['n_upstream']:>5}  generated {r['n_generated']:>4}  decoder reads {r['decoder_reads']:>4}"
                  f"  {1000 * r['seconds_per_update']:8.1f} ms/update (min {1000 * r['seconds_per_update_min']:.1f})"
                  f"  peak {r['peak_rss_mb']:6.0f} MB  of which "
                  + "  ".join(f"{k[:-8]} {1000 * r[k]:.0f}" for k in PARTS) + " ms", flush=True)
    # The machine may be shared: time the rat01 size again at the end, so a load change during the run shows.
    reference = [r for r in rows if r["n_upstream"] == 17 and r["n_generated"] == 2] + [child(17, 2, "all")]
    base = reference[0]["seconds_per_update"]
    for r in rows:
        r["factor_vs_rat01_size"] = r["seconds_per_update"] / base
    largest = {r["decoder_reads"]: r for r in rows if r["n_upstream"] == 1000 and r["n_generated"] == 200}
    # Headline ratios: each round times the rat01 size right before the large size, so both see the same load.
    paired = {200: [], 2: []}
    paired_load = []  # 1-minute load average after each round: the machine may be shared
    for _ in range(args.rounds):
        for reads, read in ((200, "all"), (2, "first2")):
            small, big = child(17, 2, "all"), child(1000, 200, read)
            paired[reads].append(big["seconds_per_update"] / small["seconds_per_update"])
        paired_load.append(machine()["load_average"][0])
    result = {"machine": machine(), "updates": args.updates, "rows": rows, "started_load_average": started,
              "rat01_size_seconds_per_update_at_end": reference[-1]["seconds_per_update"],
              "paired_factors_1000x200": {str(k): v for k, v in paired.items()},
              "paired_rounds_load_average_1min": paired_load,
              "factor_1000x200_decoder_reads_all": float(np.median(paired[200])),
              "factor_1000x200_decoder_reads_2": float(np.median(paired[2])),
              "factor_1000x200_decoder_reads_all_table": largest[200]["factor_vs_rat01_size"],
              "factor_1000x200_decoder_reads_2_table": largest[2]["factor_vs_rat01_size"]}
    result["load_average_at_end"] = machine()["load_average"]
    atomic_write_json(RESULTS / "bench_scaling.json", result)
    print(f"rat01 size (17 x 2): {1000 * base:.1f} ms/update at the start, "
          f"{1000 * reference[-1]['seconds_per_update']:.1f} at the end")
    for reads in (200, 2):
        print(f"1000 upstream x 200 generated vs rat01 size, decoder reading {reads}: "
              f"{np.median(paired[reads]):.1f}x (median of {args.rounds} back-to-back pairs: "
              + ", ".join(f"{f:.1f}" for f in paired[reads]) + f"); {largest[reads]['factor_vs_rat01_size']:.1f}x in the table")


if __name__ == "__main__":
    main()
