"""Learned temperature model of the node's oscillator (a TCXO), pure: samples in, predictions out.

Frequency offset of the oscillator (ppb, positive = the oscillator runs fast) at time t:

    y(t) = level + aging * (t - time_s) / 86400 + g(T_eff(t)) + noise

  * T_eff: the sensor temperature through a first-order lag of ``lag_s`` (the crystal lags the
    sensor, see lag.py); ``lag_s`` is chosen by the fit from a grid of candidates (fit.py).
  * g: a cubic B-spline on a uniform grid of ``knot_spacing_c`` in temperature (table.py).
    Evaluated only inside the trained temperature range; beyond it the prediction is the middle
    of what the curve can reach from the edge (``ext_shift_ppb``) and is flagged as an
    extrapolation whose uncertainty grows with the distance (``ext_envelope_ppb``; see
    extrapolation.py).
  * level: random-walk frequency noise (rate from the Allan deviation, see noise.py); aging:
    a linear frequency drift (ppb/day).

Parameters theta = [spline coefficients..., aging_ppb_per_day, level_ppb]; their covariance is kept.
The batch fit that makes a model is fit.py; its stored form model_io.py.

Online update (``TempCompModel.update``): a Kalman filter on the same state. The level follows the
random walk, the aging and the spline coefficients receive a small process noise ("forgetting":
an old curve loses weight against new samples at a stated rate, without the unbounded growth of
exponential forgetting on coefficients that are not being visited). Samples beyond the grid grow
it: new coefficients start at the edge value with a prior that widens with the distance.

Times are seconds on the caller's axis; temperatures degC; frequencies ppb (ppm only at the edges).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import numpy.typing as npt

from . import extrapolation as ext
from . import lag, model_io, table
from .noise import MIN_RW_PPB2_PER_S, NoiseModel, held_time_var_ppb2s2
from .series import SECONDS_PER_DAY, FloatArray, IntArray

CURVE_WANDER_PPB_PER_SQRT_DAY = 0.3
AGING_WANDER_PPB_PER_DAY_PER_SQRT_DAY = 0.05
INNOVATION_GATE_SIGMAS = 5.0
MAX_REJECTED_IN_A_ROW = 6  # then the level is re-opened (a real frequency jump, not an outlier)


class TempCompModel:
    """State of the learned model; see the module docstring for the equation."""

    def __init__(
        self,
        *,
        knot_spacing_c: float,
        k_lo: int,
        theta: npt.ArrayLike,
        cov: npt.ArrayLike,
        time_s: float,
        lag_s: float,
        crystal_c: float,
        temp_lo_c: float,
        temp_hi_c: float,
        noise: NoiseModel,
        n_samples: int = 0,
        n_outliers: int = 0,
        warnings: list[str] | None = None,
        rejected_in_a_row: int = 0,
        compensated: bool = True,
        short_tau_s: Sequence[float] | FloatArray = (),
        short_var_ppb2: Sequence[float] | FloatArray = (),
    ) -> None:
        self.knot_spacing_c = float(knot_spacing_c)
        self.k_lo = int(k_lo)
        self.theta = np.array(theta, dtype=float)
        self.cov = np.array(cov, dtype=float)
        self.time_s = float(time_s)
        self.lag_s = float(lag_s)
        self.crystal_c = float(crystal_c)
        self.temp_lo_c = float(temp_lo_c)
        self.temp_hi_c = float(temp_hi_c)
        self.noise = noise
        self.n_samples = int(n_samples)
        self.n_outliers = int(n_outliers)
        self.warnings = list(warnings or [])
        self.rejected_in_a_row = int(rejected_in_a_row)
        self.compensated = bool(compensated)  # TCXO/OCXO (True) or plain crystal (XO): see ext_params
        # The fit's residual variance averaged over short_tau_s (ppb^2): see time_var_ppb2s2.
        self.short_tau_s = np.array(short_tau_s, dtype=float)
        self.short_var_ppb2 = np.array(short_var_ppb2, dtype=float)
        self._ext_cache: ext.ExtParams | None = None

    # -- structure --------------------------------------------------------------------------
    @property
    def n_coef(self) -> int:
        return self.theta.size - 2

    @property
    def i_aging(self) -> int:
        return self.n_coef

    @property
    def i_level(self) -> int:
        return self.n_coef + 1

    @property
    def aging_ppb_per_day(self) -> float:
        return float(self.theta[self.i_aging])

    @property
    def level_ppb(self) -> float:
        return float(self.theta[self.i_level])

    def copy(self) -> TempCompModel:
        return TempCompModel.from_dict(self.to_dict())

    def extrapolation_c(self, temp_c: npt.ArrayLike) -> FloatArray:
        """How far (K) each temperature lies outside the trained range (0 inside)."""
        return ext.extrapolation_c(temp_c, self.temp_lo_c, self.temp_hi_c)

    def curve_rows(self, temp_c: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
        """(columns, values) of g at temp_c: inside the trained range the spline; outside it the
        edge value, continued along the edge slope if the curve is monotonic (see ext_params)."""
        linear = self.ext_params().linear
        return table.curve_rows(temp_c, self.knot_spacing_c, self.k_lo, self.temp_lo_c, self.temp_hi_c, linear)

    def design(self, time_s: npt.ArrayLike, temp_eff_c: npt.ArrayLike) -> FloatArray:
        """Dense regressor rows phi (N x len(theta)): y = phi . theta (aging relative to time_s)."""
        t = np.atleast_1d(np.asarray(time_s, dtype=float))
        temp = np.atleast_1d(np.asarray(temp_eff_c, dtype=float))
        cols, vals = self.curve_rows(temp)
        phi = np.zeros((temp.size, self.theta.size))
        np.put_along_axis(phi, cols, vals, axis=1)
        phi[:, self.i_aging] = (t - self.time_s) / SECONDS_PER_DAY
        phi[:, self.i_level] = 1.0
        return phi

    def curve_ppb(self, temp_c: npt.ArrayLike) -> FloatArray:
        """g(T) on its own (clamped to the trained range)."""
        cols, vals = self.curve_rows(temp_c)
        return cast(FloatArray, np.sum(self.theta[cols] * vals, axis=-1))

    def frequency_ppb(self, time_s: npt.ArrayLike, temp_eff_c: npt.ArrayLike) -> float | FloatArray:
        """Predicted frequency offset (ppb) at lagged temperature ``temp_eff_c``."""
        y = self.design(time_s, temp_eff_c) @ self.theta + self.ext_shift_ppb(temp_eff_c)
        return float(y[0]) if np.ndim(time_s) == 0 and np.ndim(temp_eff_c) == 0 else y

    def time_var_ppb2s2(self, elapsed_s: npt.ArrayLike) -> FloatArray:
        """Variance of the time error that noise and short-term model error add over elapsed_s
        (noise.held_time_var_ppb2s2 with the fit's residual variances)."""
        return held_time_var_ppb2s2(self.noise, elapsed_s, self.short_tau_s, self.short_var_ppb2)

    # -- extrapolation (extrapolation.py) -------------------------------------------------------
    def ext_params(self) -> ext.ExtParams:
        """How the curve may continue beyond the trained range, read from the trained curve."""
        if self._ext_cache is None:
            self._ext_cache = ext.ext_params(
                self.theta, self.knot_spacing_c, self.k_lo, self.temp_lo_c, self.temp_hi_c, self.compensated
            )
        return self._ext_cache

    def ext_shift_ppb(self, temp_c: npt.ArrayLike) -> FloatArray:
        """What the prediction at ``temp_c`` adds to the held edge value (curve_rows)."""
        return ext.ext_shift_ppb(self.ext_params(), temp_c, self.temp_lo_c, self.temp_hi_c)

    def ext_envelope_ppb(self, distance_c: npt.ArrayLike, temp_c: npt.ArrayLike | None = None) -> FloatArray:
        """A 99 % envelope of the prediction's error from the curve at ``distance_c`` K outside the
        trained range (``temp_c``, the temperature itself, tells the side; without it the wider)."""
        return ext.ext_envelope_ppb(self.ext_params(), distance_c, self.temp_lo_c, self.temp_hi_c, temp_c)

    # -- Kalman filter -------------------------------------------------------------------------
    def time_update(self, time_s: float) -> None:
        """Propagate the state to ``time_s``: the level moves with aging and its random walk, the
        aging and the curve forget a little."""
        dt = float(time_s) - self.time_s
        if dt <= 0:
            return
        ia, il = self.i_aging, self.i_level
        days = dt / SECONDS_PER_DAY
        self.theta[il] += self.theta[ia] * days
        cov = self.cov
        # F = I + days * e_level e_aging^T
        cov[il, :] += days * cov[ia, :]
        cov[:, il] += days * cov[:, ia]
        q = max(self.noise.rwfm_ppb2_per_s, MIN_RW_PPB2_PER_S) * 3.0
        cov[il, il] += q * dt
        cov[ia, ia] += AGING_WANDER_PPB_PER_DAY_PER_SQRT_DAY**2 * days
        idx = np.arange(self.n_coef)
        cov[idx, idx] += CURVE_WANDER_PPB_PER_SQRT_DAY**2 * days
        self.time_s = float(time_s)

    def _grow(self, temp_eff_c: float) -> None:
        """Widen the trained range (and the grid, if needed) to include ``temp_eff_c``."""
        step_var = (self.ext_params().slope_ppb_per_k * self.knot_spacing_c) ** 2
        lo, hi = min(self.temp_lo_c, temp_eff_c), max(self.temp_hi_c, temp_eff_c)
        self.theta, self.cov, self.k_lo = table.grow_grid(
            self.theta, self.cov, self.k_lo, self.knot_spacing_c, lo, hi, step_var
        )
        self.temp_lo_c = min(self.temp_lo_c, float(temp_eff_c))
        self.temp_hi_c = max(self.temp_hi_c, float(temp_eff_c))
        self._ext_cache = None

    def update(self, time_s: float, temp_eff_c: float, freq_ppb: float, var_ppb2: float) -> bool:
        """One Kalman step with a frequency measured at ``time_s`` (variance ``var_ppb2``).
        Returns False when the measurement was rejected as an outlier."""
        self.time_update(time_s)
        if not (self.temp_lo_c <= temp_eff_c <= self.temp_hi_c):
            self._grow(temp_eff_c)
        h = self.design(time_s, temp_eff_c)[0]
        ph = self.cov @ h
        s = float(h @ ph) + float(var_ppb2)
        innov = float(freq_ppb) - float(h @ self.theta)
        if innov * innov > INNOVATION_GATE_SIGMAS**2 * s:
            self.rejected_in_a_row += 1
            self.n_outliers += 1
            if self.rejected_in_a_row < MAX_REJECTED_IN_A_ROW:
                return False
            # Many in a row: the frequency really moved. Re-open the level and take it.
            self.cov[self.i_level, self.i_level] += innov * innov
            ph = self.cov @ h
            s = float(h @ ph) + float(var_ppb2)
        self.rejected_in_a_row = 0
        gain = ph / s
        self.theta += gain * innov
        self.cov -= np.outer(gain, ph)
        self.cov = 0.5 * (self.cov + self.cov.T)
        self.n_samples += 1
        self._ext_cache = None
        return True

    # -- the lagged temperature (lag.py) ------------------------------------------------------
    def forecast_c(self, crystal_c: npt.ArrayLike, temp_c: npt.ArrayLike, ahead_s: float) -> FloatArray:
        """The lagged temperature ``ahead_s`` later if the sensor stays at ``temp_c``."""
        return lag.forecast_c(crystal_c, temp_c, ahead_s, self.lag_s)

    def advance_crystal(self, interval_s: float, temp_c: float) -> float:
        """Move the lagged temperature one step of ``interval_s`` toward ``temp_c``."""
        self.crystal_c = lag.advance_c(self.crystal_c, temp_c, interval_s, self.lag_s)
        return self.crystal_c

    # -- persistence (model_io.py) -------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return model_io.encode(self)

    @classmethod
    def from_dict(cls, d: object) -> TempCompModel:
        return cls(**model_io.decode(d))
