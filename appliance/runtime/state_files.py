"""The health of node.state_dir: what a crash, a corrupt file or a full disk leaves there is
handled once and told once.

* At start, the temporaries of an interrupted atomic write (``.<name>.<random>.tmp``, see
  appliance.runtime.atomic) are removed: the write they belonged to never happened.
* A state file that cannot be used is renamed aside (``<name>.corrupt-<UTC time>``), reported once
  with its path and what is wrong, and the node goes on without it; nothing later overwrites it.
* A write that fails (ENOSPC, EROFS, EIO ...) is logged at its first failure and then at most once
  per ``repeat_log_s`` while it keeps failing, with the count since; its recovery is logged too.
  ``status()`` feeds `appliance status` and the metrics (appliance.monitoring.state_families).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("appliance.state")

REPEAT_LOG_S = 3600.0
# appliance.runtime.atomic's tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")


@dataclass
class _Failing:
    error: str
    since_wall_s: float
    failures: int
    last_log_mono_s: float


def utc_stamp(wall_s: float) -> str:
    return dt.datetime.fromtimestamp(wall_s, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def what_is_wrong(exc: Exception) -> str:
    """A reader's sentence for a decoding failure (a KeyError alone prints as ``'predictor'``)."""
    if isinstance(exc, KeyError):
        return f"the field {exc.args[0]!r} is missing" if exc.args else "a field is missing"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON (truncated or corrupt: {exc.msg} at line {exc.lineno} column {exc.colno})"
    if isinstance(exc, TypeError):
        return f"a field has the wrong type ({exc})"
    return str(exc)


class StateFiles:
    def __init__(
        self,
        state_dir: str | Path,
        repeat_log_s: float = REPEAT_LOG_S,
        mono: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.dir = Path(state_dir)
        self.repeat_log_s = repeat_log_s
        self._mono, self._wall = mono, wall
        self._lock = threading.Lock()  # writes come from the loop and from shutdown
        self._failing: dict[str, _Failing] = {}
        self.write_failures_total = 0
        self.set_aside_paths: list[str] = []
        self.temporaries_removed: list[str] = []

    def sweep_temporaries(self) -> list[Path]:
        """Remove what interrupted atomic writes left behind (call before anything writes)."""
        removed: list[Path] = []
        try:
            entries = list(self.dir.iterdir())
        except FileNotFoundError:
            return removed
        for p in entries:
            if _TEMPORARY.match(p.name) and p.is_file():
                try:
                    p.unlink()
                except OSError as exc:
                    log.warning("%s: cannot remove a leftover temporary file: %s", p, exc.strerror or exc)
                    continue
                removed.append(p)
        if removed:
            log.info(
                "%s: removed %d temporary file(s) an interrupted write left: %s",
                self.dir,
                len(removed),
                ", ".join(p.name for p in removed),
            )
        self.temporaries_removed.extend(p.name for p in removed)
        return removed

    def set_aside(self, path: str | Path, why: str) -> Path | None:
        """Rename an unusable state file out of the way (kept for a person to look at)."""
        path = Path(path)
        target = path.with_name(f"{path.name}.corrupt-{utc_stamp(self._wall())}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.corrupt-{utc_stamp(self._wall())}-{n}")
        try:
            os.rename(path, target)
        except OSError as exc:
            log.warning("%s: %s; not used (and cannot be renamed aside: %s)", path, why, exc.strerror or exc)
            return None
        log.warning("%s: %s; not used, renamed to %s", path, why, target.name)
        with self._lock:
            self.set_aside_paths.append(str(target))
        return target

    def write(self, name: str, do_write: Callable[[], None]) -> bool:
        """Run one write of the file ``name``; its failure is recorded, logged once, then rate-limited."""
        try:
            do_write()
        except OSError as exc:
            self._failed(name, exc)
            return False
        self._succeeded(name)
        return True

    def _failed(self, name: str, exc: OSError) -> None:
        error = exc.strerror or str(exc)
        now = self._mono()
        with self._lock:
            self.write_failures_total += 1
            f = self._failing.get(name)
            if f is None:
                self._failing[name] = _Failing(error, self._wall(), 1, now)
                first = True
            else:
                f.failures += 1
                f.error = error
                first = False
                if now - f.last_log_mono_s < self.repeat_log_s:
                    return
                f.last_log_mono_s = now
                count = f.failures
        if first:
            log.error(
                "cannot write %s: %s; serving goes on, this is logged again at most every %.0f s",
                self.dir / name,
                error,
                self.repeat_log_s,
            )
        else:
            log.error("cannot write %s: %s (%d failures since the first)", self.dir / name, error, count)

    def _succeeded(self, name: str) -> None:
        with self._lock:
            f = self._failing.pop(name, None)
        if f is not None:
            log.warning("%s is written again (after %d failed writes)", self.dir / name, f.failures)

    def status(self) -> dict[str, Any]:
        with self._lock:
            failing = {
                name: {
                    "error": f.error,
                    "failures": f.failures,
                    "since_utc": dt.datetime.fromtimestamp(f.since_wall_s, dt.UTC).isoformat(),
                }
                for name, f in sorted(self._failing.items())
            }
            return {
                "dir": str(self.dir),
                "writable": not failing,
                "failing": failing,
                "write_failures_total": self.write_failures_total,
                "set_aside": list(self.set_aside_paths),
                "temporaries_removed": list(self.temporaries_removed),
            }
