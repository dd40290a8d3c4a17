"""The last-known-good, written by `serve` (an ``Appliance.on_tick`` hook, and once more at
shutdown): the served time while the node claims to be synchronized, with its error bound, the
boot id and CLOCK_MONOTONIC / CLOCK_BOOTTIME of that moment. Atomic (a crash leaves the previous
record), small, and written every bootstrap.lastgood_interval_s, so the tick stays fast.

`appliance bootstrap` reads it as evidence (same boot: an estimate; any boot: a lower bound), and
a starting `serve` as what vouches for its clock (same boot) and as the floor it never serves
below (appliance.core.bootstrap.state)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..bootstrap import host, records
from ..core.bootstrap.evidence import iso
from ..core.node_types import TickActions
from .state_files import StateFiles


class LastGoodWriter:
    def __init__(self, state_dir: Path, interval_s: float, node: str, clock: str, files: StateFiles | None = None):
        self.state_dir = Path(state_dir)
        self.files = files if files is not None else StateFiles(state_dir)
        self.interval_s = interval_s
        self.node, self.clock = node, clock
        self.boot_id = host.boot_id()
        self._last_mono_s: float | None = None
        self._actions: TickActions | None = None
        self.written = 0

    def on_tick(self, a: TickActions) -> None:
        self._actions = a
        now = time.monotonic()
        if self._last_mono_s is not None and now - self._last_mono_s < self.interval_s:
            return
        if self.write():
            self._last_mono_s = now

    def write(self) -> bool:
        """Now, from the last tick's map and bound (only while the node claims to be synchronized)."""
        a = self._actions
        wall_ns = time.time_ns()
        if a is None or not a.serve.synchronized_at(a.timemap.to_served_ns(wall_ns)):
            return False
        record = self.record(a, wall_ns)
        if not self.files.write(records.LASTGOOD, lambda: records.write_lastgood(self.state_dir, record)):
            return False
        self.written += 1
        return True

    def record(self, a: TickActions, wall_ns: int) -> dict[str, Any]:
        mono, boot = host.monotonic_ns(), host.boottime_ns()
        served = a.timemap.to_served_ns(wall_ns)
        return {
            "served_ns": served,
            "served_utc": iso(served),
            "error_bound_s": a.snapshot.served_bound_s,
            "boot_id": self.boot_id,
            "monotonic_ns": mono,
            "boottime_ns": boot,
            "node": self.node,
            "clock": self.clock,
            "state": a.snapshot.state.value,
        }

    @property
    def last_error(self) -> str | None:
        failing = self.files.status()["failing"].get(records.LASTGOOD)
        return f"cannot write {self.state_dir / records.LASTGOOD}: {failing['error']}" if failing else None

    def status(self) -> dict[str, Any]:
        return {"written": self.written, "last_error": self.last_error}
