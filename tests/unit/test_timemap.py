"""Served time: follows the clock, never steps back once started, slews the appliance's own
corrections, passes other forward jumps."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.clock.timemap import STEP_DETECT_NS, TimeMap

S = 1_000_000_000
SLEW = 83_333_333.0  # ppb


def test_legacy_update_is_unchanged():
    m = TimeMap(0, 100).updated(S, 200)
    assert m.rate_ppb == pytest.approx(100.0)
    assert m.to_served_ns(2 * S) == 2 * S + 300


def test_before_start_the_map_follows_steps_both_ways():
    m = TimeMap(0, 0).advanced(S, 0, monotonic=False)
    m = m.advanced(2 * S, -2 * S, monotonic=False)
    assert m.to_served_ns(2 * S) == 0
    assert m.correction_ns == 0


def test_backward_step_is_slewed_and_the_clock_is_met():
    m = TimeMap(0, 0).advanced(S, 0, monotonic=True, slew_ppb=SLEW)
    m2 = m.advanced(2 * S, -S, monotonic=True, slew_ppb=SLEW)  # the clock went back 1 s
    assert m2.to_served_ns(2 * S) == m.to_served_ns(2 * S)  # continuous
    assert m2.correction_at_ns(2 * S) == -S
    assert m2.to_clock_ns(2 * S) == S
    # After 6 s served time has absorbed 0.5 s, after 12 s all of it.
    assert m2.correction_at_ns(8 * S) == pytest.approx(-S + 0.5 * S, abs=2)
    assert m2.to_served_ns(15 * S) == m2.to_clock_ns(15 * S)
    assert m2.correction_at_ns(15 * S) == 0


def test_unknown_forward_jump_passes_but_own_forward_step_slews():
    m = TimeMap(0, 0).advanced(S, 0, monotonic=True, slew_ppb=SLEW)
    fault = m.advanced(2 * S, 2 * S, monotonic=True, slew_ppb=SLEW)
    assert fault.to_served_ns(2 * S) == 4 * S and fault.correction_ns == 0
    own = m.advanced(2 * S, 2 * S, monotonic=True, slew_ppb=SLEW, own_step_ns=2 * S)
    assert own.to_served_ns(2 * S) == 2 * S and own.correction_ns == 2 * S
    assert own.to_served_ns(14 * S) == pytest.approx(14 * S + S, abs=10)  # 12 s at 1/12


def test_jump_detection_and_rate_kept_across_a_step():
    m = TimeMap(0, 0).advanced(S, 0, monotonic=False)
    m = m.advanced(2 * S, 100, monotonic=False)
    assert m.rate_ppb == pytest.approx(100.0)
    assert m.clock_jump_ns(3 * S, 200) == 0
    assert m.clock_jump_ns(3 * S, 200 + 5 * S) == 5 * S
    stepped = m.advanced(3 * S, 200 + 5 * S, monotonic=False)
    assert stepped.rate_ppb == pytest.approx(100.0)  # not 5e9 ppb
    assert abs(m.clock_jump_ns(3 * S, 200 + STEP_DETECT_NS // 2)) < STEP_DETECT_NS


def test_install_later_than_the_measurement_is_continuous():
    m = TimeMap(0, 0).advanced(S, 0, monotonic=True, slew_ppb=SLEW)
    m2 = m.advanced(2 * S, -S, monotonic=True, slew_ppb=SLEW, install_ns=2 * S + 300_000)
    at = 2 * S + 300_000
    assert m2.anchor_system_ns == at
    assert m2.to_served_ns(at) == m.to_served_ns(at)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.lists(
        st.tuples(st.integers(-3 * S, 3 * S), st.booleans(), st.integers(0, 2_000_000)), min_size=1, max_size=12
    ),
    slew=st.sampled_from([500_000.0, 5_000_000.0, SLEW, 500_000_000.0]),
)
def test_served_time_never_goes_back_once_started(seed, steps, slew):
    rnd = random.Random(seed)
    system = 10 * S
    clock_off = 0
    m = TimeMap(0, 0).advanced(system, clock_off, monotonic=True, slew_ppb=slew)
    last = m.to_served_ns(system)
    for step, own, lag in steps:
        for _ in range(5):  # packets between measurements
            system += rnd.randint(1, 400_000_000)
            served = m.to_served_ns(system)
            assert served >= last
            last = served
        clock_off += step + rnd.randint(-1000, 1000)  # a step (or none) plus frequency noise
        m = m.advanced(
            system, clock_off, monotonic=True, slew_ppb=slew, own_step_ns=step if own else 0, install_ns=system + lag
        )
        system += lag
        served = m.to_served_ns(system)
        assert served >= last
        last = served
    # Long after the last correction, served time equals the clock.
    end = system + int(abs(m.correction_ns) / (slew * 1e-9)) + S
    assert abs(m.to_served_ns(end) - m.to_clock_ns(end)) <= 2
