"""The host's own clock state in `appliance diagnose`: the kernel's adjtimex view (what node_exporter
exports), timedatectl's settings and the RTC (battery, and how far it is from the system clock).
"""

from __future__ import annotations

from typing import Any

from ..verdict import Verdict
from .inputs import AVAILABLE, NOT_AVAILABLE, Parsed, Raw
from .report import Check, Limits, absent, fmt_s, unreadable


def check_kernel(p: Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    name = "kernel"
    r = raw.get("adjtimex", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(name, r, "kernel adjtimex state", "run on the node itself (Linux)")
    if p.kernel is None:
        return unreadable(name, "adjtimex", p.errors.get("adjtimex", ValueError("empty")), r)
    k = p.kernel
    ev = k.as_dict()
    if not k.synchronised:
        extra = ""
        if p.tracking is not None and p.tracking.synchronised:
            extra = (
                "; chronyd is synchronised but does not steer the kernel clock (started with -x, or `nosystemclock`?)"
            )
        return Check(
            name,
            Verdict.FAIL,
            f"the kernel marks the clock unsynchronised (state {k.state}"
            f"{', STA_UNSYNC' if 'STA_UNSYNC' in k.status_flags else ''}): node_exporter's "
            f"node_timex_sync_status is 0{extra}",
            "checked",
            ev,
            "the time service has not (yet) steered the clock: chronyd clears STA_UNSYNC after its first "
            "update, phc2sys likewise; check them (`chronyc tracking`, `systemctl status phc2sys`)",
        )
    problems = []
    if k.leap_pending or k.state in ("TIME_INS", "TIME_DEL"):
        problems.append(f"leap second pending in the kernel ({k.leap_pending or k.state})")
    if k.maxerror_s >= limits.offset_s:
        problems.append(f"kernel maxerror {fmt_s(k.maxerror_s)} reaches {fmt_s(limits.offset_s)}")
    if problems:
        return Check(
            name,
            Verdict.WARN,
            "; ".join(problems),
            "checked",
            ev,
            "a kernel leap flag is set by the time service from its sources; confirm with `chronyc tracking` "
            "(Leap status) that it is expected; a large maxerror means updates stopped: check the service",
        )
    return Check(
        name,
        Verdict.OK,
        f"synchronised (state {k.state}), maxerror {fmt_s(k.maxerror_s)}, frequency "
        f"{k.freq_ppm:+.3f} ppm, TAI offset {k.tai_s} s",
        "checked",
        ev,
    )


def check_timedatectl(p: Parsed, raw: dict[str, Raw]) -> Check:
    name = "timedatectl"
    r = raw.get("timedatectl", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(name, r, "timedatectl", "run on a systemd host: `timedatectl status`")
    if p.timedate is None:
        return unreadable(name, "timedatectl show", p.errors.get("timedatectl", ValueError("empty")), r)
    td = p.timedate
    ev = dict(td.properties)
    problems, steps = [], []
    if td.flag("LocalRTC"):
        problems.append("the RTC keeps local time")
        steps.append("`timedatectl set-local-rtc 0` (keep the RTC in UTC)")
    if td.flag("NTPSynchronized") is False:
        problems.append("NTPSynchronized=no")
        steps.append("see the kernel and chrony checks for why the clock is not synchronised")
    chrony_up = raw.get("chronyc_tracking", Raw(NOT_AVAILABLE)).state == AVAILABLE
    if td.flag("NTP") is False and td.flag("CanNTP") and not chrony_up:
        problems.append("no NTP service is enabled (NTP=no) and chronyd is not running")
        steps.append("`timedatectl set-ntp true` or start chronyd")
    if problems:
        return Check(name, Verdict.WARN, "; ".join(problems), "checked", ev, "; ".join(steps))
    return Check(
        name,
        Verdict.OK,
        f"NTPSynchronized={td.properties.get('NTPSynchronized', '?')}, "
        f"NTP={td.properties.get('NTP', '?')}, LocalRTC={td.properties.get('LocalRTC', '?')}, "
        f"Timezone={td.properties.get('Timezone', '?')}",
        "checked",
        ev,
    )


def check_rtc(p: Parsed, raw: dict[str, Raw], limits: Limits, now_s: float) -> Check:
    name = "rtc"
    r = raw.get("rtc", Raw(NOT_AVAILABLE, detail="not gathered"))
    where = r.origin or "/proc/driver/rtc"
    if r.state != AVAILABLE:
        return absent(
            name,
            r,
            where,
            "check that the node has an RTC (`ls /dev/rtc*`)"
            + ("" if where == "/proc/driver/rtc" else f", and that {where} is the file meant"),
        )
    if p.rtc is None:
        return unreadable(name, where, p.errors.get("rtc", ValueError("empty")), r)
    rtc = p.rtc
    ev: dict[str, Any] = {"fields": rtc.fields}
    problems, steps = [], []
    if rtc.battery_ok is False:
        problems.append("RTC battery dead (batt_status)")
        steps.append("replace the board's RTC battery: after a power loss the node boots with a wrong time")
    if rtc.time_s is None:
        problems.append("the RTC's time could not be read")
        steps.append("`hwclock --show --verbose` says why")
    elif p.timedate is not None and p.timedate.flag("LocalRTC"):
        ev["note"] = "RTC in local time: not compared with the system clock"
    else:
        diff = rtc.time_s - now_s
        ev["rtc_minus_system_s"] = diff
        if abs(diff) > limits.rtc_offset_s:
            problems.append(f"RTC is {fmt_s(diff)} off the system clock")
            steps.append(
                "a node boots on the RTC's time and the time service then has to step it: once the system "
                "clock is right, let chronyd keep the RTC (`rtcsync`) or run `hwclock --systohc`"
            )
    if problems:
        return Check(name, Verdict.WARN, "; ".join(problems), "checked", ev, "; ".join(steps))
    shown = ev.get("rtc_minus_system_s")
    return Check(
        name,
        Verdict.OK,
        "RTC readable"
        + ("" if shown is None else f", {fmt_s(shown)} from the system clock")
        + ("" if rtc.battery_ok is None else ", battery okay"),
        "checked",
        ev,
    )
