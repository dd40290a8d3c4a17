"""A GNSS receiver (PPS + NMEA, or a bare PPS) as the node's primary reference without PTP: ts2phc
rendered (render.render_ts2phc) and supervised like ptp4l (supervisor.Child, the same restart
policy), its offsets read from its log lines (core.ptp.log) and handed to the tick as the primary
reference (``measure``: PHC - the receiver's pulse, in ns, while fresh). With ptp.enabled the
PtpManager runs ts2phc beside ptp4l instead."""

from __future__ import annotations

import os
import shutil
import threading
import time
from typing import Any

from ..config import Config
from ..core.backoff import RestartPolicy
from ..core.ptp import log as ptp_log
from ..core.ptp.watch import PRIMARY_FRESH_S
from . import programs, render
from .supervisor import Child


class GnssError(Exception):
    pass


class GnssReference:
    def __init__(self, cfg: Config, binary: str = "ts2phc"):
        if cfg.gnss is None:
            raise GnssError("no reference.gnss configured")
        self.cfg = cfg
        self.dir = render.run_dir(cfg)
        text = render.render_ts2phc(cfg)
        assert text is not None
        self.files = {"ts2phc.conf": text}
        argv = render.ts2phc_argv(cfg, self.dir / "ts2phc.conf", programs.binary_path(binary))
        assert argv is not None
        self.binary = binary
        p = cfg.ptp
        self.child = Child(
            "ts2phc",
            argv,
            policy=RestartPolicy(limit=p.restart_limit, window_s=p.restart_window_s),
            on_line=self._on_line,
        )
        self._lock = threading.Lock()
        self._last: tuple[float, float] | None = None  # (monotonic s, offset ns)
        self.samples = 0

    def start(self) -> None:
        exe = programs.binary_path(self.binary)
        if shutil.which(exe) is None and not os.path.exists(exe):
            raise GnssError(f"{self.binary} not found: install linuxptp (apt-get install linuxptp)")
        try:
            programs.write_files(self.dir, self.files)
        except OSError as exc:
            raise GnssError(f"cannot write {self.dir}/ts2phc.conf: {exc.strerror}") from None
        self.child.start()

    def stop(self) -> None:
        self.child.stop()

    def _on_line(self, program: str, line: str) -> None:
        ev = ptp_log.parse_line(line)
        if isinstance(ev, ptp_log.ServoSample) and ev.offset_ns is not None:
            with self._lock:
                self._last = (time.monotonic(), float(ev.offset_ns))
                self.samples += 1

    def measure(self) -> float | None:
        with self._lock:
            last = self._last
        if last is None or time.monotonic() - last[0] > PRIMARY_FRESH_S:
            return None
        return last[1]

    def status(self) -> dict[str, Any]:
        return {"ts2phc": self.child.status(), "samples": self.samples, "offset_ns": self.measure()}
