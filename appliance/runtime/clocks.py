"""Opening the node's clock (a PHC, or the simulated one with its reference) and measuring what
the node needs to know about it before the first tick."""

from __future__ import annotations

import math
import time
from typing import Any

from ..config import Config
from ..core.clock.interface import Clock, ClockError


class ServeError(Exception):
    """`serve` cannot start as configured; the message says why and what to do."""


def open_clock(cfg: Config) -> tuple[Clock, Any]:
    """The node's clock and its simulated reference (None where nothing simulated disciplines it)."""
    if cfg.clock.source == "sim":
        from ..bootstrap.records import sim_offset_ns
        from ..sim import factory

        return factory.build(cfg.clock.sim, name=cfg.node.name, offset_ns=sim_offset_ns(cfg.node.state_dir))
    try:
        from ..hw.phc import open_phc
    except ImportError as exc:
        raise ServeError(f"clock.source phc needs the PHC layer (appliance.hw.phc): {exc}") from None
    try:
        return open_phc(interface=cfg.clock.interface, device=cfg.clock.device), None
    except ClockError as exc:
        raise ServeError(str(exc)) from None


def measure_precision_log2() -> int:
    """log2 of the time to read the clock, as chrony measures its precision."""
    best = 1.0
    for _ in range(20):
        a = time.perf_counter_ns()
        b = time.perf_counter_ns()
        while b == a:
            b = time.perf_counter_ns()
        best = min(best, (b - a) * 1e-9)
    return max(-32, math.floor(math.log2(best)))


def read_temperature_c(clock: Clock) -> float | None:
    """The clock's temperature sensor, or None (none, or it failed: the model then waits)."""
    read = getattr(clock, "temperature_c", None)
    try:
        value = read() if read else None
        return None if value is None else float(value)
    except (ClockError, OSError, ValueError):
        return None
