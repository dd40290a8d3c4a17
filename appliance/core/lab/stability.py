"""Stability of a clock from its phase record (time error against a reference), pure.

Input: the phase x(t) = clock - reference (seconds) sampled on a regular grid of ``interval_s``
(the shell interpolates its readings onto the grid, so that a late reading does not look like
phase noise). Output, at the usual 1-2-5 decade averaging times:

  TIE   x(t) - x(0), the raw time interval error (includes the frequency offset)
  ADEV  overlapping Allan deviation, MDEV modified Allan deviation (fractional frequency)
  TDEV  time deviation (s),  MTIE  maximum time interval error (s) over every window of tau

MTIE is computed on the TIE with the mean frequency offset removed (the wander a servo would have
to follow); the frequency offset itself is reported, and judged, on its own. ADEV, MDEV and TDEV
come from allantools; MTIE is a sliding max - min done here in O(N) per tau (allantools' rolling
window holds N x window values, too much for a day of 1 s samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..holdover.series import FloatArray

TAU_MANTISSAS = (1, 2, 5)
MIN_POINTS = 8  # fewer phase points than this: no deviations at all
ADEV_MAX_FRACTION = 0.25  # ADEV / MDEV up to a quarter of the span (enough averages to mean something)
TDEV_MAX_FRACTION = 1 / 3  # TDEV needs 3 tau of data
GRID_TOLERANCE = 0.25  # readings may be this share of an interval late before they count as a gap


@dataclass(frozen=True)
class DevPoint:
    tau_s: float
    value: float  # ADEV / MDEV: fractional frequency; TDEV / MTIE: seconds
    n: int  # averages (ADEV / MDEV / TDEV) or windows (MTIE) behind it
    rel_err: float  # 1-sigma relative uncertainty of ``value`` (from non-overlapping averages)

    def to_dict(self) -> dict[str, float]:
        return {"tau_s": self.tau_s, "value": self.value, "n": self.n, "rel_err": self.rel_err}


@dataclass
class Stability:
    interval_s: float
    time_s: FloatArray  # grid, from 0
    tie_s: FloatArray  # x - x[0]
    freq_offset: float  # mean fractional frequency offset (least-squares slope of x); + = clock fast
    adev: list[DevPoint]
    mdev: list[DevPoint]
    tdev: list[DevPoint]
    mtie: list[DevPoint]
    gaps_filled: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def span_s(self) -> float:
        return float(self.time_s[-1]) if self.time_s.size else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "interval_s": self.interval_s,
            "span_s": self.span_s,
            "freq_offset_ppm": self.freq_offset * 1e6,
            "gaps_filled": self.gaps_filled,
            "adev": [p.to_dict() for p in self.adev],
            "mdev": [p.to_dict() for p in self.mdev],
            "tdev": [p.to_dict() for p in self.tdev],
            "mtie": [p.to_dict() for p in self.mtie],
            "notes": list(self.notes),
        }


class StabilityError(ValueError):
    """A phase record that cannot be analysed; the message says why."""


def decade_taus(interval_s: float, max_tau_s: float) -> list[float]:
    """1, 2, 5, 10, 20, 50 ... x interval_s up to max_tau_s (multiples of the interval)."""
    out: list[float] = []
    decade = 1
    while True:
        for m in TAU_MANTISSAS:
            k = m * decade
            if k * interval_s > max_tau_s + 1e-9:
                return out
            out.append(k * interval_s)
        decade *= 10


def to_grid(
    sample_time_s: npt.ArrayLike, phase_s: npt.ArrayLike, interval_s: float
) -> tuple[FloatArray, FloatArray, int]:
    """Readings at (slightly irregular) times -> phase on the regular grid 0, interval, 2 interval...
    Linear interpolation between neighbouring readings; a grid point with no reading within
    GRID_TOLERANCE of an interval on both sides counts as a filled gap."""
    t = np.asarray(sample_time_s, dtype=float)
    x = np.asarray(phase_s, dtype=float)
    ok = np.isfinite(t) & np.isfinite(x)
    t, x = t[ok], x[ok]
    if t.size < 2:
        raise StabilityError(f"{t.size} valid reading(s): need at least {MIN_POINTS}")
    if np.any(np.diff(t) <= 0):
        raise StabilityError("reading times are not increasing")
    t = t - t[0]
    n = int(math.floor(t[-1] / interval_s + GRID_TOLERANCE)) + 1
    grid = np.arange(n, dtype=np.float64) * interval_s
    xg = np.interp(grid, t, x)
    nearest = np.abs(t[np.clip(np.searchsorted(t, grid), 0, t.size - 1)] - grid)
    before = np.abs(grid - t[np.clip(np.searchsorted(t, grid) - 1, 0, t.size - 1)])
    gaps = int(np.sum(np.minimum(nearest, before) > GRID_TOLERANCE * interval_s))
    return grid, xg, gaps


def _rel_err(n_points: int, m: int) -> float:
    """Relative 1-sigma error of a deviation estimated from k = n/m - 1 non-overlapping differences
    (chi-square with k degrees of freedom: sd of the variance sqrt(2/k), of the deviation ~1/sqrt(2k)).
    Conservative for the overlapping estimators, which have more degrees of freedom."""
    k = max(n_points / m - 1.0, 1.0)
    return 1.0 / math.sqrt(2.0 * k)


# allantools' deviations: (taus, deviations, their errors, numbers of averages)
DeviationFunc = Callable[..., tuple[FloatArray, FloatArray, FloatArray, FloatArray]]


def _allan(func: DeviationFunc, x: FloatArray, interval_s: float, taus: list[float]) -> list[DevPoint]:
    if not taus:
        return []
    t_out, dev, _, ns = func(x, rate=1.0 / interval_s, data_type="phase", taus=np.asarray(taus, dtype=float))
    out: list[DevPoint] = []
    for t, d, n in zip(t_out, dev, ns, strict=False):
        if math.isfinite(d) and d > 0:
            m = max(1, int(round(t / interval_s)))
            out.append(DevPoint(float(t), float(d), int(n), _rel_err(x.size, m)))
    return out


def sliding_range(x: FloatArray, window: int) -> FloatArray:
    """max - min of every run of ``window`` consecutive values (van Herk / Gil-Werman, O(N))."""
    n = x.size
    if window > n:
        return np.array([])
    if window == 1:
        return np.zeros(n)
    pad = (-n) % window
    xp = np.concatenate([x, np.full(pad, x[-1])])
    blocks = xp.reshape(-1, window)
    pre_max = np.maximum.accumulate(blocks, axis=1).ravel()
    pre_min = np.minimum.accumulate(blocks, axis=1).ravel()
    suf_max = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    suf_min = np.minimum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()
    starts = np.arange(n - window + 1)
    ends = starts + window - 1
    hi = np.maximum(suf_max[starts], pre_max[ends])
    lo = np.minimum(suf_min[starts], pre_min[ends])
    return hi - lo


def mtie(x: FloatArray, interval_s: float, taus: list[float]) -> list[DevPoint]:
    out: list[DevPoint] = []
    for tau in taus:
        window = int(round(tau / interval_s)) + 1  # tau spans window - 1 intervals
        r = sliding_range(x, window)
        if r.size:
            out.append(DevPoint(float(tau), float(r.max()), int(r.size), 0.0))
    return out


def analyse(sample_time_s: npt.ArrayLike, phase_s: npt.ArrayLike, interval_s: float) -> Stability:
    """The whole stability analysis of a phase record (see the module docstring)."""
    import allantools  # noqa: PLC0415 - slow import, only when analysing

    if not (interval_s > 0 and math.isfinite(interval_s)):
        raise StabilityError(f"interval {interval_s!r} s: expected a positive number")
    grid, x, gaps = to_grid(sample_time_s, phase_s, interval_s)
    if x.size < MIN_POINTS:
        raise StabilityError(f"{x.size} phase point(s) on the {interval_s:g} s grid: need at least {MIN_POINTS}")
    span = float(grid[-1])
    slope, _ = np.polyfit(grid, x, 1)
    tie = x - x[0]
    wander = tie - slope * grid
    adev_taus = decade_taus(interval_s, span * ADEV_MAX_FRACTION)
    tdev_taus = decade_taus(interval_s, span * TDEV_MAX_FRACTION)
    notes: list[str] = []
    if gaps:
        notes.append(f"{gaps} grid point(s) had no reading nearby and were interpolated")
    return Stability(
        interval_s=interval_s,
        time_s=grid,
        tie_s=tie,
        freq_offset=float(slope),
        adev=_allan(allantools.oadev, x, interval_s, adev_taus),
        mdev=_allan(allantools.mdev, x, interval_s, adev_taus),
        tdev=_allan(allantools.tdev, x, interval_s, tdev_taus),
        mtie=mtie(wander, interval_s, decade_taus(interval_s, span)),
        gaps_filled=gaps,
        notes=notes,
    )


def phase_from_frequency(time_s: npt.ArrayLike, freq_fractional: npt.ArrayLike) -> tuple[FloatArray, FloatArray, float]:
    """A frequency log (the fractional frequency over the interval ending at each row) -> phase on
    its own grid: x[0] = 0, x[k] = sum of y[1..k] * interval. Returns (time_s, phase_s, interval_s)."""
    t = np.asarray(time_s, dtype=float)
    y = np.asarray(freq_fractional, dtype=float)
    if t.size < MIN_POINTS:
        raise StabilityError(f"{t.size} row(s): need at least {MIN_POINTS}")
    dt = np.diff(t)
    if np.any(dt <= 0):
        raise StabilityError("time_s is not increasing")
    interval = float(np.median(dt))
    x = np.concatenate([[0.0], np.cumsum(y[1:] * dt)])
    return t - t[0], x, interval
