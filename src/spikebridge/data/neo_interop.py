"""Neo interoperability: a :class:`Recording` as a ``neo.Block`` and back, for Elephant and Neo's readers.

The block has one ``Segment`` holding:

- one ``SpikeTrain`` per neuron, upstream first: spike times at bin centres, ``name`` = the neuron's
  name, annotations ``region``, ``role`` (``"upstream"`` or ``"downstream"``) and ``neuron_index``;
- the ``Epoch`` ``"trials"``: one interval per run of consecutive bins of one trial, labelled with the
  trial id as text and with the array annotation ``trial_id``;
- the ``Epoch`` ``"behavior_labels"``: one interval per run of bins with one label > 0, array
  annotation ``label``;
- the ``AnalogSignal`` ``"behavior_continuous"`` (when the recording has it): one sample per bin, at
  bin centres.

The block's annotations hold ``bin_size``, the region names, ``decoder_neurons`` and
``decoder_history_bins``. Bins follow :mod:`spikebridge.data.nwb`: bin ``i`` covers
``[t_start + i * bin_size, t_start + (i + 1) * bin_size)`` and an interval claims the bins whose centre
it holds. neo is optional (``pip install spikebridge[nwb]``) and imported only when called.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from spikebridge._validation import check_positive_number
from spikebridge.data.nwb import _bin_spike_times, _covered, _interval_bins, _summary, require
from spikebridge.data.recording import Recording
from spikebridge.exceptions import DataFormatError

__all__ = ["recording_to_neo", "recording_from_neo"]

_TRIAL_EPOCH = "trials"
_LABEL_EPOCH = "behavior_labels"
_BEHAVIOR_SIGNAL = "behavior_continuous"


def recording_to_neo(recording: Recording, *, t_start: float = 0.0) -> Any:
    """Turn a recording into a ``neo.Block`` with one segment (layout in the module docstring).

    Parameters
    ----------
    recording :
        The recording.
    t_start :
        Time of the first bin's start edge, in seconds.

    Returns
    -------
    block :
        A ``neo.Block``; ``block.segments[0].spiketrains`` holds the upstream neurons, then the
        downstream ones.

    Examples
    --------
    >>> from spikebridge.simulate import simulate_lever_task
    >>> block = recording_to_neo(simulate_lever_task(n_trials=2, n_upstream=3, n_downstream=2).recording)
    >>> [st.annotations["region"] for st in block.segments[0].spiketrains]
    ['mPFC', 'mPFC', 'mPFC', 'M1', 'M1']
    """
    neo = require("neo", "recording_to_neo")
    pq = require("quantities", "recording_to_neo")
    bin_size = recording.bin_size
    t_start = float(t_start)
    t_stop = t_start + recording.n_bins * bin_size
    block = neo.Block(
        name=recording.name, bin_size=bin_size, upstream_region=recording.upstream_region,
        downstream_region=recording.downstream_region if recording.has_downstream else None,
        decoder_neurons=list(recording.decoder_neurons) if recording.decoder_neurons is not None else None,
        decoder_history_bins=recording.decoder_history_bins,
    )
    segment = neo.Segment(name=recording.name)
    parts = [("upstream", recording.upstream_region, recording.upstream_spikes, recording.upstream_names)]
    if recording.downstream_spikes is not None:
        parts.append(("downstream", recording.downstream_region, recording.downstream_spikes,
                      recording.downstream_names))
    for role, region, spikes, names in parts:
        for j, name in enumerate(names):
            times = t_start + (np.flatnonzero(spikes[:, j]) + 0.5) * bin_size
            segment.spiketrains.append(neo.SpikeTrain(
                times * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s, name=name, region=region,
                role=role, neuron_index=j,
            ))
    for epoch_name, values, keep, key in (
        (_TRIAL_EPOCH, recording.trial_ids, recording.trial_ids >= 0, "trial_id"),
        (_LABEL_EPOCH, recording.behavior_labels, recording.behavior_labels > 0, "label"),
    ):
        first, last = _runs(values, keep)
        segment.epochs.append(neo.Epoch(
            times=(t_start + first * bin_size) * pq.s, durations=(last - first + 1) * bin_size * pq.s,
            labels=np.array([str(v) for v in values[first]], dtype="U"), name=epoch_name,
            array_annotations={key: values[first]},
        ))
    if recording.behavior_continuous is not None:
        segment.analogsignals.append(neo.AnalogSignal(
            recording.behavior_continuous, units=pq.dimensionless, sampling_rate=(1.0 / bin_size) * pq.Hz,
            t_start=(t_start + bin_size / 2) * pq.s, name=_BEHAVIOR_SIGNAL,
        ))
    block.segments.append(segment)
    segment.block = block
    return block


def _runs(values: NDArray, keep: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First and last bin of each run of equal ``values`` among the bins where ``keep`` is True."""
    change = np.ones(len(values), dtype=bool)
    change[1:] = (values[1:] != values[:-1]) | (keep[1:] != keep[:-1])
    starts = np.flatnonzero(change)
    ends = np.concatenate([starts[1:], [len(values)]]) - 1
    kept = keep[starts]
    return starts[kept], ends[kept]


