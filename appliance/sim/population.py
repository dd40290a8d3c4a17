"""Populations of oscillator parts drawn outside the classes of hardware/oscillators.yaml.

A lab would test the holdover model on parts it has never seen: here each part draws its own
AT-cut cubic, compensation residual, ripple, thermal lag, aging and noise from ranges wider than
any class (``WIDE_RANGES``: from nearly quadratic parts to ones with a strong cubic, ripple up to
120 ppb, lags from 20 s to 15 min), and its holdover takes the temperature beyond anything seen
while locked: a cooling incident (or, for one part in four, a cold draught) that peaks
``beyond_c`` (0.3-3 K) outside the trained sensor range. Every part is reproducible from its seed;
keep the seeds used to develop a model apart from the seeds it is reported on.

``run_part`` returns a scenarios.ScenarioRun, so holdover_eval.evaluate scores it as any scenario.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from .oscillator import OscillatorParams, simulate
from .scenarios import HOUR_S, ScenarioRun, _base

NAME = "population"
TRAIN_HOURS, HOLD_HOURS = 48.0, 24.0
# Wider than every class in hardware/oscillators.yaml (tcxo in brackets).
WIDE_RANGES: dict[str, tuple[float, float]] = {
    "initial_offset_ppm": (-1.0, 1.0),  # [-0.3, 0.3]
    "t0_c": (18.0, 34.0),  # [24, 28]
    "a1_ppm_per_k": (-0.2, 0.2),  # [-0.12, 0.12]
    "a2_ppm_per_k2": (-0.002, 0.002),  # [-0.0004, 0.0004]
    "a3_ppm_per_k3": (0.0, 0.0002),  # [0.00009, 0.00012]: down to nearly quadratic parts
    "residual_fraction": (0.005, 0.15),  # [0.02, 0.05]
    "ripple_ppm": (0.0, 0.12),  # [0.02, 0.05]
    "ripple_period_k": (1.5, 15.0),  # [3, 8]
    "lag_s": (20.0, 900.0),  # [60, 300]
    "aging_ppm_per_day": (-0.004, 0.006),  # [0.0005, 0.002]
    "rw_ppb_per_sqrt_s": (0.001, 0.012),  # [0.002, 0.006]
    "white_ppb": (0.1, 3.0),  # [0.2, 1]
    "sensor_noise_c": (0.01, 0.12),  # [0.02, 0.06]
    "sensor_quantum_c": (0.0625, 0.0625),
}
BEYOND_C = (0.3, 3.0)  # how far outside the trained sensor range the holdover goes


@dataclass(frozen=True)
class Part:
    seed: int
    params: OscillatorParams
    beyond_c: float  # peak distance outside the trained range in holdover (K)
    cold: bool  # a cold draught below the range instead of a cooling failure above it


def draw_part(seed: int) -> Part:
    rng = np.random.default_rng([seed, 0x9A27])
    values: dict[str, float] = {}
    for f in fields(OscillatorParams):
        if f.name == "name":
            continue
        if f.name == "ripple_phase_rad":
            values[f.name] = float(rng.uniform(0, 2 * math.pi))
            continue
        lo, hi = WIDE_RANGES[f.name]
        values[f.name] = float(rng.uniform(lo, hi))
    params = OscillatorParams(name="wide", **values)
    return Part(seed, params, float(rng.uniform(*BEYOND_C)), bool(rng.uniform() < 0.25))


def _incident(t, seed: int, start_s: float, hold_s: float):
    """A unit-peak excursion in holdover: a rise over ~45 min, held 1-3 h, then recovery."""
    rng = np.random.default_rng([seed, 0x1C1D])
    start = start_s + rng.uniform(0.1, 0.5) * hold_s
    tau_rise = rng.uniform(8.0, 15.0) * 60.0
    plateau = rng.uniform(1.0, 3.0) * HOUR_S
    tau_fall = rng.uniform(15.0, 40.0) * 60.0
    end = start + plateau
    up = 1.0 - np.exp(-np.clip(t - start, 0.0, None) / tau_rise)
    down = (1.0 - math.exp(-plateau / tau_rise)) * np.exp(-np.clip(t - end, 0.0, None) / tau_fall)
    return np.where(t < start, 0.0, np.where(t < end, up, down))


def run_part(
    seed: int,
    *,
    train_hours: float = TRAIN_HOURS,
    holdover_hours: float = HOLD_HOURS,
    interval_s: float = 30.0,
    reference_noise_ns: float = 20.0,
) -> ScenarioRun:
    """One part of the population, locked ``train_hours`` then held over ``holdover_hours``."""
    part = draw_part(seed)
    train_s, hold_s = train_hours * HOUR_S, holdover_hours * HOUR_S
    n = int(round((train_s + hold_s) / interval_s)) + 1
    t = np.arange(n) * interval_s
    base = np.asarray(_base(seed + 7919).temp_c(t), dtype=float)
    split = int(np.searchsorted(t, train_s, side="left"))
    shape = _incident(t, seed, train_s, hold_s)
    edge = base[:split].min() if part.cold else base[:split].max()
    peak = shape >= 0.97 * shape.max()
    sign = -1.0 if part.cold else 1.0
    # Amplitude such that the ambient over the plateau reaches beyond_c outside the trained edge.
    amp = max(0.0, sign * (edge - base[peak]).mean() + part.beyond_c) if peak.any() else 0.0
    amb = base + sign * amp * shape
    truth = simulate(part.params, seed, t, amb)
    rng = np.random.default_rng([seed, 0x2EF])
    phase_ns = rng.normal(0.0, reference_noise_ns, n + 1)
    measured = truth["freq_ppb"] + np.diff(phase_ns) / interval_s
    return ScenarioRun(
        NAME,
        seed,
        "tcxo",
        part.params,
        interval_s,
        split,
        t,
        amb,
        truth["crystal_c"],
        truth["sensor_c"],
        truth["freq_ppb"],
        measured,
        truth["rw_ppb"],
        truth["white_ppb"],
    )
