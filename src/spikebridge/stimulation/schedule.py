"""Turn generated spikes into a stimulation schedule that never exceeds the safety limits.

Every spike of channel ``c`` in bin ``t`` requests one pulse on electrode ``c`` at the bin's onset,
``t_start + t * bin_size`` (a count of ``n`` requests ``n`` pulses). Times are kept in whole microseconds
so that every limit is checked exactly. A :class:`PulseGate` admits the requests of each channel in time
order, greedily:

* the pulse's own parameters are checked once, before any request (:meth:`SafetyLimits.check_pulse`):
  a pulse whose charge per phase breaks ``max_charge_per_phase_nc`` or the Shannon limit is a
  configuration error and raises ``ValueError``; it is never silently refused;
* a request that would break ``min_interpulse_interval_ms``, ``max_pulse_rate_hz`` or
  ``max_charge_per_second_nc`` (1-second windows ``[t, t + 1 s)``) is **dropped** (``policy="drop"``),
  or (``policy="delay"``) moved to the earliest admissible time if that is at most ``max_delay_ms``
  later, else dropped. Each delayed or dropped pulse is counted under one reason: the limit that sets
  its earliest admissible time (ties: interval, then rate, then charge).

Delivered pulses are never moved earlier and never reordered, so the greedy choice is the earliest
admissible time given the pulses already delivered. :func:`check_schedule` re-checks a finished schedule
from its arrays alone; :class:`StimulationSchedule` runs it on construction, so a schedule object that
exists satisfies its limits.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from spikebridge._validation import check_positive_int, check_positive_number, check_spike_counts
from spikebridge.stimulation.limits import PulseParameters, SafetyLimits

__all__ = [
    "REASONS",
    "PulseDecision",
    "PulseGate",
    "ScheduleReport",
    "StimulationSchedule",
    "check_schedule",
    "spikes_to_schedule",
]

REASONS = ("min_interpulse_interval", "max_pulse_rate", "max_charge_per_second")
"""Why a pulse was delayed or dropped: the limit that set its earliest admissible time."""

_POLICIES = ("drop", "delay")
_WINDOW_US = 1_000_000  # the 1-second window of the rate and charge-per-second limits
_CLOSE = 1e-9  # relative margin under which a float window sum is recomputed exactly


@dataclass(frozen=True)
class PulseDecision:
    """What a :class:`PulseGate` did with one requested pulse.

    ``time_us`` is the delivery time (None when dropped); ``reason`` is one of :data:`REASONS` when the
    pulse was delayed or dropped, else None.
    """

    channel: int
    requested_us: int
    time_us: int | None
    reason: str | None

    @property
    def delivered(self) -> bool:
        """Whether the pulse is delivered (possibly delayed)."""
        return self.time_us is not None

    @property
    def delay_us(self) -> int:
        """How much later than requested it is delivered (0 when on time or dropped)."""
        return 0 if self.time_us is None else self.time_us - self.requested_us


def _as_pulses(
    pulse: PulseParameters | Sequence[PulseParameters], n_channels: int
) -> tuple[PulseParameters, ...]:
    if isinstance(pulse, PulseParameters):
        return (pulse,) * n_channels
    pulses = tuple(pulse)
    if len(pulses) != n_channels or not all(isinstance(p, PulseParameters) for p in pulses):
        raise TypeError(
            f"`pulse` must be one PulseParameters or a sequence of {n_channels} (one per channel); got "
            f"{type(pulse).__name__} of length {len(pulses)}."
        )
    return pulses


def _check_policy(policy: object, max_delay_ms: object) -> tuple[str, float]:
    if policy not in _POLICIES:
        raise ValueError(f"`policy` must be 'drop' or 'delay'. Got policy={policy!r} instead.")
    if isinstance(max_delay_ms, bool) or not isinstance(max_delay_ms, (int, float)) \
            or not math.isfinite(max_delay_ms):
        raise TypeError(f"`max_delay_ms` must be a finite number of milliseconds. Got {max_delay_ms!r}.")
    if max_delay_ms < 0:
        raise ValueError(f"`max_delay_ms` must be >= 0. Got max_delay_ms={max_delay_ms!r} instead.")
    return str(policy), float(max_delay_ms)


class PulseGate:
    """Admit pulse requests one at a time so that no channel ever breaks a :class:`SafetyLimits`.

    Usable online (the loopback bridge asks it once per generated spike) and offline
    (:func:`spikes_to_schedule`). Memory per channel is bounded by the pulses of the last second.

    Parameters
    ----------
    n_channels :
        Number of electrodes.
    pulse :
        The pulse of every channel, or one per channel.
    limits :
        The limits; every pulse is checked against them here (``ValueError`` if one breaks them alone).
    policy :
        ``"drop"`` or ``"delay"`` (see the module docstring).
    max_delay_ms :
        Longest delay of a delayed pulse (``policy="delay"`` only).
    """

    def __init__(
        self,
        n_channels: int,
        *,
        pulse: PulseParameters | Sequence[PulseParameters] = PulseParameters(),
        limits: SafetyLimits = SafetyLimits(),
        policy: str = "drop",
        max_delay_ms: float = 10.0,
    ) -> None:
        self.n_channels = check_positive_int(n_channels, "n_channels")
        if not isinstance(limits, SafetyLimits):
            raise TypeError(f"`limits` must be a SafetyLimits; got {type(limits).__name__}.")
        self.limits = limits
        self.pulses = _as_pulses(pulse, self.n_channels)
        for channel, p in enumerate(self.pulses):
            limits.check_pulse(p, channel=channel if len(set(self.pulses)) > 1 else None)
        self.policy, self.max_delay_ms = _check_policy(policy, max_delay_ms)
        self._charges_nc = [p.charge_per_phase_nc for p in self.pulses]
        self._ipi_us = math.ceil(limits.min_interpulse_interval_ms * 1000.0)
        self._max_delay_us = math.floor(self.max_delay_ms * 1000.0 + 1e-9) if self.policy == "delay" else 0
        self._n_max = limits.max_pulses_per_second
        self._times: list[deque[int]] = [deque() for _ in range(self.n_channels)]
        self._window_charges: list[deque[float]] = [deque() for _ in range(self.n_channels)]
        self._last_request: list[int | None] = [None] * self.n_channels
        self._last_delivered: list[int | None] = [None] * self.n_channels
        zeros = lambda: np.zeros(self.n_channels, dtype=np.int64)  # noqa: E731
        self._requested, self._delivered, self._delayed, self._dropped, self._delay_sum = (
            zeros(), zeros(), zeros(), zeros(), zeros())
        self._dropped_by = {reason: zeros() for reason in REASONS}
        self._delayed_by = {reason: zeros() for reason in REASONS}

    def request(self, channel: int, time_us: int) -> PulseDecision:
        """Ask for a pulse on ``channel`` at ``time_us``; requests of a channel must come in time order.

        Returns
        -------
        decision :
            Delivered on time, delivered later (``policy="delay"``), or dropped, with the reason.
        """
        if not 0 <= channel < self.n_channels:
            raise ValueError(f"`channel` must be in [0, {self.n_channels}); got channel={channel!r}.")
        time_us = int(time_us)
        last_request = self._last_request[channel]
        if last_request is not None and time_us < last_request:
            raise ValueError(
                f"Requests of one channel must come in time order; channel {channel} got "
                f"time_us={time_us} after "
                f"{last_request}."
            )
        self._last_request[channel] = time_us
        self._requested[channel] += 1
        earliest, reason = self._earliest_admissible(channel, time_us)
        if earliest > time_us + self._max_delay_us:  # includes every violation under policy="drop"
            self._dropped[channel] += 1
            self._dropped_by[reason][channel] += 1
            return PulseDecision(channel, time_us, None, reason)
        self._times[channel].append(earliest)
        self._window_charges[channel].append(self._charges_nc[channel])
        self._last_delivered[channel] = earliest
        self._delivered[channel] += 1
        if earliest > time_us:
            self._delayed[channel] += 1
            self._delayed_by[reason][channel] += 1
            self._delay_sum[channel] += earliest - time_us
        return PulseDecision(channel, time_us, earliest, reason if earliest > time_us else None)

    def _earliest_admissible(self, channel: int, time_us: int) -> tuple[int, str | None]:
        """Find the earliest time >= ``time_us`` at which a pulse breaks no limit, and what sets it."""
        times, charges = self._times[channel], self._window_charges[channel]
        # forget pulses that can never share a window with this or a later pulse
        while times and times[0] <= time_us - _WINDOW_US:
            times.popleft()
            charges.popleft()
        bounds = [time_us, time_us, time_us]  # one per REASONS entry
        last = self._last_delivered[channel]
        if last is not None:
            bounds[0] = max(time_us, last + self._ipi_us)
        n = len(times)
        if n >= self._n_max:  # the N-th most recent pulse must have left the window (s >= d + 1 s)
            bounds[1] = max(time_us, times[n - self._n_max] + _WINDOW_US)
        q = self._charges_nc[channel]
        limit = self.limits.max_charge_per_second_nc
        if n and not _window_fits(values := list(charges), 0, q, limit):
            lo, hi = 1, n  # smallest j with charges[j:] + q <= limit; j = n always fits (check_pulse)
            while lo < hi:
                mid = (lo + hi) // 2
                if _window_fits(values, mid, q, limit):
                    hi = mid
                else:
                    lo = mid + 1
            bounds[2] = max(time_us, times[lo - 1] + _WINDOW_US)
        earliest = max(bounds)
        if earliest == time_us:
            return time_us, None
        return earliest, REASONS[bounds.index(earliest)]

    def report(self) -> "ScheduleReport":
        """Return the counts so far, per channel and reason."""
        return ScheduleReport(
            policy=self.policy, max_delay_ms=self.max_delay_ms, requested=self._requested.copy(),
            delivered=self._delivered.copy(), dropped=self._dropped.copy(), delayed=self._delayed.copy(),
            dropped_by_reason={k: v.copy() for k, v in self._dropped_by.items()},
            delayed_by_reason={k: v.copy() for k, v in self._delayed_by.items()},
            total_delay_us=self._delay_sum.copy(),
        )


def _window_fits(charges: list[float], start: int, q: float, limit: float) -> bool:
    """Tell whether ``charges[start:]`` plus ``q`` sum (exactly rounded, math.fsum) to at most ``limit``."""
    return math.fsum(charges[start:] + [q]) <= limit


@dataclass(frozen=True, eq=False)
class ScheduleReport:
    """What happened to the requested pulses, per channel; every array has shape ``(n_channels,)``.

    ``requested == delivered + dropped`` on every channel; ``delayed`` counts the delivered pulses that
    were moved later; the ``*_by_reason`` arrays of a kind sum to that kind's count.
    """

    policy: str
    max_delay_ms: float
    requested: NDArray[np.int64]
    delivered: NDArray[np.int64]
    dropped: NDArray[np.int64]
    delayed: NDArray[np.int64]
    dropped_by_reason: Mapping[str, NDArray[np.int64]]
    delayed_by_reason: Mapping[str, NDArray[np.int64]]
    total_delay_us: NDArray[np.int64]

    def __post_init__(self) -> None:
        if not np.array_equal(self.requested, self.delivered + self.dropped):
            raise ValueError(
                f"requested ({self.requested.tolist()}) must equal delivered + dropped "
                f"({(self.delivered + self.dropped).tolist()}) on every channel."
            )
        if np.any(self.delayed > self.delivered):
            raise ValueError("More pulses delayed than delivered on some channel.")
        for kind, by_reason, total in (("dropped", self.dropped_by_reason, self.dropped),
                                        ("delayed", self.delayed_by_reason, self.delayed)):
            if set(by_reason) != set(REASONS) or not np.array_equal(sum(by_reason.values()), total):
                raise ValueError(f"`{kind}_by_reason` must have the keys {REASONS} and sum to `{kind}`.")

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(len(self.requested))

    def to_dict(self) -> dict:
        """Plain-Python form (lists per channel and totals), for JSON."""
        per_channel = {
            "requested": self.requested.tolist(), "delivered": self.delivered.tolist(),
            "dropped": self.dropped.tolist(), "delayed": self.delayed.tolist(),
            "total_delay_us": self.total_delay_us.tolist(),
            "dropped_by_reason": {k: v.tolist() for k, v in self.dropped_by_reason.items()},
            "delayed_by_reason": {k: v.tolist() for k, v in self.delayed_by_reason.items()},
        }
        total = {k: int(np.sum(v)) for k, v in per_channel.items() if not isinstance(v, dict)}
        total["dropped_by_reason"] = {k: int(v.sum()) for k, v in self.dropped_by_reason.items()}
        total["delayed_by_reason"] = {k: int(v.sum()) for k, v in self.delayed_by_reason.items()}
        return {"policy": self.policy, "max_delay_ms": self.max_delay_ms, "per_channel": per_channel,
                "total": total}


@dataclass(frozen=True, eq=False)
class StimulationSchedule:
    """Delivered biphasic pulses, one entry per pulse, by time then channel; arrays of shape ``(n_pulses,)``.

    Construction runs :func:`check_schedule` and raises ``ValueError`` if any limit is broken, so every
    schedule object satisfies its ``limits``. Cathodic and anodic charges are stored separately; they are
    equal (each pulse is charge-balanced).
    """

    time_us: NDArray[np.int64]
    """Pulse onset (start of its first phase) in whole microseconds from the stream's start."""
    channel: NDArray[np.int64]
    """Electrode index, ``0 <= channel < n_channels``."""
    amplitude_ua: NDArray[np.float64]
    """Current of each phase, µA."""
    phase_width_us: NDArray[np.float64]
    """Duration of each phase, µs."""
    interphase_gap_us: NDArray[np.float64]
    """Pause between the phases, µs."""
    cathodic_first: NDArray[np.bool_]
    """True where the cathodic phase leads."""
    charge_nc: NDArray[np.float64]
    """Charge per phase, ``amplitude_ua * phase_width_us / 1000`` nC."""
    cathodic_charge_nc: NDArray[np.float64]
    """Charge of the cathodic phase, nC."""
    anodic_charge_nc: NDArray[np.float64]
    """Charge of the anodic phase, nC."""
    requested_us: NDArray[np.int64]
    """When the pulse was requested (its spike's bin onset), µs; ``time_us - requested_us`` is the delay."""
    source_bin: NDArray[np.int64]
    """Bin of the spike that requested the pulse (-1 if unknown)."""
    n_channels: int
    limits: SafetyLimits = field(default_factory=SafetyLimits)
    report: ScheduleReport | None = None

    def __post_init__(self) -> None:
        problems = check_schedule(self)
        if problems:
            raise ValueError("The schedule breaks its limits: " + "; ".join(problems[:5])
                             + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))

    def __len__(self) -> int:
        return int(len(self.time_us))

    @property
    def time_s(self) -> NDArray[np.float64]:
        """Pulse onsets in seconds."""
        return self.time_us / 1e6

    @property
    def delay_us(self) -> NDArray[np.int64]:
        """How much later than requested each pulse starts, µs."""
        return self.time_us - self.requested_us

    @property
    def net_charge_nc(self) -> NDArray[np.float64]:
        """Cathodic minus anodic charge of each pulse: zeros."""
        return self.cathodic_charge_nc - self.anodic_charge_nc

    @property
    def is_charge_balanced(self) -> bool:
        """Whether every pulse's two phases carry the same charge."""
        return bool(np.array_equal(self.cathodic_charge_nc, self.anodic_charge_nc))

    def columns(self) -> dict[str, NDArray]:
        """Return the per-pulse arrays by name, in the column order of the files (see ``export``)."""
        return {
            "time_s": self.time_s, "time_us": self.time_us, "channel": self.channel,
            "amplitude_ua": self.amplitude_ua, "phase_width_us": self.phase_width_us,
            "interphase_gap_us": self.interphase_gap_us, "cathodic_first": self.cathodic_first,
            "charge_nc": self.charge_nc, "cathodic_charge_nc": self.cathodic_charge_nc,
            "anodic_charge_nc": self.anodic_charge_nc, "requested_us": self.requested_us,
            "delay_us": self.delay_us, "source_bin": self.source_bin,
        }


