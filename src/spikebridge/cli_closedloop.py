"""The closed-loop commands of the CLI: ``spikebridge stream`` and ``spikebridge stimulate``.

``add_stream(sub)`` and ``add_stimulate(sub)`` register the subcommands on the ``spikebridge`` parser's
subparsers; each sets ``handler`` (``args.handler(args) -> int``). The handlers raise ``DataFormatError``,
``FileNotFoundError``, ``ValueError`` or ``TypeError`` on bad input, which :func:`spikebridge.cli.main`
turns into a message on stderr and exit code 2.

Files written (each atomically: a reader sees the old file or the whole new one)
---------------------------------------------------------------------------------
``stream --recording`` writes ``DIR/stream.npz``:

=================  ==============================  =====================================================
key                shape, dtype                    meaning
=================  ==============================  =====================================================
``spikes``         ``(n_bins, n_outputs)`` uint8   generated downstream spikes, one row per streamed bin
``probabilities``  ``(n_bins, n_outputs)`` float32 spike probability of each bin and output
``bin_size``       ``()`` float64                  bin width in seconds (the model's and the recording's)
``seed``           ``()`` int64                    seed of the spike draws
``latency_ns``     ``(n_bins,)`` int64             wall time of each bin's ``StreamingGenerator.step``
=================  ==============================  =====================================================

``stimulate`` (and ``stream --pulses``) writes ``DIR/pulses.csv`` and ``DIR/pulses.json``, in the schema of
:mod:`spikebridge.stimulation.export`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["add_stream", "add_stimulate", "format_schedule_report", "read_spikes_file", "replay_bins"]

_DEFAULT_STREAM_OUT = Path("runs/stream")


# ---------------------------------------------------------------------------------------- options
def _add_pulse_options(p: argparse.ArgumentParser) -> None:
    """Pulse shape, safety limits and the drop/delay policy; defaults are the library's conservative ones."""
    from spikebridge.stimulation import PulseParameters, SafetyLimits

    pulse = p.add_argument_group("pulses (one charge-balanced biphasic pulse per generated spike)")
    pulse.add_argument("--amplitude-ua", type=float, default=PulseParameters.amplitude_ua,
                       help=f"current of each phase, µA (default {PulseParameters.amplitude_ua:g})")
    pulse.add_argument("--phase-width-us", type=float, default=PulseParameters.phase_width_us,
                       help=f"duration of each phase, µs (default {PulseParameters.phase_width_us:g})")
    pulse.add_argument("--interphase-gap-us", type=float, default=PulseParameters.interphase_gap_us,
                       help=f"pause between the phases, µs (default {PulseParameters.interphase_gap_us:g})")
    pulse.add_argument("--policy", choices=("drop", "delay"), default="drop",
                       help="what happens to a pulse that would break a timing limit: dropped (default), or "
                            "delayed to the earliest safe time within --max-delay-ms, else dropped")
    pulse.add_argument("--max-delay-ms", type=float, default=10.0,
                       help="longest delay under --policy delay, ms (default 10)")
    limits = p.add_argument_group(
        "safety limits, per channel (never exceeded; see spikebridge.stimulation.limits)")
    for flag, field_name, what in (
        ("--max-pulse-rate-hz", "max_pulse_rate_hz", "most pulses in any 1-second window"),
        ("--min-interpulse-interval-ms", "min_interpulse_interval_ms", "least time between pulse onsets, ms"),
        ("--max-charge-per-phase-nc", "max_charge_per_phase_nc", "largest charge of one phase, nC"),
        ("--electrode-area-mm2", "electrode_area_mm2",
         "geometric electrode area for the Shannon limit, mm²"),
        ("--shannon-k", "shannon_k", "the Shannon criterion's k"),
        ("--max-charge-per-second-nc", "max_charge_per_second_nc",
         "largest summed charge per phase in any 1-second window, nC"),
    ):
        default = getattr(SafetyLimits, field_name)
        limits.add_argument(flag, type=float, default=default, help=f"{what} (default {default:g})")


