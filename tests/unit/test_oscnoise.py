"""Allan-deviation noise model (appliance.core.holdover.noise), seeded."""

import math

import numpy as np
import pytest

from appliance.core.holdover import noise as N

SEED = 99


def test_power_law_fit_recovers_coefficients_from_exact_deviations():
    tau = 60.0 * 2.0 ** np.arange(0, 12)
    truth = N.NoiseModel(wpm_ppb2_s2=500.0, wfm_ppb2_s=10.0, rwfm_ppb2_per_s=5e-6)
    fitted = N.fit_noise(tau, np.sqrt(truth.avar_ppb2(tau)))
    assert fitted.wpm_ppb2_s2 == pytest.approx(500.0, rel=1e-3)
    assert fitted.wfm_ppb2_s == pytest.approx(10.0, rel=1e-3)
    assert fitted.rwfm_ppb2_per_s == pytest.approx(5e-6, rel=1e-3)
    assert fitted.rw_ppb_per_sqrt_s == pytest.approx(math.sqrt(3 * 5e-6))


def test_time_variance_matches_the_noise_types():
    m = N.NoiseModel(wfm_ppb2_s=4.0, rwfm_ppb2_per_s=1e-5)
    assert m.time_var_ppb2s2(100.0) == pytest.approx(4.0 * 100 + 1e-5 * 100**3)
    assert m.time_var_ppb2s2(-5.0) == 0.0
    assert m.mean_var_ppb2(60.0) == pytest.approx(4.0 / 60)


def test_estimate_from_a_simulated_series_is_an_upper_limit_of_the_right_size():
    rng = np.random.default_rng(SEED)
    ratios = []
    for _k in range(6):
        dt, n, q = 60.0, 10080, 0.004  # a week of minutes
        y = np.cumsum(rng.normal(0, q * math.sqrt(dt), n)) + rng.normal(0, 0.5, n)
        model, table = N.estimate_noise(y, dt)
        assert table and table[0].tau_s == 60.0
        ratios.append(model.rw_ppb_per_sqrt_s / q)
    print(f"seed {SEED}: rw estimate / truth {np.round(ratios, 2)}")
    assert 0.8 <= np.median(ratios) <= 2.0


def test_deviation_table_matches_known_white_fm():
    y = np.random.default_rng(SEED).normal(0, 1.0, 8192)
    rows = N.deviation_table(y, 1.0)
    assert rows[0].adev == pytest.approx(1.0, rel=0.05)
    assert rows[6].adev == pytest.approx(1.0 / 8.0, rel=0.2)  # tau^-1/2
    assert all(math.isfinite(r.mdev) for r in rows)
    assert N.deviation_table(y[:5], 1.0) == []


def test_quantiles():
    assert N._normal_quantile(0.995) == pytest.approx(2.5758293, abs=1e-6)
    assert N._normal_quantile(0.1) == pytest.approx(-1.2815516, abs=1e-6)
    assert N.chi2_quantile(0.1, 10) == pytest.approx(4.865, rel=0.01)
    assert N.chi2_quantile(0.5, 30) == pytest.approx(29.336, rel=0.01)
    assert N.rw_edf(10000, 1000) > 1.0 and N.rw_edf(10000, 1) > N.rw_edf(10000, 1000)
