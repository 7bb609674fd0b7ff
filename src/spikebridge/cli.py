"""Command-line interface: parse arguments, build a config, call one library function, write the run folder."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from spikebridge.cli_closedloop import add_stimulate, add_stream

__all__ = ["main"]


def _methods(text: str) -> tuple[str, ...]:
    names = tuple(m.strip().replace("-", "_") for m in text.split(",") if m.strip())
    allowed = {"rl", "rl_paper", "sl"}
    bad = [m for m in names if m not in allowed]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown methods {bad or text!r}; choose from rl, rl-paper, sl")
    return names


def _indices(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated neuron indices like 10,11; got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative neuron indices; got {text!r}")
    return values


def _nwb_options(args: argparse.Namespace) -> dict:
    """Loader keywords for an NWB file (empty for the other formats)."""
    names = {"upstream_location": args.upstream_location, "downstream_location": args.downstream_location,
             "behavior_series": args.behavior_series, "condition_column": args.condition_column,
             "bin_size": args.bin_size}
    given = {k: v for k, v in names.items() if v is not None}
    if given and Path(args.recording).suffix.lower() != ".nwb":
        raise ValueError(f"--{next(iter(given)).replace('_', '-')} applies to .nwb recordings only; "
                         f"{args.recording} is not one.")
    return given


def _add_run_arguments(p: argparse.ArgumentParser, *, methods: bool) -> None:
    """Arguments shared by ``reproduce`` and ``biomimicry``: recording, decoder, folds and trainer settings."""
    p.add_argument("--recording", required=True, type=Path, help="recording file (.mat paper format, .npz trials)")
    p.add_argument("--decoder", required=True,
                   help="decoder SPEC: the paper's *_patternnet.mat, a saved decoder .npz, 'manual' (the paper's "
                        "hand-designed one), or fit:mlp / fit:logistic / fit:wiener / fit:kalman (fitted within each "
                        "fold on the training trials' recorded downstream spikes; RL never sees them)")
    p.add_argument("--out", required=True, type=Path, help="run folder to write results and spikes into")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of folds, weights and sampling (default 0)")
    if methods:
        p.add_argument("--methods", type=_methods, default=("rl", "rl_paper", "sl"),
                       help="comma-separated: rl, rl-paper, sl (default all three)")
    p.add_argument("--jobs", type=int, default=2, help="folds trained in parallel processes (default 2)")
    p.add_argument("--paper-restarts", type=int, default=2,
                   help="restarts of the paper's algorithm per fold, best by training reward (paper: 32)")
    p.add_argument("--paper-episodes", type=int, default=None, help="episodes of the paper's algorithm (5000)")
    p.add_argument("--updates", type=int, default=None, help="updates of the default RL trainer (500)")
    p.add_argument("--decoder-neurons", type=_indices, default=None,
                   help="0-based ids of the recorded downstream neurons the decoder reads, in its input order "
                        "(default: from the recording file, e.g. the paper's M1order/M1num_pre)")
    p.add_argument("--generate", choices=("read", "all"), default="read",
                   help="generate only the neurons the decoder reads (default, the paper) or every recorded one")
    p.add_argument("--quick", action="store_true", help="a short smoke run: few updates, 2 folds' worth of time")
    nwb = p.add_argument_group("NWB recordings (how to read a .nwb file)")
    nwb.add_argument("--upstream-location", help="electrode-group location of the upstream units, e.g. PMd")
    nwb.add_argument("--downstream-location", help="electrode-group location of the downstream units, e.g. M1")
    nwb.add_argument("--behavior-series", help="TimeSeries with the continuous behaviour, e.g. hand_velocity")
    nwb.add_argument("--condition-column", help="trials column whose categories become the labels, e.g. target")
    nwb.add_argument("--bin-size", type=float, help="bin width in seconds (default: the file's, else 0.01)")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="cross-validate RL, the paper's RL and SL on a recording")
    _add_run_arguments(p, methods=True)
    p.add_argument("--prior-weight", type=float, default=None,
                   help="weight of the biomimetic information prior of the default RL trainer (default 0.02; 0: off)")


def _add_biomimicry(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("biomimicry", help="sweep the biomimetic prior's weight: success against biomimicry")
    _add_run_arguments(p, methods=False)
    p.add_argument("--weights", type=_weights, default=None,
                   help="comma-separated prior weights (default 0,0.005,0.02,0.05,0.1,0.2,0.5)")
    p.add_argument("--references", type=_methods, default=("rl_paper", "sl"),
                   help="reference methods scored once: rl-paper, sl (default both); the recording always")


def _weights(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0,0.01,0.1; got {text!r}") from None
    if not values or any(not (v >= 0 and np.isfinite(v)) for v in values):
        raise argparse.ArgumentTypeError(f"prior weights must be finite numbers >= 0; got {text!r}")
    return values


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole pipeline on a simulated healthy subject, with a report")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    p.add_argument("--task", choices=("lever", "reach"), default="lever", help="simulated task (default lever)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few trials and updates")


def _add_adapt(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adapt", help="train against decoder A, swap to decoder B, and measure the recovery")
    p.add_argument("--recording", required=True, type=Path, help="recording file")
    p.add_argument("--decoder", required=True, help="decoder SPEC A (as for reproduce)")
    p.add_argument("--swap-to", required=True, help="decoder SPEC B")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--fold", type=int, default=0, help="fold of the 5-fold split (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--swap-update", type=int, default=500, help="updates against A before the swap")
    p.add_argument("--after-updates", type=int, default=600, help="updates against B after the swap")
    p.add_argument("--decoder-neurons", type=_indices, default=None,
                   help="recorded neurons the decoders read (default: from the recording)")
    p.add_argument("--swap-neurons", type=_indices, default=None,
                   help="recorded neurons a fitted decoder B is fitted on (default: A's)")


def _adapt(args: argparse.Namespace) -> int:
    from spikebridge._io import atomic_write_json
    from spikebridge.data import load_recording
    from spikebridge.experiments.adapt import AdaptConfig, run_adapt
    from spikebridge.report.adapt_figures import write_adapt_report

    recording = load_recording(args.recording)
    if args.decoder_neurons is not None:
        recording = dataclasses.replace(recording, decoder_neurons=args.decoder_neurons)
    config = AdaptConfig(fold=args.fold, seed=args.seed, swap_update=args.swap_update,
                         after_updates=args.after_updates)
    results = run_adapt(recording, args.decoder, args.swap_to, config, neurons_b=args.swap_neurons,
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    results["command"] = (f"spikebridge adapt --recording {args.recording} --decoder {args.decoder} "
                          f"--swap-to {args.swap_to} --out {args.out}"
                          + (f" --swap-neurons {','.join(map(str, args.swap_neurons))}" if args.swap_neurons else ""))
    atomic_write_json(args.out / "results.json", results)
    write_adapt_report(args.out)
    for name, values in results["table"].items():
        print(f"{name:<18}" + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(f"recovery_episodes: {results['recovery_episodes']}  (updates after the swap to reach 95% of the final level)")
    return 0


def _add_closed_loop(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("closed-loop", help="online learning in a closed loop under decoder drift (simulated subject)")
    p.add_argument("--out", type=Path, default=Path("runs/closed_loop"), help="run folder (default runs/closed_loop)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--quick", action="store_true", help="a smoke run: few trials and updates")
    p.add_argument("--no-learning-only", action="store_true",
                   help="run only the session without online learning (the degraded baseline)")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="(re)write report.html and report.md of a run folder")
    p.add_argument("run_dir", type=Path, help="run folder written by `spikebridge demo`")


def _terminate_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spikebridge`` command."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM cleans up like Ctrl-C (worker processes)
        previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        return _main(argv)
    except KeyboardInterrupt as stop:
        print(f"spikebridge: interrupted ({stop or 'Ctrl-C'}); worker processes stopped, nothing half-written.",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="spikebridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_closed_loop(sub)
    _add_reproduce(sub)
    _add_report(sub)
    _add_adapt(sub)
    _add_biomimicry(sub)
    _add_train(sub)
    _add_sweep(sub)
    add_stream(sub)
    add_stimulate(sub)
    args = parser.parse_args(argv)
    from spikebridge.exceptions import DataFormatError

    commands = {"demo": _demo, "reproduce": _reproduce, "report": _report, "adapt": _adapt}
    commands.update(train=_train, sweep=_sweep, biomimicry=_biomimicry)
    commands["closed-loop"] = _closed_loop
    try:
        if hasattr(args, "handler"):
            return args.handler(args)
        if args.command in commands:
            return commands[args.command](args)
    except (DataFormatError, FileNotFoundError, ValueError, TypeError) as err:
        print(f"spikebridge {args.command}: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _demo(args: argparse.Namespace) -> int:
    from spikebridge.experiments.demo import DemoConfig, run_demo
    from spikebridge.report import write_report

    config = (DemoConfig.quick if args.quick else DemoConfig)(task=args.task, seed=args.seed)
    command = f"spikebridge demo --out {args.out} --task {args.task} --seed {args.seed}" + (" --quick" * args.quick)
    results = run_demo(config, out_dir=args.out, progress=lambda line: print(line, file=sys.stderr, flush=True),
                       command=command)
    paths = write_report(args.out)
    print(format_demo_summary(results))
    print(f"\nreport: {paths['html']}  (and {paths['markdown']})")
    return 0


def _closed_loop(args: argparse.Namespace) -> int:
    from spikebridge.experiments.closed_loop import ClosedLoopConfig, format_drift_summary, run_drift_scenario

    runs = ("no_learning",) if args.no_learning_only else ("learning", "no_learning")
    config = (ClosedLoopConfig.quick if args.quick else ClosedLoopConfig)(seed=args.seed, runs=runs)
    command = (f"spikebridge closed-loop --out {args.out} --seed {args.seed}" + " --quick" * args.quick
               + " --no-learning-only" * args.no_learning_only)
    results = run_drift_scenario(config, out_dir=args.out, command=command,
                                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_drift_summary(results))
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'closed_loop.png'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from spikebridge.report import write_report

    paths = write_report(args.run_dir)
    print(f"wrote {paths['html']} and {paths['markdown']}")
    return 0


def format_demo_summary(results: dict) -> str:
    """The demo's printed summary: success per method and the biomimicry headline."""
    lines = [f"demo ({results['task']} task, seed {results['seed']}): {results['recording']}", ""]
    key = "velocity_r2" if results["task"] == "reach" else "time_bin_success"
    lines.append(f"{'method':<18}{key:>18}{'trial_success' if key != 'velocity_r2' else '':>15}{'train s':>9}")
    for name, m in results["methods"].items():
        trial = f"{np.mean(m['trial_success']):>15.3f}" if "trial_success" in m else f"{'':>15}"
        secs = m.get("train_seconds", [0.0])
        lines.append(f"{name:<18}{np.mean(m[key]):>18.3f}{trial}{np.sum(secs):>9.1f}")
    bio = results.get("biomimicry", {})
    if "rl" in bio and "sl" in bio:
        lines.append("")
        lines.append(f"median PSTH correlation with the healthy neurons: RL {bio['rl']['psth_correlation_median']:.3f}, "
                     f"SL {bio['sl']['psth_correlation_median']:.3f}")
    lines.append(f"wall time {results['wall_seconds']:.1f} s")
    return "\n".join(lines)


