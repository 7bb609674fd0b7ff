import numpy as np
import pytest

from spikebridge.cli import main
from spikebridge.decoders.patternnet import WindowMLPDecoder
from spikebridge.experiments.adapt import AdaptConfig, recovery_episodes, run_adapt
from spikebridge.training.reinforce import ReinforceConfig
from spikebridge.training.supervised import SupervisedConfig
from tests.experiments.toy import HISTORY, save_toy_decoder, toy_decoder, toy_recording


def flipped_decoder() -> WindowMLPDecoder:
    """Reads 'press' when the neuron is silent: the opposite code of the toy decoder."""
    n = HISTORY + 1
    return WindowMLPDecoder(-2.0 * np.ones((1, n)), np.array([3.0]), np.array([[-1.0], [1.0]]), np.zeros(2),
                            n_neurons=1)


def test_recovery_episodes():
    episodes = [0, 10, 20, 30, 40, 50, 60, 70]
    success = [0.9, 0.9, 0.2, 0.5, 0.85, 0.9, 0.9, 0.9]
    assert recovery_episodes(episodes, success, swap=20) == 20
    assert recovery_episodes(episodes, [0.0] * 8, swap=100) is None


def test_adapt_swaps_and_compares():
    config = AdaptConfig(n_folds=2, swap_update=60, after_updates=60, eval_interval=20, n_eval_samples=2,
                         rl=ReinforceConfig(batch_trials=8, n_samples=4, learning_rate=3e-2),
                         sl=SupervisedConfig(n_epochs=10))
    results = run_adapt(toy_recording(), toy_decoder(), flipped_decoder(), config)
    assert results["curve"]["episodes"][0] == 0 and results["curve"]["episodes"][-1] == 119
    assert set(results["table"]) >= {"rl_adapted", "rl_scratch_on_b", "no_adaptation", "sl"}
    assert results["recovery_episodes"] is None or 0 <= results["recovery_episodes"] <= 60


def test_adapt_rejects_mismatched_decoders():
    from spikebridge.decoders.manual import HandDesignedDecoder

    with pytest.raises(ValueError, match="same number"):
        run_adapt(toy_recording(), toy_decoder(), HandDesignedDecoder(), AdaptConfig(n_folds=2))


def test_adapt_cli_writes_figure(tmp_path):
    from spikebridge.data import save_trial_npz

    rec = toy_recording()
    shape = (len(rec.trials), rec.n_bins // len(rec.trials))
    save_trial_npz(tmp_path / "toy.npz", upstream=rec.upstream_spikes.reshape(*shape, -1),
                   downstream=rec.downstream_spikes.reshape(*shape, -1), labels=rec.behavior_labels.reshape(shape),
                   bin_ms=10.0)
    save_toy_decoder(tmp_path / "a.mat")
    out = tmp_path / "adapt"
    code = main(["adapt", "--recording", str(tmp_path / "toy.npz"), "--decoder", str(tmp_path / "a.mat"),
                 "--swap-to", "fit:logistic", "--out", str(out), "--swap-update", "20", "--after-updates", "20",
                 "--decoder-neurons", "0"])
    assert code == 0
    assert (out / "figures" / "adaptation.png").read_bytes()[:4] == b"\x89PNG"
    assert "recovery_episodes" in (out / "results.json").read_text()