def check_schedule(schedule: StimulationSchedule, limits: SafetyLimits | None = None) -> list[str]:
    """Every way ``schedule`` breaks ``limits`` (default: its own), from its arrays alone; [] if none.

    Checks array lengths, time order, channel range, per-pulse charge (the per-phase cap, the Shannon
    limit and ``amplitude * width``), charge balance, pulse overlap, the minimum interpulse interval, and
    the pulse count and charge of every 1-second window ``[t_i, t_i + 1 s)`` that starts at a pulse
    (those are the fullest windows), exactly (window sums near the limit are recomputed with
    :func:`math.fsum`). Delays must be >= 0, and at most ``report.max_delay_ms`` when there is a report.
    """
    limits = schedule.limits if limits is None else limits
    s = schedule
    names = ("time_us", "channel", "amplitude_ua", "phase_width_us", "interphase_gap_us", "cathodic_first",
             "charge_nc", "cathodic_charge_nc", "anodic_charge_nc", "requested_us", "source_bin")
    lengths = {name: np.shape(getattr(s, name)) for name in names}
    if len({shape for shape in lengths.values()}) != 1 or len(next(iter(lengths.values()))) != 1:
        return [f"the per-pulse arrays must be 1-D of one length; got shapes {lengths}"]
    problems: list[str] = []
    t, ch = np.asarray(s.time_us), np.asarray(s.channel)
    if len(t) == 0:
        if s.report is not None and np.any(s.report.delivered):
            problems.append("the report counts delivered pulses but the schedule has none")
        return problems
    if np.any((ch < 0) | (ch >= s.n_channels)):
        return [f"channels outside [0, {s.n_channels})"]
    order = np.lexsort((ch, t))
    if not np.array_equal(order, np.arange(len(t))):
        problems.append("pulses are not sorted by time, then channel")
    charge = np.asarray(s.charge_nc, dtype=np.float64)
    expected = np.asarray(s.amplitude_ua) * np.asarray(s.phase_width_us) / 1000.0
    if not np.allclose(charge, expected, rtol=1e-12, atol=0):
        problems.append("charge_nc differs from amplitude_ua * phase_width_us / 1000")
    if np.any(charge > limits.max_allowed_charge_per_phase_nc):
        problems.append(f"{int(np.sum(charge > limits.max_allowed_charge_per_phase_nc))} pulses above "
                        f"{limits.max_allowed_charge_per_phase_nc:.6g} nC per phase")
    balanced = np.array_equal(s.cathodic_charge_nc, s.anodic_charge_nc)
    if not (balanced and np.array_equal(s.cathodic_charge_nc, charge)):
        problems.append("pulses whose cathodic and anodic charges differ (not charge-balanced)")
    if np.any(np.asarray(s.amplitude_ua) <= 0) or np.any(np.asarray(s.phase_width_us) <= 0):
        problems.append("non-positive amplitudes or phase widths")
    delay = t - np.asarray(s.requested_us)
    if np.any(delay < 0):
        problems.append("pulses delivered before they were requested")
    if s.report is not None:
        max_delay_us = math.floor(s.report.max_delay_ms * 1000.0 + 1e-9) if s.report.policy == "delay" else 0
        if np.any(delay > max_delay_us):
            problems.append(f"pulses delayed by more than {max_delay_us} µs (policy {s.report.policy!r})")
        if not np.array_equal(np.bincount(ch, minlength=s.n_channels), s.report.delivered):
            problems.append("the report's delivered counts differ from the pulses in the schedule")
    duration = 2 * np.asarray(s.phase_width_us) + np.asarray(s.interphase_gap_us)
    min_gap_us = limits.min_interpulse_interval_ms * 1000.0
    for c in np.unique(ch):
        mine = ch == c
        times = t[mine]
        gaps = np.diff(times)
        if np.any(gaps < min_gap_us):
            problems.append(f"channel {c}: {int(np.sum(gaps < min_gap_us))} interpulse intervals under "
                            f"{min_gap_us} µs")
        if np.any(gaps < duration[mine][:-1]):
            problems.append(f"channel {c}: overlapping pulses")
        # the window [t_i, t_i + 1 s) holds pulses i .. end[i] - 1
        end = np.searchsorted(times, times + _WINDOW_US, side="left")
        counts = end - np.arange(len(times))
        if np.any(counts > limits.max_pulses_per_second):
            problems.append(f"channel {c}: up to {int(counts.max())} pulses in one second "
                            f"(limit {limits.max_pulses_per_second})")
        q = charge[mine]
        cumulative = np.concatenate([[0.0], np.cumsum(q)])
        approx = cumulative[end] - cumulative[: len(times)]
        limit = limits.max_charge_per_second_nc
        for i in np.flatnonzero(approx > limit * (1 - _CLOSE)):
            total = math.fsum(q[i: end[i]])
            if total > limit:
                problems.append(f"channel {c}: {total:.6g} nC in the second from {times[i]} µs "
                                f"(limit {limit:.6g})")
                break
    return problems


