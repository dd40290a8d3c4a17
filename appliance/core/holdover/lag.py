"""The crystal's temperature: the sensor's reading through a first-order thermal lag.

The crystal lags the sensor next to it, so the model's curve is a function of

    T_eff[k] = T_eff[k-1] + a (T[k] - T_eff[k-1]),   a = 1 - exp(-interval / lag_s)

the sensor temperature T through a first-order lag of time constant ``lag_s`` (chosen by the fit
from a grid of candidates, see fit.py). In holdover the same recursion runs one reading at a time
(``advance_c``), and the temperature the crystal will have at the end of the interval a
prediction is applied over is forecast with the sensor holding its last reading (``forecast_c``).
After SETTLED_LAGS time constants the lag has settled (e^-30 ~ 1e-13): the crystal is at the
sensor's temperature, and a lag of 0 means no lag at all.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from .series import FloatArray, Series

SETTLED_LAGS = 30


def lag_filter(x: npt.ArrayLike, interval_s: float, lag_s: float, initial: float | None = None) -> FloatArray:
    """First-order lag of a regularly sampled series: out[k] = out[k-1] + a (x[k] - out[k-1]),
    a = 1 - exp(-interval/lag), out[-1] = ``initial`` (default x[0]). Vectorised in blocks."""
    x = np.asarray(x, dtype=float)
    if x.size == 0 or lag_s <= 0 or interval_s / lag_s > SETTLED_LAGS:
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


def lagged_segments(series: Series, lag_s: float) -> FloatArray:
    """The lagged temperature of a series, restarted at each gap-free segment (a gap of unknown
    temperatures cannot be carried through)."""
    out = np.empty_like(series.temp_c)
    bounds = np.concatenate([series.segment_starts, [series.temp_c.size]])
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        out[a:b] = lag_filter(series.temp_c[a:b], series.interval_s, lag_s)
    return out


def forecast_c(crystal_c: npt.ArrayLike, temp_c: npt.ArrayLike, ahead_s: float, lag_s: float) -> FloatArray:
    """The lagged temperature ``ahead_s`` later if the sensor stays at ``temp_c``."""
    if lag_s <= 0 or ahead_s >= SETTLED_LAGS * lag_s:
        return np.asarray(temp_c, dtype=float) + 0.0 * np.asarray(crystal_c, dtype=float)
    a = 1.0 - math.exp(-max(ahead_s, 0.0) / lag_s)
    crystal = np.asarray(crystal_c, dtype=float)
    out: FloatArray = crystal + a * (np.asarray(temp_c, dtype=float) - crystal)
    return out


def advance_c(crystal_c: float, temp_c: float, interval_s: float, lag_s: float) -> float:
    """The lagged temperature after one step of ``interval_s`` toward ``temp_c``."""
    if lag_s > 0 and interval_s < SETTLED_LAGS * lag_s:
        return crystal_c + (1.0 - math.exp(-max(interval_s, 0.0) / lag_s)) * (temp_c - crystal_c)
    return float(temp_c)
