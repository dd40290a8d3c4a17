"""PI clock servo (the shape of linuxptp's pi.c), pure: offsets in, frequency/step decisions out.

Input: offset_ns = local - reference, measured at local_time_s. Output: the *total* frequency
correction to set on the clock (ppb, positive = make the clock run faster) and, on the first
samples, a step. The servo estimates the oscillator's frequency error from the first two samples,
steps once if the offset is beyond step_threshold_ns, then runs a PI loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ServoState(Enum):
    UNLOCKED = "unlocked"
    JUMP = "jump"  # the caller must step the clock by -offset and set the frequency
    LOCKED = "locked"


@dataclass(frozen=True)
class ServoOutput:
    state: ServoState
    freq_ppb: float
    step_ns: int = 0  # apply clock.step(step_ns) when state is JUMP


class PiServo:
    def __init__(
        self,
        max_freq_ppb: float,
        kp: float = 0.7,
        ki: float = 0.3,
        step_threshold_ns: int = 20_000_000,
        initial_freq_ppb: float = 0.0,
        min_estimate_s: float = 0.0,
    ):
        """``min_estimate_s``: the first frequency estimate waits for two samples at least this far
        apart (a noisy reference, NTP, gives a wild frequency over a short interval)."""
        self.max_freq_ppb = float(max_freq_ppb)
        self.min_estimate_s = min_estimate_s
        self.kp = kp
        self.ki = ki
        self.step_threshold_ns = step_threshold_ns
        self.drift_ppb = initial_freq_ppb
        self._first: tuple[float, float] | None = None
        self._count = 0
        self._last_s: float | None = None

    @property
    def locked(self) -> bool:
        return self._count >= 2

    def reset(self) -> None:
        self._first = None
        self._count = 0
        self._last_s = None

    def _clamp(self, ppb: float) -> float:
        return max(-self.max_freq_ppb, min(self.max_freq_ppb, ppb))

    def sample(self, offset_ns: float, local_time_s: float) -> ServoOutput:
        if self._count == 0 or self._first is None:  # one means the other (reset clears both)
            self._first = (offset_ns, local_time_s)
            self._count = 1
            self._last_s = local_time_s
            return ServoOutput(ServoState.UNLOCKED, self.drift_ppb)
        if self._count == 1:
            off0, t0 = self._first
            dt = local_time_s - t0
            if dt <= 0 or dt < self.min_estimate_s:
                return ServoOutput(ServoState.UNLOCKED, self.drift_ppb)
            # The clock ran (off - off0)/dt fast with the current correction: remove that.
            self.drift_ppb = self._clamp(self.drift_ppb - (offset_ns - off0) / dt)
            self._count = 2
            self._last_s = local_time_s
            if abs(offset_ns) > self.step_threshold_ns:
                return ServoOutput(ServoState.JUMP, self.drift_ppb, step_ns=-int(offset_ns))
            return ServoOutput(ServoState.LOCKED, self.drift_ppb)
        dt = max(local_time_s - (self._last_s or local_time_s), 1e-3)
        self._last_s = local_time_s
        # Gains are per second of interval (offset in ns over dt in s is ppb).
        kp = min(self.kp, 1.0)
        ki = min(self.ki * dt, 1.0)
        self.drift_ppb = self._clamp(self.drift_ppb - ki * offset_ns / dt)
        freq = self._clamp(self.drift_ppb - kp * offset_ns / dt)
        return ServoOutput(ServoState.LOCKED, freq)
