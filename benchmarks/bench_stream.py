"""Closed-loop latency: one bin through the streaming generator, and a loopback bridge round trip.

Run:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_stream.py [--n-bins 20000] [--repeats 5]
      [--bridge-bins 5000] [--cpu N]

A rat01-size network (17 upstream neurons, K = 5, 64 hidden units; 2 and 15 outputs; random weights from
``StagedPointProcess(random_state=0).initialize(17, 0.01)``) streams ``--n-bins`` upstream bins one at a
time (rat01's first bins when ../shared/data/rlpp is present, else seeded 10-Hz Bernoulli spikes). Each
``step`` is timed with ``time.perf_counter_ns``; p50/p99 are over the bins after a warm-up, for each of
``--repeats`` passes, and the reported p50/p99 are the medians over the passes (the machine may be shared:
the load average is recorded before and after). In the same run, the offline ``predict_proba`` over the
same bins gives the per-bin baseline of the ratio, and the streamed probabilities and spikes are checked
for exact equality with the offline ones. The bridge round trip (a client process -> TCP loopback -> the
server thread in this process -> reply; one bin per message, waiting for each reply) is measured
separately. Writes benchmarks/results/bench_stream.json.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _common import RESULTS, RLPP, machine  # noqa: E402

from spikebridge._io import atomic_write_json  # noqa: E402
from spikebridge.closedloop import BridgeServer, StreamingGenerator  # noqa: E402
from spikebridge.models.generator import StagedPointProcess  # noqa: E402

N_UPSTREAM, BIN_SIZE, WARMUP = 17, 0.01, 500


def upstream_bins(n_bins: int) -> tuple[np.ndarray, str]:
    """rat01's first ``n_bins`` upstream bins if available, else seeded Bernoulli spikes at 10 Hz."""
    path = RLPP / "rat01.mat"
    if path.exists():
        from spikebridge.data import load_rlpp_mat

        up = load_rlpp_mat(path).upstream_spikes
        if len(up) >= n_bins + WARMUP:
            return up[: n_bins + WARMUP], "rat01.mat"
    rng = np.random.default_rng(0)
    spikes = (rng.random((n_bins + WARMUP, N_UPSTREAM)) < 10 * BIN_SIZE).astype(np.uint8)
    return spikes, "bernoulli_10hz_seed0"


def percentiles_us(ns: list[int] | np.ndarray) -> dict[str, float]:
    """Summarise nanosecond timings in microseconds."""
    arr = np.asarray(ns, dtype=np.float64) / 1000.0
    return {"p50_us": round(float(np.percentile(arr, 50)), 2),
            "p99_us": round(float(np.percentile(arr, 99)), 2),
            "mean_us": round(float(arr.mean()), 2), "max_us": round(float(arr.max()), 2)}


def time_stream(model: StagedPointProcess, upstream: np.ndarray, repeats: int) -> dict:
    """Time step() per bin (``repeats`` passes), run() on the whole chunk, and the offline baseline."""
    clock = time.perf_counter_ns
    passes, n_exact = [], 0
    for _ in range(repeats):
        stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(1))
        timings = np.empty(len(upstream), dtype=np.int64)
        for i, row in enumerate(upstream):
            start = clock()
            stream.step(row)
            timings[i] = clock() - start
        passes.append(percentiles_us(timings[WARMUP:]))
        n_exact = stream.network.n_exact
    out = {key: round(float(np.median([p[key] for p in passes])), 2) for key in passes[0]}
    out["passes"] = passes
    n = len(upstream) - WARMUP
    chunked = StreamingGenerator.from_model(model, rng=np.random.default_rng(1))
    start = clock()
    spikes_run, p_run = chunked.run(upstream, return_probabilities=True)
    out["run_chunk_per_bin_us"] = round((clock() - start) / len(upstream) / 1000.0, 3)
    offline = []
    for _ in range(3):
        start = clock()
        model.predict_proba(upstream[WARMUP:])
        offline.append(clock() - start)
    out["offline_predict_proba_per_bin_us"] = round(min(offline) / n / 1000.0, 3)
    out["p50_over_offline_per_bin"] = round(out["p50_us"] / out["offline_predict_proba_per_bin_us"], 1)
    out["n_bins_timed"] = n
    p_offline = model.predict_proba(upstream)
    out["probabilities_equal_offline"] = bool(
        np.array_equal(p_run, p_offline) and np.array_equal(stream.last_probabilities, p_offline[-1]))
    out["spikes_equal_offline"] = bool(np.array_equal(
        spikes_run, model.sample(upstream, np.random.default_rng(1))))
    out["exact_settlings_per_pass"] = n_exact  # pre-activations the error bound left to exact arithmetic
    return out


