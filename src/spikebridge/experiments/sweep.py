"""Hyperparameter sweeps of the default RL trainer on Ray Tune, one durable run folder per trial.

A sweep file (YAML) names the recordings, their decoder, folds and seeds, and a grid or random search over
:class:`~spikebridge.training.reinforce.ReinforceConfig` fields::

    recordings: [../shared/data/rlpp/rat01.mat]      # paths relative to this file
    decoder: ../shared/data/rlpp/decoder_rat01_patternnet.mat   # one SPEC, or a list, one per recording
    folds: [0]                      # held-out folds of the n_folds-fold split (default [0])
    n_folds: 5
    seeds: [0]
    search: grid                    # or random
    parameters:
      learning_rate: [0.003, 0.01, 0.03, 0.1]   # grid: a list of values (a scalar is fixed)
      n_samples: [4, 8]
      n_updates: 300

With ``search: random``, ``n_configurations`` settings are drawn (with ``search_seed``) from
``{loguniform: [low, high]}``, ``{uniform: [low, high]}``, ``{randint: [low, high]}`` (both ends included)
or ``{choice: [...]}`` (a plain list also means choice). Every configuration runs on every recording, fold
and seed; each trial is a :func:`~spikebridge.experiments.train_run.run_training` run in
``OUT/runs/c<k>_<recording>_fold<f>_seed<s>`` (it resumes from its checkpoints when the sweep is run
again). The summary ranks the configurations by their mean held-out ``rank_by`` (default time-bin success).

Ray is an optional extra (``pip install spikebridge[sweep]``): only :func:`run_sweep` imports it, and
:func:`load_sweep_config` needs PyYAML; the rest of spikebridge never does.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from spikebridge._io import atomic_write_json, atomic_write_text
from spikebridge.experiments.train_run import TrainRunConfig, run_training
from spikebridge.training.reinforce import ReinforceConfig

__all__ = ["SweepConfig", "load_sweep_config", "sweep_config_from_dict", "run_sweep", "summarize_sweep",
           "format_sweep_summary"]

METRICS = ("time_bin_success", "trial_success", "velocity_r2")
"""Held-out metrics a trial reports (``velocity_r2`` for continuous decoders, the others for classes)."""
_SEARCHED = tuple(f.name for f in dataclasses.fields(ReinforceConfig) if f.name != "seed")
_DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
_INSTALL = "pip install 'spikebridge[sweep]'"


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: which runs, and which trainer settings to try on each (the YAML file's keys)."""

    recordings: tuple[str, ...]
    """Recording files."""
    decoders: tuple[str, ...]
    """Decoder SPEC of each recording (see :class:`~spikebridge.experiments.train_run.TrainRunConfig`)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Searched :class:`ReinforceConfig` fields: a list (grid) or a distribution (random); scalars fixed."""
    search: str = "grid"
    """``grid`` (every combination) or ``random`` (``n_configurations`` draws)."""
    n_configurations: int = 8
    """Configurations drawn by a random search."""
    search_seed: int = 0
    """Seed of the random search's draws."""
    folds: tuple[int, ...] = (0,)
    """Held-out folds each configuration is trained on."""
    n_folds: int = 5
    """Folds of the trial-wise cross-validation."""
    seeds: tuple[int, ...] = (0,)
    """Run seeds (fold split, initial weights, batches, sampling) each configuration is trained with."""
    decoder_neurons: tuple[int, ...] | None = None
    """Recorded neurons the decoders read; None: from each recording file."""
    rank_by: str = "time_bin_success"
    """Held-out metric whose mean ranks the configurations: one of :data:`METRICS`."""
    checkpoint_every: int = 100
    """Updates between a trial's checkpoints."""
    n_eval_samples: int = 10
    """Spike trains sampled per test trial."""
    cpus_per_trial: int = 1
    """CPUs Ray reserves for each trial (each trial trains with one thread per CPU)."""

    def __post_init__(self) -> None:
        if not self.recordings:
            raise ValueError("A sweep needs at least one recording: give `recordings: [path, ...]`.")
        if len(self.decoders) != len(self.recordings):
            raise ValueError(
                f"`decoder` must be one SPEC for all recordings or a list of one per recording; got "
                f"{len(self.decoders)} decoders for {len(self.recordings)} recordings."
            )
        if self.search not in ("grid", "random"):
            raise ValueError(f"`search` must be 'grid' or 'random'; got search={self.search!r}.")
        if self.rank_by not in METRICS:
            raise ValueError(f"`rank_by` must be one of {', '.join(METRICS)}; got rank_by={self.rank_by!r}.")
        for name in ("n_configurations", "n_folds", "checkpoint_every", "n_eval_samples", "cpus_per_trial"):
            _check_int(getattr(self, name), name, low=2 if name == "n_folds" else 1)
        for name in ("folds", "seeds"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"`{name}` must list at least one value; got {name}={list(values)!r}.")
            for value in values:
                _check_int(value, name, low=0)
        bad = [k for k in self.folds if k >= self.n_folds]
        if bad:
            raise ValueError(f"`folds` must lie in 0 .. n_folds - 1 = {self.n_folds - 1}; got {bad}.")
        for name, spec in self.parameters.items():
            _check_parameter(name, spec, self.search)
        for overrides in self.configurations():
            try:
                ReinforceConfig(**overrides)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"The sweep's configuration {overrides} is not a valid ReinforceConfig: {err}"
                ) from err

    def configurations(self) -> list[dict[str, Any]]:
        """Return the :class:`ReinforceConfig` overrides of every configuration, numbered in this order."""
        names = list(self.parameters)
        if self.search == "grid":
            axes = [_as_list(self.parameters[name]) for name in names]
            combos = itertools.product(*axes)
            return [{name: _coerce(name, v) for name, v in zip(names, combo)} for combo in combos]
        rng = np.random.default_rng(self.search_seed)
        return [{name: _coerce(name, _draw(self.parameters[name], rng)) for name in names}
                for _ in range(self.n_configurations)]

    def runs(self) -> list[dict[str, Any]]:
        """Return every (recording, decoder, fold, seed) each configuration is trained on."""
        inputs = zip(self.recordings, self.decoders)
        return [{"recording": r, "decoder": d, "fold": k, "seed": s}
                for (r, d), k, s in itertools.product(inputs, self.folds, self.seeds)]

    def train_config(self, overrides: Mapping[str, Any], run: Mapping[str, Any]) -> TrainRunConfig:
        """Return the :class:`TrainRunConfig` of one trial."""
        return TrainRunConfig(
            recording=run["recording"], decoder=run["decoder"], decoder_neurons=self.decoder_neurons,
            fold=run["fold"], n_folds=self.n_folds, seed=run["seed"], n_eval_samples=self.n_eval_samples,
            checkpoint_every=self.checkpoint_every, rl=ReinforceConfig(**overrides),
        )


