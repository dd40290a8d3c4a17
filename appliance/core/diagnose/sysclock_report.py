"""Parsers for what the host says about its clocks: /proc/driver/rtc, `timedatectl show`, and the
kernel's adjtimex(2) state (the fields of struct timex, read by an adapter with modes = 0).

Pure: text and numbers in, values out. Parse it or raise ReportParseError, never anything else.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# --- /proc/driver/rtc ------------------------------------------------------------------------
# Format: drivers/rtc/proc.c prints "rtc_time\t: HH:MM:SS", "rtc_date\t: YYYY-MM-DD", alarm and
# IRQ lines, "24hr\t\t: yes"; drivers add their own (rtc-cmos: batt_status okay|dead, ...).


class ReportParseError(ValueError):
    pass


@dataclass(frozen=True)
class RtcInfo:
    fields: dict[str, str]  # every "key : value" line, as printed
    time_s: float | None  # the RTC's time as seconds since the epoch, read as UTC; None if unreadable
    battery_ok: bool | None  # None when the driver does not report it


_RTC_TIME = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")
_RTC_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def parse_rtc(text: str) -> RtcInfo:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, _, value = line.partition(":")
        if key.strip():
            fields[key.strip()] = value.strip()
    if not fields:
        raise ReportParseError("rtc: no 'key : value' lines")
    t = _RTC_TIME.match(fields.get("rtc_time", ""))
    d = _RTC_DATE.match(fields.get("rtc_date", ""))
    time_s = None
    if t and d:
        y, mo, da = (int(x) for x in d.groups())
        h, mi, s = (int(x) for x in t.groups())
        if 1 <= mo <= 12 and 1 <= da <= 31 and h < 24 and mi < 60 and s < 61:
            time_s = float(calendar.timegm((y, mo, da, h, mi, s, 0, 0, 0)))
    batt = fields.get("batt_status")
    return RtcInfo(fields, time_s, None if batt is None else batt == "okay")


# --- timedatectl show -----------------------------------------------------------------------
# org.freedesktop.timedate1 properties as Key=Value lines: Timezone, LocalRTC, CanNTP, NTP,
# NTPSynchronized, TimeUSec, RTCTimeUSec.


@dataclass(frozen=True)
class TimedateInfo:
    properties: dict[str, str]

    def flag(self, name: str) -> bool | None:
        v = self.properties.get(name)
        return None if v not in ("yes", "no") else v == "yes"


def parse_timedatectl(text: str) -> TimedateInfo:
    props: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            if key.strip():
                props[key.strip()] = value.strip()
    if not props:
        raise ReportParseError("timedatectl: no Key=Value lines")
    return TimedateInfo(props)


# --- adjtimex --------------------------------------------------------------------------------
# include/uapi/linux/timex.h: status bits and the clock states adjtimex returns.

STATUS_BITS = {
    0x0001: "STA_PLL",
    0x0002: "STA_PPSFREQ",
    0x0004: "STA_PPSTIME",
    0x0008: "STA_FLL",
    0x0010: "STA_INS",
    0x0020: "STA_DEL",
    0x0040: "STA_UNSYNC",
    0x0080: "STA_FREQHOLD",
    0x0100: "STA_PPSSIGNAL",
    0x0200: "STA_PPSJITTER",
    0x0400: "STA_PPSWANDER",
    0x0800: "STA_PPSERROR",
    0x1000: "STA_CLOCKERR",
    0x2000: "STA_NANO",
    0x4000: "STA_MODE",
    0x8000: "STA_CLK",
}
STA_UNSYNC = 0x0040
STA_NANO = 0x2000
CLOCK_STATES = {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP", 4: "TIME_WAIT", 5: "TIME_ERROR"}
TIME_ERROR = 5
FREQ_SCALE = 65536.0  # timex.freq is ppm with a 16-bit fraction
MAXERROR_UNSYNC_US = 16_000_000  # the kernel's NTP_PHASE_LIMIT: maxerror saturates at 16 s


@dataclass(frozen=True)
class KernelTime:
    state: str  # TIME_OK ... TIME_ERROR (what adjtimex returned)
    status_flags: tuple[str, ...]
    offset_s: float  # the remaining PLL offset (timex.offset, ns with STA_NANO else us)
    freq_ppm: float  # frequency correction applied by the kernel; positive speeds the clock up
    maxerror_s: float
    esterror_s: float
    constant: int
    tick_us: int
    tai_s: int
    raw: dict[str, object] = field(default_factory=dict)

    @property
    def synchronised(self) -> bool:
        """As node_exporter's node_timex_sync_status: 0 exactly when the clock state is TIME_ERROR."""
        return self.state != "TIME_ERROR"

    @property
    def leap_pending(self) -> str | None:
        if "STA_INS" in self.status_flags:
            return "insert"
        if "STA_DEL" in self.status_flags:
            return "delete"
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "status": list(self.status_flags),
            "offset_s": self.offset_s,
            "freq_ppm": self.freq_ppm,
            "maxerror_s": self.maxerror_s,
            "esterror_s": self.esterror_s,
            "constant": self.constant,
            "tick_us": self.tick_us,
            "tai_s": self.tai_s,
            "synchronised": self.synchronised,
        }


def decode_timex(raw: Mapping[str, object]) -> KernelTime:
    """raw: {"return": int, "status": int, "offset": int, "freq": int, "maxerror": int, "esterror": int,
    "constant": int, "tick": int, "tai": int} as read by the adapter."""

    def num(name: str) -> int:
        v = raw.get(name)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ReportParseError(f"adjtimex: {name}: expected an integer, got {v!r}")
        return v

    ret, status = num("return"), num("status")
    state = CLOCK_STATES.get(ret, f"unknown({ret})")
    flags = tuple(name for bit, name in STATUS_BITS.items() if status & bit)
    scale = 1e-9 if status & STA_NANO else 1e-6
    return KernelTime(
        state=state,
        status_flags=flags,
        offset_s=num("offset") * scale,
        freq_ppm=num("freq") / FREQ_SCALE,
        maxerror_s=num("maxerror") * 1e-6,
        esterror_s=num("esterror") * 1e-6,
        constant=num("constant"),
        tick_us=num("tick"),
        tai_s=num("tai"),
        raw=dict(raw),
    )
