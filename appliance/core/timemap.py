"""Map from the system clock (CLOCK_REALTIME, where the kernel timestamps packets) to served time.

The appliance never steers the host clock; it serves the time of its disciplined PHC (or simulated
PHC). The service measures offset = clock - system periodically and keeps the latest anchor and the
rate between the two; the NTP adapter converts each kernel timestamp with ``to_served_ns``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TimeMap:
    anchor_system_ns: int
    offset_ns: int  # served - system at the anchor
    rate_ppb: float = 0.0  # d(served - system)/d(system)

    def to_served_ns(self, system_ns: int) -> int:
        dt = system_ns - self.anchor_system_ns
        return system_ns + self.offset_ns + int(dt * self.rate_ppb * 1e-9)

    def updated(self, system_ns: int, offset_ns: int, max_rate_ppb: float = 1e6) -> TimeMap:
        """A new map from a fresh measurement; the rate is the slope since the previous anchor."""
        dt = system_ns - self.anchor_system_ns
        rate = self.rate_ppb
        if dt > 10_000_000:  # at least 10 ms apart for a usable slope
            rate = (offset_ns - self.offset_ns) / dt * 1e9
            rate = max(-max_rate_ppb, min(max_rate_ppb, rate))
        return TimeMap(system_ns, offset_ns, rate)
