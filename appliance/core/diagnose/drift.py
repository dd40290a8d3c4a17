"""Drift trend: how fast an offset (or an error bound) is moving, and when it would cross a
threshold at that rate.

Two inputs:
- chrony's sourcestats for a source: its regression already gives the current offset (s), the
  residual frequency (ppm = us/s; positive = the local clock gains on the source) and the skew (ppm,
  chrony's error bound of that frequency);
- a series of (time_s, value_s) samples, such as the appliance's own offset to its reference or its
  error bound over the last minutes: fitted here by least squares.

The crossing time is for a straight line: value(t) = value + rate * t. "Worst case" uses the rate
pushed by its uncertainty towards the nearer threshold. None means the line never reaches the
threshold (the rate is zero or points away from it), or the rate cannot be told from zero (its
magnitude is within its uncertainty): dividing by such a rate gives a date (thousands of days) that
is noise, so only the worst case is given then.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Trend:
    source: str  # what the trend is of ("chrony:198.18.1.1", "appliance:offset", ...)
    value_s: float  # now
    rate_s_per_s: float  # d(value)/dt; 1e-6 = 1 ppm
    rate_uncertainty_s_per_s: float
    threshold_s: float
    crossing_in_s: float | None  # at the current rate; 0 when already beyond
    worst_case_crossing_in_s: float | None
    samples: int = 0
    span_s: float = 0.0

    @property
    def rate_ppm(self) -> float:
        return self.rate_s_per_s * 1e6

    @property
    def measurable(self) -> bool:
        """The rate is distinguishable from zero: larger than its uncertainty."""
        return abs(self.rate_s_per_s) > self.rate_uncertainty_s_per_s

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rate_ppm"] = self.rate_ppm
        d["rate_measurable"] = self.measurable
        return d


def _crossing(value_s: float, rate: float, unc: float, threshold_s: float, symmetric: bool) -> float | None:
    at = time_to_cross(value_s, rate, threshold_s, symmetric)
    if at is None or at == 0.0 or abs(rate) > unc:
        return at
    return None


def time_to_cross(value_s: float, rate_s_per_s: float, threshold_s: float, symmetric: bool = True) -> float | None:
    """Seconds until value + rate*t reaches +threshold (or -threshold when symmetric); 0 if already there."""
    if not all(math.isfinite(x) for x in (value_s, rate_s_per_s, threshold_s)):
        return None
    if (abs(value_s) if symmetric else value_s) >= threshold_s:
        return 0.0
    if rate_s_per_s > 0:
        return (threshold_s - value_s) / rate_s_per_s
    if rate_s_per_s < 0 and symmetric:
        return (-threshold_s - value_s) / rate_s_per_s
    return None


def _worst(value_s: float, rate: float, unc: float, threshold_s: float, symmetric: bool) -> float | None:
    candidates = [time_to_cross(value_s, r, threshold_s, symmetric) for r in (rate + unc, rate - unc)]
    finite = [c for c in candidates if c is not None]
    return min(finite) if finite else None


def from_sourcestats(
    name: str,
    offset_s: float,
    frequency_ppm: float,
    skew_ppm: float,
    threshold_s: float,
    np: int = 0,
    span_s: float = 0.0,
) -> Trend:
    rate, unc = frequency_ppm * 1e-6, abs(skew_ppm) * 1e-6
    return Trend(
        source=f"chrony:{name}",
        value_s=offset_s,
        rate_s_per_s=rate,
        rate_uncertainty_s_per_s=unc,
        threshold_s=threshold_s,
        crossing_in_s=_crossing(offset_s, rate, unc, threshold_s, True),
        worst_case_crossing_in_s=_worst(offset_s, rate, unc, threshold_s, True),
        samples=np,
        span_s=span_s,
    )


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float  # value at t = times[-1] (now)
    slope_sd: float
    n: int
    span: float


def fit_line(times_s: list[float], values: list[float]) -> LineFit | None:
    """Ordinary least squares; intercept taken at the last time. None for fewer than 3 usable points."""
    pts = [(t, v) for t, v in zip(times_s, values, strict=False) if math.isfinite(t) and math.isfinite(v)]
    n = len(pts)
    if n < 3:
        return None
    t_last = max(t for t, _ in pts)
    xs = [t - t_last for t, _ in pts]
    ys = [v for _, v in pts]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / sxx
    intercept = my - slope * mx
    resid = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=False))
    slope_sd = math.sqrt(resid / (n - 2) / sxx) if n > 2 else math.inf
    return LineFit(slope, intercept, slope_sd, n, max(xs) - min(xs))


def from_series(
    source: str, times_s: list[float], values_s: list[float], threshold_s: float, symmetric: bool = True
) -> Trend | None:
    """Trend of a sampled quantity; symmetric=False for a bound (only +threshold matters)."""
    fit = fit_line(times_s, values_s)
    if fit is None:
        return None
    unc = 2.0 * fit.slope_sd  # about 95 % for many points
    return Trend(
        source=source,
        value_s=fit.intercept,
        rate_s_per_s=fit.slope,
        rate_uncertainty_s_per_s=unc,
        threshold_s=threshold_s,
        crossing_in_s=_crossing(fit.intercept, fit.slope, unc, threshold_s, symmetric),
        worst_case_crossing_in_s=_worst(fit.intercept, fit.slope, unc, threshold_s, symmetric),
        samples=fit.n,
        span_s=fit.span,
    )
