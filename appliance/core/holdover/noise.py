"""Oscillator noise from the Allan deviation, pure: frequency series in, a noise model out.

The Allan variance of a frequency series (ppb) is fitted, over octave averaging times, by the
power-law sum

    sigma_y^2(tau) = wpm / tau^2 + wfm / tau + ffm + rwfm * tau      (ppb^2)

white phase (mostly the reference's measurement noise while locked), white frequency, a flicker
floor and random-walk frequency noise. Random-walk FM of rate q (ppb per sqrt(s)) has
sigma_y^2(tau) = q^2 tau / 3, so q = sqrt(3 rwfm).

For a clock whose frequency is predicted and held, the time error accumulated over t from the
oscillator's own noise has variance close to t^2 sigma_y^2(t) without the white-phase term
(exact for white FM, B t, and for random-walk FM, q^2 t^3 / 3); ``time_var_ppb2s2`` is that.

allantools does the deviations (pure math, but slow to import: imported only inside the
functions that need it, never on a hot path).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .series import FloatArray

MIN_POINTS = 16  # fewer samples than this: no deviation table
RW_CONFIDENCE = 0.9  # the random-walk rate used for bounds is this one-sided upper limit
RW_POINTS = 3  # longest averaging times that carry the random walk
RW_OCTAVE_OVERLAP = 2.0  # overlapping octaves share data: their degrees of freedom count this many times over
# The random-walk rate the temperature model assumes at least: its level never stops following the
# data, and the fit's level-knot prior stays finite, however little random walk a record shows.
MIN_RW_PPB2_PER_S = 1e-9


@dataclass(frozen=True)
class NoiseModel:
    wpm_ppb2_s2: float = 0.0
    wfm_ppb2_s: float = 0.0
    ffm_ppb2: float = 0.0
    rwfm_ppb2_per_s: float = 0.0

    @property
    def rw_ppb_per_sqrt_s(self) -> float:
        return math.sqrt(3.0 * self.rwfm_ppb2_per_s)

    def avar_ppb2(self, tau_s: npt.ArrayLike) -> FloatArray:
        tau = np.asarray(tau_s, dtype=float)
        return self.wpm_ppb2_s2 / tau**2 + self.wfm_ppb2_s / tau + self.ffm_ppb2 + self.rwfm_ppb2_per_s * tau

    def mean_var_ppb2(self, duration_s: npt.ArrayLike) -> FloatArray:
        """Variance of a frequency averaged over ``duration_s`` from the white terms alone."""
        d = np.maximum(np.asarray(duration_s, dtype=float), 1e-9)
        var: FloatArray = self.wpm_ppb2_s2 / d**2 + self.wfm_ppb2_s / d
        return var

    def time_var_ppb2s2(self, elapsed_s: npt.ArrayLike) -> FloatArray:
        """Variance (ppb^2 s^2 = 1e-18 s^2) of the time error the noise accumulates over elapsed_s."""
        t = np.maximum(np.asarray(elapsed_s, dtype=float), 0.0)
        var: FloatArray = self.wfm_ppb2_s * t + self.ffm_ppb2 * t**2 + self.rwfm_ppb2_per_s * t**3
        return var

    def to_dict(self) -> dict[str, float]:
        return {
            "wpm_ppb2_s2": self.wpm_ppb2_s2,
            "wfm_ppb2_s": self.wfm_ppb2_s,
            "ffm_ppb2": self.ffm_ppb2,
            "rwfm_ppb2_per_s": self.rwfm_ppb2_per_s,
            "rw_ppb_per_sqrt_s": self.rw_ppb_per_sqrt_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NoiseModel:
        values: dict[str, float] = {}
        for name in ("wpm_ppb2_s2", "wfm_ppb2_s", "ffm_ppb2", "rwfm_ppb2_per_s"):
            v = float(d[name])
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"noise.{name} must be a finite number >= 0, got {d[name]!r}")
            values[name] = v
        return cls(**values)


@dataclass(frozen=True)
class DevRow:
    tau_s: float
    n: int
    adev: float
    mdev: float


def deviation_table(freq: npt.ArrayLike, interval_s: float, modified: bool = True) -> list[DevRow]:
    """Overlapping Allan and modified Allan deviations at octave averaging times.

    ``freq`` is a regularly sampled frequency series in any unit (the deviations come out in the
    same unit). Averaging times run from ``interval_s`` to a quarter of the span.
    """
    import allantools  # noqa: PLC0415 - slow import, kept off hot paths

    y = np.asarray(freq, dtype=float)
    if y.size < MIN_POINTS:
        return []
    rate = 1.0 / interval_s
    max_m = max(1, y.size // 4)
    ms = [2**k for k in range(0, int(math.log2(max_m)) + 1)]
    taus = np.array(ms, dtype=float) * interval_s
    t_a, ad, _, n_a = allantools.oadev(y, rate=rate, data_type="freq", taus=taus)
    rows: dict[float, DevRow] = {}
    for t, a, n in zip(t_a, ad, n_a, strict=False):
        rows[round(float(t), 9)] = DevRow(float(t), int(n), float(a), math.nan)
    if modified:
        t_m, md, _, _ = allantools.mdev(y, rate=rate, data_type="freq", taus=taus)
        for t, m in zip(t_m, md, strict=False):
            key = round(float(t), 9)
            if key in rows:
                rows[key] = replace(rows[key], mdev=float(m))
    return [rows[k] for k in sorted(rows)]


def _nnls_small(a: FloatArray, b: FloatArray) -> FloatArray:
    """Non-negative least squares for a handful of unknowns, by trying every active set."""
    k = a.shape[1]
    best, best_cost = np.zeros(k), float(b @ b)
    for r in range(1, k + 1):
        for subset in itertools.combinations(range(k), r):
            cols = list(subset)
            sol, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
            if np.any(sol < 0):
                continue
            x = np.zeros(k)
            x[cols] = sol
            resid = a @ x - b
            cost = float(resid @ resid)
            if cost < best_cost:
                best, best_cost = x, cost
    return best


def fit_noise(tau_s: npt.ArrayLike, adev_ppb: npt.ArrayLike, counts: npt.ArrayLike | None = None) -> NoiseModel:
    """Fit the power-law sum to an Allan deviation table (relative least squares, weights by the
    number of averages behind each point)."""
    tau = np.asarray(tau_s, dtype=float)
    var = np.asarray(adev_ppb, dtype=float) ** 2
    ok = np.isfinite(var) & (var > 0) & (tau > 0)
    tau, var = tau[ok], var[ok]
    if tau.size == 0:
        return NoiseModel()
    w = np.sqrt(np.asarray(counts, dtype=float)[ok]) if counts is not None else np.ones_like(tau)
    w = w / w.max()
    basis = np.stack([1 / tau**2, 1 / tau, tau], axis=1)
    a = basis / var[:, None] * w[:, None]
    wpm, wfm, rwfm = (float(c) for c in _nnls_small(a, w))
    return NoiseModel(wpm, wfm, 0.0, rwfm)


def rw_edf(n_freq: int, m: int) -> float:
    """Equivalent degrees of freedom of an overlapping Allan variance at averaging factor m for
    random-walk FM (the approximation in NIST SP 1065, Riley, section 5.3): N phase points."""
    n = n_freq + 1
    if n <= 3 or m >= n:
        return 1.0
    edf = (n - 2) / m * ((n - 1) ** 2 - 3 * m * (n - 1) + 4 * m * m) / (n - 3) ** 2
    return max(edf, 1.0)


def chi2_quantile(p: float, k: float) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (good to a few % for k >= 1)."""
    z = _normal_quantile(p)
    h = 2.0 / (9.0 * k)
    return max(k * (1.0 - h + z * math.sqrt(h)) ** 3, 1e-6 * k)


