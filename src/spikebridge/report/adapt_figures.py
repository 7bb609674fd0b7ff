"""Figure and page of an adaptation run (``spikebridge adapt``), read from its ``results.json``."""

from __future__ import annotations

import io
import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spikebridge._io import atomic_write_bytes, atomic_write_text
from spikebridge.exceptions import DataFormatError

__all__ = ["adaptation_figure", "write_adapt_report"]


def adaptation_figure(results: dict) -> Figure:
    """Held-out success on decoder B (and A) against training update, with the swap and the references."""
    curve, scratch, table = results["curve"], results["scratch_curve"], results["table"]
    fig = Figure(figsize=(7.5, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(curve["episodes"], curve["success_on_b"], color="tab:blue", label="RL, read by decoder B")
    ax.plot(curve["episodes"], curve["success_on_a"], color="tab:blue", alpha=0.35, ls="--",
            label="RL, read by decoder A")
    ax.plot([e + results["swap_update"] for e in scratch["episodes"]], scratch["success_on_b"], color="tab:green",
            label="RL from scratch on B (shifted to the swap)")
    ax.axvline(results["swap_update"], color="k", lw=1, ls=":")
    ax.text(results["swap_update"], ax.get_ylim()[1], " swap A→B", va="top", fontsize=8)
    if "sl" in table:
        ax.axhline(table["sl"]["on_b"], color="tab:orange", ls="-.", label=f"SL on B ({table['sl']['on_b']:.2f})")
    if "recorded_on_b" in table:
        value = table["recorded_on_b"]["on_b"]
        ax.axhline(value, color="k", ls="--", lw=1, label=f"recorded on B ({value:.2f})")
    ax.set_xlabel("training update")
    ax.set_ylabel(results["metric"].replace("_", " ") + " (held-out)")
    ax.legend(fontsize=7, loc="lower right")
    recovery = results.get("recovery_episodes")
    ax.set_title(f"Adaptation after a decoder swap: back to 95% of its final level in "
                 f"{recovery if recovery is not None else 'never'} updates", fontsize=9)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.13)
    return fig


def write_adapt_report(run_dir: str | Path) -> dict[str, Path]:
    """Write ``figures/adaptation.png`` and ``report.md`` of an adaptation run folder."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"No results.json in {run_dir}; run `spikebridge adapt --out {run_dir}` first.")
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataFormatError(f"{path} is not valid JSON: {err}") from err
    buffer = io.BytesIO()
    adaptation_figure(results).savefig(buffer, format="png")
    figure = atomic_write_bytes(run_dir / "figures" / "adaptation.png", buffer.getvalue())
    rows = "\n".join(f"| {name} | " + " | ".join(f"{k} {v:.3f}" for k, v in values.items()) + " |"
                     for name, values in results["table"].items())
    text = (f"# Adaptation to a new decoder\n\nRecording `{results['recording']}`: trained against "
            f"`{results['decoder_a']}`, swapped to `{results['decoder_b']}` at update {results['swap_update']}. "
            f"Success on the new decoder is back at 95% of its final level after "
            f"**{results['recovery_episodes']}** updates.\n\n![adaptation](figures/adaptation.png)\n\n"
            f"| method | {results['metric']} |\n|---|---|\n{rows}\n\n"
            "SL keeps its fit to the recordings and cannot adapt without new recordings; 'no_adaptation' is the "
            "A-trained generator read by decoder B.\n")
    markdown = atomic_write_text(run_dir / "report.md", text)
    return {"figure": figure, "markdown": markdown}
