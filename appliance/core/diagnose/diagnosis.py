"""`appliance diagnose`, the judging half: raw outputs in (as the adapters gathered them, or as a
saved bundle), one verdict per check out, each with its evidence and the next step for a person.

Pure: the time of collection comes in as ``now_s``; nothing here runs a tool or reads a file.
A check never raises on odd input: what cannot be parsed becomes a WARN naming what was unreadable.

Verdicts: OK, WARN, FAIL; the command exits 0, 1 or 2 by the worst one. A source that is absent
("not available": the tool or file does not exist; "not running": the daemon does not answer) is
reported as such with verdict OK, unless the person said it was expected (then FAIL): a worker
with systemd-timesyncd has no chronyd, a worker has no ptp4l. The first check, "clock", answers
the on-call question whatever runs here: is anything keeping this clock synchronised, and how far
off is it?
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..verdict import Verdict
from . import drift
from .appliance_checks import check_appliance
from .chrony_checks import check_chrony, check_sources
from .drift_checks import appliance_trends, check_drift, chrony_trend
from .inputs import AVAILABLE, NOT_AVAILABLE, UNREADABLE, Parsed, Raw, parse_all
from .leap_checks import check_leap_seconds
from .ptp_checks import check_ptp
from .report import Check, Limits, Report, fmt_s
from .system_checks import check_kernel, check_rtc, check_timedatectl


def check_clock(p: Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    """Is anything keeping this clock synchronised, and how far off is it?"""
    ev: dict[str, Any] = {}
    synced_by: list[str] = []
    if p.tracking is not None:
        ev["chronyd_synchronised"] = p.tracking.synchronised
        if p.tracking.synchronised:
            synced_by.append("chronyd")
            ev["offset_s"] = p.tracking.offset_s
            ev["max_error_s"] = p.tracking.max_error_s
    if p.kernel is not None:
        ev["kernel_synchronised"] = p.kernel.synchronised
        ev["kernel_maxerror_s"] = p.kernel.maxerror_s
        if p.kernel.synchronised:
            synced_by.append("kernel")
    if p.timedate is not None:
        ev["timedatectl_NTPSynchronized"] = p.timedate.properties.get("NTPSynchronized")
        if p.timedate.flag("NTPSynchronized"):
            synced_by.append("timedatectl")
    ev["synchronised_per"] = synced_by
    if not any(x is not None for x in (p.tracking, p.kernel, p.timedate)):
        return Check(
            "clock",
            Verdict.WARN,
            "cannot tell whether this clock is synchronised: neither chronyc, adjtimex nor timedatectl could be read",
            "checked",
            ev,
            "run as root on the node itself (not in a container without the host's /run and CAP_SYS_TIME "
            "visibility); check the other checks' details",
        )
    offset = ev.get("offset_s")
    if not synced_by:
        who = []
        if raw.get("chronyc_tracking", Raw(NOT_AVAILABLE)).state != AVAILABLE:
            who.append(f"chronyd {raw.get('chronyc_tracking', Raw(NOT_AVAILABLE)).state}")
        elif p.tracking is not None:
            who.append(f"chronyd unsynchronised ({p.tracking.leap_status})")
        if p.kernel is not None:
            who.append(f"kernel clock state {p.kernel.state}")
        if p.timedate is not None:
            who.append(f"timedatectl NTPSynchronized={p.timedate.properties.get('NTPSynchronized', '?')}")
        return Check(
            "clock",
            Verdict.FAIL,
            "nothing shows this clock is synchronised: " + ", ".join(who),
            "checked",
            ev,
            "start or fix the node's time service: chronyd (`systemctl status chronyd`, "
            "`chronyc sources -v`) or systemd-timesyncd (`timedatectl timesync-status`); on a control node "
            "also `appliance status`",
        )
    if offset is not None and abs(offset) >= limits.offset_s:
        return Check(
            "clock",
            Verdict.FAIL,
            f"synchronised ({', '.join(synced_by)}) but {fmt_s(offset)} off, beyond {fmt_s(limits.offset_s)}",
            "checked",
            ev,
            "chronyd is still slewing or following a wrong source: `chronyc sources -v` and `chronyc "
            "sourcestats -v`; compare the sources with each other (`appliance query HOST` for each)",
        )
    where = "" if offset is None else f", offset {fmt_s(offset)}"
    return Check("clock", Verdict.OK, f"synchronised per {', '.join(synced_by)}{where}", "checked", ev)


def _guard(fn: Callable[..., Check], name: str, *args: Any) -> Check:
    try:
        return fn(*args)
    except UNREADABLE as exc:  # odd input that slipped past the parsers: say so, do not crash
        return Check(name, Verdict.WARN, f"could not judge {name}: {type(exc).__name__}: {exc}", "unreadable")


def evaluate(raw: dict[str, Raw], now_s: float, limits: Limits = Limits()) -> Report:
    p = parse_all(raw)
    trends: list[drift.Trend] = []
    try:
        t = chrony_trend(p, limits)
        if t is not None:
            trends.append(t)
        trends.extend(appliance_trends(p, limits))
    except UNREADABLE:
        pass
    checks = [
        _guard(check_clock, "clock", p, raw, limits),
        _guard(check_chrony, "chrony", p, raw, limits, now_s),
        _guard(check_sources, "chrony_sources", p, raw),
        _guard(check_drift, "drift", trends, p.tracking, limits, p.history),
        _guard(check_kernel, "kernel", p, raw, limits),
        _guard(check_timedatectl, "timedatectl", p, raw),
        _guard(check_rtc, "rtc", p, raw, limits, now_s),
        _guard(check_ptp, "ptp", p, raw, limits),
        _guard(check_appliance, "appliance", p, raw, limits, trends),
        _guard(check_leap_seconds, "leap-seconds", p, raw, limits, now_s),
    ]
    return Report(checks, trends, now_s)
