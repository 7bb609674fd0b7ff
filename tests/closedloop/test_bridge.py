"""The loopback bridge: protocol, errors, pulses, a bounded two-client load test and process signals."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from spikebridge.closedloop import BridgeServer, StreamingGenerator, serve_bridge
from spikebridge.models.generator import StagedPointProcess
from spikebridge.stimulation import PulseGate, SafetyLimits

N_UP, N_OUT = 6, 3
MALFORMED = [
    b"this is not json",
    b'{"upstream": [0, 1, 0]}',  # wrong length
    b'{"upstream": [0, 1, 2, 0, 0, 0]}',  # not binary
    b'{"upstream": [0, 1, 0.5, 0, 0, 0]}',  # not an integer
    b'{"upstream": [[0, 1, 0, 0, 0, 0], [1, 0]]}',  # ragged chunk
    b'{"upstream": []}',
    b"[0, 1, 0, 0, 0, 0]",  # not an object
    b'{"downstream": [0, 1]}',  # neither upstream nor command
    b'{"command": "explode"}',
    b'{"upstream": [NaN, 0, 0, 0, 0, 0]}',
    b'{"upstream": [true, false, true, false, true, false]}',
    b"\xff\xfe garbage",
]


@pytest.fixture(scope="module")
def model():
    return StagedPointProcess(n_outputs=N_OUT, n_hidden=8, random_state=0).initialize(N_UP, 0.01)


def make_stream(model, seed=0):
    return StreamingGenerator.from_model(model, rng=np.random.default_rng(seed))


class Client:
    def __init__(self, address, timeout=10.0):
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rwb")

    def send(self, *lines: bytes) -> None:
        self.file.write(b"".join(line + b"\n" for line in lines))
        self.file.flush()

    def receive(self, n: int = 1) -> list[dict]:
        return [json.loads(self.file.readline()) for _ in range(n)]

    def ask(self, obj) -> dict:
        self.send(json.dumps(obj).encode())
        return self.receive()[0]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_replies_match_a_local_stream(model):
    upstream = (np.random.default_rng(1).random((120, N_UP)) < 0.3).astype(int)
    local = make_stream(model, seed=4)
    expected, p_expected = local.run(upstream, return_probabilities=True)
    with BridgeServer(make_stream(model, seed=4)).start() as server:
        host, port = server.address
        assert host == "127.0.0.1" and port > 0
        client = Client(server.address)
        singles = [client.ask({"upstream": row.tolist(), "id": i}) for i, row in enumerate(upstream[:20])]
        chunk = client.ask({"upstream": upstream[20:].tolist(), "id": "chunk"})
        info = client.ask({"command": "info"})
        client.close()
    assert [r["id"] for r in singles] == list(range(20)) and [r["bin"] for r in singles] == list(range(20))
    assert np.array_equal([r["downstream"] for r in singles], expected[:20])
    assert np.array_equal([r["probabilities"] for r in singles], p_expected[:20])  # JSON floats round-trip
    assert chunk["id"] == "chunk" and chunk["bin"] == 20
    assert np.array_equal(chunk["downstream"], expected[20:])
    assert np.array_equal(chunk["probabilities"], p_expected[20:])
    assert info["n_upstream"] == N_UP and info["n_outputs"] == N_OUT and info["n_bins_seen"] == 120
    assert info["pulses"] is None


def test_malformed_messages_get_errors_and_the_server_keeps_going(model):
    with BridgeServer(make_stream(model), max_line_bytes=4096).start() as server:
        client = Client(server.address)
        client.send(*MALFORMED, b"", b"   ", b'{"upstream": [0, 0, 0, 0, 0, 1], "id": 7}')
        replies = client.receive(len(MALFORMED) + 1)  # blank lines get no reply
        client.send(b'{"upstream": "' + b"x" * 5000 + b'"}', b'{"command": "reset", "id": "r"}')
        long_line, reset = client.receive(2)
        client.close()
        stats = server.stats()
    assert all(set(r) == {"error"} and r["error"] for r in replies[:-1]), replies
    assert replies[-1]["id"] == 7 and len(replies[-1]["downstream"]) == N_OUT
    assert "max_line_bytes" in long_line["error"]
    assert reset == {"ok": True, "id": "r"}
    assert stats == {"messages": 1, "bins": 1, "errors": len(MALFORMED) + 1}


def test_error_messages_say_what_to_send(model):
    server = BridgeServer(make_stream(model))
    assert "shape [6]" in json.loads(server.handle_line(b'{"upstream": [0, 1]}'))["error"]
    assert "0 or 1" in json.loads(server.handle_line(b'{"upstream": [0, 1, 2, 0, 0, 0]}'))["error"]
    assert "bad JSON" in json.loads(server.handle_line(b"{oops"))["error"]
    assert json.loads(server.handle_line(b'{"command": "nope", "id": 3}')) == {
        "error": "unknown command 'nope'; use 'info' or 'reset'", "id": 3}
    server.shutdown()


def test_pulses_come_from_a_safe_gate(model):
    limits = SafetyLimits(max_pulse_rate_hz=20)
    gate = PulseGate(N_OUT, limits=limits, policy="delay", max_delay_ms=10.0)
    upstream = np.ones((300, N_UP), int)
    with BridgeServer(make_stream(model), pulse_gate=gate).start() as server:
        client = Client(server.address)
        replies = [client.ask({"upstream": upstream[:150].tolist()})]
        replies += [client.ask({"upstream": row.tolist()}) for row in upstream[150:250]]
        assert client.ask({"command": "reset"}) == {"ok": True}  # the stimulation clock runs on
        replies += [client.ask({"upstream": row.tolist()}) for row in upstream[250:]]
        info = client.ask({"command": "info"})
        client.close()
    pulses = [p for r in replies for p in r["pulses"]]
    n_spikes = sum(np.sum(r["downstream"]) for r in replies)
    assert len(pulses) + sum(len(r["dropped"]) for r in replies) == n_spikes
    for c in range(N_OUT):
        times = np.array([p["time_us"] for p in pulses if p["channel"] == c])
        assert np.all(np.diff(times) >= 5000)
        assert all(np.sum((times >= t) & (times < t + 1_000_000)) <= 20 for t in times)
    clock = [p["time_us"] - p["delay_us"] for p in pulses]
    assert all(np.diff([t for t, p in zip(clock, pulses) if p["channel"] == 0]) > 0)
    assert all(t == p["bin"] * 10_000 for t, p in zip(clock, pulses) if t < 2_500_000)
    assert all(t == (p["bin"] + 250) * 10_000 for t, p in zip(clock, pulses) if t >= 2_500_000)
    assert info["pulses"]["policy"] == "delay" and info["pulses"]["limits"]["max_pulse_rate_hz"] == 20
    with pytest.raises(ValueError, match="channels"):
        BridgeServer(make_stream(model), pulse_gate=PulseGate(N_OUT + 1))


@pytest.mark.parametrize("host, error", [("0.0.0.0", ValueError), ("192.168.1.10", ValueError),
                                         ("example.org", ValueError), (None, TypeError)])
def test_listens_on_loopback_only(model, host, error):
    with pytest.raises(error, match="loopback|host"):
        BridgeServer(make_stream(model), host=host)


def test_load_two_clients_with_malformed_messages(model):
    """10,000 bins from two pipelining clients, 1 malformed line in ~21; every line answered in order."""
    n_batches, n_single, chunk_bins = 50, 40, 60  # per client: 50 * (40 + 60) = 5,000 bins
    results, failures = {}, []

    def client_run(name, address):
        try:
            rng = np.random.default_rng(len(name))
            client = Client(address, timeout=10.0)
            n_bins = n_errors = 0
            for batch in range(n_batches):
                up = (rng.random((n_single + chunk_bins, N_UP)) < 0.2).astype(int)
                lines = [json.dumps({"upstream": row.tolist(), "id": f"{name}{batch}.{i}"}).encode()
                         for i, row in enumerate(up[:n_single])]
                lines.insert(batch % n_single, MALFORMED[batch % len(MALFORMED)])
                chunk = {"upstream": up[n_single:].tolist(), "id": f"{name}{batch}.chunk"}
                lines.append(json.dumps(chunk).encode())
                lines.insert(len(lines) // 2, MALFORMED[(batch + 5) % len(MALFORMED)])
                client.send(*lines)
                for line, reply in zip(lines, client.receive(len(lines))):
                    if line in MALFORMED:
                        assert set(reply) == {"error"}, (line, reply)
                        n_errors += 1
                    else:
                        assert reply["id"] == json.loads(line)["id"]
                        down = np.array(reply["downstream"])
                        n = len(json.loads(line)["upstream"]) if reply["id"].endswith("chunk") else None
                        assert down.shape == ((n, N_OUT) if n else (N_OUT,)) and set(down.ravel()) <= {0, 1}
                        n_bins += n or 1
            client.close()
            results[name] = (n_bins, n_errors)
        except Exception as exc:  # reported by the main thread
            failures.append(f"{name}: {exc!r}")

    start = time.monotonic()
    with BridgeServer(make_stream(model)).start() as server:
        threads = [threading.Thread(target=client_run, args=(name, server.address)) for name in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30.0)
        alive = [t.name for t in threads if t.is_alive()]
        stats = server.stats()
    assert not alive, f"clients still running after 30 s: {alive}"
    assert not failures, failures
    assert results == {"a": (5000, 100), "b": (5000, 100)}
    assert stats == {"messages": 2 * n_batches * (n_single + 1), "bins": 10_000, "errors": 200}
    assert time.monotonic() - start < 30.0


def test_serve_bridge_stops_on_event(model):
    ready, stop, out = threading.Event(), threading.Event(), {}

    def on_ready(address):
        out["address"] = address
        ready.set()

    thread = threading.Thread(target=lambda: out.update(stats=serve_bridge(
        make_stream(model), "127.0.0.1", 0, stop, on_ready=on_ready)))
    thread.start()
    assert ready.wait(5.0)
    client = Client(out["address"])
    assert len(client.ask({"upstream": [0] * N_UP})["downstream"]) == N_OUT
    stop.set()
    thread.join(5.0)
    assert not thread.is_alive() and out["stats"]["bins"] == 1
    client.close()


def test_shutdown_with_an_idle_connection_open(model):
    server = BridgeServer(make_stream(model)).start()
    client = Client(server.address)
    client.ask({"command": "info"})
    start = time.monotonic()
    server.shutdown()  # the handler blocked on readline must be woken
    server.shutdown()
    assert time.monotonic() - start < 2.0
    assert client.file.readline() == b""
    client.close()
    with pytest.raises(RuntimeError, match="shut down"):
        server.start()


@pytest.mark.slow
def test_process_stops_cleanly_on_sigterm_and_sigint(model, tmp_path):
    path = model.save(tmp_path / "model.npz")
    src = Path(__file__).resolve().parents[2] / "src"
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "spikebridge.closedloop", "--model", str(path), "--pulses"]
    procs = {signum: subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for signum in (signal.SIGTERM, signal.SIGINT)}  # both start at once: imports dominate
    try:
        for signum, proc in procs.items():
            listening = json.loads(proc.stdout.readline())
            assert listening["event"] == "listening" and listening["host"] == "127.0.0.1"
            client = Client((listening["host"], listening["port"]))
            reply = client.ask({"upstream": [1] * N_UP})
            assert len(reply["downstream"]) == N_OUT and "pulses" in reply
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=10)
            client.close()
            assert proc.returncode == 0, err.decode()
            stopped = json.loads(out.decode().strip().splitlines()[-1])
            assert stopped == {"event": "stopped", "messages": 1, "bins": 1, "errors": 0}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
