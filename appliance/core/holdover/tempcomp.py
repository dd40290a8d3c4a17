"""Learned temperature model of the node's oscillator (a TCXO), pure: samples in, predictions out.

Frequency offset of the oscillator (ppb, positive = the oscillator runs fast) at time t:

    y(t) = level + aging * (t - time_s) / 86400 + g(T_eff(t)) + noise

  * T_eff: the sensor temperature through a first-order lag of ``lag_s`` (the crystal lags the
    sensor); ``lag_s`` is chosen by the fit from a grid of candidates.
  * g: a cubic B-spline on a uniform grid of ``knot_spacing_c`` in temperature (a smoothed table:
    it follows a TCXO's residual ripple, which no low-order polynomial does). Evaluated only inside
    the trained temperature range; beyond it the prediction is the middle of what the curve can
    reach from the edge (``ext_shift_ppb``) and is flagged as an extrapolation whose uncertainty
    grows with the distance (``ext_envelope_ppb``).
  * level: random-walk frequency noise (rate from the Allan deviation, see oscnoise.py); aging:
    a linear frequency drift (ppb/day).

Parameters theta = [spline coefficients..., aging_ppb_per_day, level_ppb]; their covariance is kept.

Batch fit (``fit``): samples are averaged into bins of BIN_S; the lag is chosen on a model without
random walk; the noise is estimated from the Allan deviation of that model's residuals; the final
fit is a penalised weighted least squares over the spline, aging, and the level as a random walk
(piecewise linear in time, one knot per BIAS_KNOT_S, differences weighted by the random-walk
rate): the MAP estimate of the Gaussian model, whose inverse normal matrix is the covariance.
Outliers are rejected on the samples (robust sigma from the median absolute deviation) and the
fit repeated. The covariance is scaled up when the residuals are larger than the noise model says.

Online update (``TempCompModel.update``): a Kalman filter on the same state. The level follows the
random walk, the aging and the spline coefficients receive a small process noise ("forgetting":
an old curve loses weight against new samples at a stated rate, without the unbounded growth of
exponential forgetting on coefficients that are not being visited). Samples beyond the grid grow
it: new coefficients start at the edge value with a prior that widens with the distance.

Times are seconds on the caller's axis; temperatures degC; frequencies ppb (ppm only at the edges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .noise import NoiseModel, estimate_noise

SECONDS_PER_DAY = 86_400.0
MODEL_FORMAT = "appliance-tempcomp"
MODEL_VERSION = 1

# --- what the fit accepts ------------------------------------------------------------------------
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 60.0
MIN_SAMPLES = 100
MIN_SPAN_S = 6 * 3600.0
SHORT_SPAN_S = 24 * 3600.0  # below: warn that the noise estimate rests on less than a day
INTERVAL_TOLERANCE = 0.1  # each interval within 10 % of a multiple of the median interval
MIN_RANGE_C = 0.1  # below: the temperature did not vary at all, nothing to fit
NARROW_RANGE_C = 1.0  # below: warn, the curve is learned over a narrow span only
TEMP_LIMITS_C = (-60.0, 150.0)
MAX_ABS_FREQ_PPB = 1_000_000.0  # 1000 ppm: beyond it the column is not a frequency offset in ppm

# --- model structure -----------------------------------------------------------------------------
KNOT_SPACING_C = 0.25
MAX_COEFFICIENTS = 400
GRID_MARGIN_C = 1e-6  # knot spacing widens for very wide temperature ranges
BIN_S = 60.0
BIAS_KNOT_S = 1800.0
LAG_CANDIDATES_S = (0.0, 30.0, 60.0, 90.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1200.0, 1800.0)
LAG_SEARCH_S = 10.0  # the lag search runs on means over this (finer samples are averaged)
LAG_REFINE_STEPS = 8
CURVATURE_PRIOR_PPB_PER_K2 = 400.0  # prior scale of g'' (a TCXO ripple of 50 ppb over 3 K has ~220)
RIDGE_PRECISION = 1e-8  # keeps directions the data cannot see (1e4 ppb prior) invertible
OUTLIER_SIGMAS = 6.0
OUTLIER_PASSES = 3
MIN_RW_PPB2_PER_S = 1e-9
NOISE_START_RWFM_PPB2_PER_S = 1e-4  # q = 0.017 ppb/sqrt(s): looser than any TCXO, the iteration tightens it
NOISE_PASSES = 1
FROZEN_WINDOW_S = 300.0  # "last frequency" means the mean over this window (baselines, service)

# --- online update --------------------------------------------------------------------------------
CURVE_WANDER_PPB_PER_SQRT_DAY = 0.3
AGING_WANDER_PPB_PER_DAY_PER_SQRT_DAY = 0.05
INNOVATION_GATE_SIGMAS = 5.0
MAX_REJECTED_IN_A_ROW = 6  # then the level is re-opened (a real frequency jump, not an outlier)

# --- extrapolation ------------------------------------------------------------------------------
EXT_MIN_SLOPE_PPB_PER_K = 2.0
EXT_MIN_CAP_PPB = 10.0
EXT_BAND_WIDEN = 1.0  # beyond the range a banded curve stays within [min - k span, max + k span]
EXT_TURN_FRACTION = 0.2  # slopes of both signs beyond this share of the steepest: the curve turns
EXT_MIN_CURVATURE_PPB_PER_K2 = 1.0  # an AT-cut cubic (a3 ~ 1e-4 ppm/K^3) curves 0.6 ppb/K^2 per K from its inflection


class SampleError(ValueError):
    """Input samples that cannot be fitted or predicted; the message names the problem."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.row = row  # 0-based index into the arrays, when one row is at fault
        self.column = column


class ModelError(ValueError):
    """A stored model that cannot be used; the message names the field."""


# ================================================================================================
# input checks
# ================================================================================================


@dataclass
class Series:
    time_s: np.ndarray
    temp_c: np.ndarray
    freq_ppb: np.ndarray | None
    interval_s: float
    segment_starts: np.ndarray  # indices where a new gap-free segment begins (first is 0)
    warnings: list[str] = field(default_factory=list)


