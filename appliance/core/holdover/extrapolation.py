"""Beyond the trained temperature range: what the curve may do there, the prediction and its envelope.

The spline (table.py) is known only over the temperatures it was trained on. Beyond them the
prediction is the middle of what the curve can reach from the edge (``ext_shift_ppb``, added to
the held edge value) and is flagged as an extrapolation whose uncertainty grows with the distance
(``ext_envelope_ppb``, a 99 % figure for the curve's error there). How the curve may continue is
read from the trained curve itself (``ext_params``):

  * A temperature-compensated oscillator (TCXO, OCXO: ``compensated``) stays within its datasheet
    band: beyond the range its curve is assumed to stay within the band it showed, widened by its
    span on each side ([min - span, max + span]), and to move away from the edge value no faster
    than the steepest slope seen. At a distance d from the edge the curve is then within
    [edge - slope d, edge + slope d] and within the band: the prediction is the middle of that
    interval (the smallest worst-case error), the envelope its half-width, which grows as
    slope x d near the edge and ends at half the band.
  * An uncompensated crystal (XO) whose curve is monotonic over the range (its cubic) continues
    along the edge slope; its envelope grows with the curvature of a cubic fitted to the curve
    times the distance squared (twice the Taylor term), plus a floor slope, with no cap.
  * A curve that turns inside the range (slopes of both signs) is treated as banded either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .series import FloatArray
from .table import bspline_rows

EXT_MIN_SLOPE_PPB_PER_K = 2.0
EXT_MIN_CAP_PPB = 10.0
EXT_BAND_WIDEN = 1.0  # beyond the range a banded curve stays within [min - k span, max + k span]
EXT_TURN_FRACTION = 0.2  # slopes of both signs beyond this share of the steepest: the curve turns
EXT_MIN_CURVATURE_PPB_PER_K2 = 1.0  # an AT-cut cubic (a3 ~ 1e-4 ppm/K^3) curves 0.6 ppb/K^2 per K from its inflection


@dataclass(frozen=True)
class ExtParams:
    linear: bool  # continue along the edge slope (monotonic curve) instead of staying in the band
    slope_ppb_per_k: float
    curvature_ppb_per_k2: float
    edge_lo_ppb: float = 0.0  # g at the low edge of the trained range
    edge_hi_ppb: float = 0.0  # g at the high edge
    band_mid_ppb: float = 0.0  # the band the curve is assumed to stay in beyond the range:
    band_half_ppb: float = math.inf  # band_mid +- band_half


def extrapolation_c(temp_c: npt.ArrayLike, lo_c: float, hi_c: float) -> FloatArray:
    """How far (K) each temperature lies outside [lo_c, hi_c] (0 inside)."""
    t = np.asarray(temp_c, dtype=float)
    return np.maximum(lo_c - t, 0.0) + np.maximum(t - hi_c, 0.0)


def ext_params(
    theta: FloatArray, spacing_c: float, k_lo: int, lo_c: float, hi_c: float, compensated: bool
) -> ExtParams:
    """How the curve with spline coefficients ``theta`` (longer is fine: only the coefficients the
    range uses are read), trained over [lo_c, hi_c], may continue beyond it (module docstring)."""
    lo, hi = lo_c, hi_c
    grid = np.linspace(lo, hi, max(8, int((hi - lo) / spacing_c * 8) + 1))
    c, v = bspline_rows(grid, spacing_c, k_lo)
    g = np.sum(theta[c] * v, axis=-1)
    c1, v1 = bspline_rows(grid, spacing_c, k_lo, derivative=1)
    slope = np.sum(theta[c1] * v1, axis=-1)
    # Curvature of the curve's overall shape (a cubic fitted to it), not of its fine ripple.
    if hi - lo > 4 * spacing_c:
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
    return ExtParams(
        not (turning or compensated),
        slope_env,
        curv_max,
        float(g[0]),
        float(g[-1]),
        (gmax + gmin) / 2.0,
        half,
    )


def ext_interval(
    e: ExtParams, temp_c: npt.ArrayLike, lo_c: float, hi_c: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The interval the banded curve can reach at ``temp_c`` from the nearer edge's value:
    (low, high, edge value), elementwise; low == high == edge inside the range."""
    t = np.asarray(temp_c, dtype=float)
    d = extrapolation_c(t, lo_c, hi_c)
    edge = np.where(t < lo_c, e.edge_lo_ppb, e.edge_hi_ppb)
    low = np.maximum(edge - e.slope_ppb_per_k * d, e.band_mid_ppb - e.band_half_ppb)
    high = np.minimum(edge + e.slope_ppb_per_k * d, e.band_mid_ppb + e.band_half_ppb)
    return np.minimum(low, edge), np.maximum(high, edge), edge


def ext_shift_ppb(e: ExtParams, temp_c: npt.ArrayLike, lo_c: float, hi_c: float) -> FloatArray:
    """What the prediction at ``temp_c`` adds to the held edge value (table.curve_rows): beyond the
    range of a banded curve, the middle of the interval it can reach; 0 inside the range and for a
    curve continued along its slope."""
    t = np.asarray(temp_c, dtype=float)
    if e.linear:
        return np.zeros_like(t)
    low, high, edge = ext_interval(e, t, lo_c, hi_c)
    return np.where(extrapolation_c(t, lo_c, hi_c) > 0, (low + high) / 2.0 - edge, 0.0)


def ext_envelope_ppb(
    e: ExtParams, distance_c: npt.ArrayLike, lo_c: float, hi_c: float, temp_c: npt.ArrayLike | None = None
) -> FloatArray:
    """A 99 % envelope of the prediction's error from the curve at ``distance_c`` K outside
    [lo_c, hi_c] (``temp_c``, the temperature itself, tells the side; without it the wider)."""
    d = np.asarray(distance_c, dtype=float)
    if e.linear:
        linear: FloatArray = EXT_MIN_SLOPE_PPB_PER_K * d + e.curvature_ppb_per_k2 * d * d
        return linear
    if temp_c is None:
        sides = [ext_interval(e, np.asarray(x, dtype=float), lo_c, hi_c) for x in (lo_c - d, hi_c + d)]
        return np.maximum(*((high - low) / 2.0 for low, high, _ in sides))
    low, high, _ = ext_interval(e, temp_c, lo_c, hi_c)
    out: FloatArray = np.where(d > 0, (high - low) / 2.0, 0.0)
    return out
