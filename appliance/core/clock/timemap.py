"""Map from the system clock (CLOCK_REALTIME, where the kernel timestamps packets) to served time.

The appliance never steers the host clock; it serves the time of its disciplined PHC (or simulated
PHC). The service measures offset = clock - system periodically and keeps the latest anchor and the
rate between the two; the NTP adapter converts each kernel timestamp with ``to_served_ns``.

Served time never steps backward once the node has served synchronized time (``advanced`` with
monotonic=True). When the clock goes back (the appliance or someone else stepped it), served time
keeps running and absorbs the difference by slewing at ``slew_ppb`` (it runs slower than the clock
until it meets it); corrections the appliance makes itself are absorbed the same way in either
direction, so a node returns into agreement by slewing. A forward jump that the appliance did not
make (a fault, or another program stepping the clock) is served as it is: served time follows the
clock, and the cluster's vote judges it. ``correction_ns`` is what served time still has to absorb
(clock - served); it belongs in the error bound. Before start (monotonic=False) the map follows the
clock exactly, steps included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SLEW_PPB = 83_333_333.0  # chrony's default maxslewrate (83333.333 ppm)
STEP_DETECT_NS = 1_000_000  # a jump of the clock against its prediction beyond this is a step


@dataclass(frozen=True)
class TimeMap:
    anchor_system_ns: int
    offset_ns: int  # served - system at the anchor
    rate_ppb: float = 0.0  # d(clock - system)/d(system)
    correction_ns: int = 0  # clock - served at the anchor, absorbed at slew_ppb
    slew_ppb: float = DEFAULT_SLEW_PPB

    def _absorbed_ns(self, dt_ns: int) -> float:
        c = self.correction_ns
        if not c or dt_ns <= 0:
            return 0.0
        most = dt_ns * self.slew_ppb * 1e-9
        return max(float(c), -most) if c < 0 else min(float(c), most)

    def to_served_ns(self, system_ns: int) -> int:
        dt = system_ns - self.anchor_system_ns
        if not self.correction_ns:
            return system_ns + self.offset_ns + int(dt * self.rate_ppb * 1e-9)
        # One floor over the sum keeps the result non-decreasing in system_ns.
        return system_ns + self.offset_ns + math.floor(dt * self.rate_ppb * 1e-9 + self._absorbed_ns(dt))

    def to_clock_ns(self, system_ns: int) -> int:
        """The clock's own time (served time once every correction is absorbed)."""
        dt = system_ns - self.anchor_system_ns
        return system_ns + self.offset_ns + self.correction_ns + int(dt * self.rate_ppb * 1e-9)

    def correction_at_ns(self, system_ns: int) -> int:
        """clock - served at system_ns: what served time has still to absorb."""
        dt = system_ns - self.anchor_system_ns
        return int(round(self.correction_ns - self._absorbed_ns(dt)))

    def clock_jump_ns(self, system_ns: int, clock_offset_ns: int) -> int:
        """How far a fresh measurement of clock - system lies from this map's prediction."""
        return clock_offset_ns - (self.to_clock_ns(system_ns) - system_ns)

    def updated(self, system_ns: int, offset_ns: int, max_rate_ppb: float = 1e6) -> TimeMap:
        """A new map from a fresh measurement; the rate is the slope since the previous anchor."""
        dt = system_ns - self.anchor_system_ns
        rate = self.rate_ppb
        if dt > 10_000_000:  # at least 10 ms apart for a usable slope
            rate = (offset_ns - self.offset_ns) / dt * 1e9
            rate = max(-max_rate_ppb, min(max_rate_ppb, rate))
        return TimeMap(system_ns, offset_ns, rate)

    def advanced(
        self,
        system_ns: int,
        clock_offset_ns: int,
        monotonic: bool,
        slew_ppb: float = DEFAULT_SLEW_PPB,
        own_step_ns: int = 0,
        install_ns: int | None = None,
        max_rate_ppb: float = 1e6,
    ) -> TimeMap:
        """The next map from a measurement clock - system = clock_offset_ns taken at system_ns.

        ``own_step_ns``: the steps the appliance itself applied to the clock since the previous
        measurement (absorbed by slewing in either direction once monotonic). ``install_ns``: the
        system time at which the new map replaces this one (default: system_ns); served time is
        continuous there.
        """
        install = system_ns if install_ns is None else max(install_ns, system_ns)
        dt = system_ns - self.anchor_system_ns
        jump = self.clock_jump_ns(system_ns, clock_offset_ns)
        rate = self.rate_ppb
        if dt > 10_000_000 and abs(jump) <= STEP_DETECT_NS:  # a slope across a step means nothing
            prev_clock = self.offset_ns + self.correction_ns
            rate = max(-max_rate_ppb, min(max_rate_ppb, (clock_offset_ns - prev_clock) / dt * 1e9))
        target = clock_offset_ns + int((install - system_ns) * rate * 1e-9)  # clock - system at install
        if not monotonic:
            return TimeMap(install, target, rate, 0, slew_ppb)
        served_now = self.to_served_ns(install) - install
        diff = target - served_now  # how far the clock is from served time now
        if diff < 0:
            correction = diff  # never back: slew
        else:
            correction = min(diff, max(own_step_ns, 0))  # our own forward steps slew too; others pass
        return TimeMap(install, target - correction, rate, correction, slew_ppb)
