"""Frequency logs with a known answer for the lab's tests: a climate-chamber run of a TCXO whose
frequency-temperature slope is set, not drawn."""

from __future__ import annotations

import numpy as np


def chamber_log(
    slope_ppm_per_c: float = 0.02,
    offset_ppm: float = 0.1,
    curvature_ppm_per_c2: float = 0.0004,
    hours: float = 24.0,
    interval_s: float = 10.0,
    lag_s: float = 120.0,
    seed: int = 7,
    white_ppb: float = 0.1,
    rw_ppb_per_sqrt_s: float = 0.002,
    mean_c: float = 25.0,
    swing_c: float = 10.0,
    rate_c_per_h: float = 10.0,
):
    """(time_s, temperature_c, freq_offset_ppm): a triangle sweep mean_c +- swing_c at rate_c_per_h; the
    crystal follows the sensor through a first-order lag; white and random-walk FM on top. The slope at
    mean_c is ``slope_ppm_per_c`` exactly (the curvature term is zero there)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, hours * 3600.0 + interval_s / 2, interval_s)
    half_s = 2 * swing_c / rate_c_per_h * 3600.0
    phase = (t + half_s / 2) % (2 * half_s)
    temp = mean_c - swing_c + rate_c_per_h / 3600.0 * np.where(phase < half_s, phase, 2 * half_s - phase)
    alpha = 1.0 - np.exp(-interval_s / lag_s)
    crystal = np.empty_like(temp)
    c = temp[0]
    for i, v in enumerate(temp):
        c += alpha * (v - c)
        crystal[i] = c
    d = crystal - mean_c
    rw = np.cumsum(rng.normal(0.0, rw_ppb_per_sqrt_s * np.sqrt(interval_s), t.size))
    white = rng.normal(0.0, white_ppb, t.size)
    freq = offset_ppm + slope_ppm_per_c * d + curvature_ppm_per_c2 * d**2 + (rw + white) / 1000.0
    sensor = np.round((temp + rng.normal(0.0, 0.03, t.size)) / 0.0625) * 0.0625
    return t, sensor, freq


def write_csv(path, t, temp, freq_ppm):
    with open(path, "w") as f:
        f.write("time_s,temperature_c,freq_offset_ppm\n")
        for a, b, c in zip(t, temp, freq_ppm, strict=False):
            f.write(f"{a:.1f},{b:.4f},{c:.9f}\n")
    return path
