"""Ambient temperature profiles for simulated nodes, deterministic functions of time (s) and seed.

``DiurnalHvac`` is a data-centre aisle: a daily swing plus the sawtooth of HVAC cycling with a
little jitter in its period. Scenario profiles (cooling failure, door open, cold start) build on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class DiurnalHvac:
    mean_c: float = 24.0
    diurnal_amplitude_c: float = 1.5
    hvac_amplitude_c: float = 0.6
    hvac_period_s: float = 900.0
    phase_s: float = 0.0  # where in the day t = 0 falls
    seed: int = 0

    @cached_property
    def _wobble(self) -> float:
        # Slightly irregular HVAC cycling: the period wobbles by a few percent over the day.
        return 0.04 * math.tau * np.random.default_rng([self.seed, 0x7E3]).uniform()

    def temp_c(self, t_s):
        if isinstance(t_s, float):  # one instant (a SimPhc step): the same formula without arrays
            return self._scalar_c(t_s + self.phase_s)
        t = np.asarray(t_s, dtype=float) + self.phase_s
        wobble = self._wobble
        cyc = t / self.hvac_period_s + 0.3 * np.sin(math.tau * t / 86_400.0 + wobble)
        saw = 2.0 * (cyc - np.floor(cyc)) - 1.0  # slow warm-up, quick cool-down
        hvac = self.hvac_amplitude_c * np.where(saw < 0.7, (saw + 1.0) / 1.7 * 2 - 1, 1 - (saw - 0.7) / 0.3 * 2)
        diurnal = self.diurnal_amplitude_c * np.sin(math.tau * t / 86_400.0 - math.pi / 2)
        value = self.mean_c + diurnal + hvac
        return float(value) if np.ndim(value) == 0 else value

    def _scalar_c(self, t: float) -> float:
        cyc = t / self.hvac_period_s + 0.3 * math.sin(math.tau * t / 86_400.0 + self._wobble)
        saw = 2.0 * (cyc - math.floor(cyc)) - 1.0
        hvac = self.hvac_amplitude_c * ((saw + 1.0) / 1.7 * 2 - 1 if saw < 0.7 else 1 - (saw - 0.7) / 0.3 * 2)
        return self.mean_c + self.diurnal_amplitude_c * math.sin(math.tau * t / 86_400.0 - math.pi / 2) + hvac


@dataclass(frozen=True)
class Constant:
    value_c: float = 25.0

    def temp_c(self, t_s):
        return self.value_c if np.ndim(t_s) == 0 else np.full(np.shape(t_s), self.value_c)
