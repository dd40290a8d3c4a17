"""The lab's pure analysis (appliance.core.lab): deviations, MTIE, class lines, linearity, the
temperature response, limits from nics.yaml."""

import math

import numpy as np
import pytest

from appliance.catalog import oscillator_classes
from appliance.commands.lab import parse_duration, parse_loopback
from appliance.core.lab import hardware as hw
from appliance.core.lab import stability as st
from appliance.core.lab import temperature as tp
from appliance.core.lab.checks import LabLimits, LimitsError, band
from appliance.core.lab.classes import load_classes, promise_order
from appliance.core.verdict import Verdict
from appliance.lab import limits as lab_limits

CORE = __import__("pathlib").Path(__file__).resolve().parents[2] / "appliance" / "core" / "lab"


def test_core_lab_does_no_io():
    for path in CORE.glob("*.py"):
        text = path.read_text()
        for mod in ("socket", "subprocess", "threading", "select", "fcntl", "time"):
            assert f"import {mod}\n" not in text and f"from {mod} " not in text, (path.name, mod)
        assert "open(" not in text, path.name


def test_adev_of_white_fm_is_its_level():
    rng = np.random.default_rng(1)
    sigma = 2e-9
    y = rng.normal(0, sigma, 20000)
    x = np.concatenate([[0.0], np.cumsum(y)])
    s = st.analyse(np.arange(x.size), x, 1.0)
    for p in s.adev:
        assert p.value == pytest.approx(sigma / math.sqrt(p.tau_s), rel=4 * p.rel_err + 0.02)
    assert [p.tau_s for p in s.adev][:6] == [1, 2, 5, 10, 20, 50]
    mdev1 = s.mdev[0].value
    assert mdev1 == pytest.approx(s.adev[0].value)
    # TDEV = tau MDEV / sqrt 3
    for td, md in zip(s.tdev, s.mdev, strict=False):
        assert td.value == pytest.approx(td.tau_s * md.value / math.sqrt(3), rel=0.02)


def test_mtie_matches_brute_force_and_removes_the_frequency_offset():
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(0, 1e-9, 500))
    for w in (1, 2, 7, 50, 500):
        brute = max(np.ptp(x[i : i + w]) for i in range(x.size - w + 1))
        assert st.sliding_range(x, w).max() == pytest.approx(brute)
    ramp = 5e-6 * np.arange(1000.0)  # a 5 ppm offset and nothing else
    s = st.analyse(np.arange(1000.0), ramp, 1.0)
    assert s.freq_offset == pytest.approx(5e-6)
    assert max(p.value for p in s.mtie) < 1e-12


def test_late_readings_are_interpolated_onto_the_grid():
    t = np.arange(100.0) + np.where(np.arange(100) % 7 == 3, 0.01, 0.0)  # every 7th reading 10 ms late
    x = 1e-5 * t  # 10 ppm: 10 ms late is 100 ns of phase if taken as on time
    grid, xg, gaps = st.to_grid(t, x, 1.0)
    assert gaps == 0
    assert np.allclose(xg - xg[0], 1e-5 * grid, atol=1e-15)
    _, _, gaps = st.to_grid(np.delete(t, [40, 41, 42]), np.delete(x, [40, 41, 42]), 1.0)
    assert gaps == 3


def test_class_lines_and_order():
    classes = load_classes(oscillator_classes())
    order = [c.name for c in promise_order(classes)]
    assert order == ["ocxo", "tcxo", "xo"]  # ideal promises nothing
    xo, tcxo = classes["xo"], classes["tcxo"]
    assert float(xo.adev_line(1.0)) == pytest.approx(3e-9, rel=0.01)  # white FM upper end, 3 ppb
    assert float(tcxo.adev_line(1.0, floor_s=1e-9)) == pytest.approx(math.hypot(1e-9, math.sqrt(3) * 1e-9), rel=0.01)
    assert tcxo.tempco_limit_ppm_per_c(20, 30) < xo.tempco_limit_ppm_per_c(20, 30)
    assert classes["ocxo"].accuracy_ppm(20, 30) < tcxo.accuracy_ppm(20, 30) < xo.accuracy_ppm(20, 30)


