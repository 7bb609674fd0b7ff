"""Checkpoints: a resumed run ends with exactly the weights of one that never stopped, even after SIGKILL."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from spikebridge.cli import main
from spikebridge.data import load_recording, save_trial_npz
from spikebridge.exceptions import DataFormatError
from spikebridge.experiments.reproduce import run_reproduce
from spikebridge.experiments.train_run import TrainRunConfig, load_network, run_training
from spikebridge.training.checkpoint import (
    CheckpointCallback,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from spikebridge.training.reinforce import ReinforceConfig, ReinforceState, train_reinforce
from tests.experiments.toy import save_toy_decoder, toy_recording
from tests.training.toy_task import CountDecoder, toy_network, toy_trials

torch.set_num_threads(1)

CONFIG = ReinforceConfig(n_updates=30, batch_trials=8, n_samples=4, learning_rate=3e-2, seed=3)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _weights(*networks: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for net in networks for t in net.state_dict().values()]


def test_resumed_training_is_identical_to_an_uninterrupted_run(tmp_path):
    network = toy_network()
    averaged, history = train_reinforce(network, CountDecoder(), toy_trials(), CONFIG)

    interrupted = toy_network()
    state = ReinforceState.initial(interrupted, CONFIG)
    save = CheckpointCallback(state, CONFIG, tmp_path, every=10)

    def save_then_stop_after_14(update, averaged, history):
        save(update, averaged, history)
        return state.update < 14

    train_reinforce(interrupted, CountDecoder(), toy_trials(), CONFIG, state=state,
                    callback=save_then_stop_after_14)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_10.pt"]

    resumed = toy_network(seed=99)  # other initial weights: all of them come from the checkpoint
    state = load_checkpoint(tmp_path / "ckpt_10.pt", resumed, CONFIG)
    assert state.update == 10 and len(state.history.episodes) == 10
    averaged_2, history_2 = train_reinforce(resumed, CountDecoder(), toy_trials(), CONFIG, state=state)
    assert all(torch.equal(a, b) for a, b in zip(_weights(averaged, network), _weights(averaged_2, resumed)))
    assert history_2.episodes == history.episodes and history_2.values == history.values


def test_checkpoints_keep_the_newest_and_the_last_update(tmp_path):
    config = dataclasses.replace(CONFIG, n_updates=25)
    network = toy_network()
    state = ReinforceState.initial(network, config)
    train_reinforce(network, CountDecoder(), toy_trials(), config, state=state,
                    callback=CheckpointCallback(state, config, tmp_path, every=10, keep=2))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_20.pt", "ckpt_25.pt"]
    assert load_checkpoint(tmp_path / "ckpt_25.pt", toy_network(), config).update == 25


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    network = toy_network()
    state = ReinforceState.initial(network, CONFIG)
    return save_checkpoint(tmp_path / "ckpt_0.pt", state, CONFIG)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_checkpoint_is_a_clear_error(checkpoint, damage):
    data = checkpoint.read_bytes()
    checkpoint.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10,
                            "empty": b""}[damage])
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        load_checkpoint(checkpoint, toy_network(), CONFIG)


class _NotPlainData:
    def __reduce__(self):
        return (os.getcwd, ())  # would run on a pickle.load; weights_only refuses it


def test_load_is_weights_only_and_refuses_pickled_objects(checkpoint, monkeypatch):
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    load_checkpoint(checkpoint, toy_network(), CONFIG)
    assert calls and all(k.get("weights_only") is True for k in calls)

    payload = real_load(checkpoint, weights_only=True)
    torch.save({**payload, "history": _NotPlainData()}, checkpoint)
    with pytest.raises(DataFormatError, match="weights_only=True"):
        load_checkpoint(checkpoint, toy_network(), CONFIG)


def test_resuming_with_other_settings_or_network_is_refused(checkpoint, tmp_path):
    with pytest.raises(ValueError, match="learning_rate: saved 0.03, now 0.1"):
        load_checkpoint(checkpoint, toy_network(), dataclasses.replace(CONFIG, learning_rate=0.1))
    with pytest.raises(ValueError, match="another architecture"):
        load_checkpoint(checkpoint, toy_network(n_replicas=2), CONFIG)
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(DataFormatError, match="not a spikebridge training checkpoint"):
        load_checkpoint(tmp_path / "other.pt", toy_network(), CONFIG)
    state = ReinforceState.initial(toy_network(), CONFIG)
    with pytest.raises(ValueError, match="state.network is not"):
        train_reinforce(toy_network(), CountDecoder(), toy_trials(), CONFIG, state=state)


# --- the `train` command on files: run folder, --resume after SIGKILL --------------------------------

@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("toy")
    rec = toy_recording()
    shape = (len(rec.trials), rec.n_bins // len(rec.trials))
    save_trial_npz(folder / "toy.npz", upstream=rec.upstream_spikes.reshape(*shape, -1),
                   downstream=rec.downstream_spikes.reshape(*shape, -1),
                   labels=rec.behavior_labels.reshape(shape), bin_ms=10.0)
    save_toy_decoder(folder / "decoder.mat")
    return folder / "toy.npz", folder / "decoder.mat"


def _train_args(toy_files, out: Path, updates: int) -> list[str]:
    recording, decoder = toy_files
    return ["train", "--recording", str(recording), "--decoder", str(decoder), "--decoder-neurons", "0",
            "--out", str(out), "--fold", "1", "--updates", str(updates), "--checkpoint-every", "10"]


@pytest.mark.slow
def test_train_resumes_after_sigkill_with_identical_weights(toy_files, tmp_path, capsys):
    n_updates = 200
    assert main(_train_args(toy_files, tmp_path / "whole", n_updates)) == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    command = [sys.executable, "-m", "spikebridge.cli", *_train_args(toy_files, killed, n_updates)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list_checkpoints(killed / "checkpoints") and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert not (killed / "results.json").exists() and not (killed / "model.pt").exists()  # really cut short

    assert main(_train_args(toy_files, killed, n_updates) + ["--resume"]) == 0
    whole = load_network(tmp_path / "whole" / "model.pt").state_dict()
    resumed = load_network(killed / "model.pt").state_dict()
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    results = [json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", killed)]
    assert 0 < results[1]["resumed_from_update"] < n_updates and results[0]["resumed_from_update"] is None
    assert results[0]["time_bin_success"] == results[1]["time_bin_success"]
    assert [p.name for p in list_checkpoints(killed / "checkpoints")] == ["ckpt_190.pt", "ckpt_200.pt"]


def test_train_refuses_to_overwrite_a_run_or_change_its_settings(toy_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_args(toy_files, out, 10)) == 0
    assert main(_train_args(toy_files, out, 10)) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(_train_args(toy_files, out, 20) + ["--resume"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_a_training_run_is_the_rl_fold_of_reproduce(toy_files, tmp_path):
    recording_path, decoder_path = toy_files
    rl = ReinforceConfig(n_updates=30, batch_trials=8, n_samples=4)
    config = TrainRunConfig(str(recording_path), str(decoder_path), decoder_neurons=(0,), fold=1, n_folds=2,
                            n_eval_samples=3, checkpoint_every=10, rl=rl)
    results = run_training(config, tmp_path / "run")
    recording = dataclasses.replace(load_recording(recording_path), decoder_neurons=(0,))
    reproduced = run_reproduce(recording, str(decoder_path), dataclasses.replace(config.protocol, n_jobs=1))
    for key in ("time_bin_success", "trial_success", "final_train_reward"):
        assert results[key] == reproduced["methods"]["rl"][key][1]
    assert results["test_trials"] == reproduced["folds"][1]["test_trials"]
    assert np.isfinite(results["train_seconds"])