def _pulse_settings(args: argparse.Namespace):
    """The validated ``(PulseParameters, SafetyLimits)`` of the options (``ValueError`` names the bad one)."""
    from spikebridge.stimulation import PulseParameters, SafetyLimits

    pulse = PulseParameters(amplitude_ua=args.amplitude_ua, phase_width_us=args.phase_width_us,
                            interphase_gap_us=args.interphase_gap_us)
    limits = SafetyLimits(
        max_pulse_rate_hz=args.max_pulse_rate_hz, min_interpulse_interval_ms=args.min_interpulse_interval_ms,
        max_charge_per_phase_nc=args.max_charge_per_phase_nc, electrode_area_mm2=args.electrode_area_mm2,
        shannon_k=args.shannon_k, max_charge_per_second_nc=args.max_charge_per_second_nc,
    )
    return pulse, limits


def _pulse_gate(args: argparse.Namespace, n_channels: int):
    """A :class:`~spikebridge.stimulation.PulseGate` of the options; raises on bad settings."""
    from spikebridge.stimulation import PulseGate

    pulse, limits = _pulse_settings(args)
    return PulseGate(n_channels, pulse=pulse, limits=limits, policy=args.policy,
                     max_delay_ms=args.max_delay_ms)


# ---------------------------------------------------------------------------------------- stream
def add_stream(sub: argparse._SubParsersAction) -> None:
    """Register ``spikebridge stream``: replay a recording through a saved model, or serve the bridge."""
    p = sub.add_parser(
        "stream", help="replay a recording bin by bin through a saved model, or serve the loopback bridge",
        description="Replay a recording's upstream spikes bin by bin through a model saved with "
                    "StagedPointProcess.save (writes DIR/stream.npz, prints the per-bin latency), or serve "
                    "the model on a loopback TCP port (--serve) until SIGINT/SIGTERM.")
    p.add_argument("--model", required=True, type=Path, help="a .npz written by StagedPointProcess.save")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--recording", type=Path,
                        help="recording to replay (.mat paper format, .npz trials, .nwb)")
    source.add_argument("--serve", action="store_true",
                        help="serve the loopback bridge (newline-delimited JSON; see "
                             "spikebridge.closedloop.bridge)")
    p.add_argument("--seed", type=int, default=0, help="seed of the spike draws (default 0)")
    p.add_argument("--pulses", action="store_true",
                   help="also turn the spikes into safe stimulation pulses (replay: DIR/pulses.csv and "
                        "DIR/pulses.json; serve: a pulse schedule in every reply)")
    replay = p.add_argument_group("replay (--recording)")
    replay.add_argument("--out", type=Path, default=None, help=f"run folder (default {_DEFAULT_STREAM_OUT})")
    replay.add_argument("--bins", type=int, default=None, help="stream only the first N bins (default all)")
    replay.add_argument("--upstream-location", default=None,
                        help="NWB recordings: electrode-group location of the upstream units, e.g. PMd")
    serve = p.add_argument_group("serve (--serve)")
    serve.add_argument("--host", default=None, help="loopback address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="TCP port (default 0: any free port)")
    _add_pulse_options(p)
    p.set_defaults(handler=_stream)


def _load_model(path: Path):
    from spikebridge.exceptions import DataFormatError
    from spikebridge.models.generator import StagedPointProcess

    if not Path(path).is_file():
        raise FileNotFoundError(f"--model {path}: no such file (save one with StagedPointProcess.save).")
    try:
        return StagedPointProcess.load(path)
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, ValueError, TypeError) as err:
        raise DataFormatError(
            f"--model {path} is not a model written by StagedPointProcess.save ({type(err).__name__}: {err})."
        ) from None


def _stream(args: argparse.Namespace) -> int:
    """Handler of ``spikebridge stream``."""
    from spikebridge.closedloop import StreamingGenerator

    if args.serve:
        replay_only = (("--out", args.out), ("--bins", args.bins),
                       ("--upstream-location", args.upstream_location))
        given = [flag for flag, value in replay_only if value is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} apply to replaying a recording (--recording), not to --serve.")
    else:
        given = [flag for flag, value in (("--host", args.host), ("--port", args.port)) if value is not None]
        if given:
            raise ValueError(
                f"{', '.join(given)} apply to --serve only; a replay (--recording) opens no port.")
    model = _load_model(args.model)
    generator = StreamingGenerator.from_model(model, rng=np.random.default_rng(args.seed))
    # bad pulse settings fail here, before any streaming
    gate = _pulse_gate(args, generator.n_outputs) if args.pulses else None
    if args.serve:
        return _serve(args, generator, gate)
    return _replay(args, model, generator)


