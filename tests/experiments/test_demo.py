import json

import numpy as np
import pytest

from spikebridge.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    assert main(["demo", "--out", str(out), "--quick", "--seed", "1"]) == 0
    return out


def test_demo_quick_cli_writes_report(demo_run):
    out = demo_run
    results = json.loads((out / "results.json").read_text())
    for name in ("rl", "sl", "recorded"):
        assert 0 <= results["methods"][name]["time_bin_success"][0] <= 1
    assert np.isfinite(results["biomimicry"]["rl"]["psth_correlation_median"])
    for name in ("report.html", "report.md", "arrays.npz", "config.json"):
        assert (out / name).stat().st_size > 0
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) >= 4
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    assert "PSTH" in (out / "report.md").read_text()


def test_report_command_regenerates(demo_run):
    out = demo_run
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").exists()