def check_series(
    time_s,
    temp_c,
    freq_ppb=None,
    *,
    min_samples: int = MIN_SAMPLES,
    min_span_s: float = MIN_SPAN_S,
    interval_limits_s: tuple[float, float] | None = (MIN_INTERVAL_S, MAX_INTERVAL_S),
    allow_gaps: bool = True,
    check_range: bool = True,
) -> Series:
    """Validate samples; raise SampleError naming the first problem, or return them with warnings."""
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    y = None if freq_ppb is None else np.asarray(freq_ppb, dtype=float)
    if t.ndim != 1 or temp.shape != t.shape or (y is not None and y.shape != t.shape):
        raise SampleError("time_s, temperature_c and the frequency column must have the same length")
    n = t.size
    if n < min_samples:
        raise SampleError(f"too few samples: {n} rows, need at least {min_samples}")
    columns = [("time_s", t), ("temperature_c", temp)] + ([("freq_offset_ppm", y)] if y is not None else [])
    for name, col in columns:
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            raise SampleError(
                f"{name} is not a finite number at row {bad[0] + 1} ({col[bad[0]]}); {bad.size} such row(s)",
                row=int(bad[0]),
                column=name,
            )
    dt = np.diff(t)
    back = np.flatnonzero(dt <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise SampleError(
            f"time_s is not increasing at row {i + 1}: {t[i]:g} after {t[i - 1]:g}", row=i, column="time_s"
        )
    interval = float(np.median(dt))
    if interval_limits_s is not None:
        lo, hi = interval_limits_s
        if not lo * (1 - INTERVAL_TOLERANCE) <= interval <= hi * (1 + INTERVAL_TOLERANCE):
            raise SampleError(f"sample interval {interval:g} s is outside {lo:g}..{hi:g} s", column="time_s")
    ratio = dt / interval
    k = np.rint(ratio)
    irregular = np.flatnonzero((k < 1) | (np.abs(ratio - k) > INTERVAL_TOLERANCE))
    if not allow_gaps:
        irregular = np.union1d(irregular, np.flatnonzero(k > 1))
    if irregular.size:
        i = int(irregular[0]) + 1
        raise SampleError(
            f"irregular time at row {i + 1}: interval {dt[i - 1]:g} s where the sample interval is "
            f"{interval:g} s ({irregular.size} irregular interval(s))",
            row=i,
            column="time_s",
        )
    warnings: list[str] = []
    gaps = np.flatnonzero(k > 1)
    if gaps.size:
        warnings.append(
            f"{gaps.size} gap(s) in time_s (longest {dt[gaps].max():g} s): the parts are fitted as separate segments"
        )
    starts = np.concatenate([[0], gaps + 1]).astype(int)
    span = float(t[-1] - t[0])
    if span < min_span_s:
        raise SampleError(
            f"too few samples: they cover {span / 3600:.2f} h, need at least {min_span_s / 3600:g} h", column="time_s"
        )
    lo_c, hi_c = TEMP_LIMITS_C
    out = np.flatnonzero((temp < lo_c) | (temp > hi_c))
    if out.size:
        i = int(out[0])
        raise SampleError(
            f"temperature_c {temp[i]:g} at row {i + 1} is outside {lo_c:g}..{hi_c:g} degC",
            row=i,
            column="temperature_c",
        )
    if y is not None:
        big = np.flatnonzero(np.abs(y) > MAX_ABS_FREQ_PPB)
        if big.size:
            i = int(big[0])
            raise SampleError(
                f"freq_offset_ppm {y[i] / 1000:g} at row {i + 1} is beyond +-{MAX_ABS_FREQ_PPB / 1000:g} ppm "
                "(the column is a fractional frequency offset in ppm)",
                row=i,
                column="freq_offset_ppm",
            )
    if check_range:
        t_range = float(temp.max() - temp.min())
        if t_range < MIN_RANGE_C:
            raise SampleError(
                f"temperature range too narrow to fit: {t_range:.3f} K ({temp.min():.2f}..{temp.max():.2f} degC); "
                f"need at least {MIN_RANGE_C:g} K, and {NARROW_RANGE_C:g} K or more for a useful curve",
                column="temperature_c",
            )
        if t_range < NARROW_RANGE_C:
            warnings.append(
                f"temperature range is narrow: {t_range:.2f} K ({temp.min():.2f}..{temp.max():.2f} degC); the curve "
                "is known only there, predictions outside it are extrapolations with a wide bound"
            )
    if span < SHORT_SPAN_S:
        warnings.append(
            f"samples cover {span / 3600:.1f} h (< {SHORT_SPAN_S / 3600:g} h): the random-walk noise estimate, "
            "and with it the time-error bound, rests on little data"
        )
    return Series(t, temp, y, interval, starts, warnings)


# ================================================================================================
# building blocks
# ================================================================================================


def lag_filter(x, interval_s: float, lag_s: float, initial: float | None = None) -> np.ndarray:
    """First-order lag of a regularly sampled series: out[k] = out[k-1] + a (x[k] - out[k-1]),
    a = 1 - exp(-interval/lag), out[-1] = ``initial`` (default x[0]). Vectorised in blocks."""
    x = np.asarray(x, dtype=float)
    if x.size == 0 or lag_s <= 0 or interval_s / lag_s > 30:
        return x.copy()
    rho = math.exp(-interval_s / lag_s)
    a = 1.0 - rho
    prev = float(x[0] if initial is None else initial)
    block = max(1, min(x.size, int(10.0 * lag_s / interval_s)))  # rho**-block <= e**10
    nblk = -(-x.size // block)
    xp = np.zeros(nblk * block)
    xp[: x.size] = x
    xb = xp.reshape(nblk, block)
    j = np.arange(1, block + 1)
    grow = rho ** (-j.astype(float))
    decay = rho ** j.astype(float)
    local = a * decay * np.cumsum(xb * grow, axis=1)  # response of each block from a zero state
    out = np.empty_like(xb)
    for b in range(nblk):
        out[b] = local[b] + decay * prev
        prev = out[b, -1]
    return out.reshape(-1)[: x.size]


def bspline_rows(temp_c, spacing_c: float, k_lo: int, derivative: int = 0):
    """Cubic B-spline basis on knots at multiples of spacing_c: (columns, values), 4 per point
    (``derivative`` 1 or 2: of the first or second derivative in temperature, per K or K^2).

    Coefficient j belongs to the B-spline centred at (k_lo + j) * spacing_c. The caller keeps
    temperatures where all four columns exist (between the second and the second-last centre)."""
    u = np.asarray(temp_c, dtype=float) / spacing_c
    i = np.floor(u)
    f = u - i
    f2, f3 = f * f, f * f * f
    if derivative == 0:
        parts = [(1 - f) ** 3 / 6, (3 * f3 - 6 * f2 + 4) / 6, (-3 * f3 + 3 * f2 + 3 * f + 1) / 6, f3 / 6]
    elif derivative == 1:
        parts = [-((1 - f) ** 2) / 2, 1.5 * f2 - 2 * f, -1.5 * f2 + f + 0.5, f2 / 2]
        parts = [p / spacing_c for p in parts]
    elif derivative == 2:
        parts = [(1 - f), 3 * f - 2, 1 - 3 * f, f]
        parts = [p / spacing_c**2 for p in parts]
    else:
        raise ValueError("derivative must be 0, 1 or 2")
    vals = np.stack(parts, axis=-1)
    cols = (i.astype(np.int64) - 1 - k_lo)[..., None] + np.arange(4)
    return cols, vals


def _grid_for(lo_c: float, hi_c: float, spacing_c: float) -> tuple[int, int]:
    """(k_lo, n): coefficients covering [lo_c, hi_c] with all four basis functions present."""
    k_lo = int(math.floor((lo_c - GRID_MARGIN_C) / spacing_c)) - 1  # the margin absorbs rounding of means
    k_hi = int(math.floor((hi_c + GRID_MARGIN_C) / spacing_c)) + 2
    return k_lo, k_hi - k_lo + 1


def _second_difference(n: int) -> np.ndarray:
    d = np.zeros((max(n - 2, 0), n))
    for r in range(n - 2):
        d[r, r : r + 3] = (1.0, -2.0, 1.0)
    return d


def _normal_equations(cols: np.ndarray, vals: np.ndarray, w: np.ndarray, y: np.ndarray, p: int):
    """X^T W X and X^T W y for a design whose rows have a few nonzeros (cols, vals: rows x k)."""
    k = cols.shape[1]
    a = np.zeros(p * p)
    for i in range(k):
        wi = w * vals[:, i]
        for j in range(i, k):
            c = np.bincount(cols[:, i] * p + cols[:, j], weights=wi * vals[:, j], minlength=p * p)
            a += c
            if i != j:
                a += c.reshape(p, p).T.ravel()
    b = np.zeros(p)
    for i in range(k):
        b += np.bincount(cols[:, i], weights=w * vals[:, i] * y, minlength=p)
    return a.reshape(p, p), b


def _interp_rows(t, knots):
    """Hat functions on time knots: (cols, vals) with 2 nonzeros per row."""
    t = np.asarray(t, dtype=float)
    j = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, len(knots) - 2)
    span = knots[j + 1] - knots[j]
    f = np.clip((t - knots[j]) / span, 0.0, 1.0)
    return np.stack([j, j + 1], axis=1), np.stack([1 - f, f], axis=1)


# ================================================================================================
# the model
# ================================================================================================


@dataclass(frozen=True)
class ExtParams:
    linear: bool  # continue along the edge slope (monotonic curve) instead of staying in the band
    slope_ppb_per_k: float
    curvature_ppb_per_k2: float
    edge_lo_ppb: float = 0.0  # g at the low edge of the trained range
    edge_hi_ppb: float = 0.0  # g at the high edge
    band_mid_ppb: float = 0.0  # the band the curve is assumed to stay in beyond the range:
    band_half_ppb: float = math.inf  # band_mid +- band_half



class TempCompModel:
    """State of the learned model; see the module docstring for the equation."""

    def __init__(
        self,
        *,
        knot_spacing_c: float,
        k_lo: int,
        theta: np.ndarray,
        cov: np.ndarray,
        time_s: float,
        lag_s: float,
        crystal_c: float,
        temp_lo_c: float,
        temp_hi_c: float,
        noise: NoiseModel,
        n_samples: int = 0,
        n_outliers: int = 0,
        warnings: list[str] | None = None,
        rejected_in_a_row: int = 0,
        compensated: bool = True,
        short_tau_s=(),
        short_var_ppb2=(),
    ):
        self.knot_spacing_c = float(knot_spacing_c)
        self.k_lo = int(k_lo)
        self.theta = np.array(theta, dtype=float)
        self.cov = np.array(cov, dtype=float)
        self.time_s = float(time_s)
        self.lag_s = float(lag_s)
        self.crystal_c = float(crystal_c)
        self.temp_lo_c = float(temp_lo_c)
        self.temp_hi_c = float(temp_hi_c)
        self.noise = noise
        self.n_samples = int(n_samples)
        self.n_outliers = int(n_outliers)
        self.warnings = list(warnings or [])
        self.rejected_in_a_row = int(rejected_in_a_row)
        self.compensated = bool(compensated)  # TCXO/OCXO (True) or plain crystal (XO): see ext_params
        # The fit's residual variance averaged over short_tau_s (ppb^2): see time_var_ppb2s2.
        self.short_tau_s = np.array(short_tau_s, dtype=float)
        self.short_var_ppb2 = np.array(short_var_ppb2, dtype=float)
        self._ext_cache: tuple[float, float] | None = None

    # -- structure --------------------------------------------------------------------------
    @property
    def n_coef(self) -> int:
        return self.theta.size - 2

    @property
    def i_aging(self) -> int:
        return self.n_coef

    @property
    def i_level(self) -> int:
        return self.n_coef + 1

    @property
    def aging_ppb_per_day(self) -> float:
        return float(self.theta[self.i_aging])

    @property
    def level_ppb(self) -> float:
        return float(self.theta[self.i_level])

    def copy(self) -> TempCompModel:
        return TempCompModel.from_dict(self.to_dict())

    def clamp_c(self, temp_c):
        return np.clip(np.asarray(temp_c, dtype=float), self.temp_lo_c, self.temp_hi_c)

    def extrapolation_c(self, temp_c):
        """How far (K) each temperature lies outside the trained range (0 inside)."""
        t = np.asarray(temp_c, dtype=float)
        return np.maximum(self.temp_lo_c - t, 0.0) + np.maximum(t - self.temp_hi_c, 0.0)

    def curve_rows(self, temp_c):
        """(columns, values) of g at temp_c: inside the trained range the spline; outside it the
        edge value, continued along the edge slope if the curve is monotonic (see ext_params)."""
        temp = np.asarray(temp_c, dtype=float)
        inside = self.clamp_c(temp)
        cols, vals = bspline_rows(inside, self.knot_spacing_c, self.k_lo)
        if self.ext_params().linear:
            delta = temp - inside
            if np.any(delta != 0):
                _, slope_vals = bspline_rows(inside, self.knot_spacing_c, self.k_lo, derivative=1)
                vals = vals + delta[..., None] * slope_vals
        return cols, vals

    def design(self, time_s, temp_eff_c) -> np.ndarray:
        """Dense regressor rows phi (N x len(theta)): y = phi . theta (aging relative to time_s)."""
        t = np.atleast_1d(np.asarray(time_s, dtype=float))
        temp = np.atleast_1d(np.asarray(temp_eff_c, dtype=float))
        cols, vals = self.curve_rows(temp)
        phi = np.zeros((temp.size, self.theta.size))
        np.put_along_axis(phi, cols, vals, axis=1)
        phi[:, self.i_aging] = (t - self.time_s) / SECONDS_PER_DAY
        phi[:, self.i_level] = 1.0
        return phi

    def curve_ppb(self, temp_c):
        """g(T) on its own (clamped to the trained range)."""
        cols, vals = self.curve_rows(temp_c)
        return np.sum(self.theta[cols] * vals, axis=-1)

    def frequency_ppb(self, time_s, temp_eff_c):
        """Predicted frequency offset (ppb) at lagged temperature ``temp_eff_c``."""
        y = self.design(time_s, temp_eff_c) @ self.theta + self.ext_shift_ppb(temp_eff_c)
        return float(y[0]) if np.ndim(time_s) == 0 and np.ndim(temp_eff_c) == 0 else y

    def time_var_ppb2s2(self, elapsed_s):
        """Variance of the time error that noise and short-term model error add over elapsed_s:
        the power-law noise (oscnoise), or where larger, elapsed^2 times the variance of the fit's
        residual averaged over elapsed (measured up to the longest averaging time of the fit)."""
        t = np.maximum(np.asarray(elapsed_s, dtype=float), 0.0)
        var = self.noise.time_var_ppb2s2(t)
        if self.short_tau_s.size:
            tau, v = self.short_tau_s, self.short_var_ppb2
            inside = (t > 0) & (t <= tau[-1])
            log_t = np.log(np.clip(t, tau[0], tau[-1]))
            short = np.interp(log_t, np.log(tau), v)
            var = np.where(inside, np.maximum(var, t * t * short), var)
        return var

    # -- extrapolation --------------------------------------------------------------------------
    def ext_params(self) -> ExtParams:
        """How the curve may continue beyond the trained range, read from the trained curve.

        A temperature-compensated oscillator (TCXO, OCXO: ``compensated``) stays within its
        datasheet band: beyond the range its curve is assumed to stay within the band it showed,
        widened by its span on each side ([min - span, max + span]), and to move away from the
        edge value no faster than the steepest slope seen. At a distance d from the edge the curve
        is then within [edge - slope d, edge + slope d] and within the band: the prediction is the
        middle of that interval (the smallest worst-case error), the envelope its half-width, which
        grows as slope x d near the edge and ends at half the band. An uncompensated crystal (XO)
        whose curve is monotonic over the range (its cubic) continues along the edge slope; its
        envelope grows with the curvature of a cubic fitted to the curve times the distance squared
        (twice the Taylor term), plus a floor slope, with no cap. A curve that turns inside the
        range (slopes of both signs) is treated as banded either way."""
        if self._ext_cache is None:
            lo, hi = self.temp_lo_c, self.temp_hi_c
            grid = np.linspace(lo, hi, max(8, int((hi - lo) / self.knot_spacing_c * 8) + 1))
            c, v = bspline_rows(grid, self.knot_spacing_c, self.k_lo)
            g = np.sum(self.theta[c] * v, axis=-1)
            c1, v1 = bspline_rows(grid, self.knot_spacing_c, self.k_lo, derivative=1)
            slope = np.sum(self.theta[c1] * v1, axis=-1)
            # Curvature of the curve's overall shape (a cubic fitted to it), not of its fine ripple.
            if hi - lo > 4 * self.knot_spacing_c:
                shape = np.polyfit(grid - lo, g, 3)
                curv = np.polyval(np.polyder(shape, 2), grid - lo)
            else:
                curv = np.zeros(1)
            smax = float(np.max(np.abs(slope)))
            turning = smax <= EXT_MIN_SLOPE_PPB_PER_K or (
                slope.max() > EXT_TURN_FRACTION * smax and slope.min() < -EXT_TURN_FRACTION * smax
            )
            slope_env = max(smax, EXT_MIN_SLOPE_PPB_PER_K)
            gmax, gmin = float(g.max()), float(g.min())
            span = gmax - gmin
            floor = max(slope_env * 1.0, EXT_MIN_CAP_PPB)
            half = max(span / 2.0 + EXT_BAND_WIDEN * span, floor)  # [min - k span, max + k span], >= floor
            curv_max = max(float(np.max(np.abs(curv))), EXT_MIN_CURVATURE_PPB_PER_K2)
            self._ext_cache = ExtParams(
                not (turning or self.compensated), slope_env, curv_max,
                float(g[0]), float(g[-1]), (gmax + gmin) / 2.0, half,
            )
        return self._ext_cache

    def _ext_interval(self, temp_c):
        """The interval the banded curve can reach at ``temp_c`` from the nearer edge's value:
        (low, high, edge value), elementwise; low == high == edge inside the range."""
        e = self.ext_params()
        t = np.asarray(temp_c, dtype=float)
        d = self.extrapolation_c(t)
        edge = np.where(t < self.temp_lo_c, e.edge_lo_ppb, e.edge_hi_ppb)
        low = np.maximum(edge - e.slope_ppb_per_k * d, e.band_mid_ppb - e.band_half_ppb)
        high = np.minimum(edge + e.slope_ppb_per_k * d, e.band_mid_ppb + e.band_half_ppb)
        return np.minimum(low, edge), np.maximum(high, edge), edge

    def ext_shift_ppb(self, temp_c):
        """What the prediction at ``temp_c`` adds to the held edge value (curve_rows): beyond the
        range of a banded curve, the middle of the interval it can reach; 0 inside the range and
        for a curve continued along its slope."""
        t = np.asarray(temp_c, dtype=float)
        if self.ext_params().linear:
            return np.zeros_like(t)
        low, high, edge = self._ext_interval(t)
        return np.where(self.extrapolation_c(t) > 0, (low + high) / 2.0 - edge, 0.0)

    def ext_envelope_ppb(self, distance_c, temp_c=None):
        """A 99 % envelope of the prediction's error from the curve at ``distance_c`` K outside the
        trained range (``temp_c``, the temperature itself, tells the side; without it the wider)."""
        e = self.ext_params()
        d = np.asarray(distance_c, dtype=float)
        if e.linear:
            return EXT_MIN_SLOPE_PPB_PER_K * d + e.curvature_ppb_per_k2 * d * d
        if temp_c is None:
            sides = [self._ext_interval(np.asarray(x, dtype=float)) for x in (self.temp_lo_c - d, self.temp_hi_c + d)]
            return np.maximum(*((high - low) / 2.0 for low, high, _ in sides))
        low, high, _ = self._ext_interval(temp_c)
        return np.where(d > 0, (high - low) / 2.0, 0.0)

    # -- Kalman filter -------------------------------------------------------------------------
    def time_update(self, time_s: float) -> None:
        """Propagate the state to ``time_s``: the level moves with aging and its random walk, the
        aging and the curve forget a little."""
        dt = float(time_s) - self.time_s
        if dt <= 0:
            return
        ia, il = self.i_aging, self.i_level
        days = dt / SECONDS_PER_DAY
        self.theta[il] += self.theta[ia] * days
        cov = self.cov
        # F = I + days * e_level e_aging^T
        cov[il, :] += days * cov[ia, :]
        cov[:, il] += days * cov[:, ia]
        q = max(self.noise.rwfm_ppb2_per_s, MIN_RW_PPB2_PER_S) * 3.0
        cov[il, il] += q * dt
        cov[ia, ia] += AGING_WANDER_PPB_PER_DAY_PER_SQRT_DAY**2 * days
        idx = np.arange(self.n_coef)
        cov[idx, idx] += CURVE_WANDER_PPB_PER_SQRT_DAY**2 * days
        self.time_s = float(time_s)

    def _grow(self, temp_eff_c: float) -> None:
        """Widen the trained range (and the grid, if needed) to include ``temp_eff_c``."""
        step_var = (self.ext_params().slope_ppb_per_k * self.knot_spacing_c) ** 2
        k_lo_needed, n_needed = _grid_for(
            min(self.temp_lo_c, temp_eff_c), max(self.temp_hi_c, temp_eff_c), self.knot_spacing_c
        )
        add_lo = self.k_lo - k_lo_needed
        add_hi = (k_lo_needed + n_needed) - (self.k_lo + self.n_coef)
        if add_lo > 0 or add_hi > 0:
            add_lo, add_hi = max(add_lo, 0), max(add_hi, 0)
            n_old, p_old = self.n_coef, self.theta.size
            n_new = n_old + add_lo + add_hi
            p_new = n_new + 2
            # theta_new = T theta_old + e, new coefficients copy the nearest edge coefficient
            tmat = np.zeros((p_new, p_old))
            extra = np.zeros(p_new)
            for j in range(n_new):
                src = min(max(j - add_lo, 0), n_old - 1)
                tmat[j, src] = 1.0
                dist = max(add_lo - j, j - add_lo - (n_old - 1), 0)
                extra[j] = step_var * dist
            tmat[n_new, n_old] = 1.0
            tmat[n_new + 1, n_old + 1] = 1.0
            self.theta = tmat @ self.theta
            self.cov = tmat @ self.cov @ tmat.T + np.diag(extra)
            self.k_lo -= add_lo
        self.temp_lo_c = min(self.temp_lo_c, float(temp_eff_c))
        self.temp_hi_c = max(self.temp_hi_c, float(temp_eff_c))
        self._ext_cache = None

    def update(self, time_s: float, temp_eff_c: float, freq_ppb: float, var_ppb2: float) -> bool:
        """One Kalman step with a frequency measured at ``time_s`` (variance ``var_ppb2``).
        Returns False when the measurement was rejected as an outlier."""
        self.time_update(time_s)
        if not (self.temp_lo_c <= temp_eff_c <= self.temp_hi_c):
            self._grow(temp_eff_c)
        h = self.design(time_s, temp_eff_c)[0]
        ph = self.cov @ h
        s = float(h @ ph) + float(var_ppb2)
        innov = float(freq_ppb) - float(h @ self.theta)
        if innov * innov > INNOVATION_GATE_SIGMAS**2 * s:
            self.rejected_in_a_row += 1
            self.n_outliers += 1
            if self.rejected_in_a_row < MAX_REJECTED_IN_A_ROW:
                return False
            # Many in a row: the frequency really moved. Re-open the level and take it.
            self.cov[self.i_level, self.i_level] += innov * innov
            ph = self.cov @ h
            s = float(h @ ph) + float(var_ppb2)
        self.rejected_in_a_row = 0
        gain = ph / s
        self.theta += gain * innov
        self.cov -= np.outer(gain, ph)
        self.cov = 0.5 * (self.cov + self.cov.T)
        self.n_samples += 1
        self._ext_cache = None
        return True

    def forecast_c(self, crystal_c, temp_c, ahead_s: float):
        """The lagged temperature ``ahead_s`` later if the sensor stays at ``temp_c``."""
        if self.lag_s <= 0 or ahead_s >= 30 * self.lag_s:
            return np.asarray(temp_c, dtype=float) + 0.0 * np.asarray(crystal_c, dtype=float)
        a = 1.0 - math.exp(-max(ahead_s, 0.0) / self.lag_s)
        crystal = np.asarray(crystal_c, dtype=float)
        return crystal + a * (np.asarray(temp_c, dtype=float) - crystal)

    def advance_crystal(self, interval_s: float, temp_c: float) -> float:
        """Move the lagged temperature one step of ``interval_s`` toward ``temp_c``."""
        if self.lag_s > 0 and interval_s < 30 * self.lag_s:
            self.crystal_c += (1.0 - math.exp(-max(interval_s, 0.0) / self.lag_s)) * (temp_c - self.crystal_c)
        else:
            self.crystal_c = float(temp_c)
        return self.crystal_c

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "units": "time s, temperature degC, frequency ppb (positive = oscillator fast)",
            "knot_spacing_c": self.knot_spacing_c,
            "k_lo": self.k_lo,
            "coefficients_ppb": [float(v) for v in self.theta[: self.n_coef]],
            "aging_ppb_per_day": self.aging_ppb_per_day,
            "level_ppb": self.level_ppb,
            "covariance": [[float(v) for v in row] for row in self.cov],
            "time_s": self.time_s,
            "lag_s": self.lag_s,
            "crystal_c": self.crystal_c,
            "temp_lo_c": self.temp_lo_c,
            "temp_hi_c": self.temp_hi_c,
            "noise": self.noise.to_dict(),
            "n_samples": self.n_samples,
            "n_outliers": self.n_outliers,
            "rejected_in_a_row": self.rejected_in_a_row,
            "compensated": self.compensated,
            "short_tau_s": [float(v) for v in self.short_tau_s],
            "short_var_ppb2": [float(v) for v in self.short_var_ppb2],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d) -> TempCompModel:
        if not isinstance(d, dict):
            raise ModelError("expected a JSON object")
        if d.get("format") != MODEL_FORMAT:
            raise ModelError(f"format: expected {MODEL_FORMAT!r}, got {d.get('format')!r}")
        if d.get("version") != MODEL_VERSION:
            raise ModelError(f"version: expected {MODEL_VERSION}, got {d.get('version')!r}")

        def num(key, positive=False, allow_zero=True):
            if key not in d:
                raise ModelError(f"{key}: required field is missing")
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ModelError(f"{key}: expected a finite number, got {v!r}")
            if positive and (v < 0 or (v == 0 and not allow_zero)):
                raise ModelError(f"{key}: expected a number > {'=' if allow_zero else ''}0, got {v!r}")
            return float(v)

        coef = d.get("coefficients_ppb")
        if not isinstance(coef, list) or len(coef) < 4:
            raise ModelError("coefficients_ppb: expected a list of at least 4 numbers")
        try:
            coef_a = np.array(coef, dtype=float)
            cov = np.array(d.get("covariance"), dtype=float)
        except (TypeError, ValueError):
            raise ModelError("coefficients_ppb / covariance: expected numbers") from None
        p = coef_a.size + 2
        if cov.shape != (p, p):
            raise ModelError(f"covariance: expected a {p}x{p} matrix, got shape {cov.shape}")
        if not (np.all(np.isfinite(coef_a)) and np.all(np.isfinite(cov))):
            raise ModelError("coefficients_ppb / covariance: not all finite")
        if np.any(np.diag(cov) < 0):
            raise ModelError("covariance: negative variance on the diagonal")
        k_lo = d.get("k_lo")
        if isinstance(k_lo, bool) or not isinstance(k_lo, int):
            raise ModelError(f"k_lo: expected an integer, got {k_lo!r}")
        spacing = num("knot_spacing_c", positive=True, allow_zero=False)
        lo, hi = num("temp_lo_c"), num("temp_hi_c")
        if hi < lo:
            raise ModelError(f"temp_hi_c {hi} is below temp_lo_c {lo}")
        k_need, n_need = _grid_for(lo, hi, spacing)
        if k_need < k_lo or k_need + n_need > k_lo + coef_a.size:
            raise ModelError("coefficients_ppb do not cover temp_lo_c..temp_hi_c")
        try:
            noise = NoiseModel.from_dict(d.get("noise") or {})
        except (KeyError, TypeError) as exc:
            raise ModelError(f"noise: missing or malformed field {exc}") from None
        except ValueError as exc:
            raise ModelError(str(exc)) from None
        theta = np.concatenate([coef_a, [num("aging_ppb_per_day"), num("level_ppb")]])
        warnings = d.get("warnings") or []
        compensated = d.get("compensated", True)
        if not isinstance(compensated, bool):
            raise ModelError(f"compensated: expected true or false, got {compensated!r}")
        try:
            short_tau = np.array(d.get("short_tau_s", []), dtype=float)
            short_var = np.array(d.get("short_var_ppb2", []), dtype=float)
        except (TypeError, ValueError):
            raise ModelError("short_tau_s / short_var_ppb2: expected lists of numbers") from None
        if short_tau.shape != short_var.shape or short_tau.ndim != 1 or np.any(~np.isfinite(short_tau)) or np.any(
            short_tau <= 0
        ) or np.any(np.diff(short_tau) <= 0) or np.any(~np.isfinite(short_var)) or np.any(short_var < 0):
            raise ModelError("short_tau_s / short_var_ppb2: expected equal-length lists, times increasing and > 0")
        return cls(
            short_tau_s=short_tau,
            short_var_ppb2=short_var,
            compensated=compensated,
            knot_spacing_c=spacing,
            k_lo=k_lo,
            theta=theta,
            cov=cov,
            time_s=num("time_s"),
            lag_s=num("lag_s", positive=True),
            crystal_c=num("crystal_c"),
            temp_lo_c=lo,
            temp_hi_c=hi,
            noise=noise,
            n_samples=int(d.get("n_samples", 0)),
            n_outliers=int(d.get("n_outliers", 0)),
            warnings=[str(w) for w in warnings] if isinstance(warnings, list) else [],
            rejected_in_a_row=int(d.get("rejected_in_a_row", 0)),
        )


