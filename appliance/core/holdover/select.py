"""Model selection by held-out data and a bound calibrated by backtesting, pure.

The table of model.py is flexible: on a part whose curve is nearly quadratic, or with few days of
data, or beyond the trained temperature range, a low-order physical curve predicts better. So
several candidates are fitted to the same locked samples:

  quadratic  chrony's tempcomp: k0 + k1 d + k2 d^2 of the sensor temperature, its level anchored
             to the last FROZEN_WINDOW_S (as chronyd's tracked frequency absorbs what it misses)
  quad-lag   the same of the lagged temperature (the table's lag), with aging
  cubic      the AT-cut cubic of the lagged temperature, with aging
  table      the table model (fit.py, bound.py)

and each is backtested on the node's own history: from several past instants while locked, fit on
what came before, hold over, and compare with what the reference measured. The candidate with the
smallest held-out error wins (the quadratic on a tie: never worse than it on held-out data).

Beyond the trained sensor range no polynomial's own continuation is trusted (a cubic fitted over
a few kelvin can run away within three more): the chosen curve is held at the edge temperature
and shifted by what the table's extrapolation adds beyond it (extrapolation.py). The median of
the candidates' continuations was tried: better on parts outside the classes, much worse in the
cooling failure of the class scenarios (the table knows how a compensated part continues).

The bound of the chosen candidate: var(h) = sigma_n(h)^2 + (c h)^2, where sigma_n is the table's
modelled sigma (bound.py: its noise model and parameter uncertainty) and c (ppb) the candidate's
frequency error, both 1 sigma, c learned from the backtests (their RMS excess over sigma_n, taken
with Student's t for the few backtests it comes from: T_OVER_Z). The 99 % bound is Z99 sqrt(var)
scaled per horizon bucket by the largest held-out |error| / that figure (at least 1, never less
than the bucket before: the backtests would all have been covered), plus, beyond the trained range,
the integral of the candidates' largest disagreement with the median there (what the data cannot
decide) combined with the table's own envelope. Without enough history (less than MIN_HISTORY_S)
there is nothing to backtest: the table's prediction and bound (class priors and fit) are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bound import PPB_S_TO_S, Z99, HoldoverPrediction, predict_holdover
from .fit import fit
from .lag import lag_filter
from .model import TempCompModel
from .series import FROZEN_WINDOW_S, SECONDS_PER_DAY, FloatArray

MIN_HISTORY_S = 24 * 3600.0
BACKTESTS = 6
BACKTEST_SHARE = 0.35  # each backtest holds over this share of the history (at most a day)
BUCKETS_S = (3600.0, 3 * 3600.0, 6 * 3600.0)  # calibration buckets: up to 1 h, 1-3 h, 3-6 h, beyond
CANDIDATES = ("quadratic", "quad-lag", "cubic", "table")
# c comes from BACKTESTS figures only: a 99 % bound on a new holdover takes Student's t quantile
# (0.995, BACKTESTS - 1 degrees of freedom: 4.03) instead of the normal one for that term.
T_OVER_Z = 4.0321 / 2.5758

Predict = Callable[[FloatArray, FloatArray], FloatArray]


@dataclass(frozen=True)
class Poly:
    """y = sum coef_i d^i + aging (t - t_end) / day + anchor, d = lagged temperature - t0_c."""

    coef: FloatArray  # increasing powers
    t0_c: float
    aging_ppb_per_day: float
    lag_s: float
    crystal_c: float  # lagged temperature at t_end
    t_end_s: float

    def predict(self, t: FloatArray, temp: FloatArray) -> FloatArray:
        interval = float(np.median(np.diff(t))) if t.size > 1 else 1.0
        lagged = lag_filter(temp, interval, self.lag_s, initial=self.crystal_c) if self.lag_s > 0 else temp
        d = lagged - self.t0_c
        y = np.polynomial.polynomial.polyval(d, self.coef)
        return np.asarray(y + self.aging_ppb_per_day * (t - self.t_end_s) / SECONDS_PER_DAY, dtype=float)


def fit_poly(t: FloatArray, temp: FloatArray, y: FloatArray, degree: int, lag_s: float, aging: bool) -> Poly:
    interval = float(np.median(np.diff(t)))
    lagged = lag_filter(temp, interval, lag_s) if lag_s > 0 else temp
    t0 = float(np.mean(lagged))
    d = lagged - t0
    cols = [d**i for i in range(degree + 1)]
    if aging:
        cols.append((t - t[-1]) / SECONDS_PER_DAY)
    a = np.column_stack(cols)
    sol, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ sol
    window = t >= t[-1] - FROZEN_WINDOW_S
    coef = np.array(sol[: degree + 1], dtype=float)
    coef[0] += float(np.mean(resid[window]))  # anchored as chronyd's tracked frequency
    return Poly(coef, t0, float(sol[-1]) if aging else 0.0, lag_s, float(lagged[-1]), float(t[-1]))


def _candidates(t: FloatArray, temp: FloatArray, y: FloatArray, compensated: bool) -> dict[str, Predict]:
    model = fit(t, temp, y, compensated=compensated).model
    lag_s = model.lag_s
    out: dict[str, Predict] = {
        "quadratic": fit_poly(t, temp, y, 2, 0.0, False).predict,
        "quad-lag": fit_poly(t, temp, y, 2, lag_s, True).predict,
        "cubic": fit_poly(t, temp, y, 3, lag_s, True).predict,
    }

    def table(th: FloatArray, temph: FloatArray) -> FloatArray:
        return predict_holdover(model, th, temph).freq_ppb

    out["table"] = table
    return out


def time_error_s(t: FloatArray, freq_true_next: FloatArray, applied: FloatArray) -> FloatArray:
    """x[0] = 0, x[k] = sum_{j<k} (measured over [t_j, t_j+1] - applied_j) dt."""
    dts = np.diff(t)
    return np.concatenate([[0.0], np.cumsum((freq_true_next - applied[:-1]) * dts)]) * PPB_S_TO_S


def backtest(
    t: FloatArray, temp: FloatArray, y: FloatArray, compensated: bool
) -> tuple[dict[str, list[FloatArray]], FloatArray]:
    """Held-out time errors of every candidate from BACKTESTS past instants, and their horizon (s)."""
    span = float(t[-1] - t[0])
    hold = min(BACKTEST_SHARE * span, SECONDS_PER_DAY)
    starts = np.linspace(t[0] + 0.5 * span, t[-1] - hold, BACKTESTS)
    errors: dict[str, list[FloatArray]] = {k: [] for k in CANDIDATES}
    horizon = np.zeros(0)
    for s in starts:
        i = int(np.searchsorted(t, s))
        j = int(np.searchsorted(t, t[i] + hold)) + 1
        cands = _candidates(t[:i], temp[:i], y[:i], compensated)
        th, temph = t[i - 1 : j], temp[i - 1 : j]
        for k, pred in cands.items():
            errors[k].append(time_error_s(th, y[i:j], pred(th, temph)))
        horizon = th - th[0]
    return errors, horizon


@dataclass(frozen=True)
class Selected:
    """The chosen candidate and its calibrated bound (see the module docstring)."""

    name: str
    scores_s: dict[str, float]  # RMS over the backtests of the held-out max |time error|
    freq_c_ppb: float  # the chosen candidate's frequency error, 1 sigma
    bucket_scale: tuple[float, ...]  # per calibration bucket
    table: TempCompModel
    predictors: dict[str, Predict]
    temp_lo_c: float  # the trained sensor range
    temp_hi_c: float

    def predict(self, time_s: npt.ArrayLike, temp_c: npt.ArrayLike) -> HoldoverPrediction:
        t = np.asarray(time_s, dtype=float)
        temp = np.asarray(temp_c, dtype=float)
        base = predict_holdover(self.table, t, temp)
        if not self.scores_s:
            return base  # no backtests: the table and its bound
        inside = np.clip(temp, self.temp_lo_c, self.temp_hi_c)
        shifts = np.array([p(t, temp) - p(t, inside) for p in self.predictors.values()])
        shift = shifts[list(self.predictors).index("table")]
        freq = self.predictors[self.name](t, inside) + shift
        h = t - t[0]
        sigma = np.hypot(base.sigma_s, T_OVER_Z * self.freq_c_ppb * h * PPB_S_TO_S)
        scale = np.asarray(self.bucket_scale)[np.searchsorted(np.asarray(BUCKETS_S), h)]
        beyond = base.extrapolation_c > 0
        spread = np.where(beyond, np.max(np.abs(shifts - shift), axis=0), 0.0)
        ext = np.concatenate([[0.0], np.cumsum(spread[:-1] * np.diff(t))]) * PPB_S_TO_S
        bound = np.maximum.accumulate(Z99 * sigma * scale + np.hypot(ext, base.ext_s))
        return HoldoverPrediction(t, freq, bound, sigma, ext, base.extrapolation_c, base.temp_eff_c)


def _calibrate(errors: list[FloatArray], horizon: FloatArray, sigma_n: FloatArray) -> tuple[float, tuple[float, ...]]:
    n = min(min(x.size for x in errors), horizon.size)
    e = np.abs(np.array([x[:n] for x in errors]))[:, 1:]
    h, sn = horizon[1:n], sigma_n[1:n]
    excess = np.maximum(e**2 - sn**2, 0.0) / (h * PPB_S_TO_S) ** 2
    c = float(np.sqrt(np.mean(excess)))
    sigma = np.hypot(sn, T_OVER_Z * c * h * PPB_S_TO_S)
    ratio = e / (Z99 * sigma)
    idx = np.searchsorted(np.asarray(BUCKETS_S), h)
    scales: list[float] = []
    for b in range(len(BUCKETS_S) + 1):
        m = idx == b
        scales.append(max(1.0, float(ratio[:, m].max())) if m.any() else (scales[-1] if scales else 1.0))
    # The relative error of a backtest figure does not shrink with the horizon: never less than before.
    return c, tuple(float(x) for x in np.maximum.accumulate(scales))


def select(
    time_s: npt.ArrayLike, temp_c: npt.ArrayLike, freq_ppb: npt.ArrayLike, *, compensated: bool = True
) -> Selected:
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    y = np.asarray(freq_ppb, dtype=float)
    full = fit(t, temp, y, compensated=compensated).model
    preds = _candidates(t, temp, y, compensated)
    lo, hi = float(temp.min()), float(temp.max())
    if t[-1] - t[0] < MIN_HISTORY_S:
        return Selected("table", {}, 0.0, (1.0,) * (len(BUCKETS_S) + 1), full, preds, lo, hi)
    errors, horizon = backtest(t, temp, y, compensated)
    scores = {k: float(np.sqrt(np.mean([np.max(np.abs(x)) ** 2 for x in v]))) for k, v in errors.items()}
    name = min(CANDIDATES, key=lambda k: (scores[k], k != "quadratic"))
    # The table's modelled sigma (noise and the uncertainty of its level, aging and curve) over a
    # holdover as long as the backtests', from the end of the history.
    n = horizon.size
    sigma_n = predict_holdover(full, t[-1] + horizon, np.full(n, temp[-1])).sigma_s
    c, scales = _calibrate(errors[name], horizon, sigma_n)
    return Selected(name, scores, c, scales, full, preds, lo, hi)
