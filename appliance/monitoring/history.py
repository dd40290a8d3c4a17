"""The appliance's own recent history, one sample per discipline tick: what `appliance diagnose`
fits its drift trend to (offset to the reference, error bound, frequency, temperature), served on
the control socket as the "history" command.

A bounded ring (``maxlen`` samples, an hour at 1 s); a sample is a small dict, appended by the
discipline thread and copied whole by the control thread.
"""

from __future__ import annotations

import threading
from collections import deque


class History:
    def __init__(self, maxlen: int = 3600, max_error_bound_s: float | None = None, interval_s: float | None = None):
        self._samples: deque = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.max_error_bound_s = max_error_bound_s
        self.interval_s = interval_s

    def record(
        self,
        t_s: float,
        state: str,
        offset_ns: float | None,
        error_bound_s: float | None,
        freq_ppb: float | None,
        temperature_c: float | None,
    ) -> None:
        sample = {
            "t": round(t_s, 3),
            "state": state,
            "offset_ns": offset_ns,
            "error_bound_s": error_bound_s,
            "freq_ppb": freq_ppb,
            "temperature_c": temperature_c,
        }
        with self._lock:
            self._samples.append(sample)

    def __len__(self) -> int:
        return len(self._samples)

    def reply(self, request: dict | None = None) -> dict:
        """The control-socket answer; request may carry "last": N to limit the samples."""
        with self._lock:
            samples = list(self._samples)
        last = (request or {}).get("last")
        if isinstance(last, int) and not isinstance(last, bool) and last >= 0:
            samples = samples[-last:] if last else []
        return {"interval_s": self.interval_s, "max_error_bound_s": self.max_error_bound_s, "samples": samples}
