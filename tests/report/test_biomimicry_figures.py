"""write_biomimicry_report on fabricated trade-off study directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spikebridge.exceptions import DataFormatError
from spikebridge.report.biomimicry_figures import (
    MATCHING_RULE,
    embedding_figure,
    load_tradeoff,
    write_biomimicry_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_FOLDS, N_TRIALS, BIN_SIZE = 2, 10, 0.01
WEIGHTS = (0.0, 1.0)
FIGURES = ("tradeoff", "mi_modulation", "neuron_scatter", "embedding", "matched_rasters")
# per-fold MI of each entry: the table must show their mean ± sd (ddof=1)
MI = {"recorded": [0.28, 0.30], "sl": [0.20, 0.22], "rl_paper": [0.31, 0.33], "w_0": [0.25, 0.27],
      "w_1": [0.29, 0.29]}
MI_CELLS = {"recorded": "0.290 ± 0.014", "sl": "0.210 ± 0.014", "rl_paper": "0.320 ± 0.014",
            "w_0": "0.260 ± 0.014", "w_1": "0.290 ± 0.000"}


def _bins() -> tuple[np.ndarray, np.ndarray]:
    """Per trial: 10 unlabelled lead-in bins, 50 of class 1, 50 of class 2."""
    labels = np.tile(np.r_[np.zeros(10), np.ones(50), np.full(50, 2)], N_TRIALS).astype(np.int64)
    trial_ids = np.repeat(np.arange(N_TRIALS), 110)
    return labels, trial_ids


def _spikes(rng: np.random.Generator, labels: np.ndarray, n_samples: int, n_neurons: int) -> np.ndarray:
    tuning = rng.uniform(0.02, 0.3, (3, n_neurons))
    return (rng.random((n_samples, labels.size, n_neurons)) < tuning[labels]).astype(np.uint8)


def _make_study(root: Path, *, generate: str = "read", with_bin_size: bool = True) -> Path:
    """A study of 2 folds, prior weights 0 and 1, 2 read neurons (4 in all with generate="all")."""
    rng = np.random.default_rng(0)
    labels, trial_ids = _bins()
    population = generate == "all"
    n_all, read = (4, [1, 3]) if population else (2, [0, 1])
    names = {"recorded": "references", "sl": "references", "rl_paper": "references", "w_0": "w_0",
             "w_1": "w_1"}
    entries = {}
    for key, run_dir in names.items():
        method = "rl" if key.startswith("w_") else key
        metrics = ("mutual_information", "modulation_depth", "firing_rate_hz")
        per_neuron: dict[str, list] = {m: [] for m in metrics}
        per_neuron_all: dict[str, list] = {m: [] for m in per_neuron}
        matches = []
        for fold in range(N_FOLDS):
            n_samples = 1 if key == "recorded" else 2
            spikes = _spikes(rng, labels, n_samples, n_all)
            folder = root / run_dir / f"fold_{fold}"
            folder.mkdir(parents=True, exist_ok=True)
            np.savez(folder / f"{method}_test_spikes.npz", spikes=spikes, labels=labels, trial_ids=trial_ids,
                     bins=np.arange(labels.size))
            rates = spikes.mean(axis=(0, 1)) / BIN_SIZE
            everyone = {"mutual_information": rng.uniform(0.1, 0.4, n_all).tolist(),
                        "modulation_depth": rng.uniform(0.05, 0.2, n_all).tolist(),
                        "firing_rate_hz": rates.tolist()}
            match = list(range(n_all)) if key == "recorded" else [2, 1, 0, 3]
            matches.append(match)
            for m in per_neuron:
                per_neuron[m].append([everyone[m][i] for i in read] if population else everyone[m])
                per_neuron_all[m].append(everyone[m])
        bio: dict = {"mutual_information": MI[key], "modulation_depth": [0.11, 0.12],
                     "firing_rate_hz": [8.0, 9.0], "isi_cv": [1.0, 1.1], "fano_factor": [1.0, 1.2],
                     "per_neuron": per_neuron}
        if key != "recorded":
            bio.update(psth_correlation=[0.5, 0.6], psth_correlation_median=[0.55, 0.65])
        if population:
            bio.update(per_neuron_all_neurons=per_neuron_all, matched_recorded_neuron=matches,
                       pairwise_correlation=[0.02, 0.03], participation_ratio=[2.5, 2.7])
            if key != "recorded":
                bio["subspace_angle_deg"] = [20.0, 30.0]
        success = 0.9 if key == "recorded" else 0.8
        entries[key] = {"label": key, "method": method, "run_dir": run_dir,
                        "time_bin_success": [success, success + 0.02], "trial_success": [0.7, 0.75],
                        "biomimicry": bio}
    for weight, key in zip(WEIGHTS, ("w_0", "w_1")):
        entries[key].update(prior_weight=weight, label=f"RL w={weight:g}")
    spec = {"recording": "fabricated", "decoder": "manual", "n_folds": N_FOLDS, "seed": 0,
            "generate": generate, "weights": list(WEIGHTS), "highlight_weight": 1.0,
            "points": [entries["w_1"], entries["w_0"]],
            "references": {k: entries[k] for k in ("recorded", "sl", "rl_paper")}}
    if with_bin_size:
        spec["bin_size"] = BIN_SIZE
    (root / "tradeoff.json").write_text(json.dumps(spec))
    return root


def _edit_spec(root: Path, edit) -> None:
    path = root / "tradeoff.json"
    spec = json.loads(path.read_text())
    edit(spec)
    path.write_text(json.dumps(spec))


def test_report_writes_every_figure_and_the_table(tmp_path: Path) -> None:
    root = _make_study(tmp_path)
    paths = write_biomimicry_report(root, dpi=40)
    assert set(paths) == {"html", "markdown", *FIGURES}
    for name in FIGURES:
        assert paths[name] == root / "figures" / f"{name}.png"
        assert paths[name].read_bytes().startswith(PNG_SIGNATURE)
    markdown = (root / "report.md").read_text()
    for cell in MI_CELLS.values():
        assert cell in markdown
    assert "| RL w=0 | 0 | 0.810 ± 0.014 |" in markdown  # label, weight, time-bin success
    assert "0.600 ± 0.071" in markdown  # median PSTH correlation of the SL and RL entries
    assert MATCHING_RULE in markdown
    assert "could not show" not in markdown
    html = (root / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert not list(root.rglob(".*.tmp"))  # atomic writes leave no temporary files


def test_population_study_infers_bin_size_and_read_neurons(tmp_path: Path) -> None:
    root = _make_study(tmp_path, generate="all", with_bin_size=False)
    study = load_tradeoff(root)
    assert study.bin_size == pytest.approx(BIN_SIZE)
    assert study.read_neurons == [1, 3]  # found from the recorded rates
    _edit_spec(root, lambda spec: spec.update(config={"reproduce": {"decoder_neurons": [3, 1]}}))
    assert load_tradeoff(root).read_neurons == [3, 1]  # as the run's config gives them
    paths = write_biomimicry_report(root, dpi=40)
    assert set(FIGURES) <= set(paths)
    markdown = paths["markdown"].read_text()
    assert "participation ratio" in markdown and "2.600 ± 0.141" in markdown
    assert "25.00 ± 7.07" in markdown  # subspace angle
    assert "unread" in markdown  # the scatter and raster captions name the matched unread neurons


def test_missing_references_and_files_leave_figures_out(tmp_path: Path) -> None:
    root = _make_study(tmp_path)

    def drop(spec: dict) -> None:
        del spec["references"]["rl_paper"], spec["references"]["sl"]

    _edit_spec(root, drop)
    _edit_spec(root, lambda spec: spec["points"][0].update(trial_success=None))  # as a velocity task writes
    shutil.rmtree(root / "w_0" / "fold_0")
    paths = write_biomimicry_report(root, dpi=40)
    assert set(FIGURES) <= set(paths)  # RL with the prior still stands in
    markdown = paths["markdown"].read_text()
    assert MI_CELLS["rl_paper"] not in markdown and MI_CELLS["sl"] not in markdown

    _edit_spec(root, lambda spec: spec["references"].pop("recorded"))
    paths = write_biomimicry_report(root, dpi=40)
    assert {"tradeoff", "mi_modulation"} <= set(paths)
    assert not {"neuron_scatter", "embedding", "matched_rasters"} & set(paths)
    markdown = paths["markdown"].read_text()
    assert "What this report could not show" in markdown
    assert "references.recorded" in markdown


def test_missing_spike_files_of_fold_0_omit_the_trial_figures(tmp_path: Path) -> None:
    root = _make_study(tmp_path)
    for folder in root.glob("*/fold_0"):
        shutil.rmtree(folder)
    paths = write_biomimicry_report(root, dpi=40)
    assert not {"embedding", "matched_rasters"} & set(paths)
    assert "fold_0/recorded_test_spikes.npz is absent" in paths["markdown"].read_text()


def test_missing_study_raises(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="spikebridge biomimicry --out") as info:
        write_biomimicry_report(tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "tradeoff.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_tradeoff(tmp_path)


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["points"][0].update(time_bin_success=[0.8]), "list of 2 numbers"),
    (lambda s: s["points"][0]["biomimicry"].update(mutual_information="high"), "list of 2 numbers"),
    (lambda s: s["points"][0].pop("prior_weight"), "prior_weight must be a number"),
    (lambda s: s.update(n_folds=0), "n_folds"),
    (lambda s: s["references"]["sl"].pop("run_dir"), "run_dir"),
])
def test_malformed_tradeoff_json_raises(tmp_path: Path, edit, match: str) -> None:
    root = _make_study(tmp_path)
    _edit_spec(root, edit)
    with pytest.raises(DataFormatError, match=match):
        load_tradeoff(root)


def test_wrong_per_neuron_length_raises(tmp_path: Path) -> None:
    root = _make_study(tmp_path)
    _edit_spec(root, lambda s: s["points"][0]["biomimicry"]["per_neuron"]["firing_rate_hz"][0].append(3.0))
    with pytest.raises(DataFormatError, match="same read neurons"):
        write_biomimicry_report(root, dpi=40)


@pytest.mark.parametrize("arrays, match", [
    (dict(spikes=np.zeros((2, 5, 2, 1), np.uint8)), "n_samples, n_bins, n_neurons"),
    (dict(labels=np.zeros(7, np.int64)), "n_samples, n_bins, n_neurons"),
    (dict(labels=np.zeros(1100)), "integers"),
    (dict(spikes=np.zeros((2, 1100, 3), np.uint8)), "recorded"),
])
def test_wrong_spike_file_raises(tmp_path: Path, arrays: dict, match: str) -> None:
    root = _make_study(tmp_path)
    path = root / "w_1" / "fold_0" / "rl_test_spikes.npz"
    with np.load(path) as npz:
        content = {k: npz[k] for k in npz.files}
    np.savez(path, **{**content, **arrays})
    with pytest.raises(DataFormatError, match=match):
        embedding_figure(load_tradeoff(root))
