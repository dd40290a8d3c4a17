"""Simulated crystal oscillators: the ground truth that the appliance's models must learn.

Frequency offset of the oscillator (fractional, positive = fast), at crystal temperature T:

    y(T, t) = initial + residual * (a1 d + a2 d^2 + a3 d^3)        d = T - t0 (AT-cut cubic)
              + ripple * sin(2 pi d / ripple_period + phase)        (TCXO compensation residual)
              + aging * t + random walk FM + white FM

The crystal's temperature follows the ambient through a first-order lag (``lag_s``); the sensor that
software reads sits nearer the air, has noise and is quantised. Everything is drawn from a seeded
numpy Generator, so a run is reproducible from its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..catalog import oscillator_classes

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class OscillatorParams:
    name: str
    initial_offset_ppm: float
    t0_c: float
    a1_ppm_per_k: float
    a2_ppm_per_k2: float
    a3_ppm_per_k3: float
    residual_fraction: float
    ripple_ppm: float
    ripple_period_k: float
    ripple_phase_rad: float
    lag_s: float
    aging_ppm_per_day: float
    rw_ppb_per_sqrt_s: float
    white_ppb: float
    sensor_noise_c: float
    sensor_quantum_c: float

    def static_ppm(self, crystal_c):
        """Temperature-dependent part of the frequency offset (ppm); works on scalars and arrays."""
        d = np.asarray(crystal_c, dtype=float) - self.t0_c
        cubic = self.a1_ppm_per_k * d + self.a2_ppm_per_k2 * d**2 + self.a3_ppm_per_k3 * d**3
        ripple = self.ripple_ppm * np.sin(2 * math.pi * d / self.ripple_period_k + self.ripple_phase_rad)
        return self.initial_offset_ppm + self.residual_fraction * cubic + ripple


def draw_params(class_name: str, seed: int, path: Path | None = None) -> OscillatorParams:
    """A crystal of ``class_name`` with its own coefficients drawn from the class ranges."""
    classes = oscillator_classes(path)
    if class_name not in classes:
        raise KeyError(f"unknown oscillator class {class_name!r}; known: {', '.join(sorted(classes))}")
    spec = classes[class_name]
    rng = np.random.default_rng([seed, 0x05C])
    values = {}
    for f in fields(OscillatorParams):
        if f.name == "name":
            continue
        if f.name == "ripple_phase_rad":
            values[f.name] = float(rng.uniform(0, 2 * math.pi))
            continue
        lo, hi = spec[f.name]
        values[f.name] = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
    return OscillatorParams(name=class_name, **values)


class Oscillator:
    """Steps the oscillator through time; call ``step`` with the ambient temperature."""

    def __init__(self, params: OscillatorParams, seed: int, start_ambient_c: float):
        self.params = params
        self._rng = np.random.default_rng([seed, 0x0F5])
        self.t_s = 0.0
        self.crystal_c = float(start_ambient_c)
        self.rw_ppb = 0.0
        self.freq_ppb = self._freq_ppb(0.0)
        self.sensor_c = self._read_sensor(start_ambient_c)

    def _read_sensor(self, ambient_c: float) -> float:
        p = self.params
        value = ambient_c + (self._rng.normal(0.0, p.sensor_noise_c) if p.sensor_noise_c else 0.0)
        if p.sensor_quantum_c:
            value = round(value / p.sensor_quantum_c) * p.sensor_quantum_c
        return float(value)

    def _freq_ppb(self, dt_s: float) -> float:
        p = self.params
        white = self._rng.normal(0.0, p.white_ppb / math.sqrt(dt_s)) if (p.white_ppb and dt_s > 0) else 0.0
        aging = p.aging_ppm_per_day * self.t_s / SECONDS_PER_DAY
        return float((p.static_ppm(self.crystal_c) + aging) * 1000.0 + self.rw_ppb + white)

    def step(self, dt_s: float, ambient_c: float) -> float:
        """Advance by dt_s; returns the mean frequency offset (ppb) over the step just begun."""
        p = self.params
        self.t_s += dt_s
        alpha = 1.0 - math.exp(-dt_s / p.lag_s)
        self.crystal_c += alpha * (ambient_c - self.crystal_c)
        if p.rw_ppb_per_sqrt_s:
            self.rw_ppb += float(self._rng.normal(0.0, p.rw_ppb_per_sqrt_s * math.sqrt(dt_s)))
        self.freq_ppb = self._freq_ppb(dt_s)
        self.sensor_c = self._read_sensor(ambient_c)
        return self.freq_ppb


def simulate(params: OscillatorParams, seed: int, times_s: np.ndarray, ambient_c: np.ndarray) -> dict:
    """Vectorised run at the given (regular or not) times, faster than real time.

    Returns arrays: crystal_c, sensor_c, freq_ppb (mean over each interval ending at times_s[i]),
    time_error_s (accumulated phase of the free-running oscillator since times_s[0]), and the two
    noise parts of freq_ppb: rw_ppb (random-walk FM) and white_ppb (white FM).
    """
    times_s = np.asarray(times_s, dtype=float)
    ambient_c = np.asarray(ambient_c, dtype=float)
    n = len(times_s)
    rng = np.random.default_rng([seed, 0x0F5])
    dt = np.diff(times_s, prepend=times_s[0])
    alpha = 1.0 - np.exp(-dt / params.lag_s)
    crystal = np.empty(n)
    c = ambient_c[0]
    for i in range(n):  # first-order lag: a recursive filter
        c += alpha[i] * (ambient_c[i] - c)
        crystal[i] = c
    rw = np.cumsum(rng.normal(0.0, 1.0, n) * params.rw_ppb_per_sqrt_s * np.sqrt(dt))
    safe_dt = np.where(dt > 0, dt, 1.0)
    white = rng.normal(0.0, 1.0, n) * params.white_ppb / np.sqrt(safe_dt)
    aging = params.aging_ppm_per_day * (times_s - times_s[0]) / SECONDS_PER_DAY
    freq_ppb = (params.static_ppm(crystal) + aging) * 1000.0 + rw + white
    sensor = ambient_c + rng.normal(0.0, 1.0, n) * params.sensor_noise_c
    if params.sensor_quantum_c:
        sensor = np.round(sensor / params.sensor_quantum_c) * params.sensor_quantum_c
    time_error_s = np.cumsum(freq_ppb * dt) * 1e-9
    return {
        "crystal_c": crystal,
        "sensor_c": sensor,
        "freq_ppb": freq_ppb,
        "time_error_s": time_error_s,
        "rw_ppb": rw,
        "white_ppb": white,
    }
