"""Neurodata Without Borders (NWB) files: read a two-region recording; write recordings and generated spikes.

:func:`load_nwb` bins an NWB file's ``units`` onto one time grid. Units are split into upstream and
downstream by the ``location`` of their electrode group or by unit id, trials come from the ``trials``
table, labels from a trials column or a label ``TimeSeries``, and continuous behaviour from a
``TimeSeries`` (e.g. ``processing["behavior"]["hand_velocity"]``). :func:`recording_to_nwb` writes a
:class:`~spikebridge.data.Recording` in a layout that :func:`load_nwb` reads back with no arguments, and
:func:`save_generated_nwb` writes generated spikes, the model that made them and any stimulation pulses.

Times are in seconds. Bin ``i`` covers ``[t_start + i * bin_size, t_start + (i + 1) * bin_size)``; a spike
falls in the bin that holds its time, and a bin belongs to a trial (or a label interval) when its
*centre* lies inside the trial's ``[start, stop)``. Written spike times are bin centres, so re-binning
with the same ``bin_size`` and ``t_start`` is exact.

pynwb is optional: install it with ``pip install spikebridge[nwb]``. It is imported when a function here
is called, never when spikebridge is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import numbers
import os
import secrets
import uuid
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikebridge._io import _to_builtin
from spikebridge._validation import check_positive_number, check_spike_counts
from spikebridge.data.recording import Recording
from spikebridge.exceptions import DataFormatError

__all__ = ["load_nwb", "recording_to_nwb", "save_generated_nwb"]

_NOTES_KEY = "spikebridge"
_LABEL_COLUMN = "behavior_label"
_LABEL_SERIES = "behavior_labels"
_BEHAVIOR_SERIES = "behavior_continuous"
_STIMULATION_COLUMNS = {
    "channel": "Stimulation channel (electrode) of the pulse.",
    "amplitude_ua": "Pulse amplitude in microamperes.",
    "phase_width_us": "Width of each phase of the pulse in microseconds.",
    "interphase_gap_us": "Gap between the two phases of the pulse in microseconds.",
}


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise ImportError(
            f"{purpose} needs the optional package `{package}`, which is not installed. Install the NWB "
            "extra with `pip install spikebridge[nwb]` (pynwb, neo and elephant)."
        ) from error


# ====================================================================== reading
def load_nwb(
    path: str | os.PathLike[str] | Any,
    *,
    upstream_location: str | None = None,
    downstream_location: str | None = None,
    upstream_unit_ids: Sequence[int] | None = None,
    downstream_unit_ids: Sequence[int] | None = None,
    bin_size: float | None = None,
    label_column: str | None = None,
    condition_column: str | None = None,
    trial_window: tuple[str | float, str | float] | None = None,
    align_to: str | None = None,
    behavior_series: str | None = None,
    t_start: float | None = None,
    t_stop: float | None = None,
    clip_counts: bool = False,
    name: str | None = None,
) -> Recording:
    """Bin an NWB file's units, trials and behaviour into a :class:`Recording`.

    Parameters
    ----------
    path :
        An ``.nwb`` file, or a ``pynwb.NWBFile`` already in memory (e.g. built or streamed).
    upstream_location, downstream_location :
        Brain region of the upstream and downstream units: the ``location`` of their electrode group,
        taken from the units' ``electrode_group`` column or, failing that, from the group of the
        unit's first electrode in its ``electrodes`` column.
    upstream_unit_ids, downstream_unit_ids :
        Ids from the units table's ``id`` column, used instead of a location, in the order given.
        Upstream units are required (by location or ids); downstream units are optional.
    bin_size :
        Bin width in seconds. Default: the one stored by :func:`recording_to_nwb`, else 0.01.
    label_column :
        Where integer labels (0 = unlabelled) are: a trials column (every bin of the trial gets the
        trial's label) or, if the trials table has no such column, a ``TimeSeries`` of that name
        sampled at each bin centre (nearest sample; 0 outside the series).
    condition_column :
        A trials column of conditions (any values, e.g. target ids or names). Every bin of a trial's
        window gets the index of the trial's condition among the trials table's sorted unique
        conditions, plus one: the ``k``-th smallest condition becomes label ``k + 1``. Trials whose
        condition is NaN stay 0.
    trial_window :
        Which bins belong to a trial. None: ``[start_time, stop_time)``. Otherwise a
        ``(start, stop)`` pair, each a trials column name (its time) or a number of seconds after the
        ``align_to`` column (``start_time`` when ``align_to`` is None), e.g. ``(-0.25, 0.5)`` with
        ``align_to="move_onset_time"``. Trials whose window has a NaN are skipped, with a warning.
    align_to :
        Trials column that numeric ``trial_window`` offsets are measured from.
    behavior_series :
        Name of a ``TimeSeries`` (searched in the processing modules, ``behavior`` first, then in
        acquisition; ``"module/name"`` picks a module) linearly interpolated onto the bin centres,
        e.g. hand velocity ``(n_samples, 2)``. NaN outside the series' time span.
    t_start, t_stop :
        Time span to bin, in seconds. Default: from the earliest to the latest of the units'
        ``obs_intervals``, the trials, the behaviour series and the spikes. Spikes outside are dropped.
    clip_counts :
        Bins with more than one spike of a unit are an error unless this is True; then they are
        clipped to 1, with a warning saying how many.
    name :
        Recording name; default the file's stem.

    Returns
    -------
    recording :
        ``upstream_spikes`` ``(n_bins, n_upstream)`` and ``downstream_spikes``
        ``(n_bins, n_downstream)`` (or None), ``trial_ids`` the trials table's ids (-1 outside trial
        windows), ``behavior_labels``, ``behavior_continuous`` ``(n_bins, k)`` or None. The regions
        are the locations (or the units' common location when chosen by id), and neuron names come
        from a ``unit_name`` column if present, else the unit ids.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    DataFormatError
        If the file is not NWB, has no units or trials table, a location, unit id, column or series
        does not exist (the message lists those that do), a unit has more than one spike in a bin
        (without ``clip_counts``), or labelled bins fall outside the behaviour series.

    Examples
    --------
    >>> recording = load_nwb("sub-Jenkins_ses-full.nwb", upstream_location="PMd",  # doctest: +SKIP
    ...                      downstream_location="M1", condition_column="trial_type",
    ...                      trial_window=(-0.1, 0.5), align_to="move_onset_time",
    ...                      behavior_series="hand_vel")
    """
    pynwb = require("pynwb", "load_nwb")
    options = dict(
        upstream_location=upstream_location, downstream_location=downstream_location,
        upstream_unit_ids=upstream_unit_ids, downstream_unit_ids=downstream_unit_ids, bin_size=bin_size,
        label_column=label_column, condition_column=condition_column, trial_window=trial_window,
        align_to=align_to, behavior_series=behavior_series, t_start=t_start, t_stop=t_stop,
        clip_counts=clip_counts, name=name,
    )
    if isinstance(path, pynwb.NWBFile):
        return _recording_from_nwbfile(path, default_name=str(path.identifier), **options)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a file path or a pynwb.NWBFile. Got {type(path).__name__}.")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such NWB file: {path}")
    if path.is_dir():
        raise DataFormatError(f"{path} is a folder; `load_nwb` needs one .nwb file.")
    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
    except Exception as error:  # h5py and hdmf raise OSError, ValueError, KeyError ... on non-NWB files
        raise DataFormatError(f"Cannot read {path} as an NWB (HDF5) file: {error}") from error
    with io:
        try:
            nwbfile = io.read()
        except Exception as error:
            raise DataFormatError(f"Cannot read {path} as an NWB file: {error}") from error
        return _recording_from_nwbfile(nwbfile, default_name=path.stem, **options)


def _recording_from_nwbfile(nwbfile: Any, *, default_name: str, **options: Any) -> Recording:
    stored = _stored_notes(nwbfile)
    bin_size = options["bin_size"] if options["bin_size"] is not None else stored.get("bin_size", 0.01)
    bin_size = check_positive_number(bin_size, "bin_size")
    units = _Units(nwbfile)
    up_rows, up_region = units.select("upstream", options["upstream_location"], options["upstream_unit_ids"],
                                      stored.get("upstream_region"), required=True)
    down_rows, down_region = units.select("downstream", options["downstream_location"],
                                          options["downstream_unit_ids"], stored.get("downstream_region"),
                                          required=False)
    both = np.intersect1d(up_rows, down_rows) if down_rows is not None else []
    if len(both):
        raise DataFormatError(
            f"Units {units.ids[both].tolist()} are selected as both upstream and downstream."
        )

    trials = _Trials(nwbfile)
    windows, kept = trials.windows(options["trial_window"], options["align_to"])
    series_name = options["behavior_series"] or stored.get("behavior_series")
    series = _find_series(nwbfile, series_name) if series_name else None
    series_times = _series_times(series) if series is not None else None

    rows = np.concatenate([up_rows] + ([down_rows] if down_rows is not None else []))
    spikes = [units.spike_times[r] for r in rows]
    t0, n_bins = _time_grid(options["t_start"], options["t_stop"], stored, bin_size, units, trials,
                            series_times, spikes)
    binned = _bin_spike_times(spikes, t0, bin_size, n_bins, names=[units.names[r] for r in rows],
                              clip_counts=options["clip_counts"])
    trial_row = _interval_bins(windows, t0, bin_size, n_bins, what="trial windows")
    trial_row = np.where(trial_row >= 0, kept[np.maximum(trial_row, 0)], -1)  # index into the trials table
    trial_ids = np.where(trial_row >= 0, trials.ids[np.maximum(trial_row, 0)], -1)
    centres = t0 + (np.arange(n_bins) + 0.5) * bin_size
    labels = _labels(nwbfile, trials, trial_row, centres, options["label_column"],
                     options["condition_column"], stored)

    behavior = None
    if series is not None:
        behavior = _interpolate(series, series_times, centres)
        bad = (labels > 0) & ~np.all(np.isfinite(behavior), axis=1)
        if bad.any():
            raise DataFormatError(
                f"{int(bad.sum())} labelled bins have no value of behaviour series {series_name!r}, which "
                f"spans {series_times[0]:g} to {series_times[-1]:g} s (or has NaN samples there). Narrow "
                "`trial_window` to the span the series covers."
            )
    from_stored_downstream = (down_rows is not None and options["downstream_unit_ids"] is None
                              and down_region == stored.get("downstream_region"))
    n_up = len(up_rows)
    return Recording(
        upstream_spikes=binned[:, :n_up], behavior_labels=labels, trial_ids=trial_ids, bin_size=bin_size,
        downstream_spikes=binned[:, n_up:] if down_rows is not None else None, behavior_continuous=behavior,
        upstream_region=up_region, downstream_region=down_region or "downstream",
        upstream_names=tuple(units.names[r] for r in up_rows),
        downstream_names=tuple(units.names[r] for r in down_rows) if down_rows is not None else (),
        decoder_neurons=stored.get("decoder_neurons") if from_stored_downstream else None,
        decoder_history_bins=stored.get("decoder_history_bins") if from_stored_downstream else None,
        name=options["name"] or stored.get("name") or default_name,
    )


def _stored_notes(nwbfile: Any) -> dict[str, Any]:
    """Return what :func:`recording_to_nwb` stored in the file's notes, or {} for other files."""
    try:
        notes = json.loads(nwbfile.notes or "")
    except (TypeError, ValueError):
        return {}
    stored = notes.get(_NOTES_KEY) if isinstance(notes, dict) else None
    return stored if isinstance(stored, dict) and stored.get("format") == "recording" else {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ragged(table: Any, column: str) -> list[NDArray]:
    """Rows of a ragged (indexed) column, read in two array reads instead of one read per row."""
    index = table[column]
    ends = np.asarray(index.data[:], dtype=np.int64)
    flat = np.asarray(index.target.data[:])
    starts = np.concatenate([[0], ends[:-1]])
    return [flat[a:b] for a, b in zip(starts, ends)]


def _summary(values: Sequence[Any], limit: int = 12) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


class _Units:
    """The units table's ids, spike times, names, locations and observation span."""

    def __init__(self, nwbfile: Any) -> None:
        units = nwbfile.units
        if units is None or len(units) == 0:
            raise DataFormatError(
                "The NWB file has no units table (nwbfile.units) or it is empty, so there are no spikes to "
                f"bin. It holds acquisition {sorted(nwbfile.acquisition) or 'none'} and processing modules "
                f"{sorted(nwbfile.processing) or 'none'}; spike-sort the data into a units table first."
            )
        self.ids = np.asarray(units.id[:], dtype=np.int64)
        self.spike_times = [np.asarray(t, dtype=np.float64) for t in _ragged(units, "spike_times")]
        if "unit_name" in units.colnames:
            self.names = tuple(_text(x) for x in units["unit_name"].data[:])
        else:
            self.names = tuple(str(i) for i in self.ids)
        self.locations: tuple[str, ...] | None = None
        if "electrode_group" in units.colnames:
            self.locations = tuple(_text(group.location) for group in units["electrode_group"][:])
        elif "electrodes" in units.colnames:
            electrodes = units["electrodes"].target.table
            location_of_row = [_text(group.location) for group in electrodes["group"][:]]
            self.locations = tuple(  # a unit on several electrodes takes its first electrode's group
                location_of_row[int(rows[0])] if len(rows) else "" for rows in _ragged(units, "electrodes")
            )
        self.observed: tuple[float, float] | None = None
        if "obs_intervals" in units.colnames:
            intervals = [np.asarray(x, dtype=np.float64).reshape(-1, 2)
                         for x in _ragged(units, "obs_intervals")]
            intervals = np.concatenate(intervals) if intervals else np.empty((0, 2))
            if len(intervals):
                self.observed = (float(intervals[:, 0].min()), float(intervals[:, 1].max()))

    def select(self, role: str, location: str | None, unit_ids: Sequence[int] | None,
               stored_location: str | None, *, required: bool) -> tuple[Any, str | None]:
        """Row indices and region of the ``role`` units (None, None when optional and not asked for)."""
        if location is not None and unit_ids is not None:
            raise ValueError(f"Pass `{role}_location` or `{role}_unit_ids`, not both.")
        if unit_ids is not None:
            return self._by_ids(role, unit_ids)
        location = location if location is not None else stored_location
        if location is None:
            if not required:
                return None, None
            raise DataFormatError(
                f"Say which units are {role}: pass {role}_location= one of the units' locations "
                f"({self._locations_text()}) or {role}_unit_ids= (ids {_summary(self.ids.tolist())})."
            )
        if self.locations is None:
            raise DataFormatError(
                "The units table has neither an `electrode_group` nor an `electrodes` column, so units have "
                f"no location. Pass {role}_unit_ids= instead (ids {_summary(self.ids.tolist())})."
            )
        rows = np.flatnonzero(np.array(self.locations, dtype=object) == location)
        if len(rows) == 0:
            raise DataFormatError(
                f"No units are in {role}_location={location!r}. The units' electrode-group locations are: "
                f"{self._locations_text()}."
            )
        return rows, location

    def _by_ids(self, role: str, unit_ids: Sequence[int]) -> tuple[NDArray[np.int64], str]:
        wanted = np.asarray(unit_ids).ravel()
        if wanted.size == 0 or not np.issubdtype(wanted.dtype, np.integer):
            raise TypeError(
                f"`{role}_unit_ids` must be a non-empty sequence of integer unit ids. Got {unit_ids!r}."
            )
        if len(np.unique(wanted)) != len(wanted):
            raise ValueError(f"`{role}_unit_ids` lists some ids more than once: {wanted.tolist()}.")
        position = {int(unit): row for row, unit in enumerate(self.ids)}
        unknown = [int(u) for u in wanted if int(u) not in position]
        if unknown:
            raise DataFormatError(
                f"`{role}_unit_ids` has ids {unknown} that are not in the units table; its ids are "
                f"{_summary(self.ids.tolist())}."
            )
        rows = np.array([position[int(u)] for u in wanted], dtype=np.int64)
        regions = {self.locations[r] for r in rows} if self.locations is not None else set()
        return rows, regions.pop() if len(regions) == 1 else role

    def _locations_text(self) -> str:
        if self.locations is None:
            return "none: the units have no electrode information"
        found, counts = np.unique(np.array(self.locations, dtype=str), return_counts=True)
        return ", ".join(f"{str(loc)!r} ({n} units)" for loc, n in zip(found, counts))


class _Trials:
    """The trials table: ids and numeric or categorical columns by name."""

    def __init__(self, nwbfile: Any) -> None:
        trials = nwbfile.trials
        if trials is None or len(trials) == 0:
            raise DataFormatError(
                "The NWB file has no trials table (nwbfile.trials) or it is empty; spikebridge needs trials "
                "to know which bins belong together. Its interval tables are: "
                f"{sorted(nwbfile.intervals) if nwbfile.intervals else 'none'}. Add a trials table "
                "(nwbfile.add_trial) with start_time and stop_time."
            )
        self.table = trials
        self.ids = np.asarray(trials.id[:], dtype=np.int64)

    @property
    def columns(self) -> tuple[str, ...]:
        times = ("start_time", "stop_time")
        return times + tuple(c for c in self.table.colnames if c not in times)

    def column(self, name: str, *, numeric: bool = False) -> NDArray:
        if name not in self.table.colnames:
            raise DataFormatError(
                f"The trials table has no column {name!r}; its columns are {list(self.columns)}."
            )
        column = self.table[name]
        if type(column).__name__ == "VectorIndex":
            raise DataFormatError(
                f"Trials column {name!r} is ragged (several values per trial); it needs one value per trial."
            )
        values = np.asarray(column.data[:])
        if values.dtype.kind in "SO":
            values = np.array([_text(v) for v in values])
        if numeric:
            if values.dtype.kind not in "biuf":
                raise DataFormatError(
                    f"Trials column {name!r} must hold times in seconds; it holds {values.dtype} values."
                )
            values = values.astype(np.float64)
        return values

    def windows(self, trial_window: Any, align_to: str | None) -> tuple[NDArray, NDArray[np.int64]]:
        """``(n_kept, 2)`` start/stop times and the trials-table rows they belong to."""
        if trial_window is None:
            if align_to is not None:
                raise ValueError(
                    "`align_to` shifts numeric `trial_window` offsets; pass trial_window=(start, stop) too."
                )
            edges = [self.column("start_time", numeric=True), self.column("stop_time", numeric=True)]
        else:
            is_pair = isinstance(trial_window, Sequence) and not isinstance(trial_window, str)
            if not is_pair or len(trial_window) != 2:
                raise TypeError(
                    "`trial_window` must be a (start, stop) pair of trials column names or offsets in "
                    f"seconds; got {trial_window!r}."
                )
            if align_to is not None and all(isinstance(e, str) for e in trial_window):
                raise ValueError(
                    "`align_to` shifts numeric `trial_window` offsets, but both edges are column names."
                )
            reference = self.column(align_to or "start_time", numeric=True)
            edges = []
            for edge in trial_window:
                if isinstance(edge, str):
                    edges.append(self.column(edge, numeric=True))
                elif isinstance(edge, numbers.Real) and not isinstance(edge, bool):
                    edges.append(reference + float(edge))
                else:
                    raise TypeError(f"`trial_window` edges must be column names or numbers; got {edge!r}.")
        windows = np.stack(edges, axis=1)
        finite = np.all(np.isfinite(windows), axis=1)
        if not finite.all():
            warnings.warn(
                f"{int((~finite).sum())} of {len(windows)} trials have a NaN trial window edge and are "
                f"skipped (trial ids {_summary(self.ids[~finite].tolist(), 5)}).", UserWarning, stacklevel=4,
            )
        reversed_ = finite & (windows[:, 1] < windows[:, 0])
        if reversed_.any():
            raise DataFormatError(
                f"{int(reversed_.sum())} trial windows end before they start (first: trial "
                f"{self.ids[reversed_][0]}). Check the order of `trial_window` = (start, stop)."
            )
        kept = np.flatnonzero(finite)
        return windows[kept], kept


def _find_series(nwbfile: Any, name: str) -> Any:
    """Find a ``TimeSeries`` by name in the processing modules (``behavior`` first), then acquisition."""
    pynwb = require("pynwb", "load_nwb")
    found: dict[str, Any] = {}
    modules = sorted(nwbfile.processing, key=lambda m: (m != "behavior", m))
    places = [(m, nwbfile.processing[m].data_interfaces) for m in modules]
    places.append(("acquisition", nwbfile.acquisition))
    for place, interfaces in places:
        for key, interface in interfaces.items():
            if isinstance(interface, pynwb.TimeSeries):
                found.setdefault(f"{place}/{key}", interface)
            else:  # a container such as BehavioralTimeSeries or Position
                for child in interface.children:
                    if isinstance(child, pynwb.TimeSeries):
                        found.setdefault(f"{place}/{child.name}", child)
    if name in found:
        return found[name]
    for path, series in found.items():
        if path.split("/", 1)[1] == name:
            return series
    raise DataFormatError(
        f"The NWB file has no TimeSeries named {name!r}. Its TimeSeries are: {sorted(found) or 'none'} "
        "(give the name alone or as 'module/name')."
    )


def _series_times(series: Any) -> NDArray[np.float64]:
    times = np.asarray(series.get_timestamps(), dtype=np.float64)
    if len(times) == 0:
        raise DataFormatError(f"TimeSeries {series.name!r} has no samples.")
    if np.any(np.diff(times) < 0):
        raise DataFormatError(f"TimeSeries {series.name!r} has timestamps that go back in time; sort them.")
    return times


def _interpolate(series: Any, times: NDArray, centres: NDArray) -> NDArray[np.float64]:
    values = np.asarray(series.get_data_in_units(), dtype=np.float64)
    values = values.reshape(len(values), -1)
    if len(values) != len(times):
        raise DataFormatError(
            f"TimeSeries {series.name!r} has {len(values)} samples but {len(times)} timestamps."
        )
    resampled = np.stack([np.interp(centres, times, v) for v in values.T], axis=1)
    resampled[~_covered(times, centres)] = np.nan
    return resampled


def _time_grid(t_start: float | None, t_stop: float | None, stored: Mapping[str, Any], bin_size: float,
               units: _Units, trials: _Trials, series_times: NDArray | None,
               spikes: list[NDArray]) -> tuple[float, int]:
    """First bin edge and number of bins."""
    starts = [np.nanmin(trials.column("start_time", numeric=True))]
    stops = [np.nanmax(trials.column("stop_time", numeric=True))]
    for span in (units.observed, (stored.get("t_start"), stored.get("t_stop"))):
        if span is not None and span[0] is not None:
            starts.append(span[0])
            stops.append(span[1])
    if series_times is not None:
        starts.append(series_times[0])
        stops.append(series_times[-1])
    last_spike = max((t.max() for t in spikes if len(t)), default=None)
    first_spike = min((t.min() for t in spikes if len(t)), default=None)
    if first_spike is not None:
        starts.append(first_spike)
    t0 = float(min(starts)) if t_start is None else float(t_start)
    if t_stop is not None:
        if t_stop <= t0:
            raise ValueError(f"`t_stop` must be after t_start={t0}. Got t_stop={t_stop!r} instead.")
        return t0, _ceil_bins((t_stop - t0) / bin_size)
    n_bins = _ceil_bins((max(stops) - t0) / bin_size)
    if last_spike is not None:
        n_bins = max(n_bins, int(np.floor((last_spike - t0) / bin_size)) + 1)
    return t0, max(n_bins, 1)


def _ceil_bins(x: float) -> int:
    """``ceil(x)``, but a value within float error of a whole number counts as that number."""
    nearest = round(x)
    return int(nearest) if abs(x - nearest) < 1e-6 else int(np.ceil(x))


def _bin_spike_times(spike_times: Sequence[NDArray], t_start: float, bin_size: float, n_bins: int, *,
                     names: Sequence[str], clip_counts: bool) -> NDArray[np.uint8]:
    """0/1 spikes ``(n_bins, n_neurons)``; more than one spike in a bin raises unless ``clip_counts``."""
    binned = np.zeros((n_bins, len(spike_times)), dtype=np.uint8)
    over: list[tuple[str, int, int, float]] = []  # name, bins with > 1 spike, extra spikes, shortest ISI
    for j, times in enumerate(spike_times):
        index = np.floor((np.asarray(times, dtype=np.float64) - t_start) / bin_size).astype(np.int64)
        counts = np.bincount(index[(index >= 0) & (index < n_bins)], minlength=n_bins)
        if counts.max(initial=0) > 1:
            isi = np.diff(np.sort(times))
            n_extra = int((counts - 1).clip(0).sum())
            over.append((names[j], int((counts > 1).sum()), n_extra, float(isi.min())))
        binned[:, j] = counts > 0
    if over:
        n_bins_over = sum(o[1] for o in over)
        shortest = min(o[3] for o in over)
        if not clip_counts:
            worst = max(over, key=lambda o: o[1])
            raise DataFormatError(
                f"{n_bins_over} bins of {len(over)} units hold more than one spike at bin_size={bin_size:g} "
                f"s (most in unit {worst[0]!r}: {worst[1]} bins; shortest interspike interval "
                f"{shortest * 1e3:.3g} ms), but the Bernoulli model allows 0 or 1 spike per bin. Pass a "
                f"smaller bin_size, e.g. bin_size={bin_size / 2:g}, or clip_counts=True to keep one spike "
                "per bin."
            )
        warnings.warn(
            f"clip_counts=True: {n_bins_over} bins of {len(over)} units held more than one spike and were "
            f"clipped to 1 ({sum(o[2] for o in over)} spikes dropped).", UserWarning, stacklevel=4,
        )
    return binned


def _interval_bins(windows: NDArray, t_start: float, bin_size: float, n_bins: int, *, what: str) -> NDArray:
    """Per bin, the index of the interval whose ``[start, stop)`` holds the bin centre (-1 for none).

    A bin in several intervals goes to the one that starts last, with a warning.
    """
    first = np.clip(np.ceil((windows[:, 0] - t_start) / bin_size - 0.5 - 1e-9), 0, n_bins).astype(np.int64)
    last = np.clip(np.ceil((windows[:, 1] - t_start) / bin_size - 0.5 - 1e-9), 0, n_bins).astype(np.int64)
    owner = np.full(n_bins, -1, dtype=np.int64)
    n_shared = 0
    for k in np.argsort(windows[:, 0], kind="stable"):
        n_shared += int((owner[first[k]:last[k]] >= 0).sum())
        owner[first[k]:last[k]] = k
    if n_shared:
        warnings.warn(
            f"{n_shared} bins lie in more than one of the {what}; each goes to the one that starts last. "
            "Narrow `trial_window` to avoid overlaps.", UserWarning, stacklevel=4,
        )
    return owner


def _labels(nwbfile: Any, trials: _Trials, trial_row: NDArray, centres: NDArray, label_column: str | None,
            condition_column: str | None, stored: Mapping[str, Any]) -> NDArray[np.int64]:
    if label_column is not None and condition_column is not None:
        raise ValueError("Pass `label_column` or `condition_column`, not both.")
    if label_column is None and condition_column is None:
        source = stored.get("labels") or {}
        label_column = source.get("trials_column") or source.get("time_series")
        if label_column is None:
            raise DataFormatError(
                "Say where the behaviour labels are: condition_column= a trials column of conditions "
                "(labels 1..n_conditions), or label_column= a trials column or TimeSeries of integer labels. "
                f"The trials table's columns are {list(trials.columns)}."
            )
    in_trial = trial_row >= 0
    labels = np.zeros(len(centres), dtype=np.int64)
    if condition_column is not None:
        values = trials.column(condition_column)
        valid = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), dtype=bool)
        categories = np.unique(values[valid])
        codes = np.zeros(len(values), dtype=np.int64)
        codes[valid] = np.searchsorted(categories, values[valid]) + 1
        labels[in_trial] = codes[trial_row[in_trial]]
        return labels
    if label_column in trials.table.colnames:
        values = _integer_labels(trials.column(label_column), f"trials column {label_column!r}")
        labels[in_trial] = values[trial_row[in_trial]]
        return labels
    try:
        series = _find_series(nwbfile, label_column)
    except DataFormatError as error:
        raise DataFormatError(f"`label_column`={label_column!r} is neither a trials column (those are "
                              f"{list(trials.columns)}) nor a TimeSeries. {error}") from None
    times = _series_times(series)
    values = _integer_labels(np.asarray(series.data[:]).ravel(), f"TimeSeries {label_column!r}")
    right = np.clip(np.searchsorted(times, centres), 0, len(times) - 1)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(times[left] - centres) <= np.abs(times[right] - centres), left, right)
    return np.where(_covered(times, centres), values[nearest], 0)