_KEYS = {f.name for f in dataclasses.fields(SweepConfig)} - {"decoders"} | {"decoder"}


def sweep_config_from_dict(values: Mapping[str, Any], base_dir: str | os.PathLike[str] = ".") -> SweepConfig:
    """Validate a parsed sweep file and build its :class:`SweepConfig`.

    Parameters
    ----------
    values :
        The file's mapping (see the module docstring for its keys).
    base_dir :
        Folder that relative recording and decoder paths are relative to (the file's own folder).

    Returns
    -------
    config :
        The sweep, with absolute paths.

    Raises
    ------
    ValueError
        On an unknown or missing key, or a value of the wrong kind (the message names the key).
    FileNotFoundError
        If a recording or decoder file does not exist.
    """
    if not isinstance(values, Mapping):
        raise ValueError(f"A sweep file must hold a mapping (recordings: ..., decoder: ...); got {values!r}.")
    unknown = sorted(set(values) - _KEYS)
    if unknown:
        hints = [_with_hint(key, _KEYS) for key in unknown]
        raise ValueError(f"Unknown sweep keys {', '.join(hints)}; the keys are {', '.join(sorted(_KEYS))}.")
    for key in ("recordings", "decoder"):
        if key not in values:
            raise ValueError(f"The sweep file needs `{key}`; it has {sorted(values)}.")
    base_dir = Path(base_dir)
    recordings = tuple(str(_existing(base_dir, p, "recording")) for p in _as_list(values["recordings"]))
    decoders = [_decoder_spec(base_dir, d) for d in _as_list(values["decoder"])]
    if len(decoders) == 1:
        decoders *= len(recordings)
    parameters = values.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ValueError(f"`parameters` must map ReinforceConfig fields to values; got {parameters!r}.")
    options = {key: values[key] for key in values if key not in ("recordings", "decoder", "parameters")}
    for key in ("folds", "seeds", "decoder_neurons"):
        if options.get(key) is not None:
            options[key] = tuple(_as_list(options[key]))
    return SweepConfig(recordings=recordings, decoders=tuple(decoders), parameters=dict(parameters),
                       **options)


