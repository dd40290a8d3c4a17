"""What the PTP manager keeps for status: counters, the recent events (program state changes,
linuxptp's log lines worth keeping, the node's own decisions), warnings, and ptp4l's latest servo
line. Log lines of ptp4l / phc2sys / ts2phc come in here (appliance.core.ptp.log parses them); a
ts2phc offset is handed on as the node's primary reference sample.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..core.ptp import log as ptp_log
from ..core.ptp.watch import PhaseChange, Setting, StateChange

log = logging.getLogger("appliance.linuxptp")

# Log events worth keeping in status (servo samples and summaries are kept as "latest" only).
_KEEP = {"port_state", "best_master", "grandmaster_role", "tx_timestamp_timeout", "clock_jump", "link", "error"}


class PtpRecord:
    """Thread-safe: the supervisors' reader threads, the poll thread and status all use it."""

    def __init__(self, tx_timestamp_timeout_ms: int, on_primary: Callable[[float], None]) -> None:
        self.tx_timestamp_timeout_ms = tx_timestamp_timeout_ms
        self._on_primary = on_primary
        self.servo: dict[str, Any] | None = None
        self.counters = {"tx_timestamp_timeouts": 0, "clock_jumps": 0, "pmc_errors": 0, "settings_applied": 0}
        self.events: deque[dict[str, Any]] = deque(maxlen=40)
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def event(self, d: dict[str, Any]) -> None:
        with self._lock:
            self.events.append({"time": round(time.time(), 3), **d})

    def warn_once(self, text: str) -> None:
        with self._lock:
            if text not in self.warnings:
                self.warnings.append(text)

    def note_state(self, change: StateChange | None) -> None:
        """The node PTP state moved: logged and kept."""
        if change is None:
            return
        log.info(
            "ptp state %s -> %s (%s); role %s", change.old.value, change.new.value, change.event.value, change.role
        )
        self.event(
            {
                "kind": "ptp_state",
                "from": change.old.value,
                "to": change.new.value,
                "event": change.event.value,
                "role": change.role,
            }
        )

    def note_phase(self, change: PhaseChange | None) -> None:
        """The priority2 policy moved to another phase: logged and kept."""
        if change is None:
            return
        log.info("ptp priority2 phase %s -> %s: %s", change.old.value, change.new.value, change.reason)
        self.event(
            {"kind": "priority2_phase", "from": change.old.value, "to": change.new.value, "reason": change.reason}
        )

    def note_set(self, setting: Setting) -> None:
        """ptp4l took a setting: counted, logged and kept."""
        self.counters["settings_applied"] += 1
        log.info("ptp4l: set %s", setting.text)
        self.event({"kind": "set", "what": setting.key, "text": setting.text})

    def on_line(self, program: str, line: str) -> None:
        ev = ptp_log.parse_line(line)
        if ev is None:
            return
        kind = ev.kind
        if kind == "servo_summary" or (kind == "servo" and program == "ptp4l"):
            with self._lock:
                self.servo = {k: v for k, v in ev.as_dict().items() if k not in ("kind",)}
            return
        if isinstance(ev, ptp_log.ServoSample) and program == "ts2phc":
            self._on_primary(float(ev.offset_ns))
            return
        if isinstance(ev, ptp_log.TxTimestampTimeout):
            self.counters["tx_timestamp_timeouts"] += 1
            log.warning(
                "%s: %s (ptp.tx_timestamp_timeout_ms is %d; usually a NIC driver problem)",
                program,
                ev.text,
                self.tx_timestamp_timeout_ms,
            )
        elif isinstance(ev, ptp_log.ClockJump):
            self.counters["clock_jumps"] += 1
            log.warning("%s: the clock jumped %s (clockcheck)", program, ev.direction)
        elif isinstance(ev, ptp_log.ProgramError):
            log.error("%s: %s", program, ev.text)
        elif isinstance(ev, ptp_log.PortStateChanged):
            log.info("%s: port %d %s -> %s on %s", program, ev.port, ev.old, ev.new, ev.event)
        if kind in _KEEP:
            d = ev.as_dict()
            d.pop("program", None)
            self.event({**d, "program": program})

    def status(self) -> dict[str, Any]:
        """The status keys servo .. events (children come between servo and counters)."""
        with self._lock:
            return {
                "servo": self.servo,
                "counters": dict(self.counters),
                "warnings": list(self.warnings),
                "events": list(self.events)[-20:],
            }
