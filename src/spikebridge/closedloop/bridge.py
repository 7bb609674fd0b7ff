"""A loopback TCP bridge: upstream spikes in, generated downstream spikes (and safe pulses) out.

The service listens on a loopback address only (``127.0.0.1`` or ``::1``; port 0 picks a free port) and
speaks newline-delimited JSON: one UTF-8 JSON object per line in, one per line out, in order, so a client
may pipeline requests. All connections feed **one** :class:`~spikebridge.closedloop.StreamingGenerator`;
each message is processed atomically, in arrival order (two clients' bins interleave).

Messages
--------
======================================  ====================================================================
request                                 reply
======================================  ====================================================================
``{"upstream": [0, 1, ...]}``           ``{"bin": t, "downstream": [0, 1], "probabilities": [p, ...]}``
(one bin, ``n_upstream`` values 0/1)
``{"upstream": [[...], [...]]}``        ``{"bin": t0, "downstream": [[...], ...], "probabilities": [[...]]}``
(a chunk of bins)                       (``t0`` = the chunk's first bin)
``{"command": "info"}``                 sizes, ``bin_size``, ``n_bins_seen`` and the pulse settings
``{"command": "reset"}``                ``{"ok": true}``; forgets the upstream history (the rng continues)
======================================  ====================================================================

A request may carry an ``"id"`` (any JSON value); the reply echoes it. With a
:class:`~spikebridge.stimulation.PulseGate`, each downstream spike requests a pulse at the onset of its
bin on the stimulation clock, ``n * bin_size`` for the ``n``-th bin the server has streamed (a
``reset`` does not rewind this clock, so the limits hold across resets), and spike replies also hold
``"pulses"`` (delivered: ``channel``, ``bin``, ``time_us``, ``delay_us``) and ``"dropped"``
(``channel``, ``bin``, ``reason``); ``bin`` is the generator's bin index, as in ``"bin"``.

A malformed line (bad JSON, not an object, unknown command, wrong length, values other than the
integers 0 and 1, a line over ``max_line_bytes``) gets ``{"error": "..."}`` and the connection and
server keep going. Blank lines are ignored.

Run as a process (``python -m spikebridge.closedloop --model model.npz``) it prints one JSON line
``{"event": "listening", "host": ..., "port": ...}`` and serves until SIGINT or SIGTERM, then prints
``{"event": "stopped", ...}`` and exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from spikebridge.closedloop.streaming import StreamingGenerator
from spikebridge.stimulation.schedule import PulseGate

__all__ = ["BridgeServer", "serve_bridge", "main"]

_LOOPBACK_NAMES = {"localhost": "127.0.0.1"}


def _check_loopback(host: object) -> str:
    if not isinstance(host, str):
        raise TypeError(f"`host` must be a string such as '127.0.0.1'; got {type(host).__name__}.")
    name = _LOOPBACK_NAMES.get(host, host)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        raise ValueError(
            f"`host` must be a loopback IP address such as '127.0.0.1' or '::1'; got host={host!r}."
        ) from None
    if not address.is_loopback:
        raise ValueError(
            f"The bridge listens on loopback addresses only (127.0.0.0/8 or ::1); got host={host!r}. "
            "Forward the "
            "port explicitly (e.g. an SSH tunnel) if another machine must reach it."
        )
    return name


def _check_port(port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"`port` must be an integer in [0, 65535] (0 = any free port); got port={port!r}.")
    return port


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True  # small replies go out at once

    def handle(self) -> None:
        bridge: BridgeServer = self.server.bridge  # type: ignore[attr-defined]
        bridge._register(self.connection)
        limit = bridge.max_line_bytes
        try:
            while True:
                line = self.rfile.readline(limit + 1)
                if not line:
                    return
                if len(line) > limit and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):  # skip the rest of the long line
                        line = self.rfile.readline(limit + 1)
                    reply = bridge._error(f"line longer than max_line_bytes={limit}")
                else:
                    if not line.strip():
                        continue
                    reply = bridge.handle_line(line)
                self.wfile.write(reply)
        except (ConnectionError, OSError):  # the client went away, or shutdown() closed the socket
            return
        finally:
            bridge._unregister(self.connection)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False  # server_close() joins the handler threads


class _TCPServer6(_TCPServer):
    address_family = socket.AF_INET6


class BridgeServer:
    """The loopback newline-delimited-JSON service around one streaming generator.

    Parameters
    ----------
    generator :
        The generator every connection feeds.
    host :
        Loopback address to listen on.
    port :
        TCP port; 0 picks a free one (see :attr:`address`).
    pulse_gate :
        If given, every generated spike requests a pulse through it (its ``n_channels`` must equal the
        generator's ``n_outputs`` and the generator needs a ``bin_size``).
    max_line_bytes :
        Longest accepted request line.
    max_chunk_bins :
        Most bins in one chunk message.

    Examples
    --------
    >>> with BridgeServer(stream).start() as server:  # doctest: +SKIP
    ...     host, port = server.address
    """

    def __init__(
        self,
        generator: StreamingGenerator,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pulse_gate: PulseGate | None = None,
        max_line_bytes: int = 1 << 20,
        max_chunk_bins: int = 10_000,
    ) -> None:
        if not isinstance(generator, StreamingGenerator):
            raise TypeError(f"`generator` must be a StreamingGenerator; got {type(generator).__name__}.")
        if pulse_gate is not None:
            if not isinstance(pulse_gate, PulseGate):
                raise TypeError(f"`pulse_gate` must be a PulseGate or None; got {type(pulse_gate).__name__}.")
            if pulse_gate.n_channels != generator.n_outputs:
                raise ValueError(
                    f"The pulse gate has {pulse_gate.n_channels} channels but the generator has "
                    f"{generator.n_outputs} outputs; build PulseGate({generator.n_outputs}, ...)."
                )
            if generator.bin_size is None:
                raise ValueError(
                    "Pulses need the generator's bin_size; build it with bin_size=... or with from_model."
                )
        self.generator = generator
        self.pulse_gate = pulse_gate
        self.max_line_bytes = int(max_line_bytes)
        self.max_chunk_bins = int(max_chunk_bins)
        host = _check_loopback(host)
        server_class = _TCPServer6 if ":" in host else _TCPServer
        self._server = server_class((host, _check_port(port)), _Handler, bind_and_activate=True)
        self._server.bridge = self  # type: ignore[attr-defined]
        self._lock = threading.Lock()  # one message at a time touches the generator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self.n_messages = self.n_errors = self.n_bins = 0  # n_bins also clocks the pulses

    # ------------------------------------------------------------------ lifecycle
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually listened on."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`shutdown` is called from another thread."""
        if self._closed or self._serving:
            raise RuntimeError("This BridgeServer is shut down or already serving; build a new one.")
        self._serving = True
        self._server.serve_forever(poll_interval=0.05)

    def start(self) -> "BridgeServer":
        """Serve in a background thread; returns self (already listening)."""
        if self._closed or self._serving:
            raise RuntimeError("This BridgeServer is shut down or already serving; build a new one.")
        self._serving = True  # serve_forever below may start after a quick shutdown(); that is fine
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="spikebridge-bridge", daemon=True)
        self._thread.start()
        return self

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every open connection, and release the port. Safe to call twice."""
        with self._connections_lock:
            if self._closed:
                return
            self._closed = True
        if self._serving:
            self._server.shutdown()  # returns once serve_forever has stopped accepting
        if self._thread is not None:
            self._thread.join(timeout)
        with self._connections_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked on readline
                except OSError:
                    pass
        self._server.server_close()  # joins the handler threads

    def __enter__(self) -> "BridgeServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _register(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(conn)
            if self._closed:  # accepted just before shutdown(): close it so the handler returns
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _unregister(self, conn: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    # ------------------------------------------------------------------ messages
    def _error(self, message: str, request_id: Any = None, has_id: bool = False) -> bytes:
        with self._lock:
            self.n_errors += 1
        reply: dict[str, Any] = {"error": message}
        if has_id:
            reply["id"] = request_id
        return (json.dumps(reply) + "\n").encode()

    def handle_line(self, line: bytes) -> bytes:
        """Answer one request line (without I/O); the reply ends with a newline. Never raises."""
        try:
            message = json.loads(line)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._error(f"bad JSON: {exc}")
        if not isinstance(message, dict):
            return self._error(f"a request must be a JSON object; got {type(message).__name__}")
        has_id, request_id = "id" in message, message.get("id")
        try:
            if "command" in message:
                reply = self._command(message["command"])
            elif "upstream" in message:
                reply = self._spikes(message["upstream"])
            else:
                reply = ('a request needs "upstream" (one bin or a list of bins) or "command" '
                         '("info", "reset")')
        except Exception as exc:  # pragma: no cover - a bug must not stop the service
            reply = f"internal error: {type(exc).__name__}: {exc}"
        if isinstance(reply, str):
            return self._error(reply, request_id, has_id)
        if has_id:
            reply["id"] = request_id
        return (json.dumps(reply) + "\n").encode()

    def _command(self, command: object) -> dict | str:
        if command == "reset":
            with self._lock:
                self.generator.reset()
            return {"ok": True}
        if command == "info":
            g, gate = self.generator, self.pulse_gate
            return {
                "n_upstream": g.n_upstream, "n_outputs": g.n_outputs, "n_hidden": g.n_hidden,
                "n_spikes": g.n_spikes, "time_constant": g.time_constant, "bin_size": g.bin_size,
                "n_bins_seen": g.n_bins_seen,
                "pulses": None if gate is None else {
                    "policy": gate.policy, "max_delay_ms": gate.max_delay_ms, "limits": gate.limits.to_dict(),
                    "pulse": [vars(p) for p in gate.pulses]},
            }
        return f"unknown command {command!r}; use 'info' or 'reset'"

    def _parse_upstream(self, upstream: object) -> np.ndarray | str:
        n_up = self.generator.n_upstream
        if not isinstance(upstream, list) or not upstream:
            return f'"upstream" must be a non-empty list of {n_up} zeros and ones (or a list of such lists)'
        chunk = isinstance(upstream[0], list)
        if chunk and len(upstream) > self.max_chunk_bins:
            return f"a chunk may hold at most max_chunk_bins={self.max_chunk_bins} bins; got {len(upstream)}"
        try:
            arr = np.array(upstream)
        except (ValueError, TypeError):
            return f'"upstream" rows must all hold {n_up} values'
        expected = (len(upstream), n_up) if chunk else (n_up,)
        if arr.shape != expected:
            return (f'"upstream" must have shape {list(expected)} ({n_up} upstream neurons per bin); '
                    f"got {list(arr.shape)}")
        if arr.dtype.kind not in "iu" or not np.all((arr == 0) | (arr == 1)):
            return '"upstream" values must be the integers 0 or 1'
        return arr

    def _spikes(self, upstream: object) -> dict | str:
        arr = self._parse_upstream(upstream)
        if isinstance(arr, str):
            return arr
        g = self.generator
        with self._lock:
            first_bin, clock = g.n_bins_seen, self.n_bins
            if arr.ndim == 1:
                spikes = g._step(arr > 0)[None, :]
                probabilities = g.last_probabilities[None, :]
            else:
                spikes, probabilities = g.run(arr, return_probabilities=True)
            reply: dict[str, Any] = {"bin": first_bin}
            if self.pulse_gate is not None:
                reply.update(self._pulses(spikes, first_bin, clock))
            self.n_messages += 1
            self.n_bins += len(spikes)
        if arr.ndim == 1:
            reply["downstream"], reply["probabilities"] = spikes[0].tolist(), probabilities[0].tolist()
        else:
            reply["downstream"], reply["probabilities"] = spikes.tolist(), probabilities.tolist()
        return reply

    def _pulses(self, spikes: np.ndarray, first_bin: int, clock: int) -> dict[str, list]:
        """Request a pulse per spike; times count bins streamed since the server started (see module)."""
        gate, bin_us = self.pulse_gate, self.generator.bin_size * 1e6
        delivered, dropped = [], []
        for row, channel in zip(*np.nonzero(spikes)):
            b = first_bin + int(row)
            decision = gate.request(int(channel), int(round((clock + int(row)) * bin_us)))
            if decision.delivered:
                delivered.append({"channel": int(channel), "bin": b, "time_us": decision.time_us,
                                  "delay_us": decision.delay_us})
            else:
                dropped.append({"channel": int(channel), "bin": b, "reason": decision.reason})
        return {"pulses": delivered, "dropped": dropped}

    def stats(self) -> dict[str, int]:
        """Spike messages answered, bins streamed and errors sent so far."""
        with self._lock:
            return {"messages": self.n_messages, "bins": self.n_bins, "errors": self.n_errors}


def serve_bridge(
    generator: StreamingGenerator,
    host: str = "127.0.0.1",
    port: int = 0,
    stop_event: threading.Event | None = None,
    *,
    pulse_gate: PulseGate | None = None,
    on_ready: Callable[[tuple[str, int]], None] | None = None,
) -> dict[str, int]:
    """Serve ``generator`` on ``host:port`` until ``stop_event`` is set, or SIGINT/SIGTERM arrives.

    Signal handlers are installed only when called from the main thread (and restored afterwards).

    Parameters
    ----------
    generator :
        The streaming generator to serve.
    host, port :
        Loopback address and port (0: any free port).
    stop_event :
        Set it (from any thread) to stop; a fresh one is used when None.
    pulse_gate :
        Turns spikes into safe pulses (see :class:`BridgeServer`).
    on_ready :
        Called with ``(host, port)`` once listening.

    Returns
    -------
    stats :
        ``{"messages", "bins", "errors"}`` at shutdown.
    """
    stop = threading.Event() if stop_event is None else stop_event
    server = BridgeServer(generator, host=host, port=port, pulse_gate=pulse_gate).start()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        if on_ready is not None:
            on_ready(server.address)
        while not stop.wait(0.1):
            pass
    finally:
        server.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return server.stats()


def main(argv: Sequence[str] | None = None) -> int:
    """Process entry point: serve a saved model (``StagedPointProcess.save``) on loopback."""
    from spikebridge.models.generator import StagedPointProcess
    from spikebridge.stimulation import PulseParameters, SafetyLimits

    parser = argparse.ArgumentParser(prog="python -m spikebridge.closedloop",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a .npz written by StagedPointProcess.save")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the spike draws")
    parser.add_argument("--pulses", action="store_true", help="also answer safe stimulation pulses")
    parser.add_argument("--amplitude-ua", type=float, default=PulseParameters.amplitude_ua)
    parser.add_argument("--phase-width-us", type=float, default=PulseParameters.phase_width_us)
    parser.add_argument("--policy", choices=("drop", "delay"), default="drop")
    args = parser.parse_args(argv)
    model = StagedPointProcess.load(args.model)
    generator = StreamingGenerator.from_model(model, rng=np.random.default_rng(args.seed))
    gate = None
    if args.pulses:
        gate = PulseGate(generator.n_outputs, pulse=PulseParameters(amplitude_ua=args.amplitude_ua,
                                                                    phase_width_us=args.phase_width_us),
                         limits=SafetyLimits(), policy=args.policy)

    def ready(address: tuple[str, int]) -> None:
        print(json.dumps({"event": "listening", "host": address[0], "port": address[1]}), flush=True)

    stats = serve_bridge(generator, args.host, args.port, pulse_gate=gate, on_ready=ready)
    print(json.dumps({"event": "stopped", **stats}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