def recording_from_neo(
    block: Any,
    *,
    bin_size: float,
    upstream_region: str,
    downstream_region: str | None,
    t_start: float | None = None,
    t_stop: float | None = None,
    trial_epoch: str = _TRIAL_EPOCH,
    label_epoch: str = _LABEL_EPOCH,
    behavior_signal: str | None = None,
    clip_counts: bool = False,
    name: str | None = None,
) -> Recording:
    """Bin a ``neo.Block`` (or ``neo.Segment``) into a :class:`Recording`.

    Parameters
    ----------
    block :
        A block with one segment, or a segment. Its spike trains need a ``region`` annotation.
    bin_size :
        Bin width in seconds.
    upstream_region, downstream_region :
        ``region`` annotation of the upstream and downstream spike trains; ``downstream_region=None``
        reads no downstream neurons.
    t_start, t_stop :
        Time span to bin, in seconds; default the earliest ``t_start`` and latest ``t_stop`` of the
        chosen spike trains.
    trial_epoch :
        Name of the ``Epoch`` of trials. Trial ids come from its ``trial_id`` array annotation, else
        from its labels read as integers.
    label_epoch :
        Name of the ``Epoch`` of labelled intervals; labels come from its ``label`` array annotation,
        else from its labels read as integers. Bins outside its intervals are 0.
    behavior_signal :
        Name of an ``AnalogSignal`` linearly interpolated onto the bin centres. Default: the one named
        ``"behavior_continuous"`` if the segment has it, else no continuous behaviour.
    clip_counts :
        Clip bins with more than one spike to 1 (with a warning) instead of raising.
    name :
        Recording name; default the block's name.

    Returns
    -------
    recording :
        Spikes ``(n_bins, n_neurons)`` in the order of the segment's spike trains.

    Raises
    ------
    DataFormatError
        If a region, epoch or signal does not exist (the message lists those that do), the block has
        several segments, or a neuron has more than one spike in a bin (without ``clip_counts``).
    """
    neo = require("neo", "recording_from_neo")
    pq = require("quantities", "recording_from_neo")
    bin_size = check_positive_number(bin_size, "bin_size")
    segment = block
    if isinstance(block, neo.Block):
        if len(block.segments) != 1:
            raise DataFormatError(
                f"The block has {len(block.segments)} segments; pass the one to read, e.g. block.segments[0]."
            )
        segment = block.segments[0]
    elif not isinstance(block, neo.Segment):
        raise TypeError(f"`block` must be a neo.Block or neo.Segment. Got {type(block).__name__}.")

    regions = [st.annotations.get("region") for st in segment.spiketrains]
    chosen = {"upstream": _trains_in(segment.spiketrains, regions, upstream_region, "upstream_region")}
    if downstream_region is not None:
        chosen["downstream"] = _trains_in(segment.spiketrains, regions, downstream_region,
                                          "downstream_region")
    trains = [st for group in chosen.values() for st in group]
    if t_start is None:
        t_start = min(float(st.t_start.rescale(pq.s).magnitude) for st in trains)
    if t_stop is None:
        t_stop = max(float(st.t_stop.rescale(pq.s).magnitude) for st in trains)
    if t_stop <= t_start:
        raise ValueError(f"`t_stop` must be after t_start={t_start}. Got t_stop={t_stop!r} instead.")
    ratio = (t_stop - t_start) / bin_size
    n_bins = int(round(ratio)) if abs(ratio - round(ratio)) < 1e-6 else int(np.ceil(ratio))
    binned = _bin_spike_times(
        [st.times.rescale(pq.s).magnitude for st in trains], t_start, bin_size, n_bins,
        names=[st.name or str(i) for i, st in enumerate(trains)], clip_counts=clip_counts,
    )
    trial_ids = _epoch_values(segment, trial_epoch, "trial_id", t_start, bin_size, n_bins, pq, fill=-1)
    labels = _epoch_values(segment, label_epoch, "label", t_start, bin_size, n_bins, pq, fill=0)
    behavior = _signal(segment, behavior_signal, t_start, bin_size, n_bins, pq)
    n_up = len(chosen["upstream"])
    annotations = block.annotations if isinstance(block, neo.Block) else {}
    same_downstream = downstream_region is not None and downstream_region == annotations.get(
        "downstream_region")
    decoder_neurons = annotations.get("decoder_neurons") if same_downstream else None
    return Recording(
        upstream_spikes=binned[:, :n_up], behavior_labels=labels, trial_ids=trial_ids, bin_size=bin_size,
        downstream_spikes=binned[:, n_up:] if downstream_region is not None else None,
        behavior_continuous=behavior, upstream_region=upstream_region,
        downstream_region=downstream_region or "downstream",
        upstream_names=tuple(st.name or f"up{i}" for i, st in enumerate(chosen["upstream"])),
        downstream_names=tuple(st.name or f"down{i}" for i, st in enumerate(chosen.get("downstream", []))),
        decoder_neurons=tuple(decoder_neurons) if decoder_neurons is not None else None,
        decoder_history_bins=annotations.get("decoder_history_bins") if same_downstream else None,
        name=name or getattr(block, "name", None) or "recording",
    )


