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
one step at a time (the service); tests hold them equal. ``TempCompPredictor`` is the optional
hook of ``core.discipline.Discipline``: it learns while locked (initial batch fit, then Kalman
updates), and predicts and bounds in holdover.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .fit import FitResult, fit
from .lag import lag_filter
from .model import TempCompModel
from .model_io import ModelError
from .series import MAX_INTERVAL_S, MIN_SPAN_S, SampleError

Z99 = 2.5758293035489004  # two-sided 99 % quantile of the normal distribution
PPB_S_TO_S = 1e-9

# Service defaults
RECORD_S = 10.0  # locked ticks are averaged into records of this length (a regular grid)
APPLY_INTERVAL_S = 10.0  # in holdover, a new predicted frequency at most this often
BUFFER_S = 7 * 86_400.0  # records kept for re-fits
REFIT_EVERY_S = 86_400.0
MAX_TICK_GAP_S = 60.0  # a longer pause between locked ticks closes the record (or 2.5 tick intervals)


@dataclass
class HoldoverPrediction:
    time_s: np.ndarray
    freq_ppb: np.ndarray  # predicted oscillator frequency, applied from time_s[k] to time_s[k+1]
    bound_s: np.ndarray  # 99 % bound on |accumulated time error| at time_s[k]
    sigma_s: np.ndarray  # the modelled (Gaussian) part, 1 sigma
    ext_s: np.ndarray  # the extrapolation part of the bound
    extrapolation_c: np.ndarray  # K outside the trained range (0 inside)
    temp_eff_c: np.ndarray  # the crystal temperature forecast over each row's interval (what phi used)


def _start(model: TempCompModel, t0: float, temp0_c: float) -> TempCompModel:
    m = model.copy()
    if t0 > m.time_s:
        gap = t0 - m.time_s
        m.time_update(t0)
        m.advance_crystal(gap, temp0_c)
    elif t0 < m.time_s:
        m.time_s = t0  # caller checked it is close; the level is taken as of t0
    return m


def predict_holdover(model: TempCompModel, time_s, temp_c, z: float = Z99) -> HoldoverPrediction:
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
    ):
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

    def _row(self, t: float):
        m = self.model
        temp = self._forecast_c()
        phi = m.design(t, temp)[0]
        env = float(m.ext_envelope_ppb(m.extrapolation_c(temp), temp))
        return phi, env, float(m.ext_shift_ppb(temp))

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


@dataclass(frozen=True, eq=False)
class RefitRequest:
    """A fit of the buffered records, to run off the tick (it takes about a second for a week)."""

    time_s: np.ndarray
    temp_c: np.ndarray
    freq_ppb: np.ndarray
    compensated: bool

    def run(self) -> FitResult | SampleError:
        """The fit; pure, so it may run in any thread or process. A failure is returned, not raised."""
        try:
            return fit(self.time_s, self.temp_c, self.freq_ppb, compensated=self.compensated)
        except SampleError as exc:
            return exc


