"""Locked ticks averaged into records on a regular grid: what the predictor learns from and refits on.

The fit wants a regularly sampled series (series.py), but the discipline's ticks come at whatever
pace the loop runs. Ticks are therefore averaged into records of ``record_s``: record k holds the
ticks with floor(t / record_s) == k and is stamped at its end, (k + 1) * record_s (its frequency is
the mean over the record, like a locked sample's). A record closes when a tick falls into the
next one, when the ticks pause for longer than ``max_tick_gap_s`` (a record must not average
across a pause), or when holdover starts. Closed records are kept for the last ``buffer_s``: the
data a refit is made from.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .series import FloatArray

RECORD_S = 10.0  # locked ticks are averaged into records of this length (a regular grid)
BUFFER_S = 7 * 86_400.0  # records kept for re-fits
MAX_TICK_GAP_S = 60.0  # a longer pause between locked ticks closes the record (or 2.5 tick intervals)


@dataclass(frozen=True)
class Record:
    time_s: float  # the end of the record
    temp_c: float  # mean sensor temperature over the record
    freq_ppb: float  # mean oscillator frequency over the record


class RecordBuffer:
    """The open record and the closed ones of the last ``buffer_s``."""

    def __init__(self, record_s: float, max_tick_gap_s: float, buffer_s: float) -> None:
        self.record_s = record_s
        self.max_tick_gap_s = max_tick_gap_s
        self.buffer_s = buffer_s
        self._key: int | None = None
        self._sum = [0.0, 0.0, 0]  # temp, freq, count
        self._last_tick_s: float | None = None
        self._t: deque[float] = deque()
        self._temp: deque[float] = deque()
        self._freq: deque[float] = deque()

    def __len__(self) -> int:
        return len(self._t)

    @property
    def span_s(self) -> float:
        """From the first closed record to the last (0 with fewer than two)."""
        return self._t[-1] - self._t[0] if self._t else 0.0

    def tick(self, now_s: float, temp_c: float, freq_ppb: float) -> Record | None:
        """A locked tick into the open record; the record this closed, if any (at most one: a
        pause closes the open record and leaves none open for the record change to close)."""
        closed = None
        if self._last_tick_s is not None and now_s - self._last_tick_s > self.max_tick_gap_s:
            closed = self.close()
        self._last_tick_s = now_s
        key = int(math.floor(now_s / self.record_s))
        if self._key is not None and key != self._key:
            closed = self.close()
        self._key = key
        self._sum[0] += temp_c
        self._sum[1] += freq_ppb
        self._sum[2] += 1
        return closed

    def close(self) -> Record | None:
        """Close the open record (None if there was none) and drop records older than buffer_s."""
        if self._key is None or self._sum[2] == 0:
            self._key = None
            return None
        n = self._sum[2]
        t = (self._key + 1) * self.record_s  # the record ends here (frequency over the record)
        temp, freq = self._sum[0] / n, self._sum[1] / n
        self._key, self._sum = None, [0.0, 0.0, 0]
        self._t.append(t)
        self._temp.append(temp)
        self._freq.append(freq)
        while self._t and self._t[0] < t - self.buffer_s:
            self._t.popleft()
            self._temp.popleft()
            self._freq.popleft()
        return Record(t, temp, freq)

    def stop(self) -> Record | None:
        """The ticks stop (holdover): close the open record; the next tick starts afresh."""
        closed = self.close()
        self._last_tick_s = None
        return closed

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The closed records as (time_s, temp_c, freq_ppb) arrays."""
        return np.array(self._t), np.array(self._temp), np.array(self._freq)

    def since(self, time_s: float) -> Iterator[Record]:
        """The closed records after ``time_s``."""
        for t, temp, freq in zip(self._t, self._temp, self._freq, strict=False):
            if t > time_s:
                yield Record(t, temp, freq)

    def shift_time(self, delta_s: float) -> None:
        """Move every record by delta_s; the open record and the last tick are forgotten."""
        self._t = deque(t + delta_s for t in self._t)
        self._key, self._sum, self._last_tick_s = None, [0.0, 0.0, 0], None