def _recording_and_decoder(args: argparse.Namespace):
    """The recording (with ``--decoder-neurons`` applied) and the decoder: a SPEC, or the paper's file loaded."""
    from spikebridge.data import load_recording
    from spikebridge.decoders.patternnet import load_patternnet_decoder

    recording = load_recording(args.recording, **_nwb_options(args))
    if args.decoder_neurons is not None:
        recording = dataclasses.replace(recording, decoder_neurons=args.decoder_neurons)
    decoder = args.decoder
    if str(decoder).lower().endswith(".mat"):  # the paper's file: its input size needs the neuron count
        n_neurons = None if recording.decoder_neurons is None else len(recording.decoder_neurons)
        decoder = load_patternnet_decoder(Path(decoder), n_neurons=n_neurons)
    return recording, decoder


def _reproduce_config(args: argparse.Namespace, methods: tuple[str, ...]):
    """The ``ReproduceConfig`` of the shared run arguments (see :func:`_add_run_arguments`)."""
    from spikebridge.experiments.reproduce import ReproduceConfig
    from spikebridge.training.paper import PaperReinforceConfig
    from spikebridge.training.reinforce import ReinforceConfig

    rl = ReinforceConfig()
    paper = PaperReinforceConfig()
    if args.quick:
        rl = dataclasses.replace(rl, n_updates=60)
        paper = dataclasses.replace(paper, n_episodes=60)
    if args.updates is not None:
        rl = dataclasses.replace(rl, n_updates=args.updates)
    if getattr(args, "prior_weight", None) is not None:
        rl = dataclasses.replace(rl, prior_weight=args.prior_weight)
    if args.paper_episodes is not None:
        paper = dataclasses.replace(paper, n_episodes=args.paper_episodes)
    return ReproduceConfig(
        n_folds=args.folds, seed=args.seed, methods=methods, n_jobs=args.jobs,
        n_paper_restarts=args.paper_restarts, rl=rl, rl_paper=paper, decoder_neurons=args.decoder_neurons,
        generate=args.generate,
    )


