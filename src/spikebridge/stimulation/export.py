"""Write a :class:`~spikebridge.stimulation.schedule.StimulationSchedule` to CSV or JSON, atomically.

Both files hold one row (CSV) or one list entry per column (JSON) per delivered pulse, sorted by time then
channel, with these columns:

======================  ========  ===========================================================
column                  type      meaning
======================  ========  ===========================================================
``time_s``              float     pulse onset (start of the first phase), seconds
``time_us``             int       the same onset in whole microseconds (exact; use this one)
``channel``             int       electrode index, 0-based
``amplitude_ua``        float     current of each phase, µA
``phase_width_us``      float     duration of each phase, µs
``interphase_gap_us``   float     pause between the two phases, µs
``cathodic_first``      int/bool  1 (CSV) / true (JSON) when the cathodic phase leads
``charge_nc``           float     charge per phase, ``amplitude_ua * phase_width_us / 1000``
``cathodic_charge_nc``  float     charge of the cathodic phase, nC
``anodic_charge_nc``    float     charge of the anodic phase, nC (equal: charge-balanced)
``requested_us``        int       when the spike asked for the pulse (its bin onset), µs
``delay_us``            int       ``time_us - requested_us`` (> 0 only under ``policy="delay"``)
``source_bin``          int       bin of the spike that requested the pulse
======================  ========  ===========================================================

CSV: a header row with these names, then one row per pulse; floats are written with Python's shortest
round-trip ``repr``. JSON (UTF-8, indent 2)::

    {"format": "spikebridge.stimulation_schedule", "schema_version": 1,
     "n_channels": int, "n_pulses": int,
     "units": {column: unit, ...},
     "limits": {SafetyLimits fields..., "shannon_max_charge_nc", "max_allowed_charge_per_phase_nc"},
     "report": {"policy", "max_delay_ms", "per_channel": {...}, "total": {...}} or null,
     "pulses": {column: [one value per pulse], ...}}

The report's ``per_channel`` entries are lists with one count per channel (``requested``, ``delivered``,
``dropped``, ``delayed``, ``total_delay_us``, and ``dropped_by_reason`` / ``delayed_by_reason`` keyed
by reason); ``total`` holds their sums. Files are written to a temporary file and moved into place.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from spikebridge._io import atomic_write_json, atomic_write_text
from spikebridge.stimulation.schedule import StimulationSchedule

__all__ = ["write_csv", "write_json", "SCHEMA_VERSION", "COLUMN_UNITS"]

SCHEMA_VERSION = 1
"""Version of the file layout described above; bumped on any incompatible change."""

COLUMN_UNITS = {
    "time_s": "s", "time_us": "us", "channel": "index", "amplitude_ua": "uA", "phase_width_us": "us",
    "interphase_gap_us": "us", "cathodic_first": "bool", "charge_nc": "nC", "cathodic_charge_nc": "nC",
    "anodic_charge_nc": "nC", "requested_us": "us", "delay_us": "us", "source_bin": "bin",
}
"""Unit of every column, in file order."""


def _check(schedule: object) -> StimulationSchedule:
    if not isinstance(schedule, StimulationSchedule):
        raise TypeError(f"`schedule` must be a StimulationSchedule; got {type(schedule).__name__}.")
    return schedule


def write_csv(schedule: StimulationSchedule, path: str | os.PathLike[str]) -> Path:
    """Write the pulses as CSV (header + one row per pulse; see the module docstring), atomically.

    Returns
    -------
    path :
        The written file.
    """
    columns = _check(schedule).columns()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    values = [np.asarray(v).astype(int) if k == "cathodic_first" else np.asarray(v)
              for k, v in columns.items()]
    for row in zip(*(v.tolist() for v in values)):
        writer.writerow([repr(x) if isinstance(x, float) else x for x in row])
    return atomic_write_text(path, buffer.getvalue())


def write_json(schedule: StimulationSchedule, path: str | os.PathLike[str]) -> Path:
    """Write the pulses, units, limits and report as JSON (see the module docstring), atomically.

    Returns
    -------
    path :
        The written file.
    """
    schedule = _check(schedule)
    document = {
        "format": "spikebridge.stimulation_schedule",
        "schema_version": SCHEMA_VERSION,
        "n_channels": schedule.n_channels,
        "n_pulses": len(schedule),
        "units": COLUMN_UNITS,
        "limits": schedule.limits.to_dict(),
        "report": None if schedule.report is None else schedule.report.to_dict(),
        "pulses": {name: np.asarray(values).tolist() for name, values in schedule.columns().items()},
    }
    return atomic_write_json(path, document)