class TempCompPredictor:
    """Optional hook of Discipline: learns the oscillator while locked, predicts in holdover.

    Locked ticks (time, temperature, oscillator frequency = minus the servo's drift) are averaged
    into records on a regular RECORD_S grid. Until a model exists, records are buffered; after
    MIN_SPAN_S of them a batch fit makes the model, and every record then updates it (Kalman).
    Every REFIT_EVERY_S the model is fitted again from the buffer (the last BUFFER_S), which also
    re-estimates the lag and the noise, provided the buffer spans at least the data the model was
    last fitted on (a model restored after a restart is not replaced by a fit of fewer days). In
    holdover the frequency is predicted every APPLY_INTERVAL_S and the bound grows as described in
    the module docstring.
    """

    def __init__(
        self,
        model: TempCompModel | None = None,
        *,
        record_s: float = RECORD_S,
        apply_interval_s: float = APPLY_INTERVAL_S,
        min_train_s: float = MIN_SPAN_S,
        buffer_s: float = BUFFER_S,
        refit_every_s: float = REFIT_EVERY_S,
        compensated: bool = True,
        defer_refit: bool = False,
        tick_interval_s: float | None = None,
    ):
        self.model = model
        # Deferred: a due fit is handed out (take_refit) instead of run inside the locked tick.
        self.defer_refit = defer_refit
        self.pending_refit: RefitRequest | None = None
        self._refit_asked: RefitRequest | None = None
        self.compensated = compensated  # TCXO/OCXO; False for a plain crystal (see extrapolation.py)
        # A record holds at least one tick: with ticks slower than RECORD_S the records follow them
        # (up to what the fit takes), and a pause closes a record only when it is longer than a tick.
        tick_s = 0.0 if tick_interval_s is None else float(tick_interval_s)
        self.record_s = min(max(record_s, tick_s), max(record_s, MAX_INTERVAL_S))
        self.max_tick_gap_s = max(MAX_TICK_GAP_S, 2.5 * tick_s)
        self.apply_interval_s = apply_interval_s
        self.min_train_s = min_train_s
        self.buffer_s = buffer_s
        self.refit_every_s = refit_every_s
        self._rec_key: int | None = None
        self._rec_sum = [0.0, 0.0, 0]  # temp, freq, count
        self._last_tick_s: float | None = None
        self._last_temp_s: float | None = None
        self._buf_t: deque[float] = deque()
        self._buf_temp: deque[float] = deque()
        self._buf_freq: deque[float] = deque()
        self._last_fit_s: float | None = model.time_s if model is not None else None
        self._fit_span_s = buffer_s if model is not None else 0.0  # data span behind the model's last fit
        self.run: HoldoverRun | None = None
        self._last_apply_s = 0.0
        self.last_error: str | None = None
        self.fits = 0
        self.updates = 0
        self.rejected = 0

    # -- Discipline hook --------------------------------------------------------------------
    def ready(self) -> bool:
        return self.model is not None

    def observe(self, now_s: float, temp_c: float | None, freq_ppb: float) -> None:
        """A locked tick: oscillator frequency ``freq_ppb`` (positive = fast) at ``temp_c``."""
        if temp_c is None or not (math.isfinite(temp_c) and math.isfinite(freq_ppb)):
            return
        if self.run is not None:
            self.end_holdover()
        if self._last_tick_s is not None and now_s - self._last_tick_s > self.max_tick_gap_s:
            self._close_record()
        self._last_tick_s = now_s
        key = int(math.floor(now_s / self.record_s))
        if self._rec_key is not None and key != self._rec_key:
            self._close_record()
        self._rec_key = key
        self._rec_sum[0] += temp_c
        self._rec_sum[1] += freq_ppb
        self._rec_sum[2] += 1

    def _close_record(self) -> None:
        if self._rec_key is None or self._rec_sum[2] == 0:
            self._rec_key = None
            return
        n = self._rec_sum[2]
        t = (self._rec_key + 1) * self.record_s  # the record ends here (frequency over the record)
        temp, freq = self._rec_sum[0] / n, self._rec_sum[1] / n
        self._rec_key, self._rec_sum = None, [0.0, 0.0, 0]
        self._buf_t.append(t)
        self._buf_temp.append(temp)
        self._buf_freq.append(freq)
        while self._buf_t and self._buf_t[0] < t - self.buffer_s:
            self._buf_t.popleft()
            self._buf_temp.popleft()
            self._buf_freq.popleft()
        span = self._buf_t[-1] - self._buf_t[0]
        due = self.model is None or (
            self._last_fit_s is not None and t - self._last_fit_s >= self.refit_every_s and span >= self._fit_span_s
        )
        if due and span >= self.min_train_s:
            if not self.defer_refit:
                self._refit()
                return
            if self._refit_asked is None:
                self.pending_refit = self._refit_request()
                self._refit_asked = self.pending_refit
        self._update(t, temp, freq)

    def _update(self, t: float, temp: float, freq: float) -> None:
        """One record into the current model (Kalman)."""
        if self.model is not None:
            m = self.model
            gap = t - (self._last_temp_s if self._last_temp_s is not None else m.time_s)
            teff = m.advance_crystal(gap if gap < 3 * self.record_s else self.record_s * 1e6, temp)
            self._last_temp_s = t
            var = float(m.noise.mean_var_ppb2(self.record_s))
            if m.update(t, teff, freq, max(var, 1e-6)):
                self.updates += 1
            else:
                self.rejected += 1

    def _refit_request(self) -> RefitRequest:
        return RefitRequest(
            np.array(self._buf_t), np.array(self._buf_temp), np.array(self._buf_freq), self.compensated
        )

    def _refit(self) -> None:
        request = self._refit_request()
        self.install_refit(request, request.run())

    def take_refit(self) -> RefitRequest | None:
        """The fit that is due (deferred mode), once; the caller runs ``request.run()`` wherever it
        likes and hands the result to ``install_refit``. Until then the current model keeps
        learning from every record."""
        request, self.pending_refit = self.pending_refit, None
        return request

    def install_refit(self, request: RefitRequest, result: FitResult | SampleError) -> None:
        """A finished fit of ``request``: the new model, brought up to date with the records that
        arrived while it ran; or the reason it failed."""
        if self._refit_asked is request:
            self._refit_asked = None
        end_s = float(request.time_s[-1])
        if isinstance(result, SampleError):
            self.last_error = f"fit from {request.time_s.size} records: {result}"
            self._last_fit_s = end_s
            return
        self.model = result.model
        self._last_temp_s = self.model.time_s
        self._last_fit_s = self.model.time_s
        self._fit_span_s = end_s - float(request.time_s[0])
        self.last_error = None
        self.fits += 1
        for t, temp, freq in zip(self._buf_t, self._buf_temp, self._buf_freq):
            if t > end_s:
                self._update(t, temp, freq)

    def start_holdover(self, now_s: float, temp_c: float | None) -> float | None:
        """Reference lost: the predicted oscillator frequency (ppb) to hold, or None (no model)."""
        self._close_record()
        self._last_tick_s = None
        if self.model is None:
            return None
        temp0 = temp_c if temp_c is not None and math.isfinite(temp_c) else self.model.crystal_c
        self.run = HoldoverRun(self.model, now_s, temp0, interval_s=self.apply_interval_s)
        self._last_apply_s = now_s
        return self.run.freq_ppb

    def predict_freq_ppb(self, now_s: float, temp_c: float | None) -> float | None:
        """In holdover, every tick: the frequency to hold (changes every apply_interval_s)."""
        if self.run is None:
            return None
        self.run.temperature(now_s, temp_c)
        if now_s - self._last_apply_s >= self.apply_interval_s:
            self._last_apply_s = now_s
            self.run.apply(now_s)
        return self.run.freq_ppb

    def bound_s(self, elapsed_s: float) -> float | None:
        if self.run is None:
            return None
        return self.run.bound_s(self.run.t0 + elapsed_s)

    def end_holdover(self) -> None:
        """Reference back: keep the lagged temperature the run tracked."""
        if self.run is not None and self.model is not None:
            self.model.crystal_c = self.run.model.crystal_c
            self._last_temp_s = self.run._t_temp
        self.run = None

    # -- persistence and status ------------------------------------------------------------------
    def shift_time(self, delta_s: float) -> None:
        """Move every stored time by delta_s (the adapter maps a restored state to its time axis)."""
        if self.model is not None:
            self.model.time_s += delta_s
        self._buf_t = deque(t + delta_s for t in self._buf_t)
        if self._last_fit_s is not None:
            self._last_fit_s += delta_s
        self._last_temp_s = None
        self._rec_key, self._rec_sum, self._last_tick_s = None, [0.0, 0.0, 0], None

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict() if self.model is not None else None,
            "last_fit_s": self._last_fit_s,
            "fit_span_s": self._fit_span_s,
        }

    @classmethod
    def from_dict(cls, d: dict, **kwargs) -> TempCompPredictor:
        if not isinstance(d, dict):
            raise ModelError("expected a JSON object")
        model = TempCompModel.from_dict(d["model"]) if d.get("model") is not None else None
        p = cls(model, **kwargs)
        if isinstance(d.get("last_fit_s"), (int, float)):
            p._last_fit_s = float(d["last_fit_s"])
        if isinstance(d.get("fit_span_s"), (int, float)):
            p._fit_span_s = float(d["fit_span_s"])
        return p

    def status(self) -> dict:
        m = self.model
        out = {
            "ready": m is not None,
            "records_buffered": len(self._buf_t),
            "fits": self.fits,
            "updates": self.updates,
            "rejected": self.rejected,
            "last_error": self.last_error,
            "holdover": self.run is not None,
        }
        if m is not None:
            out.update(
                trained_range_c=[round(m.temp_lo_c, 3), round(m.temp_hi_c, 3)],
                lag_s=m.lag_s,
                aging_ppb_per_day=round(m.aging_ppb_per_day, 4),
                rw_ppb_per_sqrt_s=round(m.noise.rw_ppb_per_sqrt_s, 6),
            )
            # The frequency correction the model applies now: minus the predicted oscillator
            # frequency while holding over, nothing while the reference steers the clock.
            out["compensation_ppm"] = -self.run.freq_ppb * 1e-3 if self.run is not None else 0.0
        if self.run is not None:
            out["extrapolation_c"] = round(self.run.extrapolation_c, 3)
        return out
