"""The site's leap-seconds.list (leap_seconds.file), read and verified (appliance.core.leapseconds),
and the TAI - UTC the appliance runs with: ptp4l's utcOffset, phc2sys -O, a TAI PHC's offset.

Which value wins: ``ptp.utc_offset_s`` when the configuration sets it (a deliberate choice, and a
warning when it differs from the file), else the verified file's current value (also once it has
expired: it is the last one known), else the built-in 37 s with a warning that nothing confirmed it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .core.leapseconds import LeapFileError, LeapTable, parse

log = logging.getLogger("appliance.leap")


@dataclass(frozen=True)
class LeapStatus:
    path: str
    table: LeapTable | None
    error: str | None
    utc_offset_s: int
    source: str  # "config" | "file" | "default"
    warnings: tuple[str, ...] = ()

    def status(self, now_s: float | None = None) -> dict[str, Any]:
        now = time.time() if now_s is None else now_s
        t = self.table
        return {
            "file": self.path,
            "valid": t is not None,
            "error": self.error,
            "expires_s": t.expires_unix_s if t is not None else None,
            "expired": t.expired(now) if t is not None else None,
            "tai_utc_s": self.utc_offset_s,
            "utc_offset_source": self.source,
            "warnings": list(self.warnings),
        }


def read(path: str | Path) -> tuple[LeapTable | None, str | None]:
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return None, f"{path} does not exist"
    except OSError as exc:
        return None, f"{path}: {exc.strerror}"
    try:
        return parse(text), None
    except LeapFileError as exc:
        return None, f"{path}: {exc}"


def load(cfg: Config, now_s: float | None = None) -> LeapStatus:
    now = time.time() if now_s is None else now_s
    path = str(cfg.leap_seconds.file)
    table, error = read(path)
    warnings = []
    if error:
        warnings.append(f"leap seconds: {error}")
    elif table is not None and table.expired(now):
        warnings.append(
            f"leap seconds: {path} expired on {time.strftime('%Y-%m-%d', time.gmtime(table.expires_unix_s))}"
            f"; serving with TAI-UTC {table.tai_utc_s(now)} s, the last known: bring a current copy"
        )
    explicit = "utc_offset_s" in cfg.ptp.model_fields_set
    if explicit:
        offset, source = cfg.ptp.utc_offset_s, "config"
        if table is not None and table.tai_utc_s(now) != offset:
            warnings.append(f"ptp.utc_offset_s {offset} differs from TAI-UTC {table.tai_utc_s(now)} of {path}")
    elif table is not None:
        offset, source = table.tai_utc_s(now), "file"
    else:
        offset, source = cfg.ptp.utc_offset_s, "default"
        warnings.append(f"leap seconds: TAI-UTC {offset} s is the built-in value, not confirmed by a leap-seconds.list")
    return LeapStatus(path, table, error, offset, source, tuple(warnings))


def apply(cfg: Config, now_s: float | None = None) -> tuple[Config, LeapStatus]:
    """The configuration with ptp.utc_offset_s as the appliance will run it, and the file's status."""
    st = load(cfg, now_s)
    if st.utc_offset_s != cfg.ptp.utc_offset_s:
        cfg = cfg.model_copy(update={"ptp": cfg.ptp.model_copy(update={"utc_offset_s": st.utc_offset_s})})
    return cfg, st


def render_ptp(cfg: Config) -> dict[str, str]:
    """`appliance config render ptp`: the files with the UTC offset `serve` would use."""
    from .linuxptp.render import render_all

    return render_all(apply(cfg)[0])
