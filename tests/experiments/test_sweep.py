"""Sweeps: the sweep file's validation and search space (no Ray needed), ranking, and a tiny sweep on Ray."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from contextlib import nullcontext as does_not_raise
from pathlib import Path

import pytest

from spikebridge.data import save_trial_npz
from spikebridge.experiments.sweep import (
    format_sweep_summary,
    load_sweep_config,
    run_sweep,
    summarize_sweep,
    sweep_config_from_dict,
)
from tests.experiments.toy import save_toy_decoder, toy_recording


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep_toy")
    rec = toy_recording()
    shape = (len(rec.trials), rec.n_bins // len(rec.trials))
    save_trial_npz(folder / "toy.npz", upstream=rec.upstream_spikes.reshape(*shape, -1),
                   downstream=rec.downstream_spikes.reshape(*shape, -1),
                   labels=rec.behavior_labels.reshape(shape), bin_ms=10.0)
    save_toy_decoder(folder / "decoder.mat")
    return folder


def _sweep(**changes) -> dict:
    values = {"recordings": ["toy.npz"], "decoder": "decoder.mat", "decoder_neurons": [0],
              "parameters": {"learning_rate": [0.01, 0.03], "n_samples": [2, 4], "n_updates": 20}}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def _random(**parameters) -> dict:
    return {"search": "random", "parameters": parameters}


@pytest.mark.parametrize("changes, error, match", [
    ({}, None, None),
    ({"recording": ["toy.npz"]}, ValueError, "'recording' \\(did you mean 'recordings'\\?\\)"),
    ({"recordings": None}, ValueError, "needs `recordings`"),
    ({"recordings": ["missing.npz"]}, FileNotFoundError, "missing.npz"),
    ({"decoder": ["decoder.mat", "decoder.mat"]}, ValueError, "one per recording"),
    ({"parameters": {"learning_rat": [0.1]}}, ValueError, "did you mean 'learning_rate'"),
    ({"parameters": {"seed": [0, 1]}}, ValueError, "`seeds:`"),
    ({"parameters": {"n_samples": [1, 4]}}, ValueError, "n_samples must be >= 2"),
    ({"parameters": {"n_updates": []}}, ValueError, "lists no values"),
    ({"parameters": {"learning_rate": {"loguniform": [1e-3, 1e-1]}}}, ValueError, "search: random"),
    (_random(learning_rate={"normal": [0, 1]}), ValueError, "loguniform"),
    (_random(learning_rate={"loguniform": [0, 1]}), ValueError, "low > 0"),
    (_random(n_samples={"randint": [2.5, 8]}), ValueError, "integer bounds"),
    ({"search": "bayes"}, ValueError, "'grid' or 'random'"),
    ({"folds": [0, 5]}, ValueError, "0 .. n_folds - 1 = 4"),
    ({"seeds": []}, ValueError, "at least one"),
    ({"rank_by": "reward"}, ValueError, "rank_by"),
    ({"n_configurations": 0}, ValueError, "n_configurations"),
])
def test_sweep_file_is_validated(toy_files, changes, error, match):
    with does_not_raise() if error is None else pytest.raises(error, match=match):
        sweep_config_from_dict(_sweep(**changes), base_dir=toy_files)


def test_grid_and_random_search_spaces(toy_files):
    grid = sweep_config_from_dict(_sweep(folds=[0, 1], seeds=[0, 7]), base_dir=toy_files)
    assert grid.configurations() == [
        {"learning_rate": lr, "n_samples": n, "n_updates": 20} for lr in (0.01, 0.03) for n in (2, 4)
    ]
    assert [(r["fold"], r["seed"]) for r in grid.runs()] == [(0, 0), (0, 7), (1, 0), (1, 7)]
    assert Path(grid.recordings[0]).is_absolute()

    space = {"learning_rate": {"loguniform": ["1e-3", 0.1]}, "n_samples": {"randint": [2, 8]},
             "batch_trials": [8, 16], "n_updates": 20}  # "1e-3": YAML 1.1 reads it as text
    random = sweep_config_from_dict(_sweep(search="random", n_configurations=20, parameters=space),
                                    base_dir=toy_files)
    drawn = random.configurations()
    assert drawn == random.configurations()  # seeded by search_seed
    assert len(drawn) == 20 and {c["batch_trials"] for c in drawn} == {8, 16}
    assert all(1e-3 <= c["learning_rate"] <= 0.1 for c in drawn)
    assert all(isinstance(c["n_samples"], int) and 2 <= c["n_samples"] <= 8 for c in drawn)


def test_yaml_paths_are_relative_to_the_sweep_file(toy_files, tmp_path):
    pytest.importorskip("yaml")
    relative = os.path.relpath(toy_files / "decoder.mat", tmp_path)
    (tmp_path / "sweep.yaml").write_text(
        f"recordings: [{toy_files / 'toy.npz'}]\ndecoder: {relative}\n"
        "decoder_neurons: [0]\nparameters:\n  learning_rate: [1e-2, 3.0e-2]\n"
    )
    config = load_sweep_config(tmp_path / "sweep.yaml")
    assert config.decoders == (str(toy_files / "decoder.mat"),)
    assert [c["learning_rate"] for c in config.configurations()] == [0.01, 0.03]
    (tmp_path / "bad.yaml").write_text("recordings: [a.npz\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_sweep_config(tmp_path / "bad.yaml")


def test_summary_ranks_by_mean_held_out_success_with_failures_last():
    def run(configuration, learning_rate, time_bin=None, trial=None, error=None):
        metrics = {} if error else {"time_bin_success": time_bin, "trial_success": trial}
        return {"configuration": configuration, "learning_rate": learning_rate, **metrics, "error": error}

    runs = [run(0, 0.01, 0.6, 0.5), run(0, 0.01, 0.8, 0.7), run(1, 0.1, error="ValueError: boom"),
            run(2, 0.03, 0.9, 0.2), run(2, 0.03, error="RayTaskError: killed")]
    rows = summarize_sweep(runs, ["learning_rate"])
    assert [r["configuration"] for r in rows] == [2, 0, 1]
    assert rows[1]["time_bin_success_mean"] == pytest.approx(0.7)
    assert rows[1]["time_bin_success_sd"] == pytest.approx(0.1)
    assert (rows[0]["n_runs"], rows[0]["n_failed"]) == (1, 1) and math.isnan(rows[2]["time_bin_success_mean"])
    by_trial = summarize_sweep(runs, ["learning_rate"], rank_by="trial_success")
    assert [r["configuration"] for r in by_trial] == [0, 2, 1]
    text = format_sweep_summary({"configurations": rows, "rank_by": "time_bin_success"})
    assert "learning_rate" in text and "0.700 ± 0.100" in text and "1+1F" in text


@pytest.mark.slow
def test_ray_is_an_optional_extra(toy_files, monkeypatch):
    imports = "import sys, spikebridge, spikebridge.cli, spikebridge.experiments.sweep"
    subprocess.run([sys.executable, "-c", f"{imports}; assert 'ray' not in sys.modules"], check=True)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'spikebridge\[sweep\]'"):
        run_sweep(sweep_config_from_dict(_sweep(), base_dir=toy_files), toy_files / "never")


@pytest.mark.slow
def test_a_two_trial_sweep_on_local_ray(toy_files, tmp_path):
    pytest.importorskip("ray")
    parameters = {"learning_rate": [0.01, 0.03], "n_updates": 20, "batch_trials": 8, "n_samples": 2}
    values = _sweep(parameters=parameters, n_folds=2, checkpoint_every=10, n_eval_samples=2)
    summary = run_sweep(sweep_config_from_dict(values, base_dir=toy_files), tmp_path, num_cpus=2)
    assert [run["error"] for run in summary["runs"]] == [None, None]
    assert sorted(row["learning_rate"] for row in summary["configurations"]) == [0.01, 0.03]
    for run in summary["runs"]:
        results = json.loads((Path(run["run_dir"]) / "results.json").read_text())
        assert results["time_bin_success"] == run["time_bin_success"]
        assert (Path(run["run_dir"]) / "model.pt").is_file()
    assert (tmp_path / "summary.csv").read_text().startswith("rank,configuration,learning_rate")
    assert json.loads((tmp_path / "summary.json").read_text())["rank_by"] == "time_bin_success"