def spikes_to_schedule(
    spikes: ArrayLike,
    bin_size: float,
    pulse: PulseParameters | Sequence[PulseParameters] = PulseParameters(),
    limits: SafetyLimits = SafetyLimits(),
    policy: str = "drop",
    *,
    max_delay_ms: float = 10.0,
    t_start: float = 0.0,
) -> StimulationSchedule:
    """Schedule one biphasic pulse per spike, dropping or delaying pulses that would break a limit.

    Parameters
    ----------
    spikes :
        Generated spikes, shape ``(n_bins, n_channels)``; column ``c`` drives electrode ``c``. A count of
        ``n`` in a bin requests ``n`` pulses at that bin's onset.
    bin_size :
        Bin width in seconds.
    pulse :
        The pulse of every channel, or a sequence with one per channel.
    limits :
        Safety limits, per channel.
    policy :
        ``"drop"``: a pulse that would break a timing limit is dropped. ``"delay"``: it moves to the
        earliest admissible time if that is within ``max_delay_ms``, else it is dropped.
    max_delay_ms :
        Longest delay under ``policy="delay"``.
    t_start :
        Time of bin 0's onset in seconds (>= 0).

    Returns
    -------
    schedule :
        The delivered pulses and a ``report`` of requested, delivered, dropped and delayed pulses per
        channel and reason.

    Raises
    ------
    ValueError
        If the pulse itself breaks a limit (charge per phase, Shannon, one pulse above the charge per
        second, or a pulse longer than the minimum interpulse interval), or on a bad argument.

    Examples
    --------
    >>> spikes = np.array([[1, 0], [1, 1], [0, 1]])
    >>> schedule = spikes_to_schedule(spikes, bin_size=0.002)  # 2-ms bins, 5-ms minimum interval
    >>> schedule.time_us.tolist(), schedule.channel.tolist(), schedule.report.dropped.tolist()
    ([0, 2000], [0, 1], [1, 1])
    """
    counts = check_spike_counts(spikes, "spikes", binary=False)
    bin_size = check_positive_number(bin_size, "bin_size")
    if isinstance(t_start, bool) or not isinstance(t_start, (int, float)) or not math.isfinite(t_start) \
            or t_start < 0:
        raise ValueError(
            f"`t_start` must be a finite number of seconds >= 0. Got t_start={t_start!r} instead."
        )
    n_bins, n_channels = counts.shape
    gate = PulseGate(n_channels, pulse=pulse, limits=limits, policy=policy, max_delay_ms=max_delay_ms)
    onsets = np.rint((t_start + np.arange(n_bins) * bin_size) * 1e6).astype(np.int64)
    times: list[int] = []
    channels: list[int] = []
    requested: list[int] = []
    bins: list[int] = []
    for c in range(n_channels):
        column = counts[:, c]
        for b in np.flatnonzero(column):
            for _ in range(int(column[b])):
                decision = gate.request(c, int(onsets[b]))
                if decision.time_us is not None:
                    times.append(decision.time_us)
                    channels.append(c)
                    requested.append(decision.requested_us)
                    bins.append(int(b))
    return _build_schedule(gate, np.array(times, np.int64), np.array(channels, np.int64),
                           np.array(requested, np.int64), np.array(bins, np.int64))


def _build_schedule(gate: PulseGate, times: NDArray, channels: NDArray, requested: NDArray,
                    bins: NDArray) -> StimulationSchedule:
    order = np.lexsort((channels, times))
    times, channels, requested, bins = times[order], channels[order], requested[order], bins[order]
    def pick(attr: str, dtype: type) -> NDArray:
        return np.array([getattr(gate.pulses[c], attr) for c in channels], dtype=dtype)

    return StimulationSchedule(
        time_us=times, channel=channels, amplitude_ua=pick("amplitude_ua", np.float64),
        phase_width_us=pick("phase_width_us", np.float64),
        interphase_gap_us=pick("interphase_gap_us", np.float64),
        cathodic_first=pick("cathodic_first", bool), charge_nc=pick("charge_per_phase_nc", np.float64),
        cathodic_charge_nc=pick("cathodic_charge_nc", np.float64),
        anodic_charge_nc=pick("anodic_charge_nc", np.float64),
        requested_us=requested, source_bin=bins, n_channels=gate.n_channels, limits=gate.limits,
        report=gate.report(),
    )
