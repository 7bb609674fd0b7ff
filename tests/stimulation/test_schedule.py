import math

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikebridge.stimulation import (
    REASONS,
    PulseGate,
    PulseParameters,
    SafetyLimits,
    StimulationSchedule,
    check_schedule,
    spikes_to_schedule,
)

WINDOW_US = 1_000_000


def independent_violations(schedule, limits):
    """Brute-force re-check of every limit, written without the module's helpers."""
    bad = []
    for c in range(schedule.n_channels):
        mine = schedule.channel == c
        t, q = schedule.time_us[mine], schedule.charge_nc[mine]
        if np.any(np.diff(t) < limits.min_interpulse_interval_ms * 1000):
            bad.append("interval")
        for i in range(len(t)):
            in_window = (t >= t[i]) & (t < t[i] + WINDOW_US)
            if in_window.sum() > limits.max_pulse_rate_hz:
                bad.append("rate")
            if math.fsum(q[in_window]) > limits.max_charge_per_second_nc:
                bad.append("charge per second")
    if np.any(schedule.charge_nc > limits.max_charge_per_phase_nc):
        bad.append("charge per phase")
    if np.any(schedule.charge_nc > limits.shannon_max_charge_nc):
        bad.append("shannon")
    return bad


def reference_admission(request_times, charge, limits, max_delay_us):
    """Earliest admissible time by brute force over the candidate times (one channel)."""
    ipi = math.ceil(limits.min_interpulse_interval_ms * 1000)
    delivered: list[int] = []

    def admissible(s):
        if delivered and s - delivered[-1] < ipi:
            return False
        window = [d for d in delivered if d > s - WINDOW_US]
        return (len(window) + 1 <= limits.max_pulses_per_second
                and math.fsum([charge] * (len(window) + 1)) <= limits.max_charge_per_second_nc)

    out = []
    for r in request_times:
        after_interval = [delivered[-1] + ipi] if delivered else []
        candidates = sorted({r, *(d + WINDOW_US for d in delivered), *after_interval})
        s = next((c for c in candidates if c >= r and admissible(c)), None)
        if s is not None and s - r <= max_delay_us:
            delivered.append(s)
            out.append(s)
        else:
            out.append(None)
    return out


