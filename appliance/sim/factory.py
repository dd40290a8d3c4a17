"""Builds a simulated node clock (SimPhc + optional SimReference) from the config's clock.sim."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..config import SimClockConfig
from .oscillator import Oscillator, draw_params
from .phc import SimPhc
from .reference import SimReference
from .temperature import DiurnalHvac


def build(sim: SimClockConfig, truth_ns: Callable[[], int] = time.time_ns, name: str = "sim", offset_ns: int = 0):
    """``offset_ns``: where a bootstrap put the simulated clock (its recorded offset from the host
    clock, appliance.bootstrap.records.sim_offset_ns): nothing else persists between runs."""
    params = draw_params(sim.oscillator, sim.seed)
    t = sim.temperature
    profile = DiurnalHvac(t.mean_c, t.diurnal_amplitude_c, t.hvac_amplitude_c, t.hvac_period_s, seed=sim.seed)
    osc = Oscillator(params, sim.seed, profile.temp_c(0.0))
    clock = SimPhc(osc, profile.temp_c, truth_ns=truth_ns, initial_error_ns=sim.initial_error_ns + offset_ns, name=name)
    reference = SimReference(clock, sim.reference_noise_ns, sim.seed) if sim.reference else None
    return clock, reference
