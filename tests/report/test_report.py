"""write_report on fabricated run directories: every file is written, self-contained and complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spikebridge.exceptions import DataFormatError
from spikebridge.report import load_run, write_report
from spikebridge.report._common import trial_window

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a figure that fails to draw is a bug

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N_READ, N_UPSTREAM, N_SAMPLES, N_TRIALS = 2, 4, 2, 3


def _arrays(task: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Held-out trials: 10 unlabelled context bins, then rest / action / rest, with class-tuned neurons."""
    labels, trial_ids = [], []
    for trial in range(N_TRIALS):
        action = 2 if task == "reach" else 2 + trial % 2
        labels += [0] * 10 + [1] * 20 + [action] * 20 + [1] * 10
        trial_ids += [-1] * 10 + [trial] * 50
    labels, trial_ids = np.array(labels), np.array(trial_ids)
    n_bins = labels.size
    tuning = np.array([[0.05, 0.05, 0.05], [0.05, 0.05, 0.05], [0.4, 0.1, 0.3], [0.1, 0.4, 0.3]])
    probability = tuning[labels][:, :N_READ]  # spike probability per bin of each read neuron

    def spikes(gain: float, *leading: int) -> np.ndarray:
        shape = (*leading, n_bins, N_READ)
        return (rng.random(shape) < np.clip(gain * probability, 0, 1)).astype(np.uint8)

    def decoded(accuracy: float) -> np.ndarray:
        wrong = rng.random(n_bins) > accuracy
        return np.where(wrong, rng.integers(1, labels.max() + 1, n_bins), np.maximum(labels, 1))

    arrays = dict(
        bins=np.arange(1000, 1000 + n_bins), labels=labels, trial_ids=trial_ids,
        upstream=(rng.random((n_bins, N_UPSTREAM)) < 0.1).astype(np.uint8),
        true_downstream=spikes(1.0), rl_spikes=spikes(1.6, N_SAMPLES), sl_spikes=spikes(0.7, N_SAMPLES),
        rl_probabilities=np.clip(1.6 * probability, 0, 1), sl_probabilities=0.7 * probability,
        true_probabilities=probability, decoded_rl=decoded(0.8), decoded_sl=decoded(0.7),
        decoded_true=decoded(0.93), bin_size=np.float64(0.01),
        class_names=np.array(["rest", "low press", "high press"]),
    )
    if task == "reach":
        phase = 2 * np.pi * np.arange(n_bins) * 0.01
        velocity = np.stack([np.sin(phase), np.cos(phase)], axis=1) * (labels == 2)[:, None]
        noise = rng.standard_normal((3, *velocity.shape))
        arrays.update(class_names=np.array(["hold", "reach"]), velocity_true=velocity,
                      velocity_decoded_true=velocity + 0.1 * noise[0], velocity_rl=velocity + 0.2 * noise[1],
                      velocity_sl=0.5 * velocity + 0.2 * noise[2])
    return arrays


def _results(task: str, rng: np.random.Generator, *, biomimicry: bool) -> dict:
    def folds(centre: float) -> list[float]:
        return (centre + 0.02 * rng.standard_normal(5)).tolist()

    def per_neuron(scale: float) -> list[float]:
        return (scale * rng.uniform(0.05, 0.3, N_READ)).tolist()

    metrics = {"velocity_r2": 0.0} if task == "reach" else {"time_bin_success": 0.0, "trial_success": -0.1}
    centres = {"rl": 0.8, "sl": 0.7, "recorded": 0.93, "upstream_ceiling": 0.86}
    methods = {name: {**{m: folds(c + shift) for m, shift in metrics.items()}, "train_seconds": folds(60)}
               for name, c in centres.items()}
    episodes = np.arange(200)
    reward = 0.3 + 0.5 * (1 - np.exp(-episodes / 40)) + 0.03 * rng.standard_normal(200)
    results = {
        "task": task, "command": f"spikebridge reproduce --task {task} --seed 7 | tee log.txt", "seed": 7,
        "wall_seconds": 311.5, "recording": f"simulated {task} subject", "methods": methods,
        "history": {"episodes": episodes.tolist(), "train/reward": reward.tolist(),
                    "eval/success": np.linspace(0.3, 0.8, 10).tolist(),
                    "eval/episodes": episodes[::20].tolist()},
        "config": {"n_folds": 5, "rl": {"learning_rate": 0.01}},
        "notes": ["fabricated for the report tests"],
    }
    if biomimicry:
        def summary(lists: dict) -> dict:  # the layout of biomimicry_summary: means plus per-neuron lists
            return {**{k: float(np.mean(v)) for k, v in lists.items()}, "per_neuron": lists}

        results["biomimicry"] = {
            name: {"psth_correlation_median": 0.7, **summary({
                "psth_correlation": per_neuron(3), "modulation_depth": per_neuron(gain),
                "mutual_information": per_neuron(gain), "firing_rate_hz": per_neuron(100 * gain)})}
            for name, gain in (("rl", 1.5), ("sl", 0.8))
        }
        results["biomimicry"]["recorded"] = summary({
            "modulation_depth": per_neuron(1), "mutual_information": per_neuron(1),
            "firing_rate_hz": per_neuron(100),
        })
    return results


def make_run_dir(path: Path, task: str, *, arrays: bool = True, biomimicry: bool = True) -> Path:
    """Fabricate the run directory a demo run writes: results.json and, optionally, arrays.npz."""
    rng = np.random.default_rng(42)
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(_results(task, rng, biomimicry=biomimicry)))
    if arrays:
        np.savez_compressed(path / "arrays.npz", **_arrays(task, rng))
    return path


