"""Time-error bounds (appliance.core.clock.errorbound): the locked bound, the holdover/free-run
DriftBound's linear and quadratic growth, the MAX_DISPERSION_S cap, non-finite inputs and a
negative elapsed time."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.clock.errorbound import MAX_DISPERSION_S, DriftBound, locked_bound_s


def test_max_dispersion_is_ntps_maxdisp():
    assert MAX_DISPERSION_S == 16.0


@pytest.mark.parametrize("offset_ns", [-200.0, 200.0])
def test_locked_bound_is_reference_accuracy_plus_offset_plus_three_jitters(offset_ns):
    assert locked_bound_s(offset_ns, 10.0, 100.0) == pytest.approx((100 + 200 + 3 * 10) * 1e-9)


def test_locked_bound_of_a_perfect_lock_is_the_reference_accuracy():
    assert locked_bound_s(0.0, 0.0, 250.0) == pytest.approx(250e-9)
    assert locked_bound_s(0.0, 0.0, 0.0) == 0.0


def test_drift_bound_at_the_start_is_the_initial_bound():
    b = DriftBound(initial_s=2e-6, freq_uncertainty_ppb=100.0, wander_ppb_per_s=3.0)
    assert b.bound_s(0.0) == 2e-6


def test_drift_bound_grows_linearly_then_quadratically():
    b = DriftBound(initial_s=1e-6, freq_uncertainty_ppb=100.0, wander_ppb_per_s=2.0)
    # initial + 100 ppb x 10 s + 2 ppb/s x (10 s)^2 / 2 = 1 us + 1000 ns + 100 ns
    assert b.bound_s(10.0) == pytest.approx(1e-6 + 1100e-9)
    assert b.bound_s(3600.0) == pytest.approx(1e-6 + (100 * 3600 + 3600**2) * 1e-9)
    linear = DriftBound(initial_s=0.0, freq_uncertainty_ppb=50.0, wander_ppb_per_s=0.0)
    assert linear.bound_s(2000.0) == pytest.approx(2 * linear.bound_s(1000.0))
    quad = DriftBound(initial_s=0.0, freq_uncertainty_ppb=0.0, wander_ppb_per_s=1.0)
    assert quad.bound_s(2000.0) == pytest.approx(4 * quad.bound_s(1000.0))


def test_drift_bound_is_capped_at_max_dispersion():
    b = DriftBound(initial_s=1e-3, freq_uncertainty_ppb=1e6, wander_ppb_per_s=0.0)  # 1 ms/s
    assert b.bound_s(15.0) == pytest.approx(1e-3 + 15e-3)
    assert b.bound_s(1e5) == MAX_DISPERSION_S
    assert b.bound_s(1e300) == MAX_DISPERSION_S
    assert DriftBound(30.0, 0.0, 0.0).bound_s(0.0) == MAX_DISPERSION_S  # an initial bound beyond the cap too


@pytest.mark.parametrize(
    "bound,elapsed",
    [
        (DriftBound(1e-6, 100.0, 1.0), math.inf),
        (DriftBound(1e-6, 100.0, 1.0), math.nan),
        (DriftBound(math.nan, 100.0, 1.0), 10.0),
        (DriftBound(1e-6, math.inf, 0.0), 10.0),
        (DriftBound(1e-6, 100.0, math.nan), 10.0),
        (DriftBound(math.inf, -math.inf, 0.0), 1.0),  # inf - inf: nan
    ],
)
def test_a_non_finite_bound_is_the_cap_unknown_not_nan(bound, elapsed):
    assert bound.bound_s(elapsed) == MAX_DISPERSION_S


@pytest.mark.parametrize("elapsed", [-1.0, -1e9, -math.inf])
def test_negative_elapsed_counts_as_zero(elapsed):
    b = DriftBound(initial_s=5e-6, freq_uncertainty_ppb=100.0, wander_ppb_per_s=2.0)
    assert b.bound_s(elapsed) == 5e-6  # a clock read before the start is no reason to shrink the bound


@settings(max_examples=300, deadline=None)
@given(
    initial=st.floats(0, 20),
    freq=st.floats(0, 1e7),
    wander=st.floats(0, 1e4),
    t1=st.floats(0, 1e9),
    t2=st.floats(0, 1e9),
)
def test_drift_bound_never_shrinks_and_never_exceeds_the_cap(initial, freq, wander, t1, t2):
    b = DriftBound(initial, freq, wander)
    lo, hi = sorted((t1, t2))
    assert min(initial, MAX_DISPERSION_S) <= b.bound_s(lo) <= b.bound_s(hi) <= MAX_DISPERSION_S