def _trains_in(trains: list[Any], regions: list[Any], region: str, argument: str) -> list[Any]:
    found = [st for st, r in zip(trains, regions) if r == region]
    if not found:
        present, counts = np.unique(np.array([str(r) for r in regions], dtype=str), return_counts=True)
        listed = ", ".join(f"{str(r)!r} ({n} trains)" for r, n in zip(present, counts)) or "no spike trains"
        raise DataFormatError(
            f"No spike train has region annotation {argument}={region!r}. The segment's regions are: "
            f"{listed}."
        )
    return found


def _epoch_values(segment: Any, name: str, key: str, t_start: float, bin_size: float, n_bins: int, pq: Any, *,
                  fill: int) -> NDArray[np.int64]:
    """Per bin, the integer value of the epoch interval holding the bin centre (``fill`` where none)."""
    epochs = {epoch.name: epoch for epoch in segment.epochs}
    if name not in epochs:
        raise DataFormatError(
            f"The segment has no Epoch named {name!r}; its epochs are {_summary(sorted(map(str, epochs)))}."
        )
    epoch = epochs[name]
    if key in epoch.array_annotations:
        values = np.asarray(epoch.array_annotations[key])
    else:
        try:
            values = np.array([int(label) for label in epoch.labels], dtype=np.int64)
        except ValueError:
            raise DataFormatError(
                f"Epoch {name!r} has no {key!r} array annotation and its labels are not integers "
                f"({_summary(list(epoch.labels), 5)})."
            ) from None
    start = epoch.times.rescale(pq.s).magnitude
    windows = np.stack([start, start + epoch.durations.rescale(pq.s).magnitude], axis=1)
    owner = _interval_bins(windows, t_start, bin_size, n_bins, what=f"intervals of Epoch {name!r}")
    return np.where(owner >= 0, values[np.maximum(owner, 0)], fill).astype(np.int64)


def _signal(segment: Any, name: str | None, t_start: float, bin_size: float, n_bins: int,
            pq: Any) -> NDArray[np.float64] | None:
    signals = {signal.name: signal for signal in segment.analogsignals}
    if name is None:
        if _BEHAVIOR_SIGNAL not in signals:
            return None
        name = _BEHAVIOR_SIGNAL
    if name not in signals:
        raise DataFormatError(
            f"The segment has no AnalogSignal named {name!r}; its signals are "
            f"{_summary(sorted(map(str, signals)))}."
        )
    signal = signals[name]
    times = signal.times.rescale(pq.s).magnitude
    values = np.asarray(signal.magnitude, dtype=np.float64).reshape(len(times), -1)
    centres = t_start + (np.arange(n_bins) + 0.5) * bin_size
    resampled = np.stack([np.interp(centres, times, v) for v in values.T], axis=1)
    resampled[~_covered(times, centres)] = np.nan
    return resampled