def _inputs(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def lever_report(tmp_path_factory) -> tuple[Path, dict[str, Path], dict[str, bytes]]:
    run_dir = make_run_dir(tmp_path_factory.mktemp("lever"), "lever")
    inputs = _inputs(run_dir)
    return run_dir, write_report(run_dir, dpi=60, max_trials=2), inputs


@pytest.fixture(scope="module")
def reach_report(tmp_path_factory) -> tuple[Path, dict[str, Path], dict[str, bytes]]:
    run_dir = make_run_dir(tmp_path_factory.mktemp("reach"), "reach", biomimicry=False)
    inputs = _inputs(run_dir)
    return run_dir, write_report(run_dir, dpi=60, max_trials=2), inputs


@pytest.fixture(params=["lever", "reach"])
def report(request, lever_report, reach_report) -> tuple[Path, dict[str, Path]]:
    return lever_report if request.param == "lever" else reach_report


def test_every_figure_is_drawn(lever_report, reach_report):
    common = {"rasters", "learning_curve", "success", "psth", "biomimicry"}
    assert set(lever_report[1]) == {"html", "markdown", *common}
    assert set(reach_report[1]) == {"html", "markdown", *common, "velocity"}


def test_report_files_exist_where_promised(report):
    run_dir, paths, _ = report
    assert paths["html"] == run_dir / "report.html" and paths["markdown"] == run_dir / "report.md"
    for name, path in paths.items():
        assert path.is_file(), name
    assert not list(run_dir.rglob("*.tmp")), "atomic writes leave no temporary files behind"


def test_figures_are_real_pngs(report):
    run_dir, *_ = report
    pngs = sorted((run_dir / "figures").glob("*.png"))
    assert pngs
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE), png.name
        assert len(data) > 1024, png.name


def test_html_is_self_contained(report):
    run_dir, *_ = report
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    n_figures = len(list((run_dir / "figures").glob("*.png")))
    assert text.count('src="data:image/png;base64,') == n_figures
    assert 'src="http' not in text and "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text
    assert text.count("<figcaption>") == n_figures


def test_markdown_links_every_figure(report):
    run_dir, *_ = report
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    for png in (run_dir / "figures").glob("*.png"):
        assert f"](figures/{png.name})" in text


def test_report_lists_numbers_command_seed_and_notes(lever_report):
    run_dir, *_ = lever_report
    text = (run_dir / "report.md").read_text(encoding="utf-8")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["command"].replace("|", "\\|") in text and "| seed | 7 |" in text  # pipes escaped
    assert "fabricated for the report tests" in text
    rl = np.array(results["methods"]["rl"]["time_bin_success"])
    assert f"{rl.mean():.3g} ± {rl.std(ddof=1):.3g} (5 folds)" in text
    assert f"{results['methods']['sl']['trial_success'][4]:.3g}" in text  # per-fold values are listed
    assert "config.rl.learning_rate" in text


def test_report_only_reads_the_run(report):
    run_dir, _, inputs = report
    assert {name: (run_dir / name).read_bytes() for name in inputs} == inputs


def test_missing_arrays_still_gives_a_report(tmp_path):
    run_dir = make_run_dir(tmp_path / "run", "lever", arrays=False, biomimicry=False)
    paths = write_report(run_dir, dpi=60)
    assert set(paths) == {"html", "markdown", "learning_curve", "success"}
    for name in ("report.md", "report.html"):
        assert "arrays.npz is absent" in (run_dir / name).read_text(encoding="utf-8")


def test_malformed_arrays_are_left_out_with_a_note(tmp_path):
    run_dir = make_run_dir(tmp_path / "run", "lever", arrays=False)
    arrays = _arrays("lever", np.random.default_rng(0))
    arrays["rl_spikes"] = arrays["rl_spikes"][:, :10]
    np.savez(run_dir / "arrays.npz", **arrays)
    run = load_run(run_dir)
    assert "rl_spikes" not in run.arrays and "sl_spikes" in run.arrays
    assert any("`rl_spikes`" in line for line in run.absent)


def test_missing_results_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report(tmp_path / "nowhere")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_malformed_results_raises_data_format_error(tmp_path, content):
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(DataFormatError, match="results.json"):
        write_report(tmp_path)


@pytest.mark.parametrize("class_names, expected", [
    (["rest", "low press", "high press"], ["rest", "low press", "high press", "class 4"]),
    (["unlabelled", "rest", "press"], ["rest", "press", "class 3", "class 4"]),
])
def test_class_names_name_labels_from_one(tmp_path, class_names, expected):
    run_dir = make_run_dir(tmp_path / "run", "lever", arrays=False)
    np.savez(run_dir / "arrays.npz", labels=np.array([0, 1, 2]), class_names=np.array(class_names))
    run = load_run(run_dir)
    assert [run.class_name(label) for label in (1, 2, 3, 4)] == expected


def test_trial_window_keeps_neighbouring_context_out(tmp_path):
    """Demo layout: trial 1's lead-in repeats the tail of trial 0 (same recording bins, labels 0)."""
    trial_0 = np.arange(100, 130)
    trial_1 = np.arange(125, 160)  # bins 125..129 are trial 0's tail, reused as context
    bins = np.concatenate([trial_0, trial_1])
    trial_ids = np.where(bins < 130, 0, 1)
    labels = np.concatenate([np.ones(30, int), np.zeros(5, int), np.full(30, 2)])
    run_dir = make_run_dir(tmp_path / "run", "lever", arrays=False)
    np.savez(run_dir / "arrays.npz", bins=bins, labels=labels, trial_ids=trial_ids)
    run = load_run(run_dir)
    window_0, context_0 = trial_window(run, 0)
    window_1, context_1 = trial_window(run, 1)
    assert (window_0.tolist(), context_0) == (list(range(30)), 0)
    assert (window_1.tolist(), context_1) == (list(range(30, 65)), 5)
