"""A simulated time reference (a GNSS receiver or a PTP grandmaster upstream) for a SimPhc.

``measure`` returns the clock's offset to true time plus white measurement noise, or None while
the reference is stopped (fault injection: ``stop`` / ``start``).
"""

from __future__ import annotations

import numpy as np

from .phc import SimPhc


class SimReference:
    def __init__(self, clock: SimPhc, noise_ns: float = 20.0, seed: int = 0):
        self.clock = clock
        self.noise_ns = noise_ns
        self.available = True
        self._rng = np.random.default_rng([seed, 0x2EF])

    def stop(self) -> None:
        self.available = False

    def start(self) -> None:
        self.available = True

    def measure(self) -> float | None:
        if not self.available:
            return None
        noise = float(self._rng.normal(0.0, self.noise_ns)) if self.noise_ns else 0.0
        return self.clock.error_ns() + noise
