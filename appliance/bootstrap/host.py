"""What the host says about its clocks, read only: the boot id, CLOCK_MONOTONIC / CLOCK_BOOTTIME,
the RTC (sysfs, else /proc/driver/rtc) and whether it keeps local time (/etc/adjtime, else
timedatectl's LocalRTC), the kernel's synchronisation state (adjtimex with modes 0).

``root`` (default "/", or APPLIANCE_HOST_ROOT) is where the RTC (/sys/class/rtc, /proc/driver/rtc,
/dev/rtc*), /etc/adjtime and /etc/localtime are looked for, so that a test can give an RTC as a
directory tree; the boot id and the clocks themselves are always this host's.
"""

from __future__ import annotations

import calendar
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT_ENV = "APPLIANCE_HOST_ROOT"
NS = 1_000_000_000


def host_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/")


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def monotonic_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def boottime_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class RtcReading:
    device: str
    time_ns: int | None  # UTC (converted when the RTC keeps local time)
    raw_ns: int | None  # what the RTC reads, taken as UTC
    local_time: bool
    last_set_age_s: float | None  # from /etc/adjtime
    mono_ns: int
    why: str = ""  # not available: why


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _adjtime(root: Path) -> tuple[bool | None, float | None]:
    """(keeps local time, when it was last set) from hwclock's /etc/adjtime: line 1
    'drift last_adjust_time adjustment', line 3 'UTC' or 'LOCAL'."""
    text = _read(root / "etc/adjtime")
    if text is None:
        return None, None
    lines = text.splitlines()
    local = None
    if len(lines) >= 3 and lines[2].strip() in ("UTC", "LOCAL"):
        local = lines[2].strip() == "LOCAL"
    last = None
    fields = lines[0].split() if lines else []
    if len(fields) >= 2:
        try:
            last = float(fields[1]) or None
        except ValueError:
            last = None
    return local, last


def _timedatectl_local_rtc() -> bool | None:
    try:
        r = subprocess.run(
            ["timedatectl", "show", "-p", "LocalRTC", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    v = r.stdout.strip()
    return None if r.returncode != 0 or v not in ("yes", "no") else v == "yes"


def _local_to_utc_ns(raw_s: int, root: Path) -> int:
    """An RTC in local time: its reading is the local wall clock; the zone is /etc/localtime's."""
    from zoneinfo import ZoneInfo

    try:
        with open(root / "etc/localtime", "rb") as f:
            tz = ZoneInfo.from_file(f)
    except (OSError, ValueError):
        return raw_s * NS
    wall = datetime.fromtimestamp(raw_s, UTC).replace(tzinfo=tz)
    return int(calendar.timegm(wall.astimezone(UTC).timetuple())) * NS


_PROC_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2}):(\d{2})\s*$")
_PROC_DATE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def _proc_rtc(text: str) -> int | None:
    fields = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    t, d = _PROC_TIME.match(fields.get("rtc_time", "")), _PROC_DATE.match(fields.get("rtc_date", ""))
    if not (t and d):
        return None
    y, mo, da = (int(x) for x in d.groups())
    h, mi, s = (int(x) for x in t.groups())
    try:
        return calendar.timegm((y, mo, da, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None


def read_rtc(root: Path | None = None, now_s: float | None = None) -> RtcReading:
    root = root or host_root()
    mono = monotonic_ns()
    raw_s, device = None, ""
    sysfs = root / "sys/class/rtc"
    for d in sorted(sysfs.glob("rtc*")) if sysfs.is_dir() else []:
        text = _read(d / "since_epoch")
        if text is not None and text.strip().isdigit():
            raw_s, device = int(text.strip()), f"/dev/{d.name} (sysfs)"
            break
    if raw_s is None:
        text = _read(root / "proc/driver/rtc")
        if text is not None:
            raw_s, device = _proc_rtc(text), "/proc/driver/rtc"
    if raw_s is None:
        devs = sorted((root / "dev").glob("rtc*")) if (root / "dev").is_dir() else []
        why = (
            "an RTC device exists but neither sysfs nor /proc/driver/rtc gives its time"
            if devs
            else "no RTC (no /sys/class/rtc, /proc/driver/rtc or /dev/rtc*)"
        )
        return RtcReading("", None, None, False, None, mono, why)
    local, last_set = _adjtime(root)
    if local is None and str(root) == "/":
        local = _timedatectl_local_rtc()
    local = bool(local)
    utc_ns = _local_to_utc_ns(raw_s, root) if local else raw_s * NS
    now = time.time() if now_s is None else now_s
    age = (now - last_set) if last_set is not None else None
    return RtcReading(device, utc_ns, raw_s * NS, local, age, mono)


@dataclass(frozen=True)
class KernelClock:
    synchronised: bool
    maxerror_s: float | None


def kernel_clock() -> KernelClock:
    """adjtimex read with modes 0 (changes nothing)."""
    try:
        from ..core.diagnose.sysclock_report import decode_timex
        from ..diagnose.adjtimex import read_timex

        k = decode_timex(read_timex())
    except Exception:  # noqa: BLE001 - no adjtimex here (not Linux, a sandbox): unsynchronised
        return KernelClock(False, None)
    return KernelClock(k.synchronised, k.maxerror_s)
