"""Holdover evaluation of one scenario run: train on the locked part, hold over on the rest.

Three ways to hold the frequency, all from the same training samples (never the holdover's):

  frozen     the last frequency (mean over the last FROZEN_WINDOW_S of training), held
  quadratic  chrony's tempcomp: comp = k0 + k1 (T - T0) + k2 (T - T0)^2 of the sensor
             temperature, fitted by least squares to the training samples. Run as chronyd runs it:
             its tracked frequency absorbs everything the quadratic does not (the mean of
             y - comp over the last FROZEN_WINDOW_S), and comp follows the temperature.
             ``quadratic_raw`` is the bare fitted quadratic without that anchor (for reference).
  model      this appliance's model (core.holdover: fit, model), its prediction and 99 % bound (bound)

and, as the anchor for the bound's sharpness, an ``oracle`` that only a simulation can have: it
knows the oscillator's curve, aging, temperatures and the random-walk level at the start of
holdover, so its error is only the oscillator noise that comes after (random-walk and white FM);
its bound is the exact 99 % quantile of that noise, from the true noise parameters. Its
median(bound) / median(|error|) is what an exactly right bound gets on the same runs: 5.1 - 5.2
when random-walk FM dominates a 24 h holdover, a property of errors that grow as t^1.5, pooled
over the hours (errors growing as t give 5.0, as sqrt(t) 4.5), not of any model.

Each predicted frequency is applied from its row to the next (the scenario's interval); the time
error is the sum of (true - applied) frequency times the interval, from the first holdover row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..core.holdover.bound import Z99, HoldoverPrediction, predict_holdover
from ..core.holdover.fit import FitReport, fit
from ..core.holdover.model import TempCompModel
from ..core.holdover.select import select
from ..core.holdover.series import FROZEN_WINDOW_S, last_frequency_ppb
from .scenarios import ScenarioRun

METHODS = ("frozen", "quadratic", "model")


@dataclass(frozen=True)
class Quadratic:
    t0_c: float
    k0_ppb: float
    k1_ppb_per_k: float
    k2_ppb_per_k2: float

    def __call__(self, temp_c):
        d = np.asarray(temp_c, dtype=float) - self.t0_c
        return self.k0_ppb + self.k1_ppb_per_k * d + self.k2_ppb_per_k2 * d * d


def fit_quadratic(temp_c, freq_ppb) -> Quadratic:
    temp = np.asarray(temp_c, dtype=float)
    t0 = float(np.mean(temp))
    k2, k1, k0 = np.polyfit(temp - t0, np.asarray(freq_ppb, dtype=float), 2)
    return Quadratic(t0, float(k0), float(k1), float(k2))


def accumulate_time_error_s(true_freq_next_ppb, applied_ppb, interval_s: float) -> np.ndarray:
    """x[0] = 0, x[k] = sum_{j<k} (true over [t_j, t_j+1] - applied_j) * interval."""
    err = (np.asarray(true_freq_next_ppb) - np.asarray(applied_ppb)) * interval_s * 1e-9
    return np.concatenate([[0.0], np.cumsum(err)])


@dataclass(frozen=True)
class Oracle:
    time_error_s: np.ndarray  # per holdover row, 0 at the first
    bound_s: np.ndarray  # the exact 99 % bound of that error


def oracle(run: ScenarioRun, z: float = Z99) -> Oracle:
    """The oracle's time error and bound over the holdover of ``run`` (regular rows).

    Holding the true frequency less the noise still to come, the error after k intervals of dt is
    x_k = dt * sum_{j=1..k} (rw[s+j] - rw[s] + white[s+j]): variance q^2 dt^3 k(k+1)(2k+1)/6 from the
    random walk (rate q ppb/sqrt(s)) plus w^2 dt k from white FM (w ppb at 1 s)."""
    s, dt = run.split, run.interval_s
    noise_next = run.rw_ppb[s + 1 :] - run.rw_ppb[s] + run.white_ppb[s + 1 :]
    err = np.concatenate([[0.0], np.cumsum(noise_next) * dt * 1e-9])
    k = np.arange(err.size, dtype=float)
    q, w = run.params.rw_ppb_per_sqrt_s, run.params.white_ppb
    var_ppb2s2 = q * q * dt**3 * k * (k + 1) * (2 * k + 1) / 6.0 + w * w * dt * k
    return Oracle(err, z * np.sqrt(var_ppb2s2) * 1e-9)


@dataclass
class Evaluation:
    run: ScenarioRun
    model: TempCompModel
    report: FitReport
    fit_s: float
    prediction: HoldoverPrediction
    applied_ppb: dict  # method -> predicted frequency per holdover row
    time_error_s: dict  # method -> time error per holdover row
    quadratic: Quadratic | None
    oracle: Oracle
    adaptive: HoldoverPrediction | None = None  # core.holdover.select, when asked for

    def max_abs_s(self, method: str) -> float:
        return float(np.max(np.abs(self.time_error_s[method])))

    @property
    def coverage(self) -> float:
        """Fraction of holdover rows (after the first) where |true error| <= bound."""
        err = np.abs(self.time_error_s["model"][1:])
        return float(np.mean(err <= self.prediction.bound_s[1:]))

    @property
    def median_bound_s(self) -> float:
        return float(np.median(self.prediction.bound_s[1:]))

    @property
    def median_abs_error_s(self) -> float:
        return float(np.median(np.abs(self.time_error_s["model"][1:])))

    @property
    def extrapolated_fraction(self) -> float:
        return float(np.mean(self.prediction.extrapolation_c > 0))


def evaluate(run: ScenarioRun, *, adaptive: bool = False) -> Evaluation:
    """Score ``run``; ``adaptive`` also runs the selected model (select.py) as method "adaptive"."""
    tr, ho = run.train, run.holdover
    t_tr, temp_tr, y_tr = run.time_s[tr], run.sensor_c[tr], run.measured_freq_ppb[tr]
    t0 = time.perf_counter()
    result = fit(t_tr, temp_tr, y_tr, compensated=run.oscillator != "xo")
    fit_s = time.perf_counter() - t0
    t_h, temp_h = run.time_s[ho], run.sensor_c[ho]
    pred = predict_holdover(result.model, t_h, temp_h)

    frozen = np.full(t_h.size, last_frequency_ppb(t_tr, y_tr))
    quad = fit_quadratic(temp_tr, y_tr)
    window = t_tr >= t_tr[-1] - FROZEN_WINDOW_S
    anchor = float(np.mean(y_tr[window] - quad(temp_tr[window])))
    applied = {
        "frozen": frozen,
        "quadratic": anchor + quad(temp_h),
        "quadratic_raw": quad(temp_h),
        "model": pred.freq_ppb,
    }
    true_next = run.true_freq_ppb[run.split + 1 :]
    chosen = None
    if adaptive:
        chosen = select(t_tr, temp_tr, y_tr, compensated=run.oscillator != "xo").predict(t_h, temp_h)
        applied["adaptive"] = chosen.freq_ppb
    errors = {k: accumulate_time_error_s(true_next, v[:-1], run.interval_s) for k, v in applied.items()}
    return Evaluation(run, result.model, result.report, fit_s, pred, applied, errors, quad, oracle(run), chosen)
