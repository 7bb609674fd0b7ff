"""``spikebridge stream`` and ``spikebridge stimulate``: smoke runs, exactness, safety, signals and errors.

Every command test runs twice: through the handlers on a parser built from ``add_stream`` / ``add_stimulate``
(with the error handling of ``spikebridge.cli.main``), and through ``spikebridge.cli.main`` itself once
cli.py wires the two commands in (skipped until then).
"""

import argparse
import csv
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikebridge.cli
from spikebridge.cli_closedloop import add_stimulate, add_stream
from spikebridge.closedloop import StreamingGenerator
from spikebridge.data import load_recording, save_trial_npz
from spikebridge.exceptions import DataFormatError
from spikebridge.models.generator import StagedPointProcess
from spikebridge.simulate import simulate_lever_task
from spikebridge.stimulation import SafetyLimits, spikes_to_schedule

N_UP, N_OUT, N_TRIALS, TRIAL_BINS = 6, 3, 6, 150
SRC = Path(__file__).resolve().parents[1] / "src"
WIRED = hasattr(spikebridge.cli, "add_stream") and hasattr(spikebridge.cli, "add_stimulate")


def run_handler(argv: list[str]) -> int:
    """What ``spikebridge.cli.main`` does for these commands: parse, call ``args.handler``, errors -> 2."""
    parser = argparse.ArgumentParser(prog="spikebridge")
    sub = parser.add_subparsers(dest="command", required=True)
    add_stream(sub)
    add_stimulate(sub)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (DataFormatError, FileNotFoundError, ValueError, TypeError) as err:
        print(f"spikebridge {args.command}: error: {err}", file=sys.stderr)
        return 2


@pytest.fixture(params=["handler", pytest.param("cli", marks=pytest.mark.skipif(
    not WIRED, reason="cli.py does not wire add_stream/add_stimulate in yet"))])
