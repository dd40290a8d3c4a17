"""Frequency against temperature, pure: the part's slope, its fitted coefficients, and what the
learned temperature model makes of it.

Rows are (time_s, temperature_c, freq_ppm): the sensor's reading and the oscillator's fractional
frequency offset over the interval that ends at time_s. The crystal lags the sensor, so the fit is
against the sensor's temperature through a first-order lag, the lag chosen from LAG_CANDIDATES_S
by the smallest residual. The response is a polynomial in d = T_lag - T_mean (cubic, the AT-cut
form, over a wide range; fewer terms over a narrow one), plus a linear drift in time where time and
temperature are not too alike to tell apart. The slope "around the mean temperature" is the
polynomial's first coefficient: its derivative at T_mean.

With enough data (hours), the model the appliance learns in service (core.holdover) is fitted too:
its residual, and a backtest of the holdover it would give: trained on the first part, it predicts
the rest from the temperatures alone, and the accumulated time error is compared with its 99 %
bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..holdover.bound import predict_holdover
from ..holdover.fit import fit
from ..holdover.series import FloatArray, SampleError

MIN_RANGE_C = 1.0  # below: no slope is fitted (sensor noise and quantisation would be the slope)
QUADRATIC_RANGE_C = 2.0  # from here a quadratic term
CUBIC_RANGE_C = 5.0  # from here the cubic
LAG_CANDIDATES_S = (0.0, 30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0, 1200.0, 1800.0)
COLLINEAR = 0.95  # |corr(time, temperature)| above this: no drift term (it would take the slope)
MODEL_MIN_SPAN_S = 6 * 3600.0  # the temperature model's own minimum
BACKTEST_MIN_SPAN_S = 12 * 3600.0
BACKTEST_TRAIN_FRACTION = 2 / 3
MODEL_INTERVAL_S = (1.0, 60.0)  # the rows the model accepts; finer logs are averaged, coarser are not fitted
COEFFICIENT_NAMES = ("c0_ppm", "c1_ppm_per_c", "c2_ppm_per_c2", "c3_ppm_per_c3")


@dataclass
class TempFit:
    temp_lo_c: float
    temp_hi_c: float
    mean_c: float | None = None
    lag_s: float | None = None
    degree: int = 0
    coefficients: dict[str, float] = field(default_factory=dict)  # COEFFICIENT_NAMES -> value
    slope_ppm_per_c: float | None = None
    slope_sigma_ppm_per_c: float | None = None
    drift_ppm_per_day: float | None = None
    residual_rms_ppb: float | None = None
    lagged_c: FloatArray | None = None
    response_ppm: FloatArray | None = None  # the fitted temperature part, per row (for compensation)
    reason: str | None = None  # why there is no slope

    @property
    def range_c(self) -> float:
        return self.temp_hi_c - self.temp_lo_c

    def to_dict(self) -> dict[str, object]:
        return {
            "temp_lo_c": self.temp_lo_c,
            "temp_hi_c": self.temp_hi_c,
            "mean_c": self.mean_c,
            "lag_s": self.lag_s,
            "degree": self.degree,
            "coefficients": dict(self.coefficients),
            "slope_ppm_per_c": self.slope_ppm_per_c,
            "slope_sigma_ppm_per_c": self.slope_sigma_ppm_per_c,
            "drift_ppm_per_day": self.drift_ppm_per_day,
            "residual_rms_ppb": self.residual_rms_ppb,
            "reason": self.reason,
        }


@dataclass
class ModelResult:
    fitted: bool
    reason: str | None = None
    lag_s: float | None = None
    residual_rms_ppb: float | None = None
    n_outliers: int | None = None
    trained_range_c: tuple[float, float] | None = None
    # hours, max_abs_error_us, bound_end_us, max_ratio, coverage, frozen_max_abs_error_us
    backtest: dict[str, float] | None = None
    backtest_reason: str | None = None
    series: dict[str, FloatArray] | None = None  # time_h, error_us, bound_us of the backtest (for the plot)

    def to_dict(self) -> dict[str, object]:
        return {
            "fitted": self.fitted,
            "reason": self.reason,
            "lag_s": self.lag_s,
            "residual_rms_ppb": self.residual_rms_ppb,
            "n_outliers": self.n_outliers,
            "trained_range_c": list(self.trained_range_c) if self.trained_range_c else None,
            "backtest": self.backtest,
            "backtest_reason": self.backtest_reason,
        }


def lag_filter(x: npt.ArrayLike, interval_s: float, lag_s: float) -> FloatArray:
    """First-order lag of ``x`` (time constant lag_s), starting at x[0]."""
    if lag_s <= 0:
        return np.asarray(x, dtype=float).copy()
    from scipy.signal import lfilter  # noqa: PLC0415 - scipy comes with allantools

    alpha = 1.0 - math.exp(-interval_s / lag_s)
    x = np.asarray(x, dtype=float)
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x[1:], zi=[(1.0 - alpha) * x[0]])
    return np.concatenate([[x[0]], y])


def _degree(range_c: float) -> int:
    return 3 if range_c >= CUBIC_RANGE_C else 2 if range_c >= QUADRATIC_RANGE_C else 1


def _solve(
    d: FloatArray, t_day: FloatArray | None, y: FloatArray, degree: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Least squares of y on the powers of d (and t_day): (coefficients, their covariance, residuals,
    the design matrix)."""
    cols = [d**k for k in range(degree + 1)]
    if t_day is not None:
        cols.append(t_day - t_day.mean())
    a = np.stack(cols, axis=1)
    coef = np.asarray(np.linalg.lstsq(a, y, rcond=None)[0], dtype=np.float64)  # float64 already: for the types
    resid = y - a @ coef
    dof = max(y.size - a.shape[1], 1)
    s2 = float(resid @ resid) / dof
    try:
        cov = np.linalg.inv(a.T @ a) * s2
    except np.linalg.LinAlgError:
        cov = np.full((a.shape[1], a.shape[1]), np.nan)
    return coef, cov, resid, a


