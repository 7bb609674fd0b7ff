import dataclasses
import json

import numpy as np
import pytest
import torch

from spikebridge.data.windows import trial_windows
from spikebridge.experiments.reproduce import ReproduceConfig, run_reproduce
from spikebridge.features.history import last_spikes_exponential
from spikebridge.models.network import PointProcessNetwork
from spikebridge.training.dataset import FlatTrials
from spikebridge.training.paper import PaperReinforceConfig
from spikebridge.training.reinforce import ReinforceConfig, train_reinforce
from tests.experiments.toy import toy_decoder, toy_recording

QUICK = ReproduceConfig(
    n_folds=2, n_jobs=1, n_eval_samples=3, methods=("rl", "rl_paper", "sl"), n_paper_restarts=2,
    rl=ReinforceConfig(n_updates=40, batch_trials=8, n_samples=4),
    rl_paper=PaperReinforceConfig(n_episodes=40, batch_trials=8),
)


def test_rl_trains_without_downstream_data():
    recording = toy_recording().lesioned()
    assert recording.downstream_spikes is None
    results = run_reproduce(recording, toy_decoder(), dataclasses.replace(QUICK, methods=("rl", "rl_paper")))
    assert set(results["methods"]) == {"rl", "rl_paper", "upstream_ceiling"}  # no SL, no recorded
    for name in ("rl", "rl_paper"):
        assert len(results["methods"][name]["time_bin_success"]) == 2


def test_training_data_holds_no_downstream_spikes():
    recording = toy_recording()
    features = last_spikes_exponential(recording.upstream_spikes)
    trials = FlatTrials(trial_windows(recording.lesioned(), features, recording.trials, context_bins=4))
    assert not any("downstream" in name for name in vars(trials))


def test_results_have_every_method_and_spike_files(tmp_path):
    results = run_reproduce(toy_recording(), toy_decoder(), QUICK, out_dir=tmp_path)
    assert set(results["methods"]) == {"rl", "rl_paper", "sl", "recorded", "class_rate_code", "upstream_ceiling"}
    for values in results["methods"].values():
        assert all(0 <= v <= 1 for v in values["time_bin_success"] + values["trial_success"])
    assert results["methods"]["recorded"]["time_bin_success"][0] > 0.7  # the toy decoder reads the toy M1
    saved = np.load(tmp_path / "fold_1" / "rl_test_spikes.npz")
    assert saved["spikes"].dtype == np.uint8 and saved["spikes"].shape[0] == 3
    assert saved["spikes"].shape[1] == saved["bins"].shape[0]
    json.dumps(results)  # JSON-ready


def test_reproduce_is_deterministic():
    config = dataclasses.replace(QUICK, methods=("rl",))
    a = run_reproduce(toy_recording(), toy_decoder(), config)
    b = run_reproduce(toy_recording(), toy_decoder(), config)
    assert a["methods"]["rl"]["time_bin_success"] == b["methods"]["rl"]["time_bin_success"]
    assert a["folds"] == b["folds"]


def test_default_trainer_learns_the_toy_task():
    recording = toy_recording(n_trials=30)
    features = last_spikes_exponential(recording.upstream_spikes, time_constant=5.0)
    trials = FlatTrials(trial_windows(recording.lesioned(), features, recording.trials, context_bins=4))
    net = PointProcessNetwork(features.shape[1], 1, n_hidden=8, initial_rate=0.1,
                              generator=torch.Generator().manual_seed(0))
    _, history = train_reinforce(net, toy_decoder(), trials,
                                 ReinforceConfig(n_updates=150, batch_trials=10, n_samples=4, learning_rate=3e-2))
    reward = np.array(history.values["train/reward"])
    assert reward[-30:].mean() > reward[:30].mean() + 0.1


def test_decoder_neuron_mismatch_is_a_clear_error():
    recording = dataclasses.replace(toy_recording(), decoder_neurons=(0, 1))
    with pytest.raises(ValueError, match="decoder reads 1"):
        run_reproduce(recording, toy_decoder(), QUICK)


def test_manual_decoder_spec_reads_generated_neurons_only():
    from spikebridge.experiments.reproduce import resolve_decoder

    decoder, neurons = resolve_decoder("manual", toy_recording(), np.arange(4), QUICK)
    assert decoder.n_neurons == 4 and neurons is None  # no recorded neuron corresponds: no SL, no 'recorded'


def test_whole_population_generation(tmp_path):
    config = dataclasses.replace(QUICK, generate="all", methods=("rl", "sl"))
    results = run_reproduce(toy_recording(), toy_decoder(), config, out_dir=tmp_path)
    spikes = np.load(tmp_path / "fold_0" / "rl_test_spikes.npz")["spikes"]
    assert spikes.shape[-1] == 2  # every recorded downstream neuron, though the decoder reads one
    bio = results["biomimicry"]
    assert "psth_correlation_median_all_neurons" in bio["rl"]
    assert len(bio["rl"]["psth_correlation"]) == QUICK.n_folds  # one mean over the read neurons per fold
    assert len(bio["rl"]["per_neuron"]["psth_correlation"][0]) == 1  # per read neuron, fold 0
    assert len(bio["rl"]["per_neuron_all_neurons"]["psth_correlation"][0]) == 2
    for method in ("rl", "sl", "recorded"):  # population metrics of the whole population, per fold
        for key in ("pairwise_correlation", "participation_ratio"):
            assert len(bio[method][key]) == QUICK.n_folds
    assert "subspace_angle_deg" in bio["rl"] and "subspace_angle_deg" not in bio["recorded"]
    # the read output keeps its identity; the unread one is paired with the remaining recorded neuron
    assert all(sorted(m) == [0, 1] for m in bio["rl"]["matched_recorded_neuron"])


def test_whole_population_needs_the_recording():
    with pytest.raises(ValueError, match="generate='all' needs"):
        run_reproduce(toy_recording().lesioned(), toy_decoder(),
                      dataclasses.replace(QUICK, generate="all", methods=("rl",)))
