"""The fit's solve: a penalised weighted least squares over the curve, the aging and the level.

On the bins (bins.py), with the lagged temperature fixed, the model is linear in its parameters

    [spline coefficients (n), aging (ppb/day, relative to t_end), level]

where the level is either one constant (the simple model of the lag search and the outlier
passes) or a random walk: piecewise linear in time with one knot per BIAS_KNOT_S, successive
differences weighted by the random-walk rate (between knots dt apart a random walk of rate q
moves by q^2 dt = 3 rwfm dt in variance, rwfm the Allan coefficient of noise.py).

The priors: the curve's second differences are penalised at CURVATURE_PRIOR_PPB_PER_K2 (a
smoothed table, not an interpolation of noise), and a small ridge keeps directions the data
cannot see invertible. The solution is the MAP estimate of the Gaussian model; the inverse of its
normal matrix is the covariance (fit.py takes it from the Cholesky factor). The design rows have
few nonzeros (4 spline, 1 aging, 1 or 2 level), so the normal equations are accumulated by
bincount instead of forming the dense design.
"""

from __future__ import annotations

import math
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from .bins import Bins
from .noise import MIN_RW_PPB2_PER_S
from .series import SECONDS_PER_DAY, FloatArray, IntArray, SampleError
from .table import bspline_rows

BIAS_KNOT_S = 1800.0
CURVATURE_PRIOR_PPB_PER_K2 = 400.0  # prior scale of g'' (a TCXO ripple of 50 ppb over 3 K has ~220)
RIDGE_PRECISION = 1e-8  # keeps directions the data cannot see (1e4 ppb prior) invertible


class Solution(NamedTuple):
    theta: FloatArray  # [coef (n), aging, level (1) or level knots (m)]
    amat: FloatArray  # the normal matrix with the priors
    chol: FloatArray  # its lower Cholesky factor
    prior: FloatArray  # the priors' part of amat
    fitted: FloatArray  # the model at the bins


def _second_difference(n: int) -> FloatArray:
    d = np.zeros((max(n - 2, 0), n))
    for r in range(n - 2):
        d[r, r : r + 3] = (1.0, -2.0, 1.0)
    return d


def _normal_equations(
    cols: IntArray, vals: FloatArray, w: FloatArray, y: FloatArray, p: int
) -> tuple[FloatArray, FloatArray]:
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


def _interp_rows(t: npt.ArrayLike, knots: FloatArray) -> tuple[IntArray, FloatArray]:
    """Hat functions on time knots: (cols, vals) with 2 nonzeros per row."""
    t = np.asarray(t, dtype=float)
    j = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, len(knots) - 2)
    span = knots[j + 1] - knots[j]
    f = np.clip((t - knots[j]) / span, 0.0, 1.0)
    return np.stack([j, j + 1], axis=1), np.stack([1 - f, f], axis=1)


def solve(
    bins: Bins,
    w: FloatArray,
    spacing: float,
    k_lo: int,
    n: int,
    t_end: float,
    bias_knots: FloatArray | None,
    rw_ppb2_per_s: float,
) -> Solution:
    """Penalised WLS with bin weights ``w`` on the grid (spacing, k_lo, n): a constant level if
    ``bias_knots`` is None, else a random walk of rate ``rw_ppb2_per_s`` on those knots."""
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
        chol = cast(FloatArray, np.linalg.cholesky(amat))
    except np.linalg.LinAlgError:
        raise SampleError("the samples do not determine the model (the normal equations are singular)") from None
    theta = np.linalg.solve(chol.T, np.linalg.solve(chol, b))
    fitted = np.sum(theta[cols] * vals, axis=1)
    return Solution(theta, amat, chol, prior, fitted)


def level_rows(bins: Bins, knots: FloatArray, theta: FloatArray, n: int) -> FloatArray:
    """The random-walk level of a solution at the bins."""
    cb, vb = _interp_rows(bins.t, knots)
    level: FloatArray = np.sum(theta[n + 1 + cb] * vb, axis=1)
    return level


def level_knots(t_first: float, t_end: float) -> FloatArray:
    """Knots of the random-walk level: every BIAS_KNOT_S at most, both ends included."""
    span = t_end - t_first
    m = max(2, int(math.ceil(span / BIAS_KNOT_S)) + 1)
    return np.linspace(t_first, t_end, m)