def fit_response(
    time_s: npt.ArrayLike, temp_c: npt.ArrayLike, freq_ppm: npt.ArrayLike, interval_s: float | None = None
) -> TempFit:
    """The frequency-temperature response (see the module docstring)."""
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    y = np.asarray(freq_ppm, dtype=float)
    ok = np.isfinite(t) & np.isfinite(temp) & np.isfinite(y)
    t, temp, y = t[ok], temp[ok], y[ok]
    if t.size < 10:
        lo = float(temp.min()) if temp.size else math.nan
        hi = float(temp.max()) if temp.size else math.nan
        return TempFit(lo, hi, reason=f"{t.size} row(s) with a temperature: need at least 10")
    lo, hi = (float(v) for v in np.percentile(temp, [1, 99]))
    result = TempFit(lo, hi)
    if hi - lo < MIN_RANGE_C:
        result.reason = (
            f"the temperature moved {hi - lo:.2f} K (1st to 99th percentile): a slope needs at "
            f"least {MIN_RANGE_C:g} K (a climate chamber, or `appliance lab report` on its log)"
        )
        return result
    interval = interval_s or float(np.median(np.diff(t)))
    degree = _degree(hi - lo)
    t_day = t / 86_400.0
    use_drift = abs(float(np.corrcoef(t, temp)[0, 1])) < COLLINEAR

    def candidate(lag: float) -> tuple[float, float, FloatArray, float, FloatArray, FloatArray, FloatArray]:
        lagged = lag_filter(temp, interval, lag)
        mean_c = float(lagged.mean())
        coef, cov, resid, _ = _solve(lagged - mean_c, t_day if use_drift else None, y, degree)
        return float(resid @ resid), lag, lagged, mean_c, coef, cov, resid

    # the smallest residual sum of squares; the first such lag on a tie
    _, lag, lagged, mean_c, coef, cov, resid = min((candidate(lag) for lag in LAG_CANDIDATES_S), key=lambda c: c[0])
    result.mean_c = mean_c
    result.lag_s = lag
    result.degree = degree
    result.coefficients = {COEFFICIENT_NAMES[k]: float(coef[k]) for k in range(degree + 1)}
    result.slope_ppm_per_c = float(coef[1])
    result.slope_sigma_ppm_per_c = float(math.sqrt(cov[1, 1])) if math.isfinite(cov[1, 1]) else None
    result.drift_ppm_per_day = float(coef[-1]) if use_drift else None
    result.residual_rms_ppb = float(np.sqrt(np.mean(resid**2)) * 1000.0)
    result.lagged_c = lagged
    d = lagged - mean_c
    result.response_ppm = sum(coef[k] * d**k for k in range(1, degree + 1))
    return result


