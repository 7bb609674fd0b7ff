import math
from contextlib import nullcontext as does_not_raise

import pytest

from spikebridge.stimulation import PulseParameters, SafetyLimits, shannon_k, shannon_max_charge_nc


def test_shannon_limit_solves_the_criterion():
    # log10(Q / A) = k - log10(Q)  <=>  Q = sqrt(10**k * A), Q in µC, A in cm²
    for area_mm2, k in [(0.002, 1.5), (1.0, 1.85), (0.0005, 1.0)]:
        q_nc = shannon_max_charge_nc(area_mm2, k)
        q_uc, area_cm2 = q_nc / 1000, area_mm2 / 100
        assert math.isclose(math.log10(q_uc / area_cm2), k - math.log10(q_uc), abs_tol=1e-12)
        assert math.isclose(shannon_k(q_nc, area_mm2), k, abs_tol=1e-12)
    assert math.isclose(shannon_max_charge_nc(100.0, 1.5), 1000 * math.sqrt(10**1.5 * 1.0))  # 1 cm²


def test_default_limits_are_conservative_and_derived():
    limits = SafetyLimits()
    assert limits.max_pulses_per_second == 200
    assert 25.0 < limits.shannon_max_charge_nc < 25.3  # 2000 µm² at k = 1.5
    assert limits.max_allowed_charge_per_phase_nc == limits.shannon_max_charge_nc  # tighter than 30 nC
    assert math.isclose(limits.charge_density_uc_per_cm2(10.0), 10e-3 / 2e-5)
    derived = {"max_pulse_rate_hz", "shannon_max_charge_nc", "max_allowed_charge_per_phase_nc"}
    assert set(limits.to_dict()) >= derived


@pytest.mark.parametrize("kwargs, expectation", [
    ({}, does_not_raise()),
    ({"max_pulse_rate_hz": 0.5}, pytest.raises(ValueError, match=">= 1")),
    ({"min_interpulse_interval_ms": 0}, pytest.raises(ValueError, match="min_interpulse_interval_ms")),
    ({"electrode_area_mm2": -1}, pytest.raises(ValueError, match="electrode_area_mm2")),
    ({"max_charge_per_second_nc": "1"}, pytest.raises(TypeError, match="max_charge_per_second_nc")),
    ({"shannon_k": float("nan")}, pytest.raises(ValueError, match="shannon_k")),
])
def test_safety_limits_validate(kwargs, expectation):
    with expectation:
        SafetyLimits(**kwargs)


@pytest.mark.parametrize("kwargs, expectation", [
    ({}, does_not_raise()),
    ({"amplitude_ua": 0}, pytest.raises(ValueError, match="amplitude_ua")),
    ({"phase_width_us": -5}, pytest.raises(ValueError, match="phase_width_us")),
    ({"interphase_gap_us": -1}, pytest.raises(ValueError, match="interphase_gap_us")),
    ({"cathodic_first": 1}, pytest.raises(TypeError, match="cathodic_first")),
])
def test_pulse_parameters_validate(kwargs, expectation):
    with expectation:
        PulseParameters(**kwargs)


def test_pulse_is_charge_balanced_by_construction():
    pulse = PulseParameters(amplitude_ua=37.5, phase_width_us=120.0, interphase_gap_us=10.0)
    assert pulse.cathodic_charge_nc == pulse.anodic_charge_nc == pulse.charge_per_phase_nc == 4.5
    assert pulse.duration_us == 250.0


@pytest.mark.parametrize("pulse, limits, match", [
    (PulseParameters(amplitude_ua=200, phase_width_us=200), SafetyLimits(electrode_area_mm2=1.0),
     "max_charge_per_phase_nc"),
    (PulseParameters(amplitude_ua=100, phase_width_us=270), SafetyLimits(), "Shannon limit"),
    (PulseParameters(amplitude_ua=20, phase_width_us=200), SafetyLimits(max_charge_per_second_nc=3.0),
     "none could ever be delivered"),
    (PulseParameters(phase_width_us=3000),
     SafetyLimits(electrode_area_mm2=100.0, max_charge_per_phase_nc=1e3),
     "overlap"),
])
def test_check_pulse_refuses_unsafe_parameters(pulse, limits, match):
    with pytest.raises(ValueError, match=match):
        limits.check_pulse(pulse)


def test_check_pulse_accepts_the_limit_itself():
    limits = SafetyLimits(electrode_area_mm2=1.0, max_charge_per_phase_nc=30.0)
    limits.check_pulse(PulseParameters(amplitude_ua=150.0, phase_width_us=200.0))  # exactly 30 nC
