"""The frequency-temperature table: a cubic B-spline in temperature on a uniform knot grid.

The curve g(T) of the model (see model.py) is a cubic B-spline on a uniform grid of
``knot_spacing_c`` in temperature: a smoothed table. It follows a TCXO's residual ripple, which no
low-order polynomial does. Coefficient j belongs to the B-spline centred at (k_lo + j) * spacing;
a grid covers a temperature range when all four basis functions of every temperature in it exist
(``grid_for``). Very wide ranges get a coarser grid (the spacing doubles until at most
MAX_COEFFICIENTS cover the range).

The spline is evaluated only inside the trained temperature range; beyond it ``curve_rows`` holds
the edge value, or continues along the edge slope for a curve that extrapolation.py finds
monotonic. When the online update sees a temperature beyond the grid the grid grows
(``grow_grid``): the new coefficients start at the nearest edge coefficient, with a prior
variance that widens with their distance from it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .series import FloatArray, IntArray

KNOT_SPACING_C = 0.25
MAX_COEFFICIENTS = 400  # beyond: the knot spacing widens (very wide temperature ranges)
GRID_MARGIN_C = 1e-6  # a range edge this close to a knot counts as inside (rounding of means)


def bspline_rows(
    temp_c: npt.ArrayLike, spacing_c: float, k_lo: int, derivative: int = 0
) -> tuple[IntArray, FloatArray]:
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


def grid_for(lo_c: float, hi_c: float, spacing_c: float) -> tuple[int, int]:
    """(k_lo, n): coefficients covering [lo_c, hi_c] with all four basis functions present."""
    k_lo = int(math.floor((lo_c - GRID_MARGIN_C) / spacing_c)) - 1  # the margin absorbs rounding of means
    k_hi = int(math.floor((hi_c + GRID_MARGIN_C) / spacing_c)) + 2
    return k_lo, k_hi - k_lo + 1


def choose_grid(lo_c: float, hi_c: float, spacing_c: float = KNOT_SPACING_C) -> tuple[float, int, int]:
    """(spacing, k_lo, n) for [lo_c, hi_c]: ``spacing_c``, doubled until MAX_COEFFICIENTS suffice."""
    spacing = spacing_c
    while grid_for(lo_c, hi_c, spacing)[1] > MAX_COEFFICIENTS:
        spacing *= 2
    k_lo, n = grid_for(lo_c, hi_c, spacing)
    return spacing, k_lo, n


def curve_rows(
    temp_c: npt.ArrayLike, spacing_c: float, k_lo: int, lo_c: float, hi_c: float, linear: bool
) -> tuple[IntArray, FloatArray]:
    """(columns, values) of g at temp_c: inside [lo_c, hi_c] the spline; outside it the edge value,
    continued along the edge slope if ``linear``."""
    temp = np.asarray(temp_c, dtype=float)
    inside = np.clip(temp, lo_c, hi_c)
    cols, vals = bspline_rows(inside, spacing_c, k_lo)
    if linear:
        delta = temp - inside
        if np.any(delta != 0):
            _, slope_vals = bspline_rows(inside, spacing_c, k_lo, derivative=1)
            vals = vals + delta[..., None] * slope_vals
    return cols, vals


def grow_grid(
    theta: FloatArray, cov: FloatArray, k_lo: int, spacing_c: float, lo_c: float, hi_c: float, step_var_ppb2: float
) -> tuple[FloatArray, FloatArray, int]:
    """The parameters [coef..., aging, level], their covariance and k_lo of a grid grown to cover
    [lo_c, hi_c] (the same objects if it already does): theta_new = T theta, cov_new = T cov T^T
    + diag(extra). A new coefficient copies the nearest edge coefficient; its variance grows by
    ``step_var_ppb2`` per knot of distance from it."""
    n_coef = theta.size - 2
    k_lo_needed, n_needed = grid_for(lo_c, hi_c, spacing_c)
    add_lo = k_lo - k_lo_needed
    add_hi = (k_lo_needed + n_needed) - (k_lo + n_coef)
    if not (add_lo > 0 or add_hi > 0):
        return theta, cov, k_lo
    add_lo, add_hi = max(add_lo, 0), max(add_hi, 0)
    n_old, p_old = n_coef, theta.size
    n_new = n_old + add_lo + add_hi
    p_new = n_new + 2
    tmat = np.zeros((p_new, p_old))
    extra = np.zeros(p_new)
    for j in range(n_new):
        src = min(max(j - add_lo, 0), n_old - 1)
        tmat[j, src] = 1.0
        dist = max(add_lo - j, j - add_lo - (n_old - 1), 0)
        extra[j] = step_var_ppb2 * dist
    tmat[n_new, n_old] = 1.0
    tmat[n_new + 1, n_old + 1] = 1.0
    return tmat @ theta, tmat @ cov @ tmat.T + np.diag(extra), k_lo - add_lo