def _normal_quantile(p: float) -> float:
    # Acklam's rational approximation, |error| < 1.2e-9
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    if p > 1 - 0.02425:
        return -_normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )


def rw_upper(
    model: NoiseModel,
    table: list[DevRow],
    n_freq: int,
    interval_s: float,
    confidence: float | None = None,
    points: int = RW_POINTS,
) -> float:
    """An upper confidence limit of the random-walk term (ppb^2/s) from the longest averaging
    times of the table: what the white terms leave there, over tau, combined by degrees of
    freedom, divided by the chi-square quantile. A short record shows little random walk but
    cannot exclude much of it; this keeps the bound honest about that."""
    confidence = RW_CONFIDENCE if confidence is None else confidence
    rows = [r for r in table if math.isfinite(r.adev) and r.adev > 0][-points:]
    if not rows:
        return model.rwfm_ppb2_per_s
    num = den = 0.0
    for r in rows:
        m = max(1, int(round(r.tau_s / interval_s)))
        edf = rw_edf(n_freq, m)
        white = model.wpm_ppb2_s2 / r.tau_s**2 + model.wfm_ppb2_s / r.tau_s
        c_i = max(r.adev**2 - white, 0.0) / r.tau_s
        num += edf * c_i
        den += edf
    estimate = num / den
    edf_total = max(den / RW_OCTAVE_OVERLAP, 1.0)
    upper = estimate * edf_total / chi2_quantile(1.0 - confidence, edf_total)
    return max(upper, model.rwfm_ppb2_per_s)


def held_time_var_ppb2s2(
    model: NoiseModel, elapsed_s: npt.ArrayLike, short_tau_s: FloatArray, short_var_ppb2: FloatArray
) -> FloatArray:
    """Variance of the time error of a held, predicted frequency over elapsed_s: the power-law
    noise (``time_var_ppb2s2``), or where larger, elapsed^2 times ``short_var_ppb2``, a measured
    variance of the prediction's error averaged over ``short_tau_s`` (interpolated in log tau; used
    up to the longest of them, beyond which only the power law speaks)."""
    t = np.maximum(np.asarray(elapsed_s, dtype=float), 0.0)
    var = model.time_var_ppb2s2(t)
    if short_tau_s.size:
        tau, v = short_tau_s, short_var_ppb2
        inside = (t > 0) & (t <= tau[-1])
        log_t = np.log(np.clip(t, tau[0], tau[-1]))
        short = np.interp(log_t, np.log(tau), v)
        var = np.where(inside, np.maximum(var, t * t * short), var)
    out: FloatArray = var
    return out


def estimate_noise(freq_ppb: Sequence[float] | FloatArray, interval_s: float) -> tuple[NoiseModel, list[DevRow]]:
    """Noise model of a regularly sampled frequency series (ppb), with the table it came from."""
    table = deviation_table(freq_ppb, interval_s, modified=False)
    if not table:
        return NoiseModel(), table
    n_total = len(freq_ppb)
    model = fit_noise(
        [r.tau_s for r in table], [r.adev for r in table], [n_total * interval_s / r.tau_s for r in table]
    )
    rw = rw_upper(model, table, n_total, interval_s)
    return NoiseModel(model.wpm_ppb2_s2, model.wfm_ppb2_s, model.ffm_ppb2, rw), table
