"""Turn a run directory into ``report.html``, ``report.md`` and ``figures/*.png``; reads, never trains."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from pathlib import Path

from spikebridge._io import atomic_write_bytes, atomic_write_text
from spikebridge._validation import check_positive_int
from spikebridge.exceptions import DataFormatError
from spikebridge.report import _tables as tables
from spikebridge.report._common import Absent, ReportFigure
from spikebridge.report._document import (
    Block,
    BulletList,
    FigureBlock,
    Heading,
    Paragraph,
    to_html,
    to_markdown,
)
from spikebridge.report._load import RunData, load_run
from spikebridge.report.spike_figures import psth_figure, raster_figure, velocity_figure
from spikebridge.report.summary_figures import biomimicry_figure, learning_curve_figure, success_figure

__all__ = ["write_report"]

_INTRODUCTION = (
    "In this experiment a lesion is simulated: the pathway from an upstream brain region to a downstream "
    "region is cut. A generator reads the upstream spikes and produces spikes for the downstream neurons, "
    "meant to be delivered, for example, as stimulation. A fixed decoder, built from healthy activity, reads "
    "the behaviour from downstream spikes. The question is whether the generated spikes make the decoder "
    "read the right behaviour and whether they look like real neurons' spikes. All scores come from "
    "held-out test trials that no model was trained on."
)

_GLOSSARY = (
    "Healthy truth (recorded): the spikes the downstream neurons really fired, recorded from the healthy "
    "animal or from a simulated subject, put through the same decoder.",
    "RL: a generator trained by reinforcement learning. It never sees downstream spikes; its only feedback "
    "is whether the behaviour decoded from its own spikes was right.",
    "SL: the same kind of generator fitted by supervised learning to the recorded downstream spikes, a "
    "baseline that needs recordings a patient would not have.",
    "Upstream-only classifier: reads the behaviour straight from the upstream activity; it shows how much "
    "behaviour information the generators' input contains.",
    "Decoder-read neurons: the downstream neurons whose spikes the decoder uses; only these are generated.",
)


def _render_png(report_figure: ReportFigure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    report_figure.figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _figure_builders(run: RunData, max_trials: int) -> list[tuple[str, Callable[[], ReportFigure]]]:
    builders: list[tuple[str, Callable[[], ReportFigure]]] = [
        ("spike rasters", lambda: raster_figure(run, max_trials=max_trials)),
        ("learning curve", lambda: learning_curve_figure(run)),
        ("behaviour per method", lambda: success_figure(run)),
        ("PSTHs", lambda: psth_figure(run)),
        ("biomimicry scatter", lambda: biomimicry_figure(run)),
    ]
    if run.task == "reach":
        builders.append(("decoded velocity", lambda: velocity_figure(run, max_trials=min(max_trials, 3))))
    return builders


def write_report(run_dir: str | os.PathLike[str], *, dpi: int = 100, max_trials: int = 4) -> dict[str, Path]:
    """Write a self-contained report of one run: ``report.html``, ``report.md`` and ``figures/*.png``.

    Only reads the run directory (``results.json``, and ``arrays.npz`` if present); every file is written
    atomically, so a reader never sees half a report. Figures whose inputs are missing are left out and the
    report says what is absent.

    Parameters
    ----------
    run_dir :
        The folder a run wrote; the report is written into it.
    dpi :
        Resolution of the PNG figures.
    max_trials :
        Held-out trials shown in the raster figure (at most 3 in the velocity figure).

    Returns
    -------
    paths :
        ``{"html": run_dir/report.html, "markdown": run_dir/report.md, <figure name>: run_dir/figures/
        <figure name>.png, ...}``; figure names are ``rasters``, ``learning_curve``, ``success``, ``psth``,
        ``biomimicry`` and ``velocity``, for those drawn.

    Raises
    ------
    FileNotFoundError
        If ``run_dir`` or its ``results.json`` does not exist.
    DataFormatError
        If ``results.json`` is not a valid JSON object.

    Examples
    --------
    >>> paths = write_report("runs/rat01")  # doctest: +SKIP
    >>> paths["html"]  # doctest: +SKIP
    PosixPath('runs/rat01/report.html')
    """
    dpi = check_positive_int(dpi, "dpi", minimum=10)
    max_trials = check_positive_int(max_trials, "max_trials")
    run = load_run(run_dir)
    paths: dict[str, Path] = {}
    figure_blocks: list[FigureBlock] = []
    absent = list(run.absent)
    for description, build in _figure_builders(run, max_trials):
        try:
            report_figure = build()
        except Absent as reason:
            absent.append(f"No {description} figure: {reason}")
            continue
        except (DataFormatError, ValueError, TypeError, KeyError, IndexError) as error:
            message = f"The {description} figure could not be drawn ({type(error).__name__}: {error})."
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            absent.append(message)
            continue
        png = _render_png(report_figure, dpi)
        path = atomic_write_bytes(run.run_dir / "figures" / f"{report_figure.name}.png", png)
        paths[report_figure.name] = path
        figure_blocks.append(FigureBlock(len(figure_blocks) + 1, report_figure.title, report_figure.caption,
                                         f"figures/{report_figure.name}.png", png))
    title = f"spikebridge report: {run.task} task"
    recording = run.results.get("recording")
    if isinstance(recording, str) and 0 < len(recording.split(":", 1)[0].strip()) <= 60:
        title += f", {recording.split(':', 1)[0].strip()}"  # the name; the description is in the table
    blocks = _blocks(run, title, figure_blocks, absent)
    paths["markdown"] = atomic_write_text(run.run_dir / "report.md", to_markdown(blocks))
    paths["html"] = atomic_write_text(run.run_dir / "report.html", to_html(blocks, title))
    return {"html": paths.pop("html"), "markdown": paths.pop("markdown"), **paths}


def _blocks(run: RunData, title: str, figure_blocks: list[FigureBlock], absent: list[str]) -> list[Block]:
    blocks: list[Block] = [Heading(title, 1), Paragraph(_INTRODUCTION), BulletList(_GLOSSARY)]
    blocks += [Heading("How this run was made"), tables.run_table(run)]
    if absent:
        blocks += [Heading("What this report could not show"), BulletList(tuple(absent))]
    if figure_blocks:
        blocks.append(Heading("Figures"))
        blocks += figure_blocks
    blocks.append(Heading("Every number in results.json"))
    method_tables = tables.method_tables(run)
    if method_tables:
        blocks += [Paragraph("Behaviour per method on the held-out folds: mean ± standard deviation over "
                             "cross-validation folds, then each fold's value."), *method_tables]
    bio_tables = tables.biomimicry_tables(run)
    if bio_tables:
        blocks += [Paragraph("Biomimicry per method: mean ± standard deviation over neurons (or over neuron "
                             "and behaviour pairs), then every value."), *bio_tables]
    history = tables.history_table(run)
    if history is not None:
        blocks += [Paragraph("Training history: each logged series, summarised."), history]
    other = tables.other_table(run)
    if other is not None:
        blocks += [Paragraph("Everything else results.json records (settings, folds, ...)."), other]
    notes = run.results.get("notes")
    if isinstance(notes, str):
        notes = [notes]
    if isinstance(notes, list) and notes:
        blocks += [Heading("Notes from the run"), BulletList(tuple(str(note) for note in notes))]
    return blocks
