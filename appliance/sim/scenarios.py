"""Seeded holdover scenarios: a locked training period, then a holdover, for one simulated node.

Each scenario is an ambient-temperature profile (degC, t = 0 at the start of training) built on the
data-centre aisle of sim/temperature.py; the oscillator (sim/oscillator.py: AT-cut cubic, TCXO
ripple, thermal lag, aging, random-walk and white FM, sensor noise and quantisation) turns it
into the true frequency. While locked, the appliance measures that frequency through a
reference with white phase noise (``reference_noise_ns``): the measured frequency over each
interval is the true one plus the difference of two phase errors over the interval.

  diurnal          daily swing plus HVAC cycling, nothing else
  cooling-failure  as diurnal; during holdover the cooling fails: +5..+10 degC within an hour,
                   held 1-4 h, then recovery (beyond anything seen in training)
  door-open        as diurnal plus door-open transients (a few per day, 1.5-4 K, minutes long,
                   fast onset, slower recovery), in training and in holdover
  cold-start       the node starts cold (10-16 degC) and warms to the room over 1-3 h while
                   locked; the model learns from that warm-up and the days after, then holds over
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .oscillator import OscillatorParams, draw_params, simulate
from .temperature import DiurnalHvac

HOUR_S = 3600.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    train_hours: float = 168.0  # a week locked before the reference is lost
    holdover_hours: float = 24.0


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("diurnal", "data-centre diurnal cycle with HVAC cycling"),
        Scenario("cooling-failure", "cooling fails during holdover: +5..+10 degC within an hour, then recovery"),
        Scenario("door-open", "door-open transients (1.5-4 K, minutes) in training and holdover"),
        Scenario("cold-start", "cold start (10-16 degC) warming up while locked, then holdover"),
    )
}


def _base(seed: int) -> DiurnalHvac:
    rng = np.random.default_rng([seed, 0x5CE])
    return DiurnalHvac(
        mean_c=float(rng.uniform(22.0, 25.0)),
        diurnal_amplitude_c=float(rng.uniform(1.0, 2.0)),
        hvac_amplitude_c=float(rng.uniform(0.4, 0.8)),
        hvac_period_s=float(rng.uniform(700.0, 1200.0)),
        phase_s=float(rng.uniform(0.0, 86_400.0)),
        seed=seed,
    )


def _cooling_failure(t, seed: int, holdover_start_s: float, holdover_s: float):
    rng = np.random.default_rng([seed, 0xC001])
    start = holdover_start_s + rng.uniform(0.1, 0.45) * holdover_s
    rise_c = rng.uniform(5.0, 10.0)
    tau_rise = rng.uniform(10.0, 20.0) * 60.0  # 95 % within 30-60 min
    hold = rng.uniform(1.0, 4.0) * HOUR_S
    tau_fall = rng.uniform(15.0, 40.0) * 60.0
    end = start + hold
    up = rise_c * (1.0 - np.exp(-np.clip(t - start, 0.0, None) / tau_rise))
    at_end = rise_c * (1.0 - math.exp(-hold / tau_rise))
    down = at_end * np.exp(-np.clip(t - end, 0.0, None) / tau_fall)
    return np.where(t < start, 0.0, np.where(t < end, up, down))


def _door_open(t, seed: int, span_s: float):
    rng = np.random.default_rng([seed, 0xD00])
    rate_per_s = rng.uniform(3.0, 8.0) / 86_400.0
    n = rng.poisson(rate_per_s * span_s)
    out = np.zeros_like(t)
    for start in np.sort(rng.uniform(0.0, span_s, n)):
        amp = rng.uniform(1.5, 4.0) * (1.0 if rng.uniform() < 0.7 else -1.0)
        tau_on = rng.uniform(60.0, 180.0)
        open_s = rng.uniform(180.0, 900.0)
        tau_off = rng.uniform(300.0, 900.0)
        sel = (t >= start) & (t < start + open_s + 8 * tau_off)
        ts = t[sel] - start
        at_close = amp * (1.0 - math.exp(-open_s / tau_on))
        out[sel] += np.where(
            ts < open_s, amp * (1.0 - np.exp(-ts / tau_on)), at_close * np.exp(-(ts - open_s) / tau_off)
        )
    return out


def _cold_start(t, seed: int, mean_c: float):
    rng = np.random.default_rng([seed, 0xC01D])
    cold_c = rng.uniform(10.0, 16.0)
    tau = rng.uniform(1.0, 3.0) * HOUR_S
    return -(mean_c - cold_c) * np.exp(-t / tau)


def ambient_c(name: str, t_s, seed: int, train_s: float, holdover_s: float) -> np.ndarray:
    """Ambient temperature (degC) of scenario ``name`` at times t_s (0 = start of training)."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    t = np.asarray(t_s, dtype=float)
    base = _base(seed)
    temp = np.asarray(base.temp_c(t), dtype=float)
    if name == "cooling-failure":
        temp = temp + _cooling_failure(t, seed, train_s, holdover_s)
    elif name == "door-open":
        temp = temp + _door_open(t, seed, train_s + holdover_s)
    elif name == "cold-start":
        temp = temp + _cold_start(t, seed, base.mean_c)
    return temp


@dataclass
class ScenarioRun:
    name: str
    seed: int
    oscillator: str
    params: OscillatorParams
    interval_s: float
    split: int  # first holdover row
    time_s: np.ndarray
    ambient_c: np.ndarray
    crystal_c: np.ndarray
    sensor_c: np.ndarray
    true_freq_ppb: np.ndarray  # mean frequency over the interval ending at time_s[k]
    measured_freq_ppb: np.ndarray  # what a locked servo measures over that interval
    rw_ppb: np.ndarray  # the random-walk FM part of true_freq_ppb (known only to the oracle)
    white_ppb: np.ndarray  # the white FM part of true_freq_ppb (known only to the oracle)

    @property
    def train(self) -> slice:
        return slice(0, self.split)

    @property
    def holdover(self) -> slice:
        return slice(self.split, self.time_s.size)


def run(
    name: str,
    seed: int,
    *,
    holdover_hours: float | None = None,
    train_hours: float | None = None,
    interval_s: float = 10.0,
    oscillator: str = "tcxo",
    reference_noise_ns: float = 20.0,
) -> ScenarioRun:
    """Simulate scenario ``name`` with ``seed``: the truth and the locked measurements."""
    sc = SCENARIOS.get(name)
    if sc is None:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    train_s = (sc.train_hours if train_hours is None else train_hours) * HOUR_S
    hold_s = (sc.holdover_hours if holdover_hours is None else holdover_hours) * HOUR_S
    n = int(round((train_s + hold_s) / interval_s)) + 1
    t = np.arange(n) * interval_s
    amb = ambient_c(name, t, seed, train_s, hold_s)
    params = draw_params(oscillator, seed)
    truth = simulate(params, seed, t, amb)
    rng = np.random.default_rng([seed, 0x2EF])
    phase_ns = rng.normal(0.0, reference_noise_ns, n + 1) if reference_noise_ns else np.zeros(n + 1)
    measured = truth["freq_ppb"] + np.diff(phase_ns) / interval_s
    split = int(np.searchsorted(t, train_s, side="left"))
    return ScenarioRun(
        name,
        seed,
        oscillator,
        params,
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
