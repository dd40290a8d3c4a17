"""Time-error bounds: how wrong the served time may be, in seconds, by sync state.

Locked: the reference's own accuracy + the current filtered offset + 3x the offset jitter.
Holdover / free-run: the bound at the start plus a frequency-error term that grows linearly and a
frequency-wander term that grows quadratically with elapsed time. The TCXO model (tempcomp) supplies
tighter, learned figures for holdover; the defaults here come from the oscillator class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_DISPERSION_S = 16.0  # NTP's MAXDISP: beyond this a bound means "unknown"
# While locked, what the bound may grow by between ticks, per second: chrony's default
# maxclockerror (1 ppm), the frequency error a disciplined clock is assumed to keep at most.
LOCKED_BOUND_RATE = 1e-6


def locked_bound_s(offset_ns: float, jitter_ns: float, reference_accuracy_ns: float) -> float:
    return (reference_accuracy_ns + abs(offset_ns) + 3.0 * jitter_ns) * 1e-9


@dataclass(frozen=True)
class DriftBound:
    """bound(t) = initial + freq_uncertainty * t + wander * t^2 / 2 (t in seconds)."""

    initial_s: float
    freq_uncertainty_ppb: float
    wander_ppb_per_s: float

    def bound_s(self, elapsed_s: float) -> float:
        t = max(elapsed_s, 0.0)
        value = self.initial_s + (self.freq_uncertainty_ppb * t + 0.5 * self.wander_ppb_per_s * t * t) * 1e-9
        return min(value, MAX_DISPERSION_S) if math.isfinite(value) else MAX_DISPERSION_S
