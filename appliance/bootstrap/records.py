"""The bootstrap records in node.state_dir, all written atomically (appliance.runtime.atomic):

* ``last-known-good.json``: written by `serve` while it claims to be synchronized (every
  bootstrap.lastgood_interval_s and at shutdown): the served time with its error bound, the boot id
  and CLOCK_MONOTONIC / CLOCK_BOOTTIME at that moment;
* ``bootstrap.json``: the latest applied bootstrap (the time set, the boot, the clock, and for the
  simulated clock the offset its factory applies at every start);
* ``bootstrap-audit.jsonl``: every applied decision with its evidence, one JSON object a line,
  appended and synced (an audit log is never rewritten).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..runtime.atomic import atomic_write_json

LASTGOOD = "last-known-good.json"
RECORD = "bootstrap.json"
AUDIT = "bootstrap-audit.jsonl"


def read_json(path: Path) -> tuple[Any, str | None]:
    """(content, None), or (None, why) for a missing or unreadable file: never raises."""
    try:
        return json.loads(Path(path).read_text()), None
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except (OSError, ValueError) as exc:
        return None, f"{path}: {getattr(exc, 'strerror', None) or exc}"


def read_lastgood(state_dir: Path) -> tuple[Any, str | None]:
    return read_json(Path(state_dir) / LASTGOOD)


def read_record(state_dir: Path) -> tuple[Any, str | None]:
    return read_json(Path(state_dir) / RECORD)


def write_lastgood(state_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(Path(state_dir) / LASTGOOD, record)


def write_record(state_dir: Path, record: dict[str, Any], audit: dict[str, Any]) -> Path:
    """The audit line first (synced), then the record that `serve` reads: a crash between the two
    leaves an audited decision that did not take effect, never an effect without its audit."""
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / AUDIT
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(audit, separators=(",", ":"), default=str) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    atomic_write_json(d / RECORD, record)
    return path


def sim_offset_ns(state_dir: Path) -> int:
    """The offset a simulated clock starts with after a bootstrap (0 without one)."""
    rec, _ = read_record(state_dir)
    if isinstance(rec, dict) and rec.get("clock_kind") == "sim":
        v = rec.get("sim_offset_ns")
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return 0
