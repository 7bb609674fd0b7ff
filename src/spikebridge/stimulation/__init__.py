"""Safe electrical stimulation from generated spikes: limits, pulse schedules and their files."""

from spikebridge.stimulation.export import write_csv, write_json
from spikebridge.stimulation.limits import PulseParameters, SafetyLimits, shannon_k, shannon_max_charge_nc
from spikebridge.stimulation.schedule import (
    REASONS,
    PulseDecision,
    PulseGate,
    ScheduleReport,
    StimulationSchedule,
    check_schedule,
    spikes_to_schedule,
)

__all__ = [
    "REASONS",
    "PulseDecision",
    "PulseGate",
    "PulseParameters",
    "SafetyLimits",
    "ScheduleReport",
    "StimulationSchedule",
    "check_schedule",
    "shannon_k",
    "shannon_max_charge_nc",
    "spikes_to_schedule",
    "write_csv",
    "write_json",
]