def _covered(times: NDArray, centres: NDArray) -> NDArray[np.bool_]:
    """Bin centres within the series' span, give or take half a sample period (float error at the ends)."""
    half_period = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    return (centres >= times[0] - half_period) & (centres <= times[-1] + half_period)


def _integer_labels(values: NDArray, what: str) -> NDArray[np.int64]:
    numeric = values.dtype.kind in "biuf"
    if not numeric or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        raise DataFormatError(
            f"{what} must hold whole-number labels (0 = unlabelled); it holds {values.dtype} values. For "
            "categories such as target names, pass it as `condition_column` instead."
        )
    if values.min(initial=0) < 0:
        raise DataFormatError(f"{what} must hold labels >= 0 (0 = unlabelled); min is {values.min()}.")
    return values.astype(np.int64)


# ====================================================================== writing
def recording_to_nwb(
    recording: Recording,
    path: str | os.PathLike[str],
    *,
    t_start: float = 0.0,
    session_description: str | None = None,
    session_start_time: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a recording as an NWB file that :func:`load_nwb` reads back with no arguments.

    The layout: one electrode group per region (``name`` and ``location`` = the region) on a virtual
    device; one unit per neuron (upstream first, ids 0..n-1) with spikes at bin *centres*, a
    ``unit_name`` column and ``obs_intervals`` spanning the recording; a trials table with one row
    per trial id (``id`` = the trial id, ``[start, stop)`` = the trial's bins); labels as the trials
    column ``behavior_label`` when each trial's bins share one label and no labelled bin is outside a
    trial, else as the ``TimeSeries`` ``processing["behavior"]["behavior_labels"]`` (one sample per
    bin); ``behavior_continuous`` as ``processing["behavior"]["behavior_continuous"]``; the bin size,
    regions, decoder settings and ``metadata`` as JSON in ``notes``. Written atomically.

    Parameters
    ----------
    recording :
        The recording; its trials must each be one run of consecutive bins.
    path :
        Destination ``.nwb`` file; replaced if it exists.
    t_start :
        Time of the first bin's start edge, in seconds.
    session_description, session_start_time :
        NWB session fields; default a description naming the recording, and now (UTC).
    metadata :
        Extra JSON-serialisable information stored in ``notes``.

    Returns
    -------
    path :
        The written file.

    Raises
    ------
    DataFormatError
        If the recording has no trial, or a trial's bins are not consecutive.
    ValueError
        If both regions have the same name (they could not be told apart).
    """
    pynwb = require("pynwb", "recording_to_nwb")
    bin_size = recording.bin_size
    t_start = float(t_start)
    t_stop = t_start + recording.n_bins * bin_size
    regions = [(recording.upstream_region, recording.upstream_spikes, recording.upstream_names)]
    if recording.downstream_spikes is not None:
        if recording.downstream_region == recording.upstream_region:
            raise ValueError(
                f"Both regions are named {recording.upstream_region!r}, so the file could not tell them "
                "apart. Rename one with dataclasses.replace(recording, downstream_region=...)."
            )
        regions.append((recording.downstream_region, recording.downstream_spikes, recording.downstream_names))

    trial_ids, first, last = _trial_runs(recording.trial_ids)
    labels = recording.behavior_labels
    per_trial = [labels[a:b + 1] for a, b in zip(first, last)]
    labelled_outside = np.any(labels[recording.trial_ids < 0])
    labels_by_trial = all(np.all(x == x[0]) for x in per_trial) and not labelled_outside
    label_source = {"trials_column": _LABEL_COLUMN} if labels_by_trial else {"time_series": _LABEL_SERIES}
    notes = {_NOTES_KEY: {
        "format": "recording", "bin_size": bin_size, "t_start": t_start, "t_stop": t_stop,
        "n_bins": recording.n_bins, "spike_times": "bin centres", "name": recording.name,
        "upstream_region": recording.upstream_region,
        "downstream_region": recording.downstream_region if recording.has_downstream else None,
        "labels": label_source,
        "behavior_series": _BEHAVIOR_SERIES if recording.behavior_continuous is not None else None,
        "decoder_neurons": recording.decoder_neurons, "decoder_history_bins": recording.decoder_history_bins,
        "metadata": dict(metadata or {}),
    }}
    nwbfile = _new_nwbfile(pynwb, notes, session_description or f"spikebridge recording {recording.name!r}",
                           session_start_time)
    device = nwbfile.create_device(name="spikebridge", description="No physical device: spikes re-written "
                                   "from a binned spikebridge Recording.")
    spike_times, groups, names = [], [], []
    for region, spikes, region_names in regions:
        group = nwbfile.create_electrode_group(name=region, description=f"Units recorded in {region}.",
                                               location=region, device=device)
        spike_times += [t_start + (np.flatnonzero(column) + 0.5) * bin_size for column in spikes.T]
        groups += [group] * spikes.shape[1]
        names += list(region_names)
    nwbfile.units = _units_table(spike_times, groups, names, (t_start, t_stop),
                                 "Binned spikes written by spikebridge; spike times are bin centres.")
    columns = {}
    if labels_by_trial:
        columns[_LABEL_COLUMN] = (labels[first], "Behaviour label of every bin of the trial.")
    nwbfile.trials = _intervals_table(pynwb, "trials", "Trials of the spikebridge Recording.", trial_ids,
                                      t_start + first * bin_size, t_start + (last + 1) * bin_size, columns)
    series = []
    at_centres = dict(rate=1.0 / bin_size, starting_time=t_start + bin_size / 2)
    if not labels_by_trial:
        series.append(pynwb.TimeSeries(name=_LABEL_SERIES, data=labels, unit="label (0 = unlabelled)",
                                       description="Behaviour label of each bin, at bin centres.",
                                       **at_centres))
    if recording.behavior_continuous is not None:
        series.append(pynwb.TimeSeries(name=_BEHAVIOR_SERIES, data=recording.behavior_continuous, unit="n/a",
                                       description="Continuous behaviour of each bin, at bin centres.",
                                       **at_centres))
    if series:
        module = nwbfile.create_processing_module(name="behavior", description="Behaviour on the bin grid.")
        for s in series:
            module.add(s)
    return _write_atomically(pynwb, nwbfile, path)


def _trial_runs(trial_ids: NDArray[np.int64]) -> tuple[NDArray, NDArray, NDArray]:
    """Sorted trial ids with the first and last bin of each; each trial must be one run of bins."""
    bins = np.flatnonzero(trial_ids >= 0)
    if len(bins) == 0:
        raise DataFormatError(
            "The recording has no trial (all trial_ids are -1); an NWB trials table needs one."
        )
    ids, counts = np.unique(trial_ids[bins], return_counts=True)
    order = np.argsort(trial_ids[bins], kind="stable")
    sorted_bins = bins[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    first, last = sorted_bins[starts], sorted_bins[starts + counts - 1]
    broken = (last - first + 1) != counts
    if broken.any():
        raise DataFormatError(
            f"Trials {ids[broken][:5].tolist()} are not runs of consecutive bins, so they cannot be written "
            "as one NWB trial each. Give each run its own trial id."
        )
    return ids, first, last


def save_generated_nwb(
    path: str | os.PathLike[str],
    generated_spikes: ArrayLike,
    bin_size: float,
    *,
    t_start: float = 0.0,
    neuron_names: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    stimulation: Mapping[str, ArrayLike] | None = None,
    region: str = "generated",
    session_description: str | None = None,
    session_start_time: datetime | None = None,
) -> Path:
    """Write generated spikes, the model that made them and optional stimulation pulses to an NWB file.

    Each neuron becomes a unit whose spike times are the *centres* of its spiking bins,
    ``t_start + (i + 0.5) * bin_size`` (a bin with ``c`` spikes gives ``c`` equal times), so
    :func:`load_nwb` with the same ``bin_size`` and ``t_start`` re-bins them exactly. Units sit on one
    electrode group with ``location=region`` on a virtual device. ``metadata`` (e.g. model, decoder,
    seed) is stored as JSON in the file's ``notes`` under ``"spikebridge"`` and summarised in the units
    table's description. Written atomically: a temporary file beside ``path`` is moved over it.

    Parameters
    ----------
    path :
        Destination ``.nwb`` file; replaced if it exists.
    generated_spikes :
        Spike counts, shape ``(n_bins, n_neurons)``. For a stack of samples pass one, e.g. ``spikes[0]``.
    bin_size :
        Bin width in seconds.
    t_start :
        Time of the first bin's start edge, in seconds.
    neuron_names :
        One name per neuron (``unit_name`` column); default ``"gen0", "gen1", ...``.
    metadata :
        JSON-serialisable description of what generated the spikes, e.g.
        ``{"model": "BernoulliGLM", "decoder": "paper_lever", "seed": 42}``.
    stimulation :
        Per-pulse arrays of one length: ``time_s`` (onset, required) and any of ``channel``,
        ``amplitude_ua``, ``phase_width_us``, ``interphase_gap_us``, ``duration_s`` or other 1-D
        columns. Stored as the interval table ``intervals["stimulation"]``, one row per pulse, from
        onset to onset + duration: ``duration_s`` if given, else a biphasic pulse's
        ``(2 * phase_width_us + interphase_gap_us) * 1e-6`` s, else 0.
    region :
        Location of the generated units' electrode group.
    session_description, session_start_time :
        NWB session fields; default a description naming the model, and now (UTC).

    Returns
    -------
    path :
        The written file.
    """
    pynwb = require("pynwb", "save_generated_nwb")
    spikes = np.asarray(generated_spikes)
    if spikes.ndim != 2:
        raise DataFormatError(
            f"`generated_spikes` must have shape (n_bins, n_neurons); got shape {spikes.shape}. For a stack "
            "of samples (n_samples, n_bins, n_neurons) pass one sample, e.g. generated_spikes[0]."
        )
    spikes = check_spike_counts(spikes, "generated_spikes", binary=False)
    bin_size = check_positive_number(bin_size, "bin_size")
    n_bins, n_neurons = spikes.shape
    names = tuple(neuron_names) if neuron_names is not None else tuple(f"gen{j}" for j in range(n_neurons))
    if len(names) != n_neurons:
        raise DataFormatError(f"`neuron_names` has {len(names)} names for {n_neurons} neurons.")
    metadata = _to_builtin(dict(metadata or {}))
    t_start = float(t_start)
    t_stop = t_start + n_bins * bin_size
    notes = {_NOTES_KEY: {
        "format": "generated", "bin_size": bin_size, "t_start": t_start, "t_stop": t_stop, "n_bins": n_bins,
        "spike_times": "bin centres", "region": region, "metadata": metadata,
    }}
    summary = ", ".join(f"{k}={metadata[k]}" for k in ("model", "decoder", "seed") if k in metadata)
    nwbfile = _new_nwbfile(
        pynwb, notes, session_description or f"Spikes generated by spikebridge ({summary or 'no metadata'}).",
        session_start_time,
    )
    device = nwbfile.create_device(name="spikebridge",
                                   description="No physical device: spikes generated by a spikebridge model.")
    group = nwbfile.create_electrode_group(name=region, description="Generated units.", location=region,
                                           device=device)
    centres = t_start + (np.arange(n_bins) + 0.5) * bin_size
    nwbfile.units = _units_table(
        [np.repeat(centres, column) for column in spikes.T], [group] * n_neurons, [str(x) for x in names],
        (t_start, t_stop), f"Generated spikes ({summary or 'no metadata'}); spike times are bin centres. "
        "Full metadata: notes['spikebridge'].",
    )
    if stimulation is not None:
        nwbfile.add_time_intervals(_stimulation_table(pynwb, stimulation))
    return _write_atomically(pynwb, nwbfile, path)


def _stimulation_table(pynwb: ModuleType, stimulation: Mapping[str, ArrayLike]) -> Any:
    if not isinstance(stimulation, Mapping) or "time_s" not in stimulation:
        keys = list(stimulation) if isinstance(stimulation, Mapping) else type(stimulation).__name__
        raise DataFormatError(
            f"`stimulation` must be a dict of per-pulse arrays with a 'time_s' key; got {keys}."
        )
    columns = {key: np.asarray(value) for key, value in stimulation.items()}
    n_pulses = len(columns["time_s"])
    for key, value in columns.items():
        if value.ndim != 1 or len(value) != n_pulses:
            raise DataFormatError(
                f"`stimulation[{key!r}]` must be 1-D with one value per pulse ({n_pulses}); got shape "
                f"{value.shape}."
            )
    onset = columns.pop("time_s").astype(np.float64)
    if "duration_s" in columns:
        duration = columns.pop("duration_s").astype(np.float64)
    elif "phase_width_us" in columns:
        gap = columns.get("interphase_gap_us", np.zeros(n_pulses))
        duration = (2 * columns["phase_width_us"].astype(np.float64) + gap) * 1e-6
    else:
        duration = np.zeros(n_pulses)
    described = {key: (value, _STIMULATION_COLUMNS.get(key, f"{key} of each pulse."))
                 for key, value in columns.items()}
    description = "Stimulation pulses, one row per pulse; start_time = onset, stop_time = onset + duration."
    return _intervals_table(pynwb, "stimulation", description, np.arange(n_pulses), onset, onset + duration,
                            described)


def _intervals_table(pynwb: ModuleType, name: str, description: str, ids: ArrayLike, start: NDArray,
                     stop: NDArray, columns: Mapping[str, tuple[NDArray, str]]) -> Any:
    """Build a ``TimeIntervals`` table from whole columns (row-by-row ``add_row`` is slow)."""
    from hdmf.common import VectorData  # hdmf comes with pynwb

    vectors = [
        VectorData(name="start_time", description="Start time in seconds.", data=np.asarray(start, float)),
        VectorData(name="stop_time", description="Stop time in seconds.", data=np.asarray(stop, float)),
    ]
    vectors += [VectorData(name=key, description=text, data=data) for key, (data, text) in columns.items()]
    return pynwb.epoch.TimeIntervals(name=name, description=description, id=np.asarray(ids, dtype=np.int64),
                                     columns=vectors)


def _units_table(spike_times: Sequence[NDArray], groups: Sequence[Any], names: Sequence[str],
                 span: tuple[float, float], description: str) -> Any:
    """Build a ``Units`` table from whole columns: spike times, observed span, electrode group, name."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    n_units = len(spike_times)
    times = VectorData(name="spike_times", description="Spike times in seconds.",
                       data=np.concatenate([np.asarray(t, dtype=np.float64) for t in spike_times]))
    observed = VectorData(name="obs_intervals", description="Time span the unit was observed, in seconds.",
                          data=np.tile(np.asarray(span, dtype=np.float64), (n_units, 1)))
    ends = np.cumsum([len(t) for t in spike_times])
    columns = [
        times, VectorIndex(name="spike_times_index", data=ends, target=times),
        observed, VectorIndex(name="obs_intervals_index", data=np.arange(1, n_units + 1), target=observed),
        VectorData(name="electrode_group", description="Electrode group of the unit.", data=list(groups)),
        VectorData(name="unit_name", description="Neuron name.", data=list(names)),
    ]
    return Units(name="units", description=description, id=np.arange(n_units), columns=columns)


def _new_nwbfile(pynwb: ModuleType, notes: Mapping[str, Any], description: str,
                 session_start_time: datetime | None) -> Any:
    return pynwb.NWBFile(
        session_description=description, identifier=str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.now(timezone.utc),
        notes=json.dumps(_to_builtin(notes)),
    )


def _write_atomically(pynwb: ModuleType, nwbfile: Any, path: str | os.PathLike[str]) -> Path:
    """Write to a temporary file beside ``path``, flush it to disk, then move it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp.nwb")  # pynwb warns without .nwb
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
