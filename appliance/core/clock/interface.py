"""The one clock interface that the Linux PHC adapter and the simulated PHC both implement.

Sign conventions (used everywhere in the appliance):
  * offset = local - reference. A positive offset means the local clock is ahead.
  * a positive frequency offset (ppb, ppm) means the local clock runs fast.
  * ``adjust_frequency(freq_ppb)`` sets the *total* frequency correction applied to the clock,
    as the kernel's ADJ_FREQUENCY does: +100 ppb makes the clock run 100 ppb faster than it would
    uncorrected. To cancel an oscillator that runs fast by y ppb, apply -y ppb.

This module only declares types: it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypedDict, runtime_checkable


@dataclass(frozen=True)
class ClockCaps:
    """What a clock can do (the subset of struct ptp_clock_caps the appliance uses)."""

    max_adj_ppb: int
    n_alarm: int = 0
    n_ext_ts: int = 0
    n_per_out: int = 0
    pps: bool = False
    n_pins: int = 0
    cross_timestamping: bool = False
    adjust_phase: bool = False
    max_phase_adj_ns: int = 0


@dataclass(frozen=True)
class SysOffset:
    """One measurement of clock time against the system clock (CLOCK_REALTIME).

    ``offset_ns`` = clock - system at ``system_ns``; ``delay_ns`` is the width of the read window
    (0 for cross-timestamping), ``method`` names how it was measured: precise | extended | basic | sim.
    """

    offset_ns: int
    delay_ns: int
    system_ns: int
    method: str


class ClockDetails(TypedDict, total=False):
    """What an adapter knows about its clock beyond the name; each key is optional."""

    name: str  # the simulated clock's own name
    phc_index: int | None  # N of /dev/ptpN
    interface: str | None  # the network interface the PHC belongs to
    clock_name: str | None  # the driver's clock name (sysfs clock_name)
    driver: str | None
    offset_method: str | None  # how PHC - CLOCK_REALTIME is measured: precise | extended | basic
    temperature_sensor: str | None  # the id of the sensor read next to the oscillator


@dataclass(frozen=True)
class ClockInfo:
    """Identity of a clock for status and logs."""

    name: str  # e.g. "/dev/ptp0" or "sim:tcxo"
    kind: str  # "phc" | "sim"
    timescale: str = "UTC"  # "UTC" or "TAI": what gettime_ns() returns
    details: ClockDetails = field(default_factory=ClockDetails)


class ClockError(Exception):
    """A clock operation failed; the message says what to do about it."""


@runtime_checkable
class Clock(Protocol):
    """A hardware clock the appliance can read and steer (PhcClock and SimPhc)."""

    def info(self) -> ClockInfo: ...

    def caps(self) -> ClockCaps: ...

    def gettime_ns(self) -> int:
        """Current time of the clock, in ns since the epoch of its timescale."""
        ...

    def settime_ns(self, time_ns: int) -> None: ...

    def step(self, delta_ns: int) -> None:
        """Step the clock by ``delta_ns`` (ADJ_SETOFFSET); negative steps go back."""
        ...

    def adjust_frequency(self, freq_ppb: float) -> None:
        """Set the total frequency correction; raises ClockError beyond caps().max_adj_ppb."""
        ...

    def get_frequency_ppb(self) -> float: ...

    def adjust_phase(self, offset_ns: int) -> None:
        """Slew the clock by ``offset_ns`` (ADJ_OFFSET): the clock absorbs it gradually."""
        ...

    def measure_offset_to_system(self, samples: int = 5) -> SysOffset:
        """Offset clock - CLOCK_REALTIME, best of ``samples`` by shortest window."""
        ...

    def close(self) -> None: ...