def run(request):
    return run_handler if request.param == "handler" else spikebridge.cli.main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved model and a simulated recording of ``N_UP`` upstream neurons (a trial-tensor .npz)."""
    folder = tmp_path_factory.mktemp("inputs")
    rec = simulate_lever_task(n_trials=N_TRIALS, n_upstream=N_UP, n_downstream=N_OUT, seed=0).recording
    n_bins = N_TRIALS * TRIAL_BINS
    upstream = rec.upstream_spikes[:n_bins].reshape(N_TRIALS, TRIAL_BINS, N_UP)
    save_trial_npz(folder / "sim.npz", upstream=upstream,
                   labels=np.ones((N_TRIALS, TRIAL_BINS), np.int64), bin_ms=10.0)
    model = StagedPointProcess(n_outputs=N_OUT, n_hidden=8, initial_rate_hz=30.0, random_state=0)
    model.initialize(N_UP, 0.01).save(folder / "model.npz")
    StagedPointProcess(n_outputs=N_OUT, n_hidden=8, random_state=0).initialize(N_UP - 1, 0.01).save(
        folder / "model_5up.npz")
    StagedPointProcess(n_outputs=N_OUT, n_hidden=8, random_state=0).initialize(N_UP, 0.02).save(
        folder / "model_20ms.npz")
    return {"model": folder / "model.npz", "recording": folder / "sim.npz", "folder": folder}


def expected_stream(model_path, upstream, seed):
    model = StagedPointProcess.load(model_path)
    stream = StreamingGenerator.from_model(model, rng=np.random.default_rng(seed))
    return stream.run(upstream, return_probabilities=True)


def assert_schedule_is_safe(document: dict, limits: SafetyLimits) -> None:
    pulses = {k: np.asarray(v) for k, v in document["pulses"].items()}
    assert np.all(pulses["charge_nc"] <= limits.max_allowed_charge_per_phase_nc)
    assert np.array_equal(pulses["cathodic_charge_nc"], pulses["anodic_charge_nc"])
    for c in range(document["n_channels"]):
        t = pulses["time_us"][pulses["channel"] == c]
        assert np.all(np.diff(t) >= limits.min_interpulse_interval_ms * 1000)
        end = np.searchsorted(t, t + 1_000_000, side="left")
        assert np.all(end - np.arange(len(t)) <= limits.max_pulses_per_second)
        charge = np.concatenate([[0.0], np.cumsum(pulses["charge_nc"][pulses["channel"] == c])])
        assert np.all(charge[end] - charge[: len(t)] <= limits.max_charge_per_second_nc + 1e-9)


# ------------------------------------------------------------------------------------------- stream
def test_stream_replay_equals_streaming_run(run, files, tmp_path, capsys):
    out = tmp_path / "run"
    code = run(["stream", "--model", str(files["model"]), "--recording", str(files["recording"]),
                "--out", str(out), "--seed", "7", "--pulses"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    upstream = load_recording(files["recording"]).upstream_spikes
    spikes, p = expected_stream(files["model"], upstream, seed=7)
    with np.load(out / "stream.npz") as saved:
        assert saved["spikes"].dtype == np.uint8 and saved["probabilities"].dtype == np.float32
        assert saved["spikes"].shape == (N_TRIALS * TRIAL_BINS, N_OUT)
        assert np.array_equal(saved["spikes"], spikes)
        assert np.array_equal(saved["probabilities"], p)  # float64 holding float32 values: exact
        assert float(saved["bin_size"]) == 0.01 and int(saved["seed"]) == 7
        assert saved["latency_ns"].shape == (len(upstream),) and np.all(saved["latency_ns"] > 0)
    assert "p50" in captured.out and "p99" in captured.out and "spikes/s per output" in captured.out
    rates = captured.out.split("spikes/s per output: ")[1].splitlines()[0].split(", ")
    assert np.allclose([float(r) for r in rates], spikes.mean(axis=0) / 0.01, atol=0.005)
    document = json.loads((out / "pulses.json").read_text())
    reference = spikes_to_schedule(spikes, 0.01)
    assert np.array_equal(document["pulses"]["time_us"], reference.time_us)
    assert document["report"]["total"]["requested"] == int(spikes.sum())
    assert "kept" in captured.out and "dropped by reason" in captured.out
    assert_schedule_is_safe(document, SafetyLimits())
    with open(out / "pulses.csv", newline="") as f:
        assert len(list(csv.reader(f))) == document["n_pulses"] + 1


def test_stream_on_rat01(run, rlpp_dir, tmp_path, capsys):
    model_path = StagedPointProcess(n_outputs=2, n_hidden=16, random_state=1).initialize(17, 0.01).save(
        tmp_path / "rat01_model.npz")
    recording = rlpp_dir / "rat01.mat"
    code = run(["stream", "--model", str(model_path), "--recording", str(recording), "--out", str(tmp_path),
                "--bins", "1500"])
    assert code == 0, capsys.readouterr().err
    spikes, p = expected_stream(model_path, load_recording(recording).upstream_spikes[:1500], seed=0)
    with np.load(tmp_path / "stream.npz") as saved:
        assert np.array_equal(saved["spikes"], spikes) and np.array_equal(saved["probabilities"], p)
    assert not (tmp_path / "pulses.json").exists()


@pytest.mark.parametrize("model_key, extra, message", [
    ("model_5up.npz", [], r"reads 5 upstream neurons but the recording .* has 6"),
    ("model_20ms.npz", [], "bins of 20 ms but the recording"),
    ("model.npz", ["--bins", "0"], "--bins must be a positive"),
    ("model.npz", ["--host", "127.0.0.1"], "--host apply to --serve only"),
    ("model.npz", ["--pulses", "--amplitude-ua", "500"], "above max_charge_per_phase_nc"),
    ("missing.npz", [], "no such file"),
    ("sim.npz", [], "is not a model written by StagedPointProcess.save"),  # a recording, not a model
])
def test_stream_rejects_bad_input(run, files, tmp_path, capsys, model_key, extra, message):
    out = tmp_path / "run"
    code = run(["stream", "--model", str(files["folder"] / model_key), "--recording", str(files["recording"]),
                "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("spikebridge stream: error:")
    assert re.search(message, err), err
    assert not out.exists()


def test_stream_serve_rejects_replay_options_and_remote_hosts(run, files, tmp_path, capsys):
    assert run(["stream", "--model", str(files["model"]), "--serve", "--out", str(tmp_path / "x")]) == 2
    assert "--out apply to replaying a recording" in capsys.readouterr().err
    assert run(["stream", "--model", str(files["model"]), "--serve", "--host", "8.8.8.8"]) == 2
    assert "loopback" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: one of --recording / --serve
        run(["stream", "--model", str(files["model"]), "--serve", "--recording", str(files["recording"])])


SERVE_SCRIPT = (
    "import argparse, sys\n"
    "from spikebridge.cli_closedloop import add_stream\n"
    "parser = argparse.ArgumentParser(prog='spikebridge')\n"
    "add_stream(parser.add_subparsers(dest='command', required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.handler(args))\n"
)


def _read_line(proc, timeout: float) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no output within {timeout} s"
    return proc.stdout.readline()


def test_serve_stops_cleanly_on_signals(files):
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    args = ["stream", "--model", str(files["model"]), "--serve", "--pulses"]
    handler = [sys.executable, "-c", SERVE_SCRIPT, *args]
    if WIRED:  # SIGTERM through cli.main, whose own SIGTERM handler serve_bridge must replace; SIGINT too
        commands = {signal.SIGTERM: [sys.executable, "-m", "spikebridge.cli", *args], signal.SIGINT: handler}
    else:
        commands = {signal.SIGTERM: handler}
    procs = {signum: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for signum, command in commands.items()}  # both start at once: imports dominate
    try:
        for signum, proc in procs.items():
            listening = json.loads(_read_line(proc, 30))
            assert listening["event"] == "listening" and listening["host"] == "127.0.0.1"
            with socket.create_connection((listening["host"], listening["port"]), timeout=10) as sock:
                stream = sock.makefile("rwb")
                stream.write(json.dumps({"upstream": [1] * N_UP}).encode() + b"\n")
                stream.flush()
                reply = json.loads(stream.readline())
                assert len(reply["downstream"]) == N_OUT and "pulses" in reply
                proc.send_signal(signum)
                out, err = proc.communicate(timeout=15)
            assert proc.returncode == 0, err.decode()
            assert json.loads(out.decode().splitlines()[-1]) == {"event": "stopped", "messages": 1, "bins": 1,
                                                                 "errors": 0}
            assert "serving" in err.decode()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# ------------------------------------------------------------------------------------------- stimulate
def dense_spikes(n_bins=3000, n_channels=3, seed=0):
    return (np.random.default_rng(seed).random((n_bins, n_channels)) < 0.5).astype(np.uint8)


@pytest.mark.parametrize("policy", ["drop", "delay"])
def test_stimulate_respects_limits_and_counts_every_pulse(run, tmp_path, capsys, policy):
    spikes = dense_spikes()
    np.savez(tmp_path / "spikes.npz", spikes=spikes, bin_size=0.001)  # 1-ms bins: far too many pulses
    limit_flags = ["--max-pulse-rate-hz", "120", "--min-interpulse-interval-ms", "4",
                   "--max-charge-per-second-nc", "300", "--electrode-area-mm2", "0.004"]
    out = tmp_path / "stim"
    code = run(["stimulate", "--spikes", str(tmp_path / "spikes.npz"), "--out", str(out), "--policy", policy,
                *limit_flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    limits = SafetyLimits(max_pulse_rate_hz=120, min_interpulse_interval_ms=4, max_charge_per_second_nc=300,
                          electrode_area_mm2=0.004)
    document = json.loads((out / "pulses.json").read_text())
    assert document["format"] == "spikebridge.stimulation_schedule" and document["schema_version"] == 1
    assert document["limits"] == limits.to_dict()
    assert_schedule_is_safe(document, limits)
    total = document["report"]["total"]
    assert total["requested"] == int(spikes.sum()) == total["delivered"] + total["dropped"]
    assert total["delivered"] == document["n_pulses"] and total["dropped"] > 0
    assert sum(total["dropped_by_reason"].values()) == total["dropped"]
    assert (total["delayed"] > 0) == (policy == "delay")
    reference = spikes_to_schedule(spikes, 0.001, limits=limits, policy=policy)
    assert np.array_equal(document["pulses"]["time_us"], reference.time_us)
    with open(out / "pulses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == document["n_pulses"]
    assert [int(r["time_us"]) for r in rows] == document["pulses"]["time_us"]
    assert f"requested {total['requested']}, kept {total['delivered']}" in captured.out
    for reason, count in total["dropped_by_reason"].items():
        assert f"{reason} {count}" in captured.out


def test_stimulate_reads_stream_output_and_reproduce_samples(run, files, tmp_path, capsys):
    assert run(["stream", "--model", str(files["model"]), "--recording", str(files["recording"]),
                "--out", str(tmp_path / "run"), "--pulses"]) == 0
    stream_file = tmp_path / "run" / "stream.npz"
    assert run(["stimulate", "--spikes", str(stream_file), "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert (tmp_path / "a" / "pulses.json").read_text() == (tmp_path / "run" / "pulses.json").read_text()
    samples = np.stack([dense_spikes(400, 2, seed) for seed in (1, 2, 3)])  # like fold_k/rl_test_spikes.npz
    np.savez(tmp_path / "rl_test_spikes.npz", bins=np.arange(400), spikes=samples, labels=np.ones(400))
    code = run(["stimulate", "--spikes", str(tmp_path / "rl_test_spikes.npz"), "--out", str(tmp_path / "b"),
                "--bin-size", "0.01"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "using sample 0 of 3" in captured.err
    document = json.loads((tmp_path / "b" / "pulses.json").read_text())
    assert document["report"]["total"]["requested"] == int(samples[0].sum())


@pytest.mark.parametrize("arrays, flags, message", [
    ({"spks": dense_spikes(10)}, [], "has no `spikes` array"),
    ({"spikes": dense_spikes(10) * 2, "bin_size": 0.01}, [], "more than one spike"),
    ({"spikes": np.full((10, 2), 0.5), "bin_size": 0.01}, [], "whole spike counts"),
    ({"spikes": np.zeros(10, np.uint8), "bin_size": 0.01}, [], "must have shape"),
    ({"spikes": dense_spikes(10)}, [], "has no `bin_size`; pass --bin-size"),
    ({"spikes": dense_spikes(10), "bin_size": -0.01}, [], "`bin_size` must be a positive"),
    ({"spikes": dense_spikes(10), "bin_size": 0.01}, ["--max-pulse-rate-hz=-5"], "max_pulse_rate_hz"),
    ({"spikes": dense_spikes(10), "bin_size": 0.01}, ["--min-interpulse-interval-ms=-1"],
     "min_interpulse_interval_ms"),
    ({"spikes": dense_spikes(10), "bin_size": 0.01}, ["--max-charge-per-phase-nc=0"],
     "max_charge_per_phase_nc"),
    ({"spikes": dense_spikes(10), "bin_size": 0.01}, ["--amplitude-ua", "140"], "Shannon limit"),
    ({"spikes": dense_spikes(10), "bin_size": 0.01}, ["--max-delay-ms=-2"], "max_delay_ms"),
    (None, [], "no such file"),
])
def test_stimulate_rejects_bad_input(run, tmp_path, capsys, arrays, flags, message):
    path = tmp_path / "spikes.npz"
    if arrays is not None:
        np.savez(path, **arrays)
    out = tmp_path / "stim"
    code = run(["stimulate", "--spikes", str(path), "--out", str(out), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("spikebridge stimulate: error:") and message in err, err
    assert not out.exists()
