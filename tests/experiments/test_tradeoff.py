"""The biomimicry trade-off study on the toy task: one reproduce run per prior weight, plus references."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from spikebridge.cli import main
from spikebridge.experiments.reproduce import ReproduceConfig
from spikebridge.experiments.tradeoff import TradeoffConfig, run_tradeoff
from spikebridge.training.reinforce import ReinforceConfig
from tests.experiments.toy import save_toy_decoder, toy_decoder, toy_recording

QUICK = ReproduceConfig(n_folds=2, n_jobs=1, n_eval_samples=2,
                        rl=ReinforceConfig(n_updates=30, batch_trials=8, n_samples=4))


def test_tradeoff_writes_one_point_per_weight_and_the_references(tmp_path):
    config = TradeoffConfig(weights=(0.0, 2.0), references=("sl",), reproduce=QUICK)
    tradeoff = run_tradeoff(toy_recording(), toy_decoder(), config, out_dir=tmp_path)
    assert [p["prior_weight"] for p in tradeoff["points"]] == [0.0, 2.0]
    assert set(tradeoff["references"]) == {"recorded", "class_rate_code", "sl"}
    for point in [*tradeoff["points"], *tradeoff["references"].values()]:
        assert len(point["time_bin_success"]) == 2
        assert len(point["biomimicry"]["mutual_information"]) == 2
        assert (tmp_path / point["run_dir"] / "results.json").exists()
    saved = json.loads((tmp_path / "tradeoff.json").read_text())
    assert saved["weights"] == [0.0, 2.0] and saved["highlight_weight"] in (0.0, 2.0)
    # each weight really trained with its prior: the run's own config says so
    run = json.loads((tmp_path / "w_2" / "results.json").read_text())
    assert run["config"]["rl"]["prior_weight"] == 2.0
    assert np.load(tmp_path / "w_0" / "fold_0" / "rl_test_spikes.npz")["spikes"].dtype == np.uint8


def test_tradeoff_needs_recorded_downstream_spikes(tmp_path):
    with pytest.raises(ValueError, match="has none"):
        run_tradeoff(toy_recording().lesioned(), toy_decoder(), TradeoffConfig(reproduce=QUICK), out_dir=tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": ()}, "empty"), ({"weights": (-1.0,)}, ">= 0"), ({"references": ("rl",)}, "Unknown reference"),
])
def test_bad_tradeoff_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TradeoffConfig(**kwargs)


def test_cli_biomimicry_runs_and_rejects_bad_weights(tmp_path, capsys):
    recording = tmp_path / "toy.npz"
    from spikebridge.data.npz import save_trial_npz  # noqa: PLC0415
    save_trial_npz(recording, toy_recording())
    decoder = tmp_path / "toy_patternnet.mat"
    save_toy_decoder(decoder)
    out = tmp_path / "run"
    code = main(["biomimicry", "--recording", str(recording), "--decoder", str(decoder), "--out", str(out),
                 "--folds", "2", "--jobs", "1", "--updates", "20", "--weights", "0,1", "--references", "sl",
                 "--decoder-neurons", "0"])
    assert code == 0 and (out / "tradeoff.json").exists()
    assert "prior weight 1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["biomimicry", "--recording", str(recording), "--decoder", str(decoder), "--out", str(out),
              "--weights", "0,-1"])
