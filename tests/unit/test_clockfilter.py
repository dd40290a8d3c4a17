"""The per-peer clock filter: lowest delay wins, samples age, steps of the local clock shift them."""

import math

import pytest

from appliance.core.ntp.clockfilter import PHI, ClockFilter, PeerSample


def s(t, off, delay, **kw):
    return PeerSample(time_s=t, offset_s=off, delay_s=delay, **kw)


def test_lowest_delay_sample_wins_and_jitter_is_spread_around_it():
    f = ClockFilter(window=4, max_age_s=100)
    for t, off, d in [(0, 5e-3, 4e-3), (1, 1e-4, 2e-4), (2, 3e-3, 3e-3), (3, -2e-3, 5e-3)]:
        f.add(s(t, off, d))
    est = f.estimate(4.0)
    assert est.offset_s == pytest.approx(1e-4)
    assert est.delay_s == pytest.approx(2e-4)
    assert est.age_s == pytest.approx(3.0)
    assert est.dispersion_s == pytest.approx(3.0 * PHI)
    rms = math.sqrt(((5e-3 - 1e-4) ** 2 + (3e-3 - 1e-4) ** 2 + (-2e-3 - 1e-4) ** 2) / 3)
    assert est.jitter_s == pytest.approx(rms)
    assert est.samples == 4


def test_window_forgets_the_oldest_and_old_samples_expire():
    f = ClockFilter(window=2, max_age_s=10)
    f.add(s(0, 1.0, 1e-6))  # best delay, but pushed out by the window
    f.add(s(1, 2e-3, 1e-3))
    f.add(s(2, 3e-3, 2e-3))
    assert f.estimate(3).offset_s == pytest.approx(2e-3)
    assert f.estimate(11.5).offset_s == pytest.approx(3e-3)  # the t=1 sample is older than 10 s
    assert f.estimate(12.5) is None


def test_shift_moves_every_sample_with_a_local_clock_step():
    f = ClockFilter(window=4)
    f.add(s(0, 1e-5, 1e-4))
    f.add(s(1, -1e-5, 2e-4))
    f.shift(2.0)
    est = f.estimate(1.0)
    assert est.offset_s == pytest.approx(2.0 + 1e-5)
    assert est.jitter_s == pytest.approx(2e-5)


def test_fitness_and_distance():
    f = ClockFilter()
    f.add(s(0, 0.0, 2e-3, leap=0, stratum=1, root_delay_s=1e-3, root_dispersion_s=5e-4))
    est = f.estimate(0.0)
    assert est.fit
    assert est.distance_s == pytest.approx(1e-3 + 5e-4 + 5e-4)
    f.add(s(1, 0.0, 3e-3, leap=3, stratum=16))
    assert not f.estimate(1.0).fit  # the latest answer says unsynchronized
    g = ClockFilter()
    g.add(s(0, 0.0, 1e-3, stratum=0))
    assert not g.estimate(0).fit


def test_bad_samples_are_ignored_and_negative_delay_is_clamped():
    f = ClockFilter()
    f.add(s(0, float("nan"), 1e-3))
    f.add(s(0, 0.0, float("inf")))
    assert f.estimate(0) is None
    f.add(s(0, 1e-6, -5e-6))
    assert f.estimate(0).delay_s == 0.0
    with pytest.raises(ValueError):
        ClockFilter(window=0)