def test_linearity_gain_and_worst_point():
    c = np.linspace(-1e6, 1e6, 9)
    m = 1.001 * c + 5.0
    m[6] += 300.0
    lin = hw.linearity(c, m, np.full(9, 1.0), 1e6)
    assert lin.gain == pytest.approx(1.001, abs=1e-4)
    assert lin.worst_at_ppb == c[6]
    assert lin.nonlinearity_fraction == pytest.approx(lin.worst_residual_ppb / 1e6)
    with pytest.raises(ValueError, match="at least 7"):
        hw.frequency_points(1e6, 5)


def test_read_stats_fit_a_line_and_ignore_a_spoiled_reading():
    sys_ns = np.arange(200) * 10_000
    off = 3.0 * sys_ns * 1e-9 * 1000 + np.random.default_rng(3).normal(0, 5, 200)  # 3000 ppb apart, 5 ns jitter
    off[50] += 20_000
    s = hw.read_stats("extended", sys_ns, off, np.full(200, 1500))
    assert s.jitter_robust_ns == pytest.approx(5, rel=0.25)
    assert s.jitter_p99_ns < 30


def test_pps_offsets_wrap_around_the_second():
    ns = [10**18 + 7, 10**18 + 10**9 - 3, 10**18 + 2 * 10**9 + 1]
    assert list(hw.pps_offsets_ns(ns)) == [7.0, -3.0, 1.0]


def test_temperature_slope_of_a_lagged_linear_response():
    t = np.arange(0, 6 * 3600, 10.0)
    temp = 25 + 5 * np.sin(2 * np.pi * t / 7200)
    lagged = tp.lag_filter(temp, 10.0, 300.0)
    y = 0.5 + 0.03 * (lagged - lagged.mean())
    fit = tp.fit_response(t, temp, y)
    assert fit.lag_s == 300.0
    assert fit.slope_ppm_per_c == pytest.approx(0.03, rel=1e-3)
    assert fit.degree == 3
    narrow = tp.fit_response(t, 25 + 0.1 * np.sin(t / 1000), y)
    assert narrow.slope_ppm_per_c is None and "at least 1 K" in narrow.reason


def test_band_and_limits_from_nics_yaml():
    assert band(1.0, (1.0, 2.0)) is Verdict.OK and band(-1.5, (1.0, 2.0)) is Verdict.WARN
    assert band(float("nan"), (1.0, 2.0)) is Verdict.FAIL
    base = LabLimits.from_dict({"pps_jitter_ns": [50, 500]})
    assert base.pps_jitter_ns == (50.0, 500.0)
    assert base.read_jitter_ns["precise"] == (20.0, 100.0)
    with pytest.raises(LimitsError, match="unknown key"):
        LabLimits.from_dict({"pps_jiter_ns": [1, 2]})
    with pytest.raises(LimitsError, match="pass <= warn"):
        LabLimits.from_dict({"pps_jitter_ns": [5, 1]})
    # every family of the shipped nics.yaml: limits parse, every known failure has sources or says unverified
    labs = lab_limits.all_family_labs()
    assert set(labs) >= {"intel-i210", "intel-e810", "nvidia-connectx"}
    for fam, (lim, known) in labs.items():
        assert isinstance(lim, LabLimits)
        for k in known:
            assert k.sources or k.unverified, fam


def test_durations_need_a_unit():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("2h") == 7200
    with pytest.raises(ValueError, match="no unit"):
        parse_duration("600")
    assert parse_loopback("0:1") == (0, 1)
    with pytest.raises(ValueError):
        parse_loopback("0-1")


def test_progress_bar_on_a_terminal_and_quiet_otherwise():
    import io

    from appliance.lab.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    p = Progress(stream=tty, simulated=True)
    p.update("stability", 0.42, 3725.0, force=True)
    assert "42.0%" in tty.getvalue() and "stability" in tty.getvalue() and "1h02m05s left" in tty.getvalue()
    assert "(simulated time)" in tty.getvalue()
    pipe = io.StringIO()
    q = Progress(stream=pipe)
    q.update("read", 0.1, 10.0, force=True)
    q.done("finished")
    assert pipe.getvalue() == ""
