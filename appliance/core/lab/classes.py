"""What an oscillator class promises, from its ranges in hardware/oscillators.yaml (pure).

A class there is a set of parameter ranges the simulator draws crystals from; the lab reads the
same ranges as the class's promise, using the worse end of each:

  noise       white FM ``white_ppb`` (its ADEV at 1 s), random-walk FM ``rw_ppb_per_sqrt_s``
              (AVAR = q^2 tau / 3) and aging ``aging_ppm_per_day`` (a linear drift D, ADEV = D tau/sqrt 2)
              give the limit lines of ADEV, MDEV (white FM 1/2 of AVAR, random walk 0.82, NIST SP
              1065 table 3) and TDEV = tau MDEV / sqrt 3. These are the part's own noise at constant
              temperature: a room that moves is judged as the oscillator's instability.
  accuracy    |initial offset| + the (compensated) AT-cut cubic and ripple over the temperatures seen
  tempco      the steepest frequency-temperature slope the class allows over those temperatures:
              the cubic's derivative plus the ripple's (amplitude x 2 pi / period)

A measurement floor (the white phase noise of reading the clock, sigma_x) adds
ADEV = sqrt 3 sigma_x / tau, MDEV = sqrt 3 sigma_x sqrt(tau0) / tau^1.5, TDEV = sigma_x sqrt(tau0/tau).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..holdover.series import FloatArray

SECONDS_PER_DAY = 86_400.0
MDEV_WHITE_FM = 0.5  # MVAR / AVAR for white FM
MDEV_RW_FM = 0.82  # MVAR / AVAR for random-walk FM
NOT_A_PROMISE = ("ideal",)  # classes with zero ranges: the simulator's perfect clock, no lab limit


class ClassError(ValueError):
    pass


# One class of oscillators.yaml as parsed: its values are checked here, as they are read.
Spec = Mapping[str, Any]


def _hi(spec: Spec, key: str) -> float:
    try:
        lo, hi = spec[key]
    except (KeyError, TypeError, ValueError):
        raise ClassError(f"{key}: expected a range [low, high]") from None
    return max(abs(float(lo)), abs(float(hi)))


def _range(spec: Spec, key: str) -> tuple[float, float]:
    try:
        lo, hi = spec[key]
    except (KeyError, TypeError, ValueError):
        raise ClassError(f"{key}: expected a range [low, high]") from None
    return float(lo), float(hi)


@dataclass(frozen=True)
class OscillatorClass:
    name: str
    white_ppb: float
    rw_ppb_per_sqrt_s: float
    aging_ppm_per_day: float
    initial_ppm: float
    t0_c: tuple[float, float]
    a1_ppm_per_k: float
    a2_ppm_per_k2: float
    a3_ppm_per_k3: float
    residual_fraction: float
    ripple_ppm: float
    ripple_period_min_k: float

    @classmethod
    def from_spec(cls, name: str, spec: Spec) -> OscillatorClass:
        try:
            period_lo = min(abs(v) for v in _range(spec, "ripple_period_k"))
            return cls(
                name=name,
                white_ppb=_hi(spec, "white_ppb"),
                rw_ppb_per_sqrt_s=_hi(spec, "rw_ppb_per_sqrt_s"),
                aging_ppm_per_day=_hi(spec, "aging_ppm_per_day"),
                initial_ppm=_hi(spec, "initial_offset_ppm"),
                t0_c=_range(spec, "t0_c"),
                a1_ppm_per_k=_hi(spec, "a1_ppm_per_k"),
                a2_ppm_per_k2=_hi(spec, "a2_ppm_per_k2"),
                a3_ppm_per_k3=_hi(spec, "a3_ppm_per_k3"),
                residual_fraction=_hi(spec, "residual_fraction"),
                ripple_ppm=_hi(spec, "ripple_ppm"),
                ripple_period_min_k=max(period_lo, 1e-6),
            )
        except ClassError as exc:
            raise ClassError(f"oscillator class {name}: {exc}") from None

    @property
    def is_promise(self) -> bool:
        return self.name not in NOT_A_PROMISE and self.white_ppb > 0

    # -- noise lines (fractional frequency / seconds) ----------------------------------------------
    def _parts(self, tau_s: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        tau = np.asarray(tau_s, dtype=float)
        white = (self.white_ppb * 1e-9) ** 2 / tau
        rw = (self.rw_ppb_per_sqrt_s * 1e-9) ** 2 * tau / 3.0
        drift = self.aging_ppm_per_day * 1e-6 / SECONDS_PER_DAY
        aging = (drift * tau) ** 2 / 2.0
        return tau, white, rw, aging

    def adev_line(self, tau_s: npt.ArrayLike, floor_s: float = 0.0, interval_s: float = 1.0) -> FloatArray:
        tau, white, rw, aging = self._parts(tau_s)
        return np.sqrt(white + rw + aging + 3.0 * floor_s**2 / tau**2)

    def mdev_line(self, tau_s: npt.ArrayLike, floor_s: float = 0.0, interval_s: float = 1.0) -> FloatArray:
        tau, white, rw, aging = self._parts(tau_s)
        wpm = 3.0 * floor_s**2 * interval_s / tau**3
        return np.sqrt(MDEV_WHITE_FM * white + MDEV_RW_FM * rw + aging + wpm)

    def tdev_line(self, tau_s: npt.ArrayLike, floor_s: float = 0.0, interval_s: float = 1.0) -> FloatArray:
        tau = np.asarray(tau_s, dtype=float)
        own = tau / math.sqrt(3.0) * self.mdev_line(tau)
        return np.sqrt(own**2 + floor_s**2 * interval_s / tau)

    # -- temperature ------------------------------------------------------------------------------
    def _d_range(self, temp_lo_c: float, temp_hi_c: float) -> float:
        return max(
            abs(temp_lo_c - self.t0_c[1]),
            abs(temp_hi_c - self.t0_c[0]),
            abs(temp_lo_c - self.t0_c[0]),
            abs(temp_hi_c - self.t0_c[1]),
        )

    def tempco_limit_ppm_per_c(self, temp_lo_c: float, temp_hi_c: float) -> float:
        d = self._d_range(temp_lo_c, temp_hi_c)
        cubic = self.a1_ppm_per_k + 2 * self.a2_ppm_per_k2 * d + 3 * self.a3_ppm_per_k3 * d * d
        ripple = self.ripple_ppm * 2 * math.pi / self.ripple_period_min_k
        return self.residual_fraction * cubic + ripple

    def accuracy_ppm(self, temp_lo_c: float, temp_hi_c: float) -> float:
        d = self._d_range(temp_lo_c, temp_hi_c)
        cubic = self.a1_ppm_per_k * d + self.a2_ppm_per_k2 * d * d + self.a3_ppm_per_k3 * d**3
        return self.initial_ppm + self.residual_fraction * cubic + self.ripple_ppm


def load_classes(spec_by_name: Mapping[str, Spec]) -> dict[str, OscillatorClass]:
    """oscillators.yaml's ``classes`` mapping -> OscillatorClass by name."""
    return {name: OscillatorClass.from_spec(name, spec) for name, spec in spec_by_name.items()}


def promise_order(classes: Mapping[str, OscillatorClass]) -> list[OscillatorClass]:
    """Classes that promise something, tightest first (by their ADEV line at 1 s)."""
    real = [c for c in classes.values() if c.is_promise]
    return sorted(real, key=lambda c: float(c.adev_line(1.0)))
