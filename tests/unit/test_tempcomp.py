"""Unit tests of the learned temperature model (appliance.core.holdover, series to model), seeded and fast."""

import json
import math

import numpy as np
import pytest

from appliance.core.holdover.fit import fit
from appliance.core.holdover.lag import lag_filter
from appliance.core.holdover.model import MAX_REJECTED_IN_A_ROW, TempCompModel
from appliance.core.holdover.model_io import ModelError
from appliance.core.holdover.series import SampleError, check_series
from appliance.core.holdover.table import bspline_rows

SEED = 20240501


def synthetic(seed=SEED, days=2.0, interval_s=30.0, lag_s=150.0, aging_ppb_per_day=1.5, white_ppb=0.3, rw=0.0):
    """Known truth: a ripple + slope curve of the lagged temperature, aging, white noise."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400 / interval_s)
    t = 1000.0 + np.arange(n) * interval_s
    temp = 24 + 1.5 * np.sin(2 * np.pi * t / 86400) + 0.6 * np.sin(2 * np.pi * t / 900 + 0.3)
    crystal = lag_filter(temp, interval_s, lag_s)
    curve = lambda c: 30 * np.sin(2 * np.pi * (c - 24) / 5.0) + 4.0 * (c - 24)  # noqa: E731
    level = np.cumsum(rng.normal(0, rw * math.sqrt(interval_s), n)) if rw else 0.0
    y = curve(crystal) + aging_ppb_per_day * (t - t[0]) / 86400 + level + rng.normal(0, white_ppb, n)
    return t, temp + rng.normal(0, 0.02, n), y, curve


def test_bspline_basis_is_a_partition_of_unity_and_its_derivatives_are_exact():
    temps = np.linspace(20.3, 27.9, 500)
    cols, vals = bspline_rows(temps, 0.25, 78)
    assert np.allclose(vals.sum(axis=1), 1.0)
    # A spline with coefficients equal to knot centres reproduces T (linear precision) and its slope 1.
    theta = (78 + np.arange(40)) * 0.25
    assert np.allclose(np.sum(theta[cols] * vals, axis=1), temps)
    c1, v1 = bspline_rows(temps, 0.25, 78, derivative=1)
    assert np.allclose(np.sum(theta[c1] * v1, axis=1), 1.0)
    c2, v2 = bspline_rows(temps, 0.25, 78, derivative=2)
    assert np.allclose(np.sum(theta[c2] * v2, axis=1), 0.0, atol=1e-9)


@pytest.mark.parametrize("lag_s", [0.0, 5.0, 30.0, 150.0, 1800.0])
def test_lag_filter_matches_the_recursion(lag_s):
    rng = np.random.default_rng(SEED)
    x = 24 + np.cumsum(rng.normal(0, 0.1, 5000))
    got = lag_filter(x, 10.0, lag_s, initial=20.0)
    want = np.empty_like(x)
    prev = 20.0
    a = 1 - math.exp(-10.0 / lag_s) if lag_s > 0 else 1.0
    for i, v in enumerate(x):
        prev = prev + a * (v - prev)
        want[i] = prev
    assert np.allclose(got, want, atol=1e-9)


@pytest.fixture(scope="module")
def fitted():
    t, temp, y, curve = synthetic()
    return t, temp, y, curve, fit(t, temp, y)


def test_fit_recovers_lag_aging_and_curve(fitted):
    t, temp, y, curve, result = fitted
    m, rep = result.model.copy(), result.report
    print(f"seed {SEED}: lag {m.lag_s:.1f} s, aging {m.aging_ppb_per_day:.3f}, rms {rep.rms_residual_ppb:.3f}")
    assert 120 <= m.lag_s <= 180
    assert abs(m.aging_ppb_per_day - 1.5) < 0.3
    grid = np.linspace(m.temp_lo_c + 0.1, m.temp_hi_c - 0.1, 50)
    fitted = m.curve_ppb(grid) - m.curve_ppb(24.0)
    true = curve(grid) - curve(24.0)
    assert np.max(np.abs(fitted - true)) < 1.5
    assert rep.n_outliers < 5  # Gaussian noise: (almost) nothing beyond 6 robust sigma


def test_outliers_are_rejected_and_do_not_move_the_fit(fitted):
    t, temp, y, _, result = fitted
    clean = result.model
    rng = np.random.default_rng(SEED + 1)
    bad = rng.choice(np.arange(100, t.size - 100), 25, replace=False)
    y2 = y.copy()
    y2[bad] += rng.choice([-1, 1], 25) * 3000.0
    result = fit(t, temp, y2)
    assert result.report.n_outliers >= 25
    assert any("outlier" in w for w in result.report.warnings)
    grid = np.linspace(clean.temp_lo_c, clean.temp_hi_c, 30)
    assert np.max(np.abs(result.model.curve_ppb(grid) - clean.curve_ppb(grid))) < 0.5


def test_gaps_are_fitted_as_segments_with_a_warning():
    t, temp, y, _ = synthetic()
    keep = np.ones(t.size, dtype=bool)
    keep[2000:2300] = False
    result = fit(t[keep], temp[keep], y[keep])
    assert any("gap" in w for w in result.report.warnings)
    assert abs(result.model.aging_ppb_per_day - 1.5) < 0.4


def test_kalman_update_tracks_a_level_step_and_rejects_a_single_outlier(fitted):
    m = fitted[4].model.copy()
    before = m.n_outliers
    var = float(m.noise.mean_var_ppb2(30.0))
    now = m.time_s
    crystal = m.crystal_c
    f0 = m.frequency_ppb(now + 30, crystal)
    assert not m.update(now + 30, crystal, f0 + 500.0, var)  # one wild sample: rejected
    assert m.n_outliers == before + 1
    for k in range(2, 400):  # the frequency really moved by 5 ppb: followed
        assert m.update(now + 30 * k, crystal, f0 + 5.0, var) or k < 2 + MAX_REJECTED_IN_A_ROW
    assert abs(m.frequency_ppb(m.time_s, crystal) - (f0 + 5.0)) < 0.5


def test_update_beyond_the_range_grows_the_grid_and_is_learned(fitted):
    curve = fitted[3]
    m = fitted[4].model.copy()
    n0, hi0 = m.n_coef, m.temp_hi_c
    var = float(m.noise.mean_var_ppb2(30.0))
    hot = hi0 + 1.5
    truth = m.frequency_ppb(m.time_s, hi0) + (curve(hot) - curve(hi0))
    assert m.extrapolation_c(hot) > 0
    for _k in range(1, 200):
        m.update(m.time_s + 30, hot, truth, var)
    assert m.temp_hi_c >= hot and m.n_coef > n0
    assert m.extrapolation_c(hot) == 0
    assert abs(m.frequency_ppb(m.time_s, hot) - truth) < 1.0


def test_json_round_trip_keeps_predictions(fitted):
    m = fitted[4].model
    text = json.dumps(m.to_dict())
    m2 = TempCompModel.from_dict(json.loads(text))
    temps = np.linspace(m.temp_lo_c - 2, m.temp_hi_c + 2, 40)
    times = m.time_s + np.linspace(0, 86400, 40)
    assert np.allclose(m.frequency_ppb(times, temps), m2.frequency_ppb(times, temps))
    assert np.allclose(m.cov, m2.cov)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("lag_s"), "lag_s: required"),
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d.update(covariance=[[1.0]]), "covariance: expected"),
        (lambda d: d.update(level_ppb=float("nan")), "level_ppb"),
        (lambda d: d.update(temp_hi_c=d["temp_lo_c"] - 1), "temp_hi_c"),
        (lambda d: d.update(noise={"wpm_ppb2_s2": 1}), "noise"),
        (lambda d: d.update(k_lo=d["k_lo"] + 5), "do not cover"),
    ],
)
def test_from_dict_rejects_bad_models_naming_the_field(fitted, mutate, message):
    d = fitted[4].model.to_dict()
    mutate(d)
    with pytest.raises(ModelError, match=message):
        TempCompModel.from_dict(d)


# --- bad input ----------------------------------------------------------------------------------


def _good(n=2000, interval=30.0):
    t = np.arange(n) * interval
    return t, 24 + np.sin(t / 5000.0), np.zeros(n)


def test_check_series_accepts_good_samples():
    s = check_series(*_good())
    assert s.interval_s == 30.0 and not s.warnings[1:]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t, T, y: (t[:50], T[:50], y[:50]), "too few samples: 50 rows"),
        (lambda t, T, y: (t[:400], T[:400], y[:400]), "too few samples: they cover 3.33 h"),
        (
            lambda t, T, y: (t, T, np.where(np.arange(t.size) == 7, np.nan, y)),
            "freq_offset_ppm is not a finite number at row 8",
        ),
        (
            lambda t, T, y: (t, np.where(np.arange(t.size) == 3, np.inf, T), y),
            "temperature_c is not a finite number at row 4",
        ),
        (lambda t, T, y: (np.where(np.arange(t.size) == 10, t[8], t), T, y), "time_s is not increasing at row 11"),
        (lambda t, T, y: (t + np.where(np.arange(t.size) >= 500, 13.0, 0.0), T, y), "irregular time at row 501"),
        (lambda t, T, y: (t * 3, T, y), "sample interval 90 s is outside 1..60 s"),
        (lambda t, T, y: (t, np.full(t.size, 24.0), y), "temperature range too narrow to fit"),
        (lambda t, T, y: (t, T, np.where(np.arange(t.size) == 5, 2e6, y)), "beyond \\+-1000 ppm"),
        (lambda t, T, y: (t, np.where(np.arange(t.size) == 5, 200.0, T), y), "outside -60..150 degC"),
    ],
)
def test_check_series_names_the_problem(edit, message):
    with pytest.raises(SampleError, match=message):
        check_series(*edit(*_good()))


def test_narrow_range_and_short_span_warn():
    t, temp, y = _good(n=1500)
    s = check_series(t, 24 + 0.3 * np.sin(t / 3000.0), y)
    assert any("narrow" in w for w in s.warnings)
    assert any("random-walk" in w for w in s.warnings)
