"""Holdover with the learned temperature model, pure: predicted frequency and a time-error bound.

When the reference is lost at t0, the oscillator's frequency is predicted from the model and the
lagged temperature, and its opposite applied to the clock at a fixed interval (piecewise constant).
Each prediction is for the interval it will be applied over: like the locked samples the model
learned from (frequency over an interval, temperature at its end), it uses the crystal temperature
forecast to the end of that interval by the lag model, the sensor holding its last reading.
The accumulated time error x(t) = integral of (true - predicted frequency) has, under the model,

    var x(t) = H(t)^T Sigma H(t)                    parameter uncertainty (curve, aging, level),
             + wfm t + ffm t^2 + rwfm t^3           the oscillator's own noise (noise.py), or where
                                                     larger, t^2 x the fit's residual averaged over t,
    H(t)     = integral from t0 to t of phi(s) ds    phi = the regressor row of the applied prediction,

and the bound is  sqrt((Z99 sigma_x(t))^2 + E(t)^2)  with  E(t) = integral of ext_envelope(distance
outside the trained temperature range) dt : the 99 % two-sided normal quantile of the modelled
part, combined as an independent 99 % figure with what extrapolation beyond the trained range may
cost (the envelope is a 99 % figure for the curve's error there, taken fully correlated in time).
Beyond the range the predicted frequency is phi . theta plus the model's ``ext_shift_ppb`` (the
middle of what the curve can reach there); the shift is taken as known in H(t): its uncertainty
is what the envelope covers.

``predict_holdover`` does a whole series at once (CLI, simulations); ``HoldoverRun`` does the same
one step at a time (the service, through predictor.py); tests hold them equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .lag import lag_filter
from .model import TempCompModel
from .series import FloatArray, SampleError

Z99 = 2.5758293035489004  # two-sided 99 % quantile of the normal distribution
PPB_S_TO_S = 1e-9
APPLY_INTERVAL_S = 10.0  # in holdover, a new predicted frequency at most this often


@dataclass
class HoldoverPrediction:
    time_s: FloatArray
    freq_ppb: FloatArray  # predicted oscillator frequency, applied from time_s[k] to time_s[k+1]
    bound_s: FloatArray  # 99 % bound on |accumulated time error| at time_s[k]
    sigma_s: FloatArray  # the modelled (Gaussian) part, 1 sigma
    ext_s: FloatArray  # the extrapolation part of the bound
    extrapolation_c: FloatArray  # K outside the trained range (0 inside)
    temp_eff_c: FloatArray  # the crystal temperature forecast over each row's interval (what phi used)


def _start(model: TempCompModel, t0: float, temp0_c: float) -> TempCompModel:
    m = model.copy()
    if t0 > m.time_s:
        gap = t0 - m.time_s
        m.time_update(t0)
        m.advance_crystal(gap, temp0_c)
    elif t0 < m.time_s:
        m.time_s = t0  # caller checked it is close; the level is taken as of t0
    return m


def predict_holdover(
    model: TempCompModel, time_s: npt.ArrayLike, temp_c: npt.ArrayLike, z: float = Z99
) -> HoldoverPrediction:
    """Predicted frequency and bound for a holdover starting at time_s[0] (regular sampling)."""
    t = np.asarray(time_s, dtype=float)
    temp = np.asarray(temp_c, dtype=float)
    if t.size == 0:
        raise SampleError("no rows to predict")
    m = _start(model, float(t[0]), float(temp[0]))
    interval = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    lagged = np.concatenate([[m.crystal_c], lag_filter(temp[1:], interval, m.lag_s, initial=m.crystal_c)])
    teff = m.forecast_c(lagged, temp, interval)
    phi = m.design(t, teff)
    freq = phi @ m.theta + m.ext_shift_ppb(teff)
    dist = m.extrapolation_c(teff)
    env = m.ext_envelope_ppb(dist, teff)
    dts = np.diff(t)
    h = np.zeros_like(phi)
    np.cumsum(phi[:-1] * dts[:, None], axis=0, out=h[1:])
    ext = np.zeros(t.size)
    np.cumsum(env[:-1] * dts, out=ext[1:])
    var = np.einsum("ij,jk,ik->i", h, m.cov, h) + m.time_var_ppb2s2(t - t[0])
    sigma = np.sqrt(np.maximum(var, 0.0)) * PPB_S_TO_S
    ext_s = ext * PPB_S_TO_S
    return HoldoverPrediction(t, freq, np.hypot(z * sigma, ext_s), sigma, ext_s, dist, teff)


class HoldoverRun:
    """The same prediction one step at a time: ``temperature`` every tick, ``apply`` at the fixed
    interval (returns the new frequency), ``bound_s`` at any time."""

    def __init__(
        self, model: TempCompModel, t0: float, temp0_c: float, z: float = Z99, interval_s: float = APPLY_INTERVAL_S
    ) -> None:
        self.z = z
        self.t0 = float(t0)
        self.interval_s = float(interval_s)
        self.model = _start(model, self.t0, temp0_c)
        self._temp_c = float(temp0_c)
        self._t_temp = self.t0
        self._t_apply = self.t0
        self._h = np.zeros(self.model.theta.size)
        self._ext = 0.0
        self._phi, self._env, shift = self._row(self.t0)
        self.freq_ppb = float(self._phi @ self.model.theta) + shift

    def _forecast_c(self) -> float:
        return float(self.model.forecast_c(self.model.crystal_c, self._temp_c, self.interval_s))

    def _row(self, t: float) -> tuple[FloatArray, float, float]:
        m = self.model
        temp = self._forecast_c()
        phi = m.design(t, temp)[0]
        env = float(m.ext_envelope_ppb(m.extrapolation_c(temp), temp))
        return phi, env, float(m.ext_shift_ppb(temp))

    @property
    def temp_time_s(self) -> float:
        """When the run last took a temperature (the lagged temperature is as of then)."""
        return self._t_temp

    @property
    def extrapolation_c(self) -> float:
        return float(self.model.extrapolation_c(self._forecast_c()))

    def temperature(self, t: float, temp_c: float | None) -> None:
        if temp_c is None or not math.isfinite(temp_c) or t <= self._t_temp:
            return
        self.model.advance_crystal(t - self._t_temp, temp_c)
        self._t_temp = t
        self._temp_c = float(temp_c)

    def apply(self, t: float, temp_c: float | None = None) -> float:
        self.temperature(t, temp_c)
        dt = max(t - self._t_apply, 0.0)
        self._h += self._phi * dt
        self._ext += self._env * dt
        self._t_apply = max(t, self._t_apply)
        self._phi, self._env, shift = self._row(self._t_apply)
        self.freq_ppb = float(self._phi @ self.model.theta) + shift
        return self.freq_ppb

    def sigma_s(self, t: float) -> float:
        dt = max(t - self._t_apply, 0.0)
        h = self._h + self._phi * dt
        var = float(h @ self.model.cov @ h) + float(self.model.time_var_ppb2s2(t - self.t0))
        return math.sqrt(max(var, 0.0)) * PPB_S_TO_S

    def bound_s(self, t: float) -> float:
        dt = max(t - self._t_apply, 0.0)
        return math.hypot(self.z * self.sigma_s(t), (self._ext + self._env * dt) * PPB_S_TO_S)
