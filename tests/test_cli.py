import json

import pytest

import numpy as np

from spikebridge.cli import main
from spikebridge.data import save_trial_npz
from tests.experiments.toy import save_toy_decoder, toy_recording


def test_reproduce_cli_smoke(tmp_path, capsys):
    rec = toy_recording()
    n_trials = len(rec.trials)
    shape = (n_trials, rec.n_bins // n_trials)
    save_trial_npz(tmp_path / "toy.npz", upstream=rec.upstream_spikes.reshape(*shape, -1),
                   downstream=rec.downstream_spikes.reshape(*shape, -1),
                   labels=rec.behavior_labels.reshape(shape), bin_ms=10.0)
    save_toy_decoder(tmp_path / "decoder.mat")
    out = tmp_path / "run"
    code = main(["reproduce", "--recording", str(tmp_path / "toy.npz"), "--decoder", str(tmp_path / "decoder.mat"),
                 "--out", str(out), "--folds", "2", "--jobs", "1", "--quick", "--decoder-neurons", "0"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for name in ("rl", "rl_paper", "sl", "recorded", "upstream_ceiling"):
        assert len(results["methods"][name]["time_bin_success"]) == 2
        assert len(results["methods"][name]["trial_success"]) == 2
    assert (out / "fold_0" / "sl_test_spikes.npz").exists()
    assert "mean ± sd" in capsys.readouterr().out
    assert np.isfinite(results["wall_seconds"])


def test_reproduce_cli_reports_bad_input(tmp_path, capsys):
    code = main(["reproduce", "--recording", str(tmp_path / "missing.mat"), "--decoder", str(tmp_path / "d.mat"),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "missing.mat" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_reproduce_cli_rejects_unknown_method():
    import pytest

    with pytest.raises(SystemExit):
        main(["reproduce", "--recording", "a.mat", "--decoder", "b.mat", "--out", "o", "--methods", "rl,ppo"])


@pytest.mark.slow
def test_sigterm_stops_reproduce_and_its_workers(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    rec = toy_recording()
    shape = (len(rec.trials), rec.n_bins // len(rec.trials))
    save_trial_npz(tmp_path / "toy.npz", upstream=rec.upstream_spikes.reshape(*shape, -1),
                   downstream=rec.downstream_spikes.reshape(*shape, -1), labels=rec.behavior_labels.reshape(shape),
                   bin_ms=10.0)
    save_toy_decoder(tmp_path / "decoder.mat")
    command = [sys.executable, "-m", "spikebridge.cli", "reproduce", "--recording", str(tmp_path / "toy.npz"),
               "--decoder", str(tmp_path / "decoder.mat"), "--out", str(tmp_path / "run"), "--folds", "2",
               "--decoder-neurons", "0", "--methods", "rl", "--updates", "100000", "--jobs", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(6)  # the workers are training by now
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "interrupted" in err
    deadline = time.time() + 10
    while time.time() < deadline:  # no fold worker is left in the process group (the resource tracker may linger)
        listing = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(process.pid)], capture_output=True, text=True)
        workers = [line for line in listing.stdout.splitlines() if "spawn_main" in line]
        if not workers:
            break
        time.sleep(0.5)
    assert not workers
    assert not (tmp_path / "run" / "results.json").exists()