# ================================================================================================
# batch fit
# ================================================================================================


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
    lag_scores: dict
    warnings: list[str]


@dataclass
class FitResult:
    model: TempCompModel
    report: FitReport


@dataclass
class _Bins:
    t: np.ndarray
    temp: np.ndarray
    y: np.ndarray
    count: np.ndarray
    duration_s: np.ndarray
    segment: np.ndarray


def _bin_ids(series: Series, bin_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every sample (bins never straddle a gap) and the segment of every bin."""
    n = series.time_s.size
    starts = series.segment_starts
    seg_of = np.zeros(n, dtype=np.int64)
    seg_of[starts[1:]] = 1
    seg_of = np.cumsum(seg_of)
    local = np.arange(n) - starts[seg_of]
    seg_bins = np.diff(np.concatenate([starts, [n]]))
    seg_bins = -(-seg_bins // bin_n)
    offset = np.concatenate([[0], np.cumsum(seg_bins)[:-1]])
    ids = offset[seg_of] + local // bin_n
    bin_seg = np.repeat(np.arange(starts.size), seg_bins)
    return ids, bin_seg


def _make_bins(series: Series, temp_eff: np.ndarray, good: np.ndarray, ids, bin_seg, interval_s) -> _Bins:
    nb = bin_seg.size
    w = good.astype(float)
    count = np.bincount(ids, weights=w, minlength=nb)
    keep = count > 0
    c = np.where(keep, count, 1.0)
    t = np.bincount(ids, weights=w * series.time_s, minlength=nb) / c
    temp = np.bincount(ids, weights=w * temp_eff, minlength=nb) / c
    y = np.bincount(ids, weights=w * series.freq_ppb, minlength=nb) / c
    return _Bins(t[keep], temp[keep], y[keep], count[keep], count[keep] * interval_s, bin_seg[keep])


def _decimate(series: Series, good: np.ndarray, factor: int) -> tuple[Series, np.ndarray]:
    """Means over blocks of ``factor`` samples (never across a gap): a coarser series for searches."""
    if factor <= 1:
        return series, good
    ids, block_seg = _bin_ids(series, factor)
    nb = block_seg.size
    w = good.astype(float)
    cnt_all = np.bincount(ids, minlength=nb).astype(float)
    cnt = np.bincount(ids, weights=w, minlength=nb)
    t = np.bincount(ids, weights=series.time_s, minlength=nb) / cnt_all
    temp = np.bincount(ids, weights=series.temp_c, minlength=nb) / cnt_all
    y = np.bincount(ids, weights=w * series.freq_ppb, minlength=nb) / np.maximum(cnt, 1.0)
    starts = np.flatnonzero(np.diff(block_seg, prepend=-1) != 0)
    return Series(t, temp, y, series.interval_s * factor, starts), cnt > 0


def _refine_lag(score, grid: list[float], scores: dict) -> float:
    """Golden-section search for the lag between the neighbours of the best grid value."""
    best = min(scores, key=scores.get)
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


def _lagged(series: Series, lag_s: float) -> np.ndarray:
    out = np.empty_like(series.temp_c)
    bounds = np.concatenate([series.segment_starts, [series.temp_c.size]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[a:b] = lag_filter(series.temp_c[a:b], series.interval_s, lag_s)
    return out


def _solve(bins: _Bins, w: np.ndarray, spacing: float, k_lo: int, n: int, t_end: float, bias_knots, rw_ppb2_per_s):
    """Penalised WLS. Parameters: [coef (n), aging, level (1) or level knots (m)]."""
    temp = np.clip(bins.temp, (k_lo + 1) * spacing, (k_lo + n - 2) * spacing - 1e-9)
    cols_t, vals_t = bspline_rows(temp, spacing, k_lo)
    age = ((bins.t - t_end) / SECONDS_PER_DAY)[:, None]
    ia = n
    if bias_knots is None:
        m = 1
        cols_b = np.full((bins.t.size, 1), n + 1)
        vals_b = np.ones((bins.t.size, 1))
    else:
        m = len(bias_knots)
        cb, vals_b = _interp_rows(bins.t, bias_knots)
        cols_b = cb + n + 1
    p = n + 1 + m
    cols = np.concatenate([cols_t, np.full((bins.t.size, 1), ia), cols_b], axis=1)
    vals = np.concatenate([vals_t, age, vals_b], axis=1)
    a, b = _normal_equations(cols, vals, w, bins.y, p)
    prior = np.zeros((p, p))
    d2 = _second_difference(n)
    sd2 = CURVATURE_PRIOR_PPB_PER_K2 * spacing**2
    prior[:n, :n] += d2.T @ d2 / sd2**2
    idx = np.arange(p)
    prior[idx, idx] += RIDGE_PRECISION
    if bias_knots is not None and m > 1:
        gaps = np.diff(bias_knots)
        prec = 1.0 / (3.0 * max(rw_ppb2_per_s, MIN_RW_PPB2_PER_S) * gaps)
        d1 = np.zeros((m - 1, m))
        r = np.arange(m - 1)
        d1[r, r], d1[r, r + 1] = -1.0, 1.0
        prior[n + 1 :, n + 1 :] += d1.T @ (prec[:, None] * d1)
    amat = a + prior
    try:
        chol = np.linalg.cholesky(amat)
    except np.linalg.LinAlgError:
        raise SampleError("the samples do not determine the model (the normal equations are singular)") from None
    theta = np.linalg.solve(chol.T, np.linalg.solve(chol, b))
    fitted = np.sum(theta[cols] * vals, axis=1)
    return theta, amat, chol, prior, fitted


def _level_rows(bins: _Bins, knots, theta, n: int) -> np.ndarray:
    cb, vb = _interp_rows(bins.t, knots)
    return np.sum(theta[n + 1 + cb] * vb, axis=1)


def _bias_knots(bins: _Bins, t_first: float, t_end: float) -> np.ndarray:
    span = t_end - t_first
    m = max(2, int(math.ceil(span / BIAS_KNOT_S)) + 1)
    return np.linspace(t_first, t_end, m)


def _outliers(residual: np.ndarray, good: np.ndarray) -> np.ndarray:
    r = residual[good]
    med = np.median(r)
    sigma = 1.4826 * np.median(np.abs(r - med))
    if sigma <= 0:
        sigma = np.std(r) or 1.0
    return np.abs(residual - med) > OUTLIER_SIGMAS * sigma


def fit(
    time_s,
    temp_c,
    freq_ppb,
    *,
    compensated: bool = True,
    lag_candidates_s=LAG_CANDIDATES_S,
    knot_spacing_c=KNOT_SPACING_C,
) -> FitResult:
    """Fit the model to samples taken while locked (see the module docstring). ``compensated``:
    the oscillator is a TCXO/OCXO (False: a plain crystal; only changes extrapolation)."""
    series = check_series(time_s, temp_c, freq_ppb)
    warnings = list(series.warnings)
    dt = series.interval_s
    bin_n = max(1, int(round(BIN_S / dt)))
    ids, bin_seg = _bin_ids(series, bin_n)
    t_first, t_end = float(series.time_s[0]), float(series.time_s[-1])

    # Temperature grid from the range of the sensor (lagging only narrows it).
    spacing = knot_spacing_c
    lo, hi = float(series.temp_c.min()), float(series.temp_c.max())
    while _grid_for(lo, hi, spacing)[1] > MAX_COEFFICIENTS:
        spacing *= 2
    k_lo, n = _grid_for(lo, hi, spacing)

    # Provisional per-sample scale from successive differences (robust): relative bin weights.
    d = np.diff(series.freq_ppb)
    s2 = max((1.4826 * float(np.median(np.abs(d - np.median(d))))) ** 2 / 2.0, 1e-6)

    # Pass 0: outliers against a simple model at a middle lag.
    good = np.ones(series.time_s.size, dtype=bool)
    lag0 = 120.0
    for _ in range(OUTLIER_PASSES):
        teff = _lagged(series, lag0)
        bins = _make_bins(series, teff, good, ids, bin_seg, dt)
        *_, fitted = _solve(bins, bins.count / s2, spacing, k_lo, n, t_end, None, 0.0)
        resid = series.freq_ppb - np.interp(series.time_s, bins.t, fitted)
        new_good = good & ~_outliers(resid, good)
        if new_good.sum() == good.sum():
            break
        good = new_good

    # Lag: the candidate with the smallest weighted residual of the simple model, refined by a
    # golden-section search between its neighbours (the curve's slope is sensitive to it: a lag
    # 15 % short flattens the fitted curve by several percent where HVAC cycling dominates).
    search, search_good = _decimate(series, good, max(1, int(round(LAG_SEARCH_S / dt))))
    s_ids, s_seg = _bin_ids(search, max(1, int(round(BIN_S / search.interval_s))))
    s_t_end = float(search.time_s[-1])

    def score(lag: float) -> float:
        teff_s = _lagged(search, lag)
        b = _make_bins(search, teff_s, search_good, s_ids, s_seg, search.interval_s)
        w_s = b.count / s2
        *_, fitted_s = _solve(b, w_s, spacing, k_lo, n, s_t_end, None, 0.0)
        return float(np.sum(w_s * (b.y - fitted_s) ** 2))

    scores = {float(lag): score(float(lag)) for lag in lag_candidates_s}
    lag = _refine_lag(score, sorted(scores), scores)
    teff = _lagged(series, lag)
    bins = _make_bins(series, teff, good, ids, bin_seg, dt)
    theta, _, _, _, fitted = _solve(bins, bins.count / s2, spacing, k_lo, n, t_end, None, 0.0)

    # Noise: Allan deviation of what the temperature curve and the aging leave (the level's random
    # walk plus white noise). The split between curve and level depends on the random-walk rate
    # assumed, so iterate from a generous rate down to the rate the residuals show.
    noise = _noise_from_residuals(bins, bins.y - fitted, bin_n * dt, bin_n)
    knots = _bias_knots(bins, t_first, t_end)
    rw = max(noise.rwfm_ppb2_per_s, NOISE_START_RWFM_PPB2_PER_S)
    for _ in range(NOISE_PASSES):
        var_b = np.maximum(noise.mean_var_ppb2(bins.duration_s), 1e-6)
        theta, _, _, _, fitted = _solve(bins, 1.0 / var_b, spacing, k_lo, n, t_end, knots, rw)
        level_part = _level_rows(bins, knots, theta, n)
        noise = _noise_from_residuals(bins, bins.y - fitted + level_part, bin_n * dt, bin_n)
        rw = max(noise.rwfm_ppb2_per_s, MIN_RW_PPB2_PER_S)

    # Final: random-walk level, weights from the noise model; reject outliers again, refit.
    for _ in range(OUTLIER_PASSES):
        bins = _make_bins(series, teff, good, ids, bin_seg, dt)
        var_b = np.maximum(noise.mean_var_ppb2(bins.duration_s), 1e-6)
        w = 1.0 / var_b
        theta, amat, chol, prior, fitted = _solve(bins, w, spacing, k_lo, n, t_end, knots, rw)
        resid = series.freq_ppb - np.interp(series.time_s, bins.t, fitted)
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


def _longest_run(bins: _Bins, bin_n: int) -> np.ndarray | None:
    """Indices of the longest run of full bins inside one gap-free segment."""
    full = bins.count >= bin_n
    best = None
    for s in np.unique(bins.segment):
        idx = np.flatnonzero((bins.segment == s) & full)
        if best is None or idx.size > best.size:
            best = idx
    return best


def _short_term(bins: _Bins, resid: np.ndarray, bin_s: float, bin_n: int, noise: NoiseModel):
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


def _noise_from_residuals(bins: _Bins, resid: np.ndarray, bin_s: float, bin_n: int) -> NoiseModel:
    best = _longest_run(bins, bin_n)
    if best is None or best.size < 16:
        return NoiseModel(wfm_ppb2_s=float(np.var(resid)) * bin_s)
    noise, _ = estimate_noise(resid[best], bin_s)
    if noise.mean_var_ppb2(bin_s) <= 0:
        noise = NoiseModel(noise.wpm_ppb2_s2, max(noise.wfm_ppb2_s, float(np.var(resid[best])) * bin_s),
                           noise.ffm_ppb2, noise.rwfm_ppb2_per_s)
    return noise


def last_frequency_ppb(time_s, freq_ppb, window_s: float = FROZEN_WINDOW_S) -> float:
    """Mean frequency over the last ``window_s`` of samples (what "hold the last frequency" holds)."""
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(freq_ppb, dtype=float)
    sel = t >= t[-1] - window_s
    return float(np.mean(y[sel]))
