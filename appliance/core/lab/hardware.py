"""What the PHC itself does, pure: reading it, steering its frequency, stepping it, its pins.

read        per sys-offset method, a burst of single readings taken back to back: the read window
            (0 for a cross-timestamp) and the offset's jitter: the scatter of the offsets about a
            straight line through them (the line is the two clocks' frequency difference over the
            burst, not noise).
frequency   commanded ADJ_FREQUENCY values against the rate the PHC then ran at (relative to the
            rate at 0): the least-squares gain, and the worst distance of a point from that line,
            as a share of max_adj.
phase       an ADJ_SETOFFSET step or an ADJ_OFFSET slew of ``commanded_ns``; ``landed_ns`` is the
            offset change the shell measured with the free-running drift taken out.
loopback    the PHC's 1 PPS on one pin timestamped on another: each event's distance from the PHC's
            full second (cable and pin delays included).
phase jumps the largest single-interval phase increment's distance from the median increment, in
            units of the increments' robust spread: a PHC that jumps shows here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..holdover.series import FloatArray

NS_PER_S = 1_000_000_000


def robust_sigma(x: npt.ArrayLike) -> float:
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        return math.nan
    return float(1.4826 * np.median(np.abs(a - np.median(a))))


@dataclass(frozen=True)
class ReadStats:
    method: str
    n: int
    jitter_ns: float  # standard deviation about the fitted line
    jitter_robust_ns: float  # 1.4826 x MAD of the same
    jitter_p99_ns: float  # 99th percentile of |residual|
    window_p50_ns: float
    window_p99_ns: float
    window_max_ns: float
    residuals_ns: FloatArray

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "n": self.n,
            "jitter_ns": self.jitter_ns,
            "jitter_robust_ns": self.jitter_robust_ns,
            "jitter_p99_ns": self.jitter_p99_ns,
            "window_p50_ns": self.window_p50_ns,
            "window_p99_ns": self.window_p99_ns,
            "window_max_ns": self.window_max_ns,
        }


def read_stats(
    method: str, system_ns: npt.ArrayLike, offsets_ns: npt.ArrayLike, windows_ns: npt.ArrayLike
) -> ReadStats:
    sys_ns = np.asarray(system_ns, dtype=np.int64)
    off = np.asarray(offsets_ns, dtype=float)
    win = np.asarray(windows_ns, dtype=float)
    if off.size < 3:
        raise ValueError(f"{method}: {off.size} reading(s), need at least 3")
    t = (sys_ns - sys_ns[0]).astype(float) * 1e-9
    if np.ptp(t) > 0:
        slope, icept = np.polyfit(t, off, 1)
        resid = off - (slope * t + icept)
        keep = np.abs(resid - np.median(resid)) <= 5 * max(robust_sigma(resid), 1e-9)
        if keep.sum() >= 3:  # refit without the readings an interrupt spoiled, so they do not tilt the line
            slope, icept = np.polyfit(t[keep], off[keep], 1)
            resid = off - (slope * t + icept)
    else:
        resid = off - off.mean()
    return ReadStats(
        method=method,
        n=int(off.size),
        jitter_ns=float(np.std(resid, ddof=1)),
        jitter_robust_ns=robust_sigma(resid),
        jitter_p99_ns=float(np.percentile(np.abs(resid), 99)),
        window_p50_ns=float(np.median(win)),
        window_p99_ns=float(np.percentile(win, 99)),
        window_max_ns=float(win.max()),
        residuals_ns=resid,
    )


def best_method(stats: list[ReadStats]) -> str | None:
    """The method with the smallest (robust) jitter (ties: the order the kernel's methods are listed in)."""
    if not stats:
        return None
    return min(stats, key=lambda s: s.jitter_robust_ns).method


@dataclass(frozen=True)
class Linearity:
    max_adj_ppb: float
    gain: float  # measured / commanded, least squares through all points
    intercept_ppb: float
    worst_residual_ppb: float  # the farthest point from the line (signed)
    worst_at_ppb: float  # ... at this commanded value
    residuals_ppb: FloatArray
    noise_ppb: float  # the largest per-point measurement uncertainty

    @property
    def gain_error_ppm(self) -> float:
        return (self.gain - 1.0) * 1e6

    @property
    def nonlinearity_fraction(self) -> float:
        return abs(self.worst_residual_ppb) / self.max_adj_ppb if self.max_adj_ppb else math.nan

    def to_dict(self) -> dict[str, object]:
        return {
            "max_adj_ppb": self.max_adj_ppb,
            "gain": self.gain,
            "gain_error_ppm": self.gain_error_ppm,
            "intercept_ppb": self.intercept_ppb,
            "worst_residual_ppb": self.worst_residual_ppb,
            "worst_at_ppb": self.worst_at_ppb,
            "nonlinearity_fraction": self.nonlinearity_fraction,
            "noise_ppb": self.noise_ppb,
        }


def linearity(
    commanded_ppb: npt.ArrayLike, measured_ppb: npt.ArrayLike, sigma_ppb: Sequence[float], max_adj_ppb: float
) -> Linearity:
    c = np.asarray(commanded_ppb, dtype=float)
    m = np.asarray(measured_ppb, dtype=float)
    if c.size < 3 or np.ptp(c) == 0:
        raise ValueError(f"{c.size} distinct frequency point(s): need at least 3")
    gain, icept = np.polyfit(c, m, 1)
    resid = m - (gain * c + icept)
    k = int(np.argmax(np.abs(resid)))
    return Linearity(
        float(max_adj_ppb),
        float(gain),
        float(icept),
        float(resid[k]),
        float(c[k]),
        resid,
        float(np.max(np.asarray(sigma_ppb, dtype=float))) if len(sigma_ppb) else 0.0,
    )


def frequency_points(max_adj_ppb: float, n_points: int = 9, edge_fraction: float = 1.0) -> list[float]:
    """Commanded values across +-max_adj, symmetric, 0 included (n_points odd, at least 7)."""
    if n_points < 7:
        raise ValueError("frequency linearity needs at least 7 points")
    if n_points % 2 == 0:
        n_points += 1
    edge = max_adj_ppb * edge_fraction
    return [float(v) for v in np.linspace(-edge, edge, n_points)]


def slope_ppb(time_s: npt.ArrayLike, offsets_ns: npt.ArrayLike) -> tuple[float, float]:
    """Rate of the offset (ppb = ns/s) by least squares, and its standard error."""
    t = np.asarray(time_s, dtype=float)
    x = np.asarray(offsets_ns, dtype=float)
    if t.size < 3:
        return (float((x[-1] - x[0]) / (t[-1] - t[0])) if t.size == 2 else math.nan), math.nan
    a = np.stack([t - t.mean(), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(a, x, rcond=None)
    resid = x - a @ coef
    s2 = float(resid @ resid) / max(t.size - 2, 1)
    se = math.sqrt(s2 / float(np.sum((t - t.mean()) ** 2)))
    return float(coef[0]), se


@dataclass(frozen=True)
class StepResult:
    kind: str  # step | adjphase
    worst_error_ns: float
    errors_ns: tuple[float, ...]


def phase_steps(kind: str, commanded_ns: npt.ArrayLike, landed_ns: npt.ArrayLike) -> StepResult | None:
    c = np.asarray(commanded_ns, dtype=float)
    if c.size == 0:
        return None
    err = np.asarray(landed_ns, dtype=float) - c
    return StepResult(kind, float(err[int(np.argmax(np.abs(err)))]), tuple(float(e) for e in err))


def pps_offsets_ns(event_times_ns: npt.ArrayLike, period_ns: int = NS_PER_S) -> FloatArray:
    """Each event's distance from the nearest multiple of the period (the PHC's full second)."""
    t = np.asarray(event_times_ns, dtype=np.int64)
    r = np.mod(t, period_ns).astype(float)
    return np.where(r > period_ns / 2, r - period_ns, r)


def phase_jump(phase_ns: npt.ArrayLike, floor_ns: float = 0.0) -> tuple[float, float]:
    """(largest |increment - median increment| in ns, the robust spread of the increments in ns)."""
    d = np.diff(np.asarray(phase_ns, dtype=float))
    if d.size < 3:
        return 0.0, 0.0
    dev = np.abs(d - np.median(d))
    spread = max(robust_sigma(d), math.sqrt(2.0) * floor_ns)
    return float(dev.max()), spread