def _average(t: FloatArray, temp: FloatArray, y: FloatArray, factor: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    n = (t.size // factor) * factor
    shape = (-1, factor)
    return t[:n].reshape(shape)[:, -1], temp[:n].reshape(shape)[:, -1], y[:n].reshape(shape).mean(axis=1)


def model_rows(
    time_s: npt.ArrayLike, temp_c: npt.ArrayLike, freq_ppm: npt.ArrayLike
) -> tuple[tuple[FloatArray, FloatArray, FloatArray] | None, str | None]:
    """Rows the temperature model accepts (interval 1..60 s): finer logs averaged, or a reason."""
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    y = np.asarray(freq_ppm, dtype=float)
    if t.size < 2:
        return None, "fewer than 2 rows"
    interval = float(np.median(np.diff(t)))
    if interval < MODEL_INTERVAL_S[0]:
        factor = int(math.ceil(MODEL_INTERVAL_S[0] / interval))
        t, temp, y = _average(t, temp, y, factor)
    elif interval > MODEL_INTERVAL_S[1]:
        return None, f"rows every {interval:g} s: the temperature model needs 1..60 s"
    return (t, temp, y), None


def fit_model(
    time_s: npt.ArrayLike, temp_c: npt.ArrayLike, freq_ppm: npt.ArrayLike, compensated: bool = True
) -> ModelResult:
    """The appliance's learned temperature model on the log, and its holdover backtest."""
    rows, why = model_rows(time_s, temp_c, freq_ppm)
    if rows is None:
        return ModelResult(False, reason=why)
    t, temp, y = rows
    span = float(t[-1] - t[0])
    if span < MODEL_MIN_SPAN_S:
        return ModelResult(
            False,
            reason=f"the log spans {span / 3600:.1f} h; the temperature model needs {MODEL_MIN_SPAN_S / 3600:g} h",
        )
    try:
        full = fit(t, temp, y * 1000.0, compensated=compensated)
    except SampleError as exc:
        return ModelResult(False, reason=str(exc))
    m = full.model
    out = ModelResult(
        True,
        lag_s=float(m.lag_s),
        residual_rms_ppb=float(full.report.rms_residual_ppb),
        n_outliers=int(full.report.n_outliers),
        trained_range_c=(float(m.temp_lo_c), float(m.temp_hi_c)),
    )
    if span < BACKTEST_MIN_SPAN_S:
        out.backtest_reason = (
            f"the log spans {span / 3600:.1f} h; a holdover backtest needs "
            f"{BACKTEST_MIN_SPAN_S / 3600:g} h (two thirds to train, the rest to hold over)"
        )
        return out
    split = int(np.searchsorted(t, t[0] + span * BACKTEST_TRAIN_FRACTION))
    try:
        train = fit(t[:split], temp[:split], y[:split] * 1000.0, compensated=compensated)
    except SampleError as exc:
        out.backtest_reason = f"training on the first {BACKTEST_TRAIN_FRACTION:.0%}: {exc}"
        return out
    th, temp_h, y_h = t[split - 1 :], temp[split - 1 :], y[split - 1 :] * 1000.0
    pred = predict_holdover(train.model, th, temp_h)
    dt = np.diff(th)
    # pred.freq_ppb[k] is applied from th[k] to th[k+1]; y_h[k+1] is the true mean over that interval
    err_s = np.concatenate([[0.0], np.cumsum((y_h[1:] - pred.freq_ppb[:-1]) * dt)]) * 1e-9
    frozen_ppb = float(np.mean(y[:split][-max(1, int(300 / max(dt.mean(), 1e-9))) :]) * 1000.0)
    frozen_err = np.concatenate([[0.0], np.cumsum((y_h[1:] - frozen_ppb) * dt)]) * 1e-9
    bound = pred.bound_s
    inside = np.abs(err_s[1:]) <= bound[1:]
    ratio = float(np.max(np.abs(err_s[1:]) / np.maximum(bound[1:], 1e-15)))
    out.backtest = {
        "hours": float((th[-1] - th[0]) / 3600.0),
        "max_abs_error_us": float(np.max(np.abs(err_s)) * 1e6),
        "bound_end_us": float(bound[-1] * 1e6),
        "coverage": float(np.mean(inside)),
        "max_ratio": ratio,
        "frozen_max_abs_error_us": float(np.max(np.abs(frozen_err)) * 1e6),
    }
    out.series = {
        "time_h": (th - th[0]) / 3600.0,
        "error_us": err_s * 1e6,
        "bound_us": bound * 1e6,
        "frozen_us": frozen_err * 1e6,
    }
    return out
