"""What the clock can have done on its own: the phase a locked clock would have reached had it
kept its frequency, pure.

A servo follows its reference; if the reference runs away slowly (a grandmaster whose oscillator
jumps 50 ppm), the servo follows the ramp and every offset stays small. What does not stay small is
the work the servo did: the frequency corrections it applied. Over the last ``window_s``, the
offset the clock would show had it held the frequency of the window's start is

    free_ns(now) = offset_ns(now) - sum_k (freq_k - drift_start) * dt_k

(freq_k the correction applied over interval k, ppb; a larger correction runs the clock faster
and raises the offset, so it is taken back out). ``drift_start`` is the servo's integral term over
the window's first interval, not the correction applied then: the correction also carries the
proportional kick of one noisy offset (0.2 x 20 us of NTP noise is 4 ppm, 120 us over a window),
the integral term only the smoothed frequency. A correct reference leaves ``free - offset at
the window's start`` within the reference's noise plus what the oscillator's own frequency can
wander in a window (WANDER_PPB_PER_S); a runaway one makes it grow with the runaway's rate.
"""

from __future__ import annotations

from collections import deque

WINDOW_S = 30.0
# A crystal's frequency can change this fast on its own (an XO of 1 ppm/K in a 3 K/min draught
# is 50 ppb/s); a window's worth of it is allowed on top of the reference's noise.
WANDER_PPB_PER_S = 50.0


class PhaseGuard:
    def __init__(self, window_s: float = WINDOW_S):
        self.window_s = window_s
        # (t, offset_ns, freq applied before it, the servo's integral term within that freq)
        self._samples: deque[tuple[float, float, float, float]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def deviation_ns(self, now_s: float, offset_ns: float, applied_freq_ppb: float, drift_ppb: float) -> float:
        """How far the fixed-frequency clock moved against the reference over the window (0 until
        the window has a start). ``applied_freq_ppb``: the correction applied since the last sample;
        ``drift_ppb``: the servo's integral term that correction was made of."""
        self._samples.append((now_s, offset_ns, applied_freq_ppb, drift_ppb))
        while self._samples and now_s - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        if len(self._samples) < 2:
            return 0.0
        t0, off0, _, _ = self._samples[0]
        f0 = self._samples[1][3]  # the smoothed frequency in force right after the window's first sample
        work_ns = 0.0
        prev_t = t0
        for t, _, freq, _ in list(self._samples)[1:]:
            work_ns += (freq - f0) * (t - prev_t)  # ppb x s = ns
            prev_t = t
        return (offset_ns - work_ns) - off0

    def start_freq_ppb(self) -> float | None:
        """The (smoothed) correction in force at the window's start: the last one a runaway had not
        touched."""
        return self._samples[1][3] if len(self._samples) > 1 else None

    def allowed_ns(self, base_ns: float) -> float:
        """The deviation a correct reference may show: its noise (``base_ns``) plus the wander."""
        span_s = self._samples[-1][0] - self._samples[0][0] if len(self._samples) > 1 else 0.0
        return base_ns + 0.5 * WANDER_PPB_PER_S * span_s * span_s
