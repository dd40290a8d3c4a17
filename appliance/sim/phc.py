"""SimPhc: a simulated PTP hardware clock that implements the appliance's Clock interface.

The clock's error (clock - truth) accumulates from the oscillator's frequency offset plus the
frequency correction applied through ``adjust_frequency``, in steps of ``step_s`` of truth time.
``truth_ns`` is where "true time" comes from: the host's CLOCK_REALTIME under ``appliance serve``
(real time; the host clock is only read), or a VirtualClock in simulations (faster than real time).
The system clock that ``measure_offset_to_system`` compares against is the same truth.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..core.clock.interface import ClockCaps, ClockError, ClockInfo, SysOffset
from .oscillator import Oscillator, OscillatorParams

DEFAULT_MAX_ADJ_PPB = 500_000  # a typical PHC (igb/ice allow more, some drivers less)
SLEW_RATE_PPB = 500_000  # ADJ_OFFSET absorbs at most this rate, like the kernel's 500 ppm
MAX_CATCH_UP_STEPS = 7 * 86_400  # never integrate more than a week of steps in one call


class VirtualClock:
    """Truth for simulations: time moves only when ``advance`` is called."""

    def __init__(self, start_ns: int = 1_700_000_000 * 10**9):
        self.now_ns = int(start_ns)

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(round(seconds * 1e9))


class SimPhc:
    def __init__(
        self,
        oscillator: Oscillator,
        ambient_c: Callable[[float], float],
        truth_ns: Callable[[], int] = time.time_ns,
        step_s: float = 1.0,
        max_adj_ppb: int = DEFAULT_MAX_ADJ_PPB,
        initial_error_ns: int = 0,
        name: str = "sim",
        adj_response: Callable[[float], float] | None = None,
    ):
        """``adj_response`` is a test-only fault: it maps the commanded frequency correction (ppb) to
        what the simulated hardware applies (None: exactly the commanded value), so that tests can
        give the lab a PHC whose frequency adjustment is not linear."""
        self._osc = oscillator
        self._ambient_c = ambient_c
        self._truth_ns = truth_ns
        self._step_ns = int(step_s * 1e9)
        self._max_adj_ppb = max_adj_ppb
        self._name = name
        self._lock = threading.Lock()
        start = truth_ns()
        self._start_ns = start
        self._last_ns = start
        self._next_step_ns = start + self._step_ns
        self._error_ns = float(initial_error_ns)
        self._adj_ppb = 0.0  # what the simulated hardware applies
        self._commanded_ppb = 0.0  # what was asked for (what the kernel would report back)
        self._adj_response = adj_response
        self._fault_ppb = 0.0  # injected oscillator frequency error (appliance sim inject --freq)
        self._slew_left_ns = 0.0
        self._closed = False

    # -- simulation internals -------------------------------------------------------------
    @property
    def params(self) -> OscillatorParams:
        return self._osc.params

    def _integrate(self, until_ns: int) -> None:
        dt_ns = until_ns - self._last_ns
        if dt_ns <= 0:
            return
        self._error_ns += (self._osc.freq_ppb + self._fault_ppb + self._adj_ppb) * 1e-9 * dt_ns
        if self._slew_left_ns:
            most = SLEW_RATE_PPB * 1e-9 * dt_ns
            part = max(-most, min(most, self._slew_left_ns))
            self._error_ns += part
            self._slew_left_ns -= part
        self._last_ns = until_ns

    def _advance(self) -> int:
        now = self._truth_ns()
        if now < self._last_ns:  # truth went back (host clock stepped by someone else): re-anchor
            self._last_ns = now
            self._next_step_ns = now + self._step_ns
            return now
        behind = (now - self._next_step_ns) // self._step_ns
        if behind > MAX_CATCH_UP_STEPS:  # suspended for very long: skip, keeping the last frequency
            skip_to = self._next_step_ns + (behind - MAX_CATCH_UP_STEPS) * self._step_ns
            self._integrate(skip_to)
            self._next_step_ns = skip_to
        step_s = self._step_ns / 1e9
        while self._next_step_ns <= now:
            self._integrate(self._next_step_ns)
            elapsed_s = (self._next_step_ns - self._start_ns) / 1e9
            self._osc.step(step_s, self._ambient_c(elapsed_s))
            self._next_step_ns += self._step_ns
        self._integrate(now)
        return now

    def error_ns(self) -> float:
        """clock - truth now (the simulation's oracle; tests and benchmarks use it)."""
        with self._lock:
            self._advance()
            return self._error_ns

    def oscillator_freq_ppb(self) -> float:
        with self._lock:
            self._advance()
            return self._osc.freq_ppb + self._fault_ppb

    def inject_frequency_error_ppb(self, freq_ppb: float) -> None:
        """Fault injection: the oscillator runs freq_ppb faster than its model from now on
        (replacing any earlier injection; 0 clears it)."""
        with self._lock:
            self._advance()
            self._fault_ppb = float(freq_ppb)

    def temperature_c(self) -> float:
        """The simulated NIC temperature sensor's reading."""
        with self._lock:
            self._advance()
            return self._osc.sensor_c

    # -- Clock interface ----------------------------------------------------------------------
    def info(self) -> ClockInfo:
        return ClockInfo(name=f"sim:{self._osc.params.name}", kind="sim", timescale="UTC", details={"name": self._name})

    def caps(self) -> ClockCaps:
        return ClockCaps(
            max_adj_ppb=self._max_adj_ppb,
            n_ext_ts=2,
            n_per_out=2,
            pps=True,
            n_pins=4,
            cross_timestamping=True,
            adjust_phase=True,
            max_phase_adj_ns=1_000_000,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ClockError(f"{self._name}: clock is closed")

    def gettime_ns(self) -> int:
        with self._lock:
            self._check_open()
            now = self._advance()
            return now + int(round(self._error_ns))

    def settime_ns(self, time_ns: int) -> None:
        with self._lock:
            self._check_open()
            now = self._advance()
            self._error_ns = float(time_ns - now)
            self._slew_left_ns = 0.0

    def step(self, delta_ns: int) -> None:
        with self._lock:
            self._check_open()
            self._advance()
            self._error_ns += delta_ns

    def adjust_frequency(self, freq_ppb: float) -> None:
        if abs(freq_ppb) > self._max_adj_ppb:
            raise ClockError(
                f"{self._name}: frequency adjustment {freq_ppb:.1f} ppb is beyond max_adj {self._max_adj_ppb} ppb"
            )
        with self._lock:
            self._check_open()
            self._advance()
            self._commanded_ppb = float(freq_ppb)
            applied = self._adj_response(float(freq_ppb)) if self._adj_response else freq_ppb
            self._adj_ppb = float(applied)

    def get_frequency_ppb(self) -> float:
        return self._commanded_ppb

    def adjust_phase(self, offset_ns: int) -> None:
        with self._lock:
            self._check_open()
            self._advance()
            self._slew_left_ns += offset_ns

    def measure_offset_to_system(self, samples: int = 5) -> SysOffset:
        with self._lock:
            self._check_open()
            now = self._advance()
            return SysOffset(offset_ns=int(round(self._error_ns)), delay_ns=0, system_ns=now, method="sim")

    def close(self) -> None:
        self._closed = True