@st.composite
def spike_trains(draw, max_bins, max_channels, max_count=2):
    """Small spike trains: element-wise from hypothesis, or dense Bernoulli trains from a drawn seed."""
    n_bins, n_channels = draw(st.integers(1, max_bins)), draw(st.integers(1, max_channels))
    if draw(st.booleans()):
        return draw(arrays(np.uint8, (n_bins, n_channels), elements=st.integers(0, max_count)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.random((n_bins, n_channels)) < draw(st.floats(0.05, 1.0))).astype(np.uint8)


limits_strategy = st.builds(
    SafetyLimits,
    max_pulse_rate_hz=st.floats(1, 300),
    min_interpulse_interval_ms=st.floats(0.5, 30),
    max_charge_per_phase_nc=st.floats(1, 60),
    electrode_area_mm2=st.floats(1e-4, 0.05),
    shannon_k=st.floats(1.0, 2.0),
    max_charge_per_second_nc=st.floats(5, 500),
)
pulse_strategy = st.builds(
    PulseParameters,
    amplitude_ua=st.floats(1, 100),
    phase_width_us=st.floats(20, 200),
    interphase_gap_us=st.floats(0, 50),
    cathodic_first=st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spikes=spike_trains(400, 3),
    bin_size=st.sampled_from([0.0005, 0.001, 0.002, 0.005, 0.01]),
    limits=limits_strategy,
    pulse=pulse_strategy,
    policy=st.sampled_from(["drop", "delay"]),
    max_delay_ms=st.floats(0, 40),
)
def test_no_schedule_breaks_a_limit(spikes, bin_size, limits, pulse, policy, max_delay_ms):
    try:
        limits.check_pulse(pulse)
    except ValueError:
        event("pulse refused by its own parameters")
        with pytest.raises(ValueError):
            spikes_to_schedule(spikes, bin_size, pulse, limits, policy, max_delay_ms=max_delay_ms)
        return
    schedule = spikes_to_schedule(spikes, bin_size, pulse, limits, policy, max_delay_ms=max_delay_ms)
    report = schedule.report
    for reason in REASONS:  # which limits the examples exercise (pytest --hypothesis-show-statistics)
        if report.dropped_by_reason[reason].any():
            event(f"dropped for {reason}")
        if report.delayed_by_reason[reason].any():
            event(f"delayed for {reason}")
    assert check_schedule(schedule) == []
    assert independent_violations(schedule, limits) == []
    # charge balance, stored per phase
    assert schedule.is_charge_balanced and np.all(schedule.net_charge_nc == 0)
    assert np.all(schedule.cathodic_charge_nc == pulse.charge_per_phase_nc)
    # bookkeeping
    assert np.array_equal(report.requested, spikes.sum(axis=0))
    assert np.array_equal(report.requested, report.delivered + report.dropped)
    assert np.array_equal(report.delivered, np.bincount(schedule.channel, minlength=spikes.shape[1]))
    assert np.array_equal(report.delayed, np.bincount(schedule.channel[schedule.delay_us > 0],
                                                      minlength=spikes.shape[1]))
    assert np.array_equal(sum(report.dropped_by_reason.values()), report.dropped)
    assert np.array_equal(sum(report.delayed_by_reason.values()), report.delayed)
    assert np.array_equal(report.total_delay_us, np.bincount(schedule.channel, weights=schedule.delay_us,
                                                             minlength=spikes.shape[1]).astype(np.int64))
    if policy == "drop":
        assert not report.delayed.any() and not schedule.delay_us.any()
    else:
        assert np.all(schedule.delay_us <= math.floor(max_delay_ms * 1000 + 1e-9))
    # each delivered pulse answers a real spike of its channel
    assert np.all(spikes[schedule.source_bin, schedule.channel] > 0)


@settings(max_examples=100, deadline=None)
@given(
    spikes=spike_trains(600, 1, max_count=1),
    limits=st.builds(SafetyLimits, max_pulse_rate_hz=st.integers(1, 40),
                     min_interpulse_interval_ms=st.floats(0.5, 20),
                     max_charge_per_second_nc=st.floats(4.0, 400.0)),
    max_delay_ms=st.floats(0, 30),
    bin_us=st.sampled_from([2000, 5000, 10_000]),
)
def test_delay_policy_is_the_earliest_admissible_time(spikes, limits, max_delay_ms, bin_us):
    pulse = PulseParameters()  # 4 nC per phase
    schedule = spikes_to_schedule(spikes, bin_us / 1e6, pulse, limits, "delay", max_delay_ms=max_delay_ms)
    for reason in REASONS:
        if schedule.report.delayed_by_reason[reason].any():
            event(f"delayed for {reason}")
    requests = [b * bin_us for b in np.flatnonzero(spikes[:, 0])]
    expected = reference_admission(requests, pulse.charge_per_phase_nc, limits,
                                   math.floor(max_delay_ms * 1000 + 1e-9))
    assert schedule.time_us.tolist() == [s for s in expected if s is not None]


def test_rate_limit_counts_and_reasons():
    spikes = np.ones((1000, 2), np.uint8)  # 1 kHz requests on two channels for 1 s (1-ms bins)
    limits = SafetyLimits(max_pulse_rate_hz=50, min_interpulse_interval_ms=5)
    schedule = spikes_to_schedule(spikes, 0.001, limits=limits)
    report = schedule.report
    assert report.delivered.tolist() == [50, 50]  # every 5 ms until the 50 of the second are used
    # the 4 requests between pulses 5 ms apart (49 gaps); after 245 ms the rate limit binds until 1 s
    assert report.dropped_by_reason["min_interpulse_interval"].tolist() == [196, 196]
    assert report.dropped_by_reason["max_pulse_rate"].tolist() == [754, 754]
    assert schedule.time_us[schedule.channel == 0].tolist() == list(range(0, 250_000, 5000))
    delayed = spikes_to_schedule(spikes, 0.001, limits=limits, policy="delay", max_delay_ms=2.0)
    # the same 5-ms grid, each pulse but the first taken from a request 2 ms earlier; the one at 998 ms
    # waits for the pulse at 0 to leave the window
    assert delayed.time_us[delayed.channel == 0].tolist() == list(range(0, 250_000, 5000)) + [1_000_000]
    assert delayed.report.delayed_by_reason["min_interpulse_interval"].tolist() == [49, 49]
    assert delayed.report.delayed_by_reason["max_pulse_rate"].tolist() == [1, 1]
    assert np.all(delayed.delay_us[delayed.channel == 0][1:] == 2000)
    assert delayed.report.total_delay_us.tolist() == [100_000] * 2
    assert set(report.to_dict()["total"]) >= {"requested", "delivered", "dropped", "delayed"}


def test_charge_per_second_limit_binds():
    spikes = np.zeros((2000, 1), np.uint8)
    spikes[::10] = 1  # 100 Hz for 2 s at 1-ms bins
    pulse = PulseParameters(amplitude_ua=25.0, phase_width_us=200.0)  # 5 nC per phase
    limits = SafetyLimits(max_charge_per_second_nc=100.0)  # 20 pulses per second
    schedule = spikes_to_schedule(spikes, 0.001, pulse, limits)
    assert schedule.report.delivered.tolist() == [40]
    assert schedule.report.dropped_by_reason["max_charge_per_second"].tolist() == [160]
    delayed = spikes_to_schedule(spikes, 0.001, pulse, limits, policy="delay", max_delay_ms=5.0)
    assert delayed.report.delivered.tolist() == [40]  # the window frees up on a request time: no delay helps


def test_delay_waits_for_the_charge_window():
    spikes = np.zeros((200, 1), np.uint8)
    spikes[[0, 2, 199], 0] = 1  # 0, 10 and 995 ms at 5-ms bins
    limits = SafetyLimits(max_charge_per_second_nc=8.0)  # two 4-nC pulses per second
    schedule = spikes_to_schedule(spikes, 0.005, limits=limits, policy="delay", max_delay_ms=10.0)
    assert schedule.time_us.tolist() == [0, 10_000, 1_000_000]  # waits until the pulse at 0 leaves the window
    assert schedule.report.delayed_by_reason["max_charge_per_second"].tolist() == [1]


def test_delay_moves_pulses_to_the_interval_and_counts_them():
    spikes = np.array([[1], [1], [1], [0], [0], [0], [0], [0], [1]], np.uint8)  # 2-ms bins
    schedule = spikes_to_schedule(spikes, 0.002, policy="delay", max_delay_ms=6.0)
    assert schedule.time_us.tolist() == [0, 5000, 10000, 16000]  # bins at 0, 2, 4, 16 ms
    assert schedule.delay_us.tolist() == [0, 3000, 6000, 0]
    assert schedule.report.delayed_by_reason["min_interpulse_interval"].tolist() == [2]
    short = spikes_to_schedule(spikes, 0.002, policy="delay", max_delay_ms=4.0)
    assert short.time_us.tolist() == [0, 5000, 16000]
    assert short.report.dropped.tolist() == [1] and short.report.delayed.tolist() == [1]


def test_per_channel_pulses_and_t_start():
    pulses = [PulseParameters(amplitude_ua=10.0), PulseParameters(amplitude_ua=30.0, cathodic_first=False)]
    schedule = spikes_to_schedule(np.array([[1, 1]]), 0.01, pulses, t_start=2.5)
    assert schedule.time_us.tolist() == [2_500_000] * 2 and schedule.time_s.tolist() == [2.5, 2.5]
    assert schedule.charge_nc.tolist() == [2.0, 6.0] and schedule.cathodic_first.tolist() == [True, False]
    with pytest.raises(TypeError, match="one per channel"):
        spikes_to_schedule(np.array([[1, 1]]), 0.01, pulses[:1])


def test_unsafe_pulse_raises_before_scheduling():
    with pytest.raises(ValueError, match="Shannon limit"):
        spikes_to_schedule(np.ones((3, 1)), 0.01, PulseParameters(amplitude_ua=100, phase_width_us=270))
    with pytest.raises(ValueError, match="policy"):
        spikes_to_schedule(np.ones((3, 1)), 0.01, policy="skip")
    with pytest.raises(ValueError, match="max_delay_ms"):
        spikes_to_schedule(np.ones((3, 1)), 0.01, policy="delay", max_delay_ms=-1)


def test_a_hand_made_unsafe_schedule_cannot_be_built():
    good = spikes_to_schedule(np.eye(3, dtype=np.uint8)[:, :1].repeat(1, axis=1), 0.01)
    fields = {name: getattr(good, name) for name in good.__dataclass_fields__}
    too_close = dict(fields, time_us=np.array([0]), requested_us=np.array([0]))
    StimulationSchedule(**too_close)
    two = {k: (np.concatenate([v, v]) if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
    two.update(time_us=np.array([0, 1000]), requested_us=np.array([0, 1000]), report=None)
    with pytest.raises(ValueError, match="interpulse intervals"):
        StimulationSchedule(**two)
    unbalanced = dict(fields, anodic_charge_nc=fields["anodic_charge_nc"] * 0.5)
    with pytest.raises(ValueError, match="charge-balanced"):
        StimulationSchedule(**unbalanced)
    forty = np.array([40.0])
    hot = dict(fields, amplitude_ua=np.array([200.0]), charge_nc=forty, cathodic_charge_nc=forty,
               anodic_charge_nc=forty)
    with pytest.raises(ValueError, match="nC per phase"):
        StimulationSchedule(**hot)


def test_pulse_gate_online_use_and_order():
    gate = PulseGate(2, policy="delay", max_delay_ms=10.0)
    first, second = gate.request(0, 0), gate.request(0, 1000)
    assert first.delivered and first.delay_us == 0 and first.reason is None
    assert second.time_us == 5000 and second.reason == "min_interpulse_interval"
    assert gate.request(1, 1000).time_us == 1000  # channels are independent
    with pytest.raises(ValueError, match="time order"):
        gate.request(0, 500)
    report = gate.report()
    assert report.requested.tolist() == [2, 1] and report.delayed.tolist() == [1, 0]
    assert set(report.dropped_by_reason) == set(REASONS)


def test_gate_memory_is_bounded_by_one_second():
    gate = PulseGate(1, limits=SafetyLimits(max_pulse_rate_hz=1000, min_interpulse_interval_ms=1,
                                            max_charge_per_second_nc=1e4))
    for t in range(0, 10_000_000, 1000):
        gate.request(0, t)
    assert len(gate._times[0]) <= 1000
    assert gate.report().delivered.tolist() == [10_000]