def _biomimicry(args: argparse.Namespace) -> int:
    import torch

    from spikebridge.experiments.tradeoff import DEFAULT_WEIGHTS, TradeoffConfig, run_tradeoff
    from spikebridge.report.biomimicry_figures import write_biomimicry_report

    torch.set_num_threads(1)
    recording, decoder = _recording_and_decoder(args)
    config = TradeoffConfig(weights=args.weights or DEFAULT_WEIGHTS, references=args.references,
                            reproduce=_reproduce_config(args, ("rl",)))
    print(recording.describe(), file=sys.stderr)
    print(f"prior weights {', '.join(f'{w:g}' for w in config.weights)}; references "
          f"{', '.join(config.references)} and the recording; {config.reproduce.n_folds} folds each", file=sys.stderr)
    tradeoff = run_tradeoff(recording, decoder, config, out_dir=args.out,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_tradeoff(tradeoff))
    paths = write_biomimicry_report(args.out)
    print(f"\nreport: {paths['html']}  (and {paths['markdown']})")
    print(f"wrote {args.out / 'tradeoff.json'}")
    return 0


def format_tradeoff(tradeoff: dict) -> str:
    """Success and the main biomimicry numbers of every point of a trade-off study, means over folds."""
    keys = ("mutual_information", "modulation_depth", "firing_rate_hz", "psth_correlation_median")
    if tradeoff.get("generate") == "all":
        keys += ("psth_correlation_median_all_neurons", "participation_ratio", "pairwise_correlation")
    names = [k.replace("_all_neurons", " (all)").replace("psth_correlation_median", "median PSTH r") for k in keys]
    widths = [max(12, len(name) + 2) for name in names]
    header = f"{'point':<34}{'success':>9}" + "".join(f"{name:>{w}}" for name, w in zip(names, widths))
    lines = [header]
    rows = [(p["label"], p) for p in tradeoff["points"]] + [(p["label"], p) for p in tradeoff["references"].values()]
    for label, point in rows:
        bio = point["biomimicry"]
        cells = "".join(f"{_mean_or_nan(bio[k]):>{w}.3f}" if k in bio else f"{'—':>{w}}" for k, w in zip(keys, widths))
        lines.append(f"{label:<34}{_mean_or_nan(point['time_bin_success']):>9.3f}{cells}")
    lines.append(f"RL with the prior in the figures: weight {tradeoff['highlight_weight']:g}")
    return "\n".join(lines)


