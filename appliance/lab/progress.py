"""A progress bar for long lab runs on a terminal: the phase, the share done, the time left.
Quiet when stderr is not a terminal (scripts, CI, logs)."""

from __future__ import annotations

import sys
import time

BAR_WIDTH = 30
MIN_REDRAW_S = 0.2


def _hms(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Progress:
    def __init__(self, stream=None, enabled: bool | None = None, simulated: bool = False):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.simulated = simulated
        self._last = 0.0
        self._shown = False

    def update(self, phase: str, fraction: float, remaining_s: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < MIN_REDRAW_S:
            return
        self._last = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * BAR_WIDTH))
        left = _hms(remaining_s) + " left" + (" (simulated time)" if self.simulated else "")
        line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}%  {phase:<10} {left} "
        self.stream.write(line)
        self.stream.flush()
        self._shown = True

    def done(self, message: str = "") -> None:
        if self.enabled and self._shown:
            self.stream.write("\r" + " " * (BAR_WIDTH + 60) + "\r")
            if message:
                self.stream.write(message + "\n")
            self.stream.flush()
