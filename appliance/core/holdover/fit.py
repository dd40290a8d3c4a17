"""Batch fit of the temperature model to samples taken while locked (the model: model.py).

Samples are averaged into bins of BIN_S (bins.py); the lag is chosen on a model without random
walk; the noise is estimated from the Allan deviation of that model's residuals; the final fit is
a penalised weighted least squares over the spline, aging, and the level as a random walk
(piecewise linear in time, one knot per BIAS_KNOT_S, differences weighted by the random-walk
rate; wls.py): the MAP estimate of the Gaussian model, whose inverse normal matrix is the
covariance. Outliers are rejected on the samples (robust sigma from the median absolute
deviation) and the fit repeated. The covariance is scaled up when the residuals are larger than
the noise model says.

Besides the power-law noise model, the fit measures how far its own residual is off when
averaged over 1, 2, 4, ... bins (``short_tau_s``, ``short_var_ppb2`` of the model): over minutes
to hours the model error can exceed what the noise model, fitted over all averaging times, says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .bins import BIN_S, Bins, bin_ids, decimate, make_bins
from .lag import lagged_segments
from .model import TempCompModel
from .noise import MIN_RW_PPB2_PER_S, NoiseModel, estimate_noise
from .series import BoolArray, FloatArray, IntArray, check_series
from .table import KNOT_SPACING_C, choose_grid
from .wls import level_knots, level_rows, solve

LAG_CANDIDATES_S = (0.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1200.0, 1800.0)
LAG_SEARCH_S = 10.0  # the lag search runs on means over this (finer samples are averaged)
LAG_REFINE_STEPS = 8
OUTLIER_SIGMAS = 6.0
OUTLIER_PASSES = 3
NOISE_START_RWFM_PPB2_PER_S = 1e-4  # q = 0.017 ppb/sqrt(s): looser than any TCXO, the iteration tightens it
NOISE_PASSES = 1


@dataclass
class FitReport:
    lag_s: float
    n_samples: int
    n_outliers: int
    n_bins: int
    interval_s: float
    rms_residual_ppb: float
    chi2_scale: float
    noise: NoiseModel
    lag_scores: dict[float, float]
    warnings: list[str]


@dataclass
class FitResult:
    model: TempCompModel
    report: FitReport


def _refine_lag(score: Callable[[float], float], grid: list[float], scores: dict[float, float]) -> float:
    """Golden-section search for the lag between the neighbours of the best grid value."""
    best = min(scores, key=scores.__getitem__)
    i = grid.index(best)
    if len(grid) < 2:
        return best
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    use_log = lo > 0
    to_x = (lambda v: math.log(v)) if use_log else (lambda v: v)
    from_x = (lambda x: math.exp(x)) if use_log else (lambda x: x)
    a, b = to_x(lo), to_x(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = score(from_x(c)), score(from_x(d))
    for _ in range(LAG_REFINE_STEPS):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = score(from_x(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = score(from_x(d))
    x, fx = (c, fc) if fc < fd else (d, fd)
    return from_x(x) if fx < scores[best] else best


def _outliers(residual: FloatArray, good: BoolArray) -> BoolArray:
    r = residual[good]
    med = np.median(r)
    sigma = 1.4826 * np.median(np.abs(r - med))
    if sigma <= 0:
        sigma = np.std(r) or 1.0
    out: BoolArray = np.abs(residual - med) > OUTLIER_SIGMAS * sigma
    return out


def fit(
    time_s: npt.ArrayLike,
    temp_c: npt.ArrayLike,
    freq_ppb: npt.ArrayLike,
    *,
    compensated: bool = True,
    lag_candidates_s: Sequence[float] = LAG_CANDIDATES_S,
    knot_spacing_c: float = KNOT_SPACING_C,
) -> FitResult:
    """Fit the model to samples taken while locked (see the module docstring). ``compensated``:
    the oscillator is a TCXO/OCXO (False: a plain crystal; only changes extrapolation)."""
    series = check_series(time_s, temp_c, freq_ppb)
    freq = series.frequencies()
    warnings = list(series.warnings)
    dt = series.interval_s
    bin_n = max(1, int(round(BIN_S / dt)))
    ids, bin_seg = bin_ids(series, bin_n)
    t_first, t_end = float(series.time_s[0]), float(series.time_s[-1])

    # Temperature grid from the range of the sensor (lagging only narrows it).
    lo, hi = float(series.temp_c.min()), float(series.temp_c.max())
    spacing, k_lo, n = choose_grid(lo, hi, knot_spacing_c)

    # Provisional per-sample scale from successive differences (robust): relative bin weights.
    d = np.diff(freq)
    s2 = max((1.4826 * float(np.median(np.abs(d - np.median(d))))) ** 2 / 2.0, 1e-6)

    # Pass 0: outliers against a simple model at a middle lag.
    good = np.ones(series.time_s.size, dtype=bool)
    lag0 = 120.0
    for _ in range(OUTLIER_PASSES):
        teff = lagged_segments(series, lag0)
        bins = make_bins(series, teff, good, ids, bin_seg, dt)
        *_, fitted = solve(bins, bins.count / s2, spacing, k_lo, n, t_end, None, 0.0)
        resid = freq - np.interp(series.time_s, bins.t, fitted)
        new_good = good & ~_outliers(resid, good)
        if new_good.sum() == good.sum():
            break
        good = new_good

    # Lag: the candidate with the smallest weighted residual of the simple model, refined by a
    # golden-section search between its neighbours (the curve's slope is sensitive to it: a lag
    # 15 % short flattens the fitted curve by several percent where HVAC cycling dominates).
    search, search_good = decimate(series, good, max(1, int(round(LAG_SEARCH_S / dt))))
    s_ids, s_seg = bin_ids(search, max(1, int(round(BIN_S / search.interval_s))))
    s_t_end = float(search.time_s[-1])

    def score(lag: float) -> float:
        teff_s = lagged_segments(search, lag)
        b = make_bins(search, teff_s, search_good, s_ids, s_seg, search.interval_s)
        w_s = b.count / s2
        *_, fitted_s = solve(b, w_s, spacing, k_lo, n, s_t_end, None, 0.0)
        return float(np.sum(w_s * (b.y - fitted_s) ** 2))

    scores = {float(lag): score(float(lag)) for lag in lag_candidates_s}
    lag = _refine_lag(score, sorted(scores), scores)
    teff = lagged_segments(series, lag)
    bins = make_bins(series, teff, good, ids, bin_seg, dt)
    theta, _, _, _, fitted = solve(bins, bins.count / s2, spacing, k_lo, n, t_end, None, 0.0)

    # Noise: Allan deviation of what the temperature curve and the aging leave (the level's random
    # walk plus white noise). The split between curve and level depends on the random-walk rate
    # assumed, so iterate from a generous rate down to the rate the residuals show.
    noise = _noise_from_residuals(bins, bins.y - fitted, bin_n * dt, bin_n)
    knots = level_knots(t_first, t_end)
    rw = max(noise.rwfm_ppb2_per_s, NOISE_START_RWFM_PPB2_PER_S)
    for _ in range(NOISE_PASSES):
        var_b = np.maximum(noise.mean_var_ppb2(bins.duration_s), 1e-6)
        theta, _, _, _, fitted = solve(bins, 1.0 / var_b, spacing, k_lo, n, t_end, knots, rw)
        level_part = level_rows(bins, knots, theta, n)
        noise = _noise_from_residuals(bins, bins.y - fitted + level_part, bin_n * dt, bin_n)
        rw = max(noise.rwfm_ppb2_per_s, MIN_RW_PPB2_PER_S)

    # Final: random-walk level, weights from the noise model; reject outliers again, refit.
    for _ in range(OUTLIER_PASSES):
        bins = make_bins(series, teff, good, ids, bin_seg, dt)
        var_b = np.maximum(noise.mean_var_ppb2(bins.duration_s), 1e-6)
        w = 1.0 / var_b
        theta, amat, chol, prior, fitted = solve(bins, w, spacing, k_lo, n, t_end, knots, rw)
        resid = freq - np.interp(series.time_s, bins.t, fitted)
        new_good = good & ~_outliers(resid, good)
        if new_good.sum() == good.sum():
            break
        good = new_good

    # Covariance of [coef, aging, level at t_end]; scaled up if residuals exceed the noise model.
    p = theta.size
    inv = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(p)))
    edf = p - float(np.sum(inv * prior))
    r_b = bins.y - fitted
    dof = max(bins.t.size - edf, 1.0)
    chi2 = float(np.sum(w * r_b**2)) / dof
    scale = max(1.0, chi2)
    keep = np.concatenate([np.arange(n + 1), [p - 1]])
    cov = inv[np.ix_(keep, keep)] * scale
    state = np.concatenate([theta[: n + 1], [theta[-1]]])
    temp_lo, temp_hi = float(bins.temp.min()), float(bins.temp.max())
    short_tau, short_var = _short_term(bins, r_b, bin_n * dt, bin_n, noise)
    model = TempCompModel(
        knot_spacing_c=spacing,
        k_lo=k_lo,
        theta=state,
        cov=cov,
        time_s=t_end,
        lag_s=lag,
        crystal_c=float(teff[-1]),
        temp_lo_c=temp_lo,
        temp_hi_c=temp_hi,
        noise=noise,
        n_samples=int(good.sum()),
        n_outliers=int((~good).sum()),
        warnings=warnings,
        compensated=compensated,
        short_tau_s=short_tau,
        short_var_ppb2=short_var,
    )
    n_out = int((~good).sum())
    if n_out:
        warnings.append(f"{n_out} outlier sample(s) rejected (beyond {OUTLIER_SIGMAS:g} robust sigma)")
    rms = float(np.sqrt(np.mean(resid[good] ** 2)))
    report = FitReport(lag, int(good.sum()), n_out, int(bins.t.size), dt, rms, scale, noise, scores, warnings)
    return FitResult(model, report)


def _longest_run(bins: Bins, bin_n: int) -> IntArray | None:
    """Indices of the longest run of full bins inside one gap-free segment."""
    full = bins.count >= bin_n
    best = None
    for s in np.unique(bins.segment):
        idx = np.flatnonzero((bins.segment == s) & full)
        if best is None or idx.size > best.size:
            best = idx
    return best


def _short_term(
    bins: Bins, resid: FloatArray, bin_s: float, bin_n: int, noise: NoiseModel
) -> tuple[list[float], list[float]]:
    """Variance of the final fit's residual averaged over 1, 2, 4, ... bins (the reference's
    white phase noise taken out): how far the model is off over minutes to hours, which the
    power-law noise model (fitted over all averaging times) may understate."""
    run = _longest_run(bins, bin_n)
    if run is None or run.size < 16:
        return [], []
    r = resid[run]
    taus, vars_ = [], []
    m = 1
    while r.size // m >= 8:
        k = r.size // m
        means = r[: k * m].reshape(k, m).mean(axis=1)
        tau = m * bin_s
        v = float(np.mean(means**2)) - noise.wpm_ppb2_s2 / tau**2
        taus.append(tau)
        vars_.append(max(v, 0.0))
        m *= 2
    return taus, vars_


def _noise_from_residuals(bins: Bins, resid: FloatArray, bin_s: float, bin_n: int) -> NoiseModel:
    best = _longest_run(bins, bin_n)
    if best is None or best.size < 16:
        return NoiseModel(wfm_ppb2_s=float(np.var(resid)) * bin_s)
    noise, _ = estimate_noise(resid[best], bin_s)
    if noise.mean_var_ppb2(bin_s) <= 0:
        noise = NoiseModel(
            noise.wpm_ppb2_s2,
            max(noise.wfm_ppb2_s, float(np.var(resid[best])) * bin_s),
            noise.ffm_ppb2,
            noise.rwfm_ppb2_per_s,
        )
    return noise