_CLIENT = r"""
import json, socket, sys, time
host, port, path, warmup = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
lines = open(path, "rb").read().splitlines(keepends=True)
sock = socket.create_connection((host, port), timeout=10.0)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
reader = sock.makefile("rb")
clock, timings = time.perf_counter_ns, []
for line in lines:
    start = clock()
    sock.sendall(line)
    reply = reader.readline()
    timings.append(clock() - start)
    assert b"downstream" in reply, reply
print(json.dumps(timings[warmup:]))
"""


def time_bridge(model: StagedPointProcess, upstream: np.ndarray, n_bins: int) -> dict:
    """Round trips from a client in its own process (as a real client would be), one bin per message."""
    import subprocess
    import sys
    import tempfile

    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(2))
    rows = upstream[: n_bins + WARMUP]
    lines = b"".join(json.dumps({"upstream": row.tolist()}).encode() + b"\n" for row in rows)
    with tempfile.TemporaryDirectory() as tmp, BridgeServer(stream).start() as server:
        path = os.path.join(tmp, "bins.jsonl")
        with open(path, "wb") as file:
            file.write(lines)
        host, port = server.address
        done = subprocess.run([sys.executable, "-c", _CLIENT, host, str(port), path, str(WARMUP)],
                              capture_output=True, check=True, timeout=300)
    timings = json.loads(done.stdout)
    out = percentiles_us(timings)
    out["n_bins_timed"] = len(timings)
    out["client"] = "separate process, TCP_NODELAY, waits for each reply"
    return out


def main() -> None:
    """Run every measurement, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-bins", type=int, default=20_000, help="bins timed per pass (after a warm-up)")
    parser.add_argument("--repeats", type=int, default=5, help="step() passes; p50/p99 are their medians")
    parser.add_argument("--bridge-bins", type=int, default=5_000, help="bins sent through the bridge")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU (default: no)")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    upstream, source = upstream_bins(args.n_bins)
    load_start = [round(x, 2) for x in os.getloadavg()]
    sizes, models = {}, {}
    for n_outputs in (2, 15):
        models[n_outputs] = StagedPointProcess(n_outputs=n_outputs, n_hidden=64, random_state=0).initialize(
            N_UPSTREAM, BIN_SIZE)
        sizes[str(n_outputs)] = time_stream(models[n_outputs], upstream, args.repeats)
    bridge = time_bridge(models[2], upstream, args.bridge_bins)
    load_end = [round(x, 2) for x in os.getloadavg()]

    header = f"{'measurement':<38}{'p50 µs':>10}{'p99 µs':>10}{'offline µs/bin':>16}{'p50/offline':>13}"
    print(f"input: {source}, {args.n_bins} bins after {WARMUP} warm-up, {args.repeats} passes (medians); "
          f"17 upstream x K=5 -> 64 hidden; load average {load_start} -> {load_end}")
    print(header)
    print("-" * len(header))
    for n_outputs, row in sizes.items():
        print(f"{'step(), ' + n_outputs + ' outputs':<38}{row['p50_us']:>10.1f}{row['p99_us']:>10.1f}"
              f"{row['offline_predict_proba_per_bin_us']:>16.3f}{row['p50_over_offline_per_bin']:>13.1f}")
        each = ", ".join(f"{p['p50_us']:.1f}/{p['p99_us']:.1f}" for p in row["passes"])
        print(f"{'  passes p50 / p99':<38}{each}")
    for n_outputs, row in sizes.items():
        label = f"run() on the whole chunk, {n_outputs} outputs"
        print(f"{label:<38}{row['run_chunk_per_bin_us']:>10.2f}{'(per bin)':>10}")
    print(f"{'bridge round trip, 2 outputs':<38}{bridge['p50_us']:>10.1f}{bridge['p99_us']:>10.1f}")
    exact = all(row["probabilities_equal_offline"] and row["spikes_equal_offline"] for row in sizes.values())
    print(f"streamed probabilities and spikes equal the offline ones exactly: {exact}")

    result = {
        "benchmark": "bench_stream",
        "p50_us": sizes["2"]["p50_us"],
        "p99_us": sizes["2"]["p99_us"],
        "sizes": sizes,
        "bridge_round_trip": bridge,
        "input": source,
        "n_bins": args.n_bins,
        "repeats": args.repeats,
        "pinned_cpu": args.cpu,
        "model": {"n_upstream": N_UPSTREAM, "n_spikes": 5, "n_hidden": 64, "random_state": 0},
        "load_average_start": load_start,
        "load_average_end": load_end,
        "note": ("p50_us/p99_us: medians over the passes of step(); shared 2-core machine, so latencies "
                 "include interference from other processes (see the load averages, 1/5/15 min)"),
        "machine": machine(),
    }
    path = atomic_write_json(RESULTS / "bench_stream.json", result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