def load_sweep_config(path: str | os.PathLike[str]) -> SweepConfig:
    """Read a YAML sweep file (see the module docstring); needs PyYAML (from ``spikebridge[sweep]``)."""
    try:
        import yaml
    except ImportError as err:
        raise ImportError(f"Reading a sweep file needs PyYAML: {_INSTALL}") from err
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Sweep file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    return sweep_config_from_dict(values, base_dir=path.resolve().parent)


def run_sweep(
    config: SweepConfig,
    out_dir: str | os.PathLike[str],
    *,
    address: str | None = None,
    num_cpus: int = 2,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train every configuration on every run with Ray Tune; write and return the ranked summary.

    Parameters
    ----------
    config :
        The sweep.
    out_dir :
        Sweep folder: ``runs/`` (one run folder per trial), ``ray/`` (Ray Tune's records),
        ``summary.csv`` and ``summary.json``.
    address :
        Address of a running Ray cluster (e.g. ``"auto"`` or ``"ray://host:10001"``), whose nodes have
        spikebridge installed and see the recording files. None starts a local Ray instance.
    num_cpus :
        CPUs of the local instance (ignored with ``address``).
    progress :
        Called with one line of text per finished trial.

    Returns
    -------
    summary :
        ``{"rank_by", "configurations": [ranked rows, see summarize_sweep], "runs": [one row per trial]}``.
    """
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise ImportError(f"Sweeps run on Ray Tune, which is not installed: {_INSTALL}") from err
    out_dir = Path(out_dir).resolve()
    configurations, runs = config.configurations(), config.runs()
    started = not ray.is_initialized()
    if started:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False)
        else:
            ray.init(address=address)

    class Progress(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: D102
            if progress is not None:
                result = trial.last_result
                metrics = ", ".join(f"{k} {result[k]:.3f}" for k in METRICS if k in result)
                progress(f"done {_run_name(trial.config)}: {metrics}")

        def on_trial_error(self, iteration, trials, trial, **info):  # noqa: D102
            if progress is not None:
                progress(f"FAILED {_run_name(trial.config)} (see {out_dir / 'ray'})")

    try:
        trainable = tune.with_resources(_run_trial, {"cpu": config.cpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={
                "configuration": tune.grid_search([{"id": i, "rl": c} for i, c in enumerate(configurations)]),
                "run": tune.grid_search(runs),
                "sweep": {"config": _to_dict(config), "runs_dir": str(out_dir / "runs")},
            },
            tune_config=tune.TuneConfig(trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}"),
            run_config=tune.RunConfig(name="tune", storage_path=str(out_dir / "ray"), verbose=0,
                                      callbacks=[Progress()]),
        )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    rows = []
    for result in grid:
        rows.append({
            "configuration": result.config["configuration"]["id"], **result.config["configuration"]["rl"],
            **result.config["run"], "run_dir": str(out_dir / "runs" / _run_name(result.config)),
            **{k: result.metrics[k] for k in METRICS if result.metrics and k in result.metrics},
            "train_seconds": (result.metrics or {}).get("train_seconds"),
            "error": None if result.error is None else _last_line(result.error),
        })
    rows.sort(key=lambda row: (row["configuration"], row["recording"], row["fold"], row["seed"]))
    ranked = summarize_sweep(rows, config.parameters, rank_by=config.rank_by)
    summary = {"rank_by": config.rank_by, "configurations": ranked, "runs": rows, "sweep": _to_dict(config)}
    atomic_write_json(out_dir / "summary.json", summary)
    atomic_write_text(out_dir / "summary.csv", _csv(ranked))
    return summary


def _run_trial(params: dict) -> None:
    """One Ray Tune trial: a resumable training run, reporting its held-out metrics."""
    from ray import tune

    torch.set_num_threads(1)
    sweep = SweepConfig(**_from_dict(params["sweep"]["config"]))
    config = sweep.train_config(params["configuration"]["rl"], params["run"])
    results = run_training(config, Path(params["sweep"]["runs_dir"]) / _run_name(params), resume=True)
    metrics = {k: results[k] for k in (*METRICS, "train_seconds") if k in results}
    tune.report(metrics)


def summarize_sweep(
    runs: list[Mapping[str, Any]],
    parameters: Mapping[str, Any] | list[str],
    *,
    rank_by: str = "time_bin_success",
) -> list[dict[str, Any]]:
    """Rank configurations by the mean over their runs of the held-out ``rank_by`` (best first).

    Parameters
    ----------
    runs :
        One row per trial with ``configuration`` (its number), the searched parameters, the metrics of
        :data:`METRICS` it has and ``error`` (None for a trial that finished).
    parameters :
        The searched parameter names (or the sweep's ``parameters`` mapping).
    rank_by :
        The metric to rank by; configurations without a finished run come last.

    Returns
    -------
    rows :
        ``{"rank", "configuration", <parameters>, "n_runs", "n_failed", "<metric>_mean", "<metric>_sd"
        for each metric present, "train_seconds_mean"}``, best first.
    """
    names = list(parameters)
    metrics = [m for m in METRICS if any(m in run for run in runs)]
    rows = []
    for key in sorted({run["configuration"] for run in runs}):
        group = [run for run in runs if run["configuration"] == key]
        done = [run for run in group if run.get("error") is None and rank_by in run]
        row: dict[str, Any] = {"configuration": key, **{n: group[0].get(n) for n in names},
                               "n_runs": len(done), "n_failed": len(group) - len(done)}
        for metric in metrics:
            values = [run[metric] for run in done if metric in run]
            row[f"{metric}_mean"] = float(np.mean(values)) if values else math.nan
            row[f"{metric}_sd"] = float(np.std(values)) if values else math.nan
        seconds = [run["train_seconds"] for run in done if run.get("train_seconds") is not None]
        row["train_seconds_mean"] = float(np.mean(seconds)) if seconds else math.nan
        rows.append(row)
    def badness(row: dict[str, Any]) -> float:  # best first, configurations without a result last
        value = row.get(f"{rank_by}_mean", math.nan)
        return math.inf if math.isnan(value) else -value

    rows.sort(key=badness)
    return [{"rank": i + 1, **row} for i, row in enumerate(rows)]


def format_sweep_summary(summary: Mapping[str, Any]) -> str:
    """Format the ranked configurations as a text table (mean ± sd over each configuration's runs)."""
    rows, rank_by = summary["configurations"], summary["rank_by"]
    if not rows:
        return "no configurations"
    fixed = ("rank", "configuration", "n_runs", "n_failed")
    names = [k for k in rows[0] if k not in fixed and not k.endswith(("_mean", "_sd"))]
    metrics = [m for m in METRICS if f"{m}_mean" in rows[0]]
    head = (f"{'rank':>4} {'cfg':>4} " + "".join(f"{n:>15}" for n in names)
            + "".join(f"{m:>22}" for m in metrics) + f"{'runs':>6}{'train s':>9}")
    lines = [head, "-" * len(head)]
    for row in rows:
        cells = "".join(f"{row[n]:>15.4g}" if isinstance(row[n], float) else f"{row[n]!s:>15}" for n in names)
        values = "".join(f"{row[f'{m}_mean']:>14.3f} ± {row[f'{m}_sd']:.3f}" for m in metrics)
        runs = f"{row['n_runs']}" + (f"+{row['n_failed']}F" if row["n_failed"] else "")
        lines.append(f"{row['rank']:>4} {row['configuration']:>4} {cells}{values}{runs:>6}"
                     f"{row['train_seconds_mean']:>9.1f}")
    lines.append(f"ranked by mean held-out {rank_by} over each configuration's runs (mean ± sd); "
                 "F: failed runs")
    return "\n".join(lines)


def _run_name(params: Mapping[str, Any]) -> str:
    run = params["run"]
    number = params["configuration"]["id"]
    return f"c{number:02d}_{Path(run['recording']).stem}_fold{run['fold']}_seed{run['seed']}"


def _with_hint(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), 1)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


def _check_int(value: Any, name: str, *, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}; got {name}={value!r}.")


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_parameter(name: str, spec: Any, search: str) -> None:
    if name == "seed":
        raise ValueError("`seed` is not searched in `parameters`: list the run seeds under `seeds:`.")
    if name not in _SEARCHED:
        raise ValueError(
            f"Unknown parameter {_with_hint(name, _SEARCHED)}; the searchable ReinforceConfig fields are "
            f"{', '.join(_SEARCHED)}."
        )
    if isinstance(spec, Mapping):
        if search == "grid":
            raise ValueError(
                f"`{name}`: a grid search takes a list of values, not a distribution {dict(spec)}; "
                "use `search: random` for distributions."
            )
        if len(spec) != 1 or next(iter(spec)) not in _DISTRIBUTIONS:
            kinds = ", ".join(_DISTRIBUTIONS)
            raise ValueError(f"`{name}` must be one of {{{kinds}: ...}}; got {dict(spec)}.")
        kind, args = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(args, (list, tuple)) or not args:
                raise ValueError(f"`{name}`: choice needs a non-empty list of values; got {args!r}.")
            return
        if not isinstance(args, (list, tuple)) or len(args) != 2:
            raise ValueError(f"`{name}`: {kind} needs [low, high]; got {args!r}.")
        low, high = (_coerce(name, a) if kind != "randint" else a for a in args)
        if kind == "randint" and not all(isinstance(a, int) and not isinstance(a, bool) for a in (low, high)):
            raise ValueError(f"`{name}`: randint needs integer bounds; got {args!r}.")
        numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in (low, high))
        if not numbers or not low <= high:
            raise ValueError(f"`{name}`: {kind} needs numbers low <= high; got {args!r}.")
        if kind == "loguniform" and low <= 0:
            raise ValueError(f"`{name}`: loguniform needs low > 0; got {args!r}.")
    elif isinstance(spec, (list, tuple)) and not spec:
        raise ValueError(f"`{name}` lists no values; give at least one.")


def _draw(spec: Any, rng: np.random.Generator) -> Any:
    if not isinstance(spec, Mapping):
        values = _as_list(spec)
        return values[int(rng.integers(len(values)))]
    kind, args = next(iter(spec.items()))
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = (float(a) for a in args)
    if kind == "randint":
        return int(rng.integers(int(low), int(high) + 1))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


_FLOAT_FIELDS = {f.name for f in dataclasses.fields(ReinforceConfig) if isinstance(f.default, float)}


def _coerce(name: str, value: Any) -> Any:
    """Numbers for float fields; YAML 1.1 reads ``1e-2`` (no dot) as text, so numeric text is accepted."""
    if name in _FLOAT_FIELDS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"`{name}` must be a number; got {value!r}.") from None
    if name in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _existing(base_dir: Path, path: Any, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"Each {what} must be a file path; got {path!r}.")
    full = (base_dir / Path(path)).resolve()
    if not full.is_file():
        raise FileNotFoundError(f"Sweep {what} file not found: {full} (paths are relative to the sweep file)")
    return full


def _decoder_spec(base_dir: Path, spec: Any) -> str:
    if isinstance(spec, str) and (spec == "manual" or spec.startswith("fit:")):
        return spec
    return str(_existing(base_dir, spec, "decoder"))


def _to_dict(config: SweepConfig) -> dict:
    values = dataclasses.asdict(config)
    values["parameters"] = dict(config.parameters)
    return values


def _from_dict(values: Mapping[str, Any]) -> dict:
    values = dict(values)
    for key in ("recordings", "decoders", "folds", "seeds", "decoder_neurons"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return values


def _csv(rows: list[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["rank"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
