"""Safety limits of electrical microstimulation and the biphasic pulse they are checked against.

Units are in the field names: ``_hz``, ``_ms``, ``_us`` (microseconds), ``_ua`` (microamperes),
``_nc`` (nanocoulombs), ``_mm2``. Charge per phase is ``amplitude_ua * phase_width_us / 1000`` nC.

The Shannon criterion
---------------------
Shannon (1992) fitted the boundary between safe and damaging stimulation as
``log10(D) = k - log10(Q)``, with ``Q`` the charge per phase in µC and ``D = Q / A`` the charge density
in µC/cm²/phase over the electrode's geometric area ``A`` in cm². A pulse is allowed when
``log10(D) + log10(Q) <= k``, i.e. ``Q <= sqrt(10**k * A)``. ``k = 1.5`` is a common conservative choice
(damage was seen from about ``k = 1.85``). The criterion was fitted on macroelectrodes; for
microelectrodes it is one limit among others, which is why :class:`SafetyLimits` also caps the charge per
phase directly.

References
----------
Shannon, R. V. (1992). A model of safe levels for electrical stimulation. IEEE Trans. Biomed. Eng. 39(4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from spikebridge._validation import check_positive_number

__all__ = ["SafetyLimits", "PulseParameters", "shannon_k", "shannon_max_charge_nc"]

_MM2_TO_CM2 = 0.01


def shannon_max_charge_nc(electrode_area_mm2: float, k: float = 1.5) -> float:
    """Largest charge per phase the Shannon criterion allows, in nC.

    Parameters
    ----------
    electrode_area_mm2 :
        Geometric electrode area in mm².
    k :
        The criterion's constant.

    Returns
    -------
    charge_nc :
        ``1000 * sqrt(10**k * A)`` with ``A`` in cm².

    Examples
    --------
    >>> round(shannon_max_charge_nc(0.002, k=1.5), 2)  # a 2000 µm² microelectrode
    25.15
    """
    area = check_positive_number(electrode_area_mm2, "electrode_area_mm2")
    k = _check_finite(k, "k")
    return 1000.0 * math.sqrt(10.0**k * area * _MM2_TO_CM2)


def shannon_k(charge_nc: float, electrode_area_mm2: float) -> float:
    """Compute the Shannon ``k`` of a pulse: ``log10(D) + log10(Q)``, ``Q`` in µC, ``D = Q/A`` in µC/cm².

    Examples
    --------
    >>> round(shannon_k(25.15, 0.002), 3)
    1.5
    """
    charge = check_positive_number(charge_nc, "charge_nc") / 1000.0
    area = check_positive_number(electrode_area_mm2, "electrode_area_mm2") * _MM2_TO_CM2
    return math.log10(charge / area) + math.log10(charge)


def _check_finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number. Got {name}={value!r} of type {type(value).__name__}.")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite. Got {name}={value!r} instead.")
    return float(value)


@dataclass(frozen=True)
class SafetyLimits:
    """Limits no stimulation schedule may exceed, per channel (electrode). Defaults are conservative.

    Every field is checked on construction (a ``TypeError`` or ``ValueError`` names it and the fix).
    """

    max_pulse_rate_hz: float = 200.0
    """Most pulses of one channel in any 1-second window (``[t, t + 1 s)``); must be >= 1."""

    min_interpulse_interval_ms: float = 5.0
    """Least time between the onsets of two consecutive pulses of one channel."""

    max_charge_per_phase_nc: float = 30.0
    """Largest charge of one phase of one pulse."""

    electrode_area_mm2: float = 0.002
    """Geometric area of each electrode (0.002 mm² = 2000 µm², a microelectrode), for the Shannon limit."""

    shannon_k: float = 1.5
    """The Shannon criterion's ``k``: a phase's charge ``Q`` must satisfy ``log10(Q/A) + log10(Q) <= k``."""

    max_charge_per_second_nc: float = 3000.0
    """Largest total charge per phase summed over the pulses of one channel in any 1-second window."""

    def __post_init__(self) -> None:
        for name in ("max_pulse_rate_hz", "min_interpulse_interval_ms", "max_charge_per_phase_nc",
                     "electrode_area_mm2", "max_charge_per_second_nc"):
            object.__setattr__(self, name, check_positive_number(getattr(self, name), name))
        object.__setattr__(self, "shannon_k", _check_finite(self.shannon_k, "shannon_k"))
        if self.max_pulse_rate_hz < 1:
            raise ValueError(
                f"`max_pulse_rate_hz` must be >= 1 (pulses are counted in 1-second windows). "
                f"Got max_pulse_rate_hz={self.max_pulse_rate_hz!r}; to forbid stimulation, send no pulses."
            )

    @property
    def max_pulses_per_second(self) -> int:
        """``floor(max_pulse_rate_hz)``: the most pulses one 1-second window may hold."""
        return int(math.floor(self.max_pulse_rate_hz))

    @property
    def shannon_max_charge_nc(self) -> float:
        """Largest charge per phase the Shannon criterion allows on this electrode, in nC."""
        return shannon_max_charge_nc(self.electrode_area_mm2, self.shannon_k)

    @property
    def max_allowed_charge_per_phase_nc(self) -> float:
        """The binding per-phase limit: the smaller of ``max_charge_per_phase_nc`` and the Shannon limit."""
        return min(self.max_charge_per_phase_nc, self.shannon_max_charge_nc)

    def charge_density_uc_per_cm2(self, charge_nc: float) -> float:
        """Charge density of a phase of ``charge_nc`` on this electrode, in µC/cm²."""
        return charge_nc / 1000.0 / (self.electrode_area_mm2 * _MM2_TO_CM2)

    def check_pulse(self, pulse: "PulseParameters", *, channel: int | None = None) -> None:
        """Raise ``ValueError`` if a pulse's own parameters break a limit, whatever the timing.

        Parameters
        ----------
        pulse :
            The pulse to check.
        channel :
            Named in the message when given.

        Raises
        ------
        ValueError
            If its charge per phase exceeds ``max_charge_per_phase_nc`` or the Shannon limit, if one pulse
            alone exceeds ``max_charge_per_second_nc``, or if the pulse lasts longer than
            ``min_interpulse_interval_ms`` (consecutive pulses would overlap).
        """
        where = "" if channel is None else f" on channel {channel}"
        charge = pulse.charge_per_phase_nc
        fix = "Lower amplitude_ua or phase_width_us."
        if charge > self.max_charge_per_phase_nc:
            raise ValueError(
                f"The pulse{where} carries {charge:.6g} nC per phase ({pulse.amplitude_ua} µA x "
                f"{pulse.phase_width_us} µs), above "
                f"max_charge_per_phase_nc={self.max_charge_per_phase_nc}. {fix}"
            )
        if charge > self.shannon_max_charge_nc:
            raise ValueError(
                f"The pulse{where} carries {charge:.6g} nC per phase, a charge density of "
                f"{self.charge_density_uc_per_cm2(charge):.6g} µC/cm² on {self.electrode_area_mm2} mm² "
                f"(Shannon k = {shannon_k(charge, self.electrode_area_mm2):.3f}), above the Shannon "
                "limit k = "
                f"{self.shannon_k} ({self.shannon_max_charge_nc:.6g} nC per phase). {fix}"
            )
        if charge > self.max_charge_per_second_nc:
            raise ValueError(
                f"One pulse{where} carries {charge:.6g} nC per phase, more than max_charge_per_second_nc="
                f"{self.max_charge_per_second_nc}, so none could ever be delivered. {fix}"
            )
        if pulse.duration_us > self.min_interpulse_interval_ms * 1000.0:
            raise ValueError(
                f"The pulse{where} lasts {pulse.duration_us} µs, longer than min_interpulse_interval_ms="
                f"{self.min_interpulse_interval_ms} ms, so consecutive pulses could overlap. Shorten the "
                "phases or the interphase gap, or raise min_interpulse_interval_ms."
            )

    def to_dict(self) -> dict[str, float]:
        """Return the fields plus the derived per-phase limits, for reports and files."""
        out = asdict(self)
        out.update(shannon_max_charge_nc=self.shannon_max_charge_nc,
                   max_allowed_charge_per_phase_nc=self.max_allowed_charge_per_phase_nc)
        return out


@dataclass(frozen=True)
class PulseParameters:
    """A symmetric biphasic, charge-balanced current pulse.

    Both phases have the same amplitude and width, so the cathodic and anodic charges are equal by
    construction and the net charge is zero.
    """

    amplitude_ua: float = 20.0
    """Current of each phase in µA (> 0)."""

    phase_width_us: float = 200.0
    """Duration of each phase in µs (> 0)."""

    interphase_gap_us: float = 50.0
    """Pause between the two phases in µs (>= 0)."""

    cathodic_first: bool = True
    """Whether the cathodic (negative) phase comes first; cathodic-first is the usual choice."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "amplitude_ua", check_positive_number(self.amplitude_ua, "amplitude_ua"))
        width = check_positive_number(self.phase_width_us, "phase_width_us")
        object.__setattr__(self, "phase_width_us", width)
        gap = _check_finite(self.interphase_gap_us, "interphase_gap_us")
        if gap < 0:
            raise ValueError(f"`interphase_gap_us` must be >= 0. Got interphase_gap_us={gap!r} instead.")
        object.__setattr__(self, "interphase_gap_us", gap)
        if not isinstance(self.cathodic_first, bool):
            raise TypeError(
                f"`cathodic_first` must be True or False. Got {self.cathodic_first!r} of type "
                f"{type(self.cathodic_first).__name__}."
            )

    @property
    def charge_per_phase_nc(self) -> float:
        """Charge of one phase, ``amplitude_ua * phase_width_us / 1000`` nC."""
        return self.amplitude_ua * self.phase_width_us / 1000.0

    @property
    def cathodic_charge_nc(self) -> float:
        """Charge of the cathodic phase, nC (equal to the anodic one)."""
        return self.amplitude_ua * self.phase_width_us / 1000.0

    @property
    def anodic_charge_nc(self) -> float:
        """Charge of the anodic phase, nC (equal to the cathodic one)."""
        return self.amplitude_ua * self.phase_width_us / 1000.0

    @property
    def duration_us(self) -> float:
        """Whole pulse duration: two phases and the gap, in µs."""
        return 2.0 * self.phase_width_us + self.interphase_gap_us