def _serve(args: argparse.Namespace, generator, gate) -> int:
    from spikebridge.closedloop import serve_bridge

    def ready(address: tuple[str, int]) -> None:
        print(json.dumps({"event": "listening", "host": address[0], "port": address[1]}), flush=True)
        print(f"spikebridge stream: serving {args.model} ({generator.n_upstream} upstream -> "
              f"{generator.n_outputs} outputs{', with pulses' if gate is not None else ''}) on "
              f"{address[0]}:{address[1]}; stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)

    # serve_bridge turns SIGINT and SIGTERM into a clean stop (and restores the handlers afterwards)
    stats = serve_bridge(generator, "127.0.0.1" if args.host is None else args.host,
                         0 if args.port is None else args.port, pulse_gate=gate, on_ready=ready)
    print(json.dumps({"event": "stopped", **stats}), flush=True)
    return 0


def _load_upstream(args: argparse.Namespace, model) -> tuple[np.ndarray, str, float]:
    """The recording's upstream spikes (first ``--bins``), name and bin size, checked against the model."""
    from spikebridge.data import load_recording
    from spikebridge.exceptions import DataFormatError

    options = {}
    if args.upstream_location is not None:
        if args.recording.suffix.lower() != ".nwb":
            raise ValueError(
                f"--upstream-location applies to .nwb recordings only; {args.recording} is not one.")
        options = {"upstream_location": args.upstream_location, "bin_size": model.bin_size_}
    recording = load_recording(args.recording, **options)
    if recording.n_upstream != model.n_upstream_:
        raise DataFormatError(
            f"The model {args.model} reads {model.n_upstream_} upstream neurons but the recording "
            f"{args.recording} has {recording.n_upstream}. Stream a recording of the same upstream neurons "
            "the model was trained on."
        )
    if not np.isclose(recording.bin_size, model.bin_size_, rtol=1e-9, atol=0):
        raise ValueError(
            f"The model {args.model} was built for bins of {model.bin_size_ * 1000:g} ms but the recording "
            f"{args.recording} has bins of {recording.bin_size * 1000:g} ms; bin the recording like the "
            "model."
        )
    upstream = recording.upstream_spikes
    if args.bins is not None:
        if args.bins < 1:
            raise ValueError(f"--bins must be a positive number of bins; got --bins {args.bins}.")
        upstream = upstream[: args.bins]
    return np.ascontiguousarray(upstream), recording.name, float(recording.bin_size)


def replay_bins(generator, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feed ``upstream`` ``(n_bins, n_upstream)`` to ``generator.step`` one bin at a time, timing each step.

    Returns
    -------
    spikes, probabilities, latency_ns :
        ``(n_bins, n_outputs)`` uint8, ``(n_bins, n_outputs)`` float32 and ``(n_bins,)`` int64 nanoseconds.
        The spikes and probabilities equal ``generator.run(upstream, return_probabilities=True)`` from the
        same state.
    """
    n_bins = len(upstream)
    spikes = np.empty((n_bins, generator.n_outputs), dtype=np.uint8)
    probabilities = np.empty((n_bins, generator.n_outputs), dtype=np.float32)
    latency_ns = np.empty(n_bins, dtype=np.int64)
    clock, step = time.perf_counter_ns, generator.step
    for t in range(n_bins):
        row = upstream[t]
        start = clock()
        out = step(row)
        latency_ns[t] = clock() - start
        spikes[t] = out
        probabilities[t] = generator.last_probabilities  # float64 holding float32 values: exact
    return spikes, probabilities, latency_ns


def _replay(args: argparse.Namespace, model, generator) -> int:
    from spikebridge._io import atomic_save_npz

    upstream, name, bin_size = _load_upstream(args, model)
    out = _DEFAULT_STREAM_OUT if args.out is None else args.out
    print(f"streaming {name}: {len(upstream)} bins of {bin_size * 1000:g} ms through {args.model} "
          f"({generator.n_upstream} upstream -> {generator.n_outputs} outputs), seed {args.seed}",
          file=sys.stderr, flush=True)
    spikes, probabilities, latency_ns = replay_bins(generator, upstream)
    path = atomic_save_npz(out / "stream.npz", spikes=spikes, probabilities=probabilities,
                           bin_size=np.float64(bin_size), seed=np.int64(args.seed), latency_ns=latency_ns)
    p50, p99 = np.percentile(latency_ns / 1000.0, [50, 99])
    rates = spikes.mean(axis=0) / bin_size
    print(f"latency per bin: p50 {p50:.1f} µs, p99 {p99:.1f} µs over {len(upstream)} bins "
          f"(StreamingGenerator.step; the bin is {bin_size * 1e6:g} µs)")
    print("spikes/s per output: " + ", ".join(f"{rate:.2f}" for rate in rates))
    written = [path]
    if args.pulses:
        written += _write_schedule(args, spikes, bin_size, out)
    print("wrote " + " and ".join(str(p) for p in written))
    return 0


# ---------------------------------------------------------------------------------------- stimulate
def add_stimulate(sub: argparse._SubParsersAction) -> None:
    """Register ``spikebridge stimulate``: generated spikes to a safe biphasic pulse schedule."""
    p = sub.add_parser(
        "stimulate", help="turn generated spikes into a safe stimulation pulse schedule (CSV + JSON)",
        description="One charge-balanced biphasic pulse per spike, per channel, at the spike's bin onset; a "
                    "pulse that would break a safety limit is dropped or delayed (--policy) and counted. "
                    "Writes DIR/pulses.csv and DIR/pulses.json (schema: spikebridge.stimulation.export).")
    p.add_argument("--spikes", required=True, type=Path,
                   help="an .npz with `spikes` (n_bins, n_channels) of 0/1 and optionally `bin_size` "
                        "(seconds), "
                        "e.g. stream.npz; `spikes` (n_samples, n_bins, n_channels), e.g. a reproduce "
                        "fold_k/rl_test_spikes.npz, uses sample 0")
    p.add_argument("--out", required=True, type=Path, help="folder to write pulses.csv and pulses.json into")
    p.add_argument("--bin-size", type=float, default=None,
                   help="bin width in seconds (default: the file's `bin_size`; required when it has none)")
    _add_pulse_options(p)
    p.set_defaults(handler=_stimulate)


def read_spikes_file(path: Path, bin_size: float | None = None) -> tuple[np.ndarray, float, list[str]]:
    """Read ``spikes`` (and ``bin_size``) from an ``.npz``; returns ``(spikes, bin_size, notes)``.

    ``spikes`` of shape ``(n_samples, n_bins, n_channels)`` gives its sample 0 (said in ``notes``). A given
    ``bin_size`` overrides the file's.
    """
    from spikebridge._validation import check_positive_number, check_spike_counts
    from spikebridge.exceptions import DataFormatError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--spikes {path}: no such file.")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataFormatError(
            f"--spikes {path} is not a readable .npz file ({type(err).__name__}: {err}).") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataFormatError(f"--spikes {path} holds one array, not an .npz with a `spikes` key; save it "
                              "with np.savez(path, spikes=spikes, bin_size=bin_size).")
    notes: list[str] = []
    with data:
        if "spikes" not in data.files:
            raise DataFormatError(
                f"--spikes {path} has no `spikes` array (it has {', '.join(data.files) or 'none'}); it needs "
                "`spikes` of shape (n_bins, n_channels).")
        spikes = data["spikes"]
        file_bin_size = data["bin_size"] if "bin_size" in data.files else None
    if spikes.ndim == 3:
        notes.append(f"`spikes` has shape {spikes.shape} (n_samples, n_bins, n_channels): using sample 0 of "
                     f"{spikes.shape[0]}; its rows are taken as consecutive bins")
        spikes = spikes[0]
    spikes = check_spike_counts(spikes, "spikes", binary=True)
    if file_bin_size is not None:
        if file_bin_size.size != 1 or file_bin_size.dtype.kind not in "iuf":
            raise DataFormatError(
                f"`bin_size` in {path} must be one number of seconds; got {file_bin_size!r}.")
        file_bin_size = check_positive_number(float(file_bin_size.reshape(())), "bin_size")
    if bin_size is None:
        if file_bin_size is None:
            raise ValueError(
                f"--spikes {path} has no `bin_size`; pass --bin-size SECONDS (e.g. --bin-size 0.01).")
        bin_size = file_bin_size
    else:
        bin_size = check_positive_number(bin_size, "bin_size")
        if file_bin_size is not None and not np.isclose(bin_size, file_bin_size, rtol=1e-9, atol=0):
            notes.append(f"--bin-size {bin_size:g} s overrides the file's bin_size {file_bin_size:g} s")
    return spikes, bin_size, notes


def _stimulate(args: argparse.Namespace) -> int:
    """Handler of ``spikebridge stimulate``."""
    _pulse_gate(args, 1)  # bad limits, pulse or policy fail before the file is read
    spikes, bin_size, notes = read_spikes_file(args.spikes, args.bin_size)
    for note in notes:
        print(f"spikebridge stimulate: {note}", file=sys.stderr)
    print(f"{spikes.shape[0]} bins of {bin_size * 1000:g} ms, {spikes.shape[1]} channels, "
          f"{int(spikes.sum())} spikes", file=sys.stderr)
    written = _write_schedule(args, spikes, bin_size, args.out)
    print("wrote " + " and ".join(str(p) for p in written))
    return 0


# ---------------------------------------------------------------------------------------- shared
def _write_schedule(args: argparse.Namespace, spikes: np.ndarray, bin_size: float, out: Path) -> list[Path]:
    """Schedule the pulses of ``spikes``, write ``out/pulses.csv`` and ``.json``, print the report."""
    from spikebridge.stimulation import spikes_to_schedule, write_csv, write_json

    pulse, limits = _pulse_settings(args)
    schedule = spikes_to_schedule(spikes, bin_size, pulse, limits, args.policy,
                                  max_delay_ms=args.max_delay_ms)
    paths = [write_csv(schedule, out / "pulses.csv"), write_json(schedule, out / "pulses.json")]
    print(format_schedule_report(schedule))
    return paths


def format_schedule_report(schedule) -> str:
    """The printed safety report of a schedule: pulses kept, dropped and delayed, per reason and channel."""
    report = schedule.report.to_dict()
    total, per_channel = report["total"], report["per_channel"]
    limits = schedule.limits
    policy = report["policy"]
    if policy == "delay":
        policy += f", at most {report['max_delay_ms']:g} ms late"
    lines = [
        f"pulses ({policy}): requested {total['requested']}, kept {total['delivered']} "
        f"(delayed {total['delayed']}), dropped {total['dropped']}",
        "  dropped by reason: " + ", ".join(f"{k} {v}" for k, v in total["dropped_by_reason"].items()),
        "  delayed by reason: " + ", ".join(f"{k} {v}" for k, v in total["delayed_by_reason"].items()),
        "  kept/requested per channel: " + ", ".join(
            f"{c}: {kept}/{asked}" for c, (kept, asked) in enumerate(zip(per_channel["delivered"],
                                                                          per_channel["requested"]))),
        f"limits per channel: <= {limits.max_pulses_per_second} pulses in any second, >= "
        f"{limits.min_interpulse_interval_ms:g} ms apart, <= {limits.max_allowed_charge_per_phase_nc:.4g} nC "
        f"per phase (cap {limits.max_charge_per_phase_nc:g}, Shannon k {limits.shannon_k:g} on "
        f"{limits.electrode_area_mm2:g} mm²: {limits.shannon_max_charge_nc:.4g}), <= "
        f"{limits.max_charge_per_second_nc:g} nC per second",
    ]
    return "\n".join(lines)
