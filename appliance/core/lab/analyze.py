"""From what a lab run measured (records.py) or a log recorded elsewhere to checks, metrics and a
verdict (pure). The shell renders the result (appliance/lab/report.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..holdover.series import FloatArray
from ..verdict import Verdict
from . import checks as ck
from . import hardware as hw
from . import oscillator as osc
from . import stability as st
from . import temperature as tp
from .classes import OscillatorClass, promise_order
from .records import LabRecord

TEMP_BIN_INTERVALS = 10  # the frequency-temperature fit of a run uses the frequency over 10 intervals
STEADY_BIN_S = 60.0


@dataclass
class FrequencySeries:
    time_s: FloatArray
    freq_ppm: FloatArray
    temp_c: FloatArray | None


@dataclass
class Analysis:
    checks: list[ck.Check] = field(default_factory=list)
    estimated_class: str | None = None
    estimate_reason: str = ""
    judged_class: str | None = None
    reference: str = ""
    expected: str | None = None  # the class claimed (--expect-class)
    read_stats: list[hw.ReadStats] = field(default_factory=list)
    raw_windows: dict[str, FloatArray] = field(default_factory=dict)  # method -> read windows (ns)
    best_method: str | None = None
    floor_ns: float = 0.0
    linearity: hw.Linearity | None = None
    # (commanded_ppb, measured_ppb, sigma_ppb)
    freq_points: list[tuple[float, float, float]] = field(default_factory=list)
    steps: dict[str, hw.StepResult] = field(default_factory=dict)  # kind -> StepResult
    pps_offsets_ns: FloatArray | None = None
    stability: st.Stability | None = None
    stability_compensated: st.Stability | None = None
    sensor_adev: dict[float | str, float] = field(default_factory=dict)  # as osc.Evidence.sensor_adev
    series: FrequencySeries | None = None
    tempfit: tp.TempFit | None = None
    model: tp.ModelResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return ck.overall(self.checks)

    @property
    def verdict_word(self) -> str:
        return ck.VERDICT_WORD[self.verdict]

    @property
    def temp_slope_ppm_per_c(self) -> float | None:
        return self.tempfit.slope_ppm_per_c if self.tempfit else None


def _bin(time_s: FloatArray, phase_s: FloatArray, temp: FloatArray | None, factor: int) -> FrequencySeries:
    n = (phase_s.size - 1) // factor
    idx = np.arange(n + 1) * factor
    t_end = time_s[idx[1:]]
    y = np.diff(phase_s[idx]) / np.diff(time_s[idx])
    tb: FloatArray | None = None
    if temp is not None:
        tb = np.array(
            [
                np.nanmean(temp[a + 1 : b + 1]) if np.any(np.isfinite(temp[a + 1 : b + 1])) else np.nan
                for a, b in zip(idx[:-1], idx[1:], strict=False)
            ]
        )
    return FrequencySeries(t_end, y * 1e6, tb)


def _compensate(
    stab: st.Stability, series: FrequencySeries, fit: tp.TempFit
) -> tuple[st.Stability, dict[float | str, float]]:
    """The phase with the fitted temperature response integrated out, analysed again; and, per tau, the
    ADEV that the sensor's own noise adds through that response (the response is fitted against the
    sensor, so its noise is in what is taken out): white noise of the sensor's measured level, through
    the fitted lag and the local slope, analysed like the frequency."""
    temp_c, response_ppm, lagged_c, mean_c = series.temp_c, fit.response_ppm, fit.lagged_c, fit.mean_c
    if temp_c is None or response_ppm is None or lagged_c is None or mean_c is None:
        raise ValueError("compensation needs a series with temperatures and a fitted response")
    ok = np.isfinite(temp_c) & np.isfinite(series.freq_ppm)
    t_rows = series.time_s[ok]
    dt = np.diff(np.concatenate([[0.0], t_rows]))
    phase_resp = np.cumsum(response_ppm * 1e-6 * dt)
    correction = np.interp(stab.time_s, np.concatenate([[0.0], t_rows]), np.concatenate([[0.0], phase_resp]))
    x = stab.tie_s - correction
    comp = st.analyse(stab.time_s, x, stab.interval_s)
    sensor = temp_c[ok]
    d = np.diff(sensor)
    sigma_c = float(np.std(d - np.median(d)) / np.sqrt(2.0)) if d.size > 2 else 0.0
    if sigma_c <= 0 or t_rows.size < st.MIN_POINTS:
        return comp, {}
    interval = float(np.median(dt[1:])) if dt.size > 1 else 1.0
    noise = np.random.default_rng(0x5E4).normal(0.0, sigma_c, sensor.size)
    lagged = tp.lag_filter(noise, interval, fit.lag_s or 0.0)
    dev = lagged_c - mean_c
    coef = [fit.coefficients[k] for k in sorted(fit.coefficients)]
    local_slope = sum(k * coef[k] * dev ** (k - 1) for k in range(1, len(coef)))
    injected = st.analyse(
        t_rows - t_rows[0], np.concatenate([[0.0], np.cumsum((local_slope * lagged * 1e-6 * dt)[1:])]), interval
    )
    added: dict[float | str, float] = {p.tau_s: p.value for p in injected.adev}
    added["sensor_sigma_c"] = sigma_c
    return comp, added


def _steady_range(time_s: FloatArray, temp: FloatArray) -> float | None:
    ok = np.isfinite(temp)
    if ok.sum() < 2:
        return None
    t, v = time_s[ok], temp[ok]
    bins = np.floor((t - t[0]) / STEADY_BIN_S)
    means = np.array([v[bins == b].mean() for b in np.unique(bins)])
    return float(np.ptp(means))


def _oscillator(
    a: Analysis,
    classes: Mapping[str, OscillatorClass],
    expect: str | None,
    floor_s: float,
    temp_range_stability_c: float | None,
) -> None:
    stab = a.stability_compensated or a.stability
    fit = a.tempfit if (a.tempfit and a.tempfit.slope_ppm_per_c is not None) else None
    ev = osc.Evidence(
        adev=stab.adev if stab else [],
        interval_s=stab.interval_s if stab else 1.0,
        floor_s=floor_s,
        compensated=a.stability_compensated is not None,
        freq_offset_ppm=(a.stability.freq_offset * 1e6) if a.stability else None,
        temp_lo_c=a.tempfit.temp_lo_c if a.tempfit else None,
        temp_hi_c=a.tempfit.temp_hi_c if a.tempfit else None,
        slope_ppm_per_c=fit.slope_ppm_per_c if fit else None,
        slope_sigma_ppm_per_c=fit.slope_sigma_ppm_per_c if fit else None,
        temp_range_stability_c=temp_range_stability_c,
        sensor_adev=a.sensor_adev,
    )
    ordered = promise_order(classes)
    judged: OscillatorClass | None
    a.estimated_class, a.estimate_reason = osc.estimate(ordered, ev)
    if expect:
        judged = classes[expect]
    elif a.estimated_class is not None and a.estimated_class in classes:
        judged = classes[a.estimated_class]
    else:
        judged = ordered[-1] if ordered else None  # the loosest promise: worse than it fails
    if judged is None or (not ev.adev and ev.freq_offset_ppm is None):
        return
    a.judged_class = judged.name
    class_checks, _ = osc.class_checks(judged, ev)
    a.checks.extend(class_checks)
    steady = osc.steady_check(ev)
    if steady:
        a.checks.append(steady)
    if a.model and a.model.backtest:
        b = a.model.backtest
        a.checks.append(
            ck.Check(
                "temperature.model_holdover",
                ck.band(b["max_ratio"], (1.0, 2.0)),
                round(b["max_ratio"], 3),
                1.0,
                "x 99 % bound",
                f"trained on the first two thirds, held over {b['hours']:.1f} h on the temperatures alone: max |time "
                f"error| {b['max_abs_error_us']:.2f} us, bound at the end {b['bound_end_us']:.2f} us, inside the bound "
                f"on {b['coverage'] * 100:.1f} % of rows (frozen frequency: {b['frozen_max_abs_error_us']:.2f} us)",
            )
        )


def _temperature(a: Analysis, series: FrequencySeries, compensated_model: bool, fit_model: bool) -> None:
    if series.temp_c is None or not np.any(np.isfinite(series.temp_c)):
        a.notes.append("no temperature reading: the frequency-temperature response was not measured")
        return
    ok = np.isfinite(series.temp_c) & np.isfinite(series.freq_ppm)
    a.tempfit = tp.fit_response(series.time_s[ok], series.temp_c[ok], series.freq_ppm[ok])
    if a.tempfit.reason:
        a.notes.append(f"temperature: {a.tempfit.reason}")
    if fit_model:
        a.model = tp.fit_model(series.time_s[ok], series.temp_c[ok], series.freq_ppm[ok], compensated=compensated_model)


def analyse_log(
    time_s: npt.ArrayLike,
    freq_ppm: npt.ArrayLike,
    temp_c: npt.ArrayLike | None,
    classes: Mapping[str, OscillatorClass],
    expect: str | None = None,
) -> Analysis:
    """`appliance lab report`: a frequency log measured against a reference elsewhere."""
    a = Analysis(reference="the reference of the log", expected=expect)
    t, x, interval = st.phase_from_frequency(time_s, np.asarray(freq_ppm, dtype=float) * 1e-6)
    a.stability = st.analyse(t, x, interval)
    temp = None if temp_c is None else np.asarray(temp_c, dtype=float)
    a.series = FrequencySeries(t, np.asarray(freq_ppm, dtype=float), temp)
    _temperature(a, a.series, compensated_model=(expect != "xo"), fit_model=True)
    if a.tempfit and a.tempfit.response_ppm is not None:
        a.stability_compensated, a.sensor_adev = _compensate(a.stability, a.series, a.tempfit)
    steady = _steady_range(t, temp) if temp is not None else None
    _oscillator(a, classes, expect, 0.0, steady)
    return a


def _reads(a: Analysis, rec: LabRecord, limits: ck.LabLimits) -> None:
    failed: dict[str, str] = {}
    for burst in rec.reads:
        if burst.error or len(burst.offsets_ns) < 3:
            failed[burst.method] = burst.error or f"{len(burst.offsets_ns)} reading(s)"
            continue
        a.read_stats.append(hw.read_stats(burst.method, burst.system_ns, burst.offsets_ns, burst.windows_ns))
        a.raw_windows[burst.method] = np.asarray(burst.windows_ns, dtype=float)
    a.best_method = hw.best_method(a.read_stats)
    claim = (rec.family or {}).get("cross_timestamping")
    if rec.reads:
        a.checks.extend(ck.read_checks(a.read_stats, failed, limits, claim))
    floor = None
    sr = rec.stability_read
    if sr and not sr.error and len(sr.offsets_ns) >= 3:
        floor = hw.read_stats(sr.method, sr.system_ns, sr.offsets_ns, sr.windows_ns).jitter_ns
    elif a.read_stats:
        floor = min(s.jitter_ns for s in a.read_stats)
    a.floor_ns = float(floor or 0.0)


def _frequency(a: Analysis, rec: LabRecord, limits: ck.LabLimits) -> None:
    if not rec.freq_points or rec.freq_baseline_ppb is None or not rec.max_adj_ppb:
        if "frequency" in rec.phases and rec.phases["frequency"] != "done":
            a.checks.extend(ck.frequency_checks(None, 0, rec.refusals, limits, f"frequency: {rec.phases['frequency']}"))
        return
    pts = [(p.commanded_ppb, p.rate_ppb - rec.freq_baseline_ppb, p.sigma_ppb) for p in rec.freq_points]
    a.freq_points = pts
    c, m, s = zip(*pts, strict=False)
    try:
        a.linearity = hw.linearity(c, m, s, rec.max_adj_ppb)
    except ValueError as exc:
        a.checks.extend(ck.frequency_checks(None, len(pts), rec.refusals, limits, str(exc)))
        return
    a.checks.extend(ck.frequency_checks(a.linearity, len(pts), rec.refusals, limits))


def _phase(a: Analysis, rec: LabRecord, limits: ck.LabLimits) -> None:
    for kind, lim, what in (
        ("step", limits.phase_step_error_ns, "ADJ_SETOFFSET steps"),
        ("adjphase", limits.adjphase_error_ns, "ADJ_OFFSET (adjphase) slews"),
    ):
        steps = [s for s in rec.phase_steps if s.kind == kind]
        res = hw.phase_steps(kind, [s.commanded_ns for s in steps], [s.landed_ns for s in steps])
        if res is None:
            continue
        a.steps[kind] = res
        cmd = ", ".join(f"{s.commanded_ns:+d}" for s in steps)
        settle = max(s.settle_s for s in steps)
        a.checks.append(
            ck.step_check(
                f"phase.{kind}_error_ns",
                res,
                lim,
                a.floor_ns,
                f"{what} of {cmd} ns, read 0.5 s before and {settle:g} + 0.5 s after each",
            )
        )


def _pins(a: Analysis, rec: LabRecord, limits: ck.LabLimits) -> None:
    lb = rec.loopback
    if lb is None:
        return
    what = f"periodic output on pin {lb.pin_out}, external timestamps on pin {lb.pin_in}"
    if lb.error:
        a.checks.append(ck.Check("pins.loopback", Verdict.FAIL, None, None, "", f"{what}: {lb.error}"))
        return
    a.pps_offsets_ns = hw.pps_offsets_ns(lb.event_times_ns, lb.period_ns)
    a.checks.extend(ck.pps_checks(a.pps_offsets_ns, limits, what))


def _stability(a: Analysis, rec: LabRecord, classes: Mapping[str, OscillatorClass], expect: str | None) -> None:
    s = rec.stability
    if s is None or len(s.time_s) < st.MIN_POINTS:
        n = len(s.time_s) if s else 0
        a.notes.append(f"stability: {n} reading(s), too few to analyse (need {st.MIN_POINTS})")
        return
    phase_s = np.asarray(s.phase_ns, dtype=float) * 1e-9
    a.stability = st.analyse(s.time_s, phase_s, s.interval_s)
    a.notes.extend(f"stability: {n}" for n in a.stability.notes)
    temp = None
    if s.temperature_c and any(v is not None for v in s.temperature_c):
        temp_raw = np.array([np.nan if v is None else v for v in s.temperature_c], dtype=float)
        temp = np.interp(a.stability.time_s, np.asarray(s.time_s) - s.time_s[0], temp_raw)
    max_dev, spread = hw.phase_jump(a.stability.tie_s * 1e9, a.floor_ns)
    a.checks.append(ck.jump_check(max_dev, spread))
    factor = max(1, min(TEMP_BIN_INTERVALS, (a.stability.time_s.size - 1) // 10))
    a.series = _bin(a.stability.time_s, a.stability.tie_s, temp, factor)
    _temperature(a, a.series, compensated_model=(expect != "xo"), fit_model=True)
    if a.tempfit and a.tempfit.response_ppm is not None:
        a.stability_compensated, a.sensor_adev = _compensate(a.stability, a.series, a.tempfit)
    steady = _steady_range(a.stability.time_s, temp) if temp is not None else None
    _oscillator(a, classes, expect, a.floor_ns * 1e-9, steady)


def analyse_run(rec: LabRecord, classes: Mapping[str, OscillatorClass], limits: ck.LabLimits) -> Analysis:
    a = Analysis(
        reference=rec.stability.reference if rec.stability else rec.device.get("reference", ""),
        expected=rec.expect_class,
    )
    _reads(a, rec, limits)
    _frequency(a, rec, limits)
    _phase(a, rec, limits)
    _pins(a, rec, limits)
    _stability(a, rec, classes, rec.expect_class)
    a.notes.extend(rec.notes)
    for phase, state in rec.phases.items():
        if state.startswith("skipped") or state.startswith("failed"):
            a.notes.append(f"{phase}: {state}")
    if rec.interrupted_in:
        a.checks.append(
            ck.Check(
                "run.complete",
                Verdict.WARN,
                round(rec.elapsed_s, 1),
                round(rec.requested_s, 1),
                "s",
                f"interrupted (Ctrl-C) during the {rec.interrupted_in} phase: the report covers "
                f"what was measured until then",
            )
        )
    return a