def _reproduce(args: argparse.Namespace) -> int:
    import torch

    from spikebridge._io import atomic_write_json
    from spikebridge.data.paper_results import find_paper_success
    from spikebridge.experiments.reproduce import run_reproduce

    torch.set_num_threads(1)
    recording, decoder = _recording_and_decoder(args)
    config = _reproduce_config(args, args.methods)
    command = "spikebridge " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("spikebridge") else None
    print(recording.describe(), file=sys.stderr)
    if isinstance(decoder, str):
        print(f"decoder: {decoder} (built within each fold)", file=sys.stderr)
    else:
        print(f"decoder: {decoder.n_neurons} neurons x {decoder.history_bins + 1} bins -> {decoder.n_classes} "
              "classes", file=sys.stderr)
    print(f"training {', '.join(config.methods)} on {config.n_folds} folds ({config.n_jobs} in parallel)...",
          file=sys.stderr)
    results = run_reproduce(
        recording, decoder, config, out_dir=args.out, progress=lambda line: print(line, file=sys.stderr, flush=True)
    )
    published = find_paper_success(args.recording, recording.name)
    if published is not None:
        results["published"] = published
    results["command"] = command or "spikebridge reproduce " + " ".join(
        f"--{k} {v}" for k, v in (("recording", args.recording), ("decoder", args.decoder), ("out", args.out)))
    results["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    atomic_write_json(args.out / "results.json", results)
    print(format_table(results))
    print(f"\nwall time {results['wall_seconds']:.1f} s; wrote {args.out / 'results.json'}")
    return 0


def _mean_or_nan(values: list[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def format_table(results: dict) -> str:
    """Per-fold and mean ± sd table of every method's score (and the paper's), then the biomimicry means."""
    methods = results["methods"]
    n_folds = len(results["folds"])
    continuous = any("velocity_r2" in m for m in methods.values())
    head = f"{'method':<18}" + "".join(f"{'fold ' + str(k):>13}" for k in range(n_folds)) + f"{'mean ± sd':>21}{'train s':>9}"
    lines = [head, "-" * len(head)]

    def row(label: str, first: list[float], second: list[float] | None, seconds: list[float] | None) -> str:
        if second is None:
            cells = "".join(f"{a:>13.3f}" for a in first)
            mean = f"{np.mean(first):.3f}±{np.std(first):.3f}"
        else:
            cells = "".join(f"{a:>7.3f}/{b:.3f}" for a, b in zip(first, second))
            mean = f"{np.mean(first):.3f}±{np.std(first):.3f}/{np.mean(second):.3f}"
        secs = f"{np.sum(seconds):>9.1f}" if seconds is not None else f"{'':>9}"
        return f"{label:<18}{cells}{mean:>21}{secs}"

    for name, m in methods.items():
        if continuous:
            lines.append(row(name, m["velocity_r2"], None, m.get("train_seconds")))
        else:
            lines.append(row(name, m["time_bin_success"], m["trial_success"], m.get("train_seconds")))
    for name, m in results.get("published", {}).items():
        lines.append(row(f"paper {name} (pub.)", m["time_bin_success"], m["trial_success"], None))
    lines.append("cells: velocity R2 of the decoded behaviour" if continuous else
                 "cells: time-bin success / trial success (>70% of a trial's bins correct); train s: summed over folds")
    bio = results.get("biomimicry") or {}
    if bio:
        keys = ("mutual_information", "modulation_depth", "firing_rate_hz", "psth_correlation_median")
        if any("participation_ratio" in values for values in bio.values()):
            keys += ("psth_correlation_median_all_neurons", "participation_ratio", "pairwise_correlation")
        lines += ["", "biomimicry on held-out trials (decoder-read neurons unless marked, mean over folds):",
                  f"{'method':<18}" + "".join(f"{k.replace('_all_neurons', ' (all)').replace('_median', ' (median)'):>26}"
                                              for k in keys)]
        for name, values in bio.items():
            cells = "".join(f"{_mean_or_nan(values[k]):>26.3f}" if k in values else f"{'—':>26}" for k in keys)
            lines.append(f"{name:<18}{cells}")
    return "\n".join(lines)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the default RL generator on one fold, resumably (checkpoints)")
    p.add_argument("--recording", required=True, type=Path, help="recording file (.mat, .npz trials)")
    p.add_argument("--decoder", required=True, help="decoder SPEC, as for reproduce (e.g. *_patternnet.mat)")
    p.add_argument("--out", required=True, type=Path,
                   help="run folder: config.json, checkpoints/, model.pt, results.json")
    p.add_argument("--fold", type=int, default=0, help="held-out fold (default 0)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of folds, weights and sampling (default 0)")
    p.add_argument("--updates", type=int, default=None, help="updates of the default RL trainer (500)")
    p.add_argument("--prior-weight", type=float, default=None,
                   help="weight of the biomimetic information prior of the default RL trainer (default 0.02; 0: off)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="updates per checkpoint (default 100)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's newest checkpoint")
    p.add_argument("--decoder-neurons", type=_indices, default=None,
                   help="0-based recorded downstream neurons the decoder reads (default: from the recording)")


def _train(args: argparse.Namespace) -> int:
    import torch

    from spikebridge.experiments.train_run import TrainRunConfig, run_training
    from spikebridge.training.reinforce import ReinforceConfig

    torch.set_num_threads(1)
    rl = ReinforceConfig() if args.updates is None else ReinforceConfig(n_updates=args.updates)
    config = TrainRunConfig(
        recording=str(args.recording), decoder=str(args.decoder), decoder_neurons=args.decoder_neurons,
        fold=args.fold, n_folds=args.folds, seed=args.seed, checkpoint_every=args.checkpoint_every, rl=rl,
    )
    try:
        results = run_training(config, args.out, resume=args.resume,
                               progress=lambda line: print(line, file=sys.stderr, flush=True))
    except FileExistsError as err:  # a finished or interrupted run is never overwritten
        print(f"spikebridge train: error: {err}", file=sys.stderr)
        return 2
    metrics = {k: results[k] for k in ("time_bin_success", "trial_success", "velocity_r2") if k in results}
    print(f"fold {results['fold']} held out: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    print(f"wrote {args.out / 'model.pt'} and {args.out / 'results.json'}")
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="sweep trainer settings on Ray Tune (pip install spikebridge[sweep])")
    p.add_argument("--config", required=True, type=Path, help="sweep file (YAML: recordings, decoder, ...)")
    p.add_argument("--address", default=None, help="a running Ray cluster's address (default: a local one)")
    p.add_argument("--out", type=Path, default=None, help="sweep folder (default runs/<config file name>)")


def _sweep(args: argparse.Namespace) -> int:
    from spikebridge.experiments.sweep import format_sweep_summary, load_sweep_config, run_sweep

    out = args.out if args.out is not None else Path("runs") / args.config.stem
    try:
        summary = run_sweep(load_sweep_config(args.config), out, address=args.address,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    except ImportError as err:  # Ray or PyYAML missing: the message says what to install
        print(f"spikebridge sweep: error: {err}", file=sys.stderr)
        return 2
    print(format_sweep_summary(summary))
    print(f"\nwrote {out / 'summary.csv'} and {out / 'summary.json'}")
    return 1 if any(run["error"] for run in summary["runs"]) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
