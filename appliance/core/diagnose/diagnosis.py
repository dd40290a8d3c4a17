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

import json
import math
from dataclasses import dataclass, field
from enum import Enum

from ..verdict import EXIT_CODES, Verdict
from . import drift
from .chrony_report import ChronyParseError, Source, SourceStats, Tracking, parse_sources, parse_sourcestats, parse_tracking
from .pmc_report import PtpSummary, parse_pmc, ptp_summary
from .sysclock_report import KernelTime, ReportParseError, RtcInfo, TimedateInfo, decode_timex, parse_rtc, parse_timedatectl

AVAILABLE = "ok"
NOT_AVAILABLE = "not available"
NOT_RUNNING = "not running"
ERROR = "error"

# The raw inputs, by name. Adapters (appliance.diagnose.collect) fill them; --save/--replay keep them.
SOURCES = (
    "chronyc_tracking",
    "chronyc_sources",
    "chronyc_sourcestats",
    "timedatectl",
    "rtc",
    "adjtimex",
    "pmc",
    "appliance_status",
    "appliance_history",
)




@dataclass(frozen=True)
class Raw:
    """One gathered input: state is ok / not available / not running / error; text what was read."""

    state: str
    text: str | None = None
    detail: str = ""
    expected: bool = False  # the person said this should be there (an explicit path or --expect)


@dataclass(frozen=True)
class Limits:
    offset_s: float = 0.05  # the seed's control-plane alert threshold (workers: 0.2)
    rtc_offset_s: float = 2.0  # RTC vs system clock; the RTC has 1 s resolution
    ptp_offset_ns: float = 100_000.0  # far above hardware-timestamped PTP, far below what NTP clients see
    stale_updates: float = 8.0  # chrony's last update older than this many update intervals
    trend_horizon_s: float = 24 * 3600.0  # warn when a threshold is reached within this at the current rate
    history_window_s: float = 600.0  # the appliance's own history used for its trend


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    summary: str
    state: str = "checked"  # checked | not available | not running | unreadable
    evidence: dict = field(default_factory=dict)
    next_step: str | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name, "verdict": self.verdict.value, "state": self.state, "summary": self.summary,
            "evidence": self.evidence, "next_step": self.next_step,
        }


@dataclass(frozen=True)
class Report:
    checks: list[Check]
    trends: list[drift.Trend]
    collected_at_s: float

    @property
    def worst(self) -> Verdict:
        return max((c.verdict for c in self.checks), key=lambda v: v.rank, default=Verdict.OK)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.worst]

    def as_dict(self) -> dict:
        return {
            "verdict": self.worst.value, "exit_code": self.exit_code, "collected_at_s": self.collected_at_s,
            "checks": [c.as_dict() for c in self.checks], "drift": [t.as_dict() for t in self.trends],
        }


_UNREADABLE = (ChronyParseError, ReportParseError, ValueError, TypeError, KeyError, AttributeError, IndexError,
               OverflowError)


# --- formatting helpers ----------------------------------------------------------------------

def fmt_s(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    a = abs(v)
    if a >= 1:
        return f"{v:.3f} s"
    if a >= 1e-3:
        return f"{v * 1e3:.3f} ms"
    if a >= 1e-6:
        return f"{v * 1e6:.3f} us"
    return f"{v * 1e9:.0f} ns"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "never"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _absent(name: str, raw: Raw, what: str, next_step: str) -> Check:
    """An input that could not be gathered. Absent (not available / not running) is OK unless expected;
    present but failing (state error: a tool that crashed, permission denied, a missing client for a
    running daemon) is a WARN."""
    state = raw.state if raw.state in (NOT_AVAILABLE, NOT_RUNNING) else "unreadable"
    detail = f" ({raw.detail})" if raw.detail else ""
    if raw.state == ERROR and not raw.expected:
        return Check(name, Verdict.WARN, f"{what}: {raw.detail or 'could not be read'}", state, {"detail": raw.detail},
                     next_step)
    if raw.expected:
        return Check(name, Verdict.FAIL, f"{what} {state}{detail}", state, {"detail": raw.detail}, next_step)
    return Check(name, Verdict.OK, f"{what} {state}{detail}", state, {"detail": raw.detail}, None)


def _unreadable(name: str, what: str, exc: Exception, raw: Raw) -> Check:
    text = (raw.text or "")[:500]
    return Check(name, Verdict.WARN, f"could not read {what}: {exc}", "unreadable", {"raw": text},
                 f"look at the raw output yourself; if the tool's version changed its format, report it with the raw text")


# --- parsed inputs ---------------------------------------------------------------------------

@dataclass
class _Parsed:
    tracking: Tracking | None = None
    sources: list[Source] | None = None
    sourcestats: list[SourceStats] | None = None
    timedate: TimedateInfo | None = None
    rtc: RtcInfo | None = None
    kernel: KernelTime | None = None
    ptp: PtpSummary | None = None
    status: dict | None = None
    history: dict | None = None
    errors: dict = field(default_factory=dict)


def _parse_all(raw: dict[str, Raw]) -> _Parsed:
    p = _Parsed()

    def attempt(key: str, fn):
        r = raw.get(key)
        if r is None or r.state != AVAILABLE or r.text is None:
            return None
        try:
            return fn(r.text)
        except _UNREADABLE as exc:
            p.errors[key] = exc
            return None

    p.tracking = attempt("chronyc_tracking", parse_tracking)
    p.sources = attempt("chronyc_sources", parse_sources)
    p.sourcestats = attempt("chronyc_sourcestats", parse_sourcestats)
    p.timedate = attempt("timedatectl", parse_timedatectl)
    p.rtc = attempt("rtc", parse_rtc)
    p.kernel = attempt("adjtimex", lambda t: decode_timex(_json_obj(t)))
    p.ptp = attempt("pmc", lambda t: ptp_summary(parse_pmc(t)))
    p.status = attempt("appliance_status", _json_obj)
    p.history = attempt("appliance_history", _json_obj)
    return p


def _json_obj(text: str) -> dict:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def _get(d, *path, kind=None):
    """d[path...] if every step exists and the leaf has the wanted type, else None."""
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    if kind is not None and (not isinstance(d, kind) or isinstance(d, bool) and kind is not bool):
        return None
    return d


_NUM = (int, float)


# --- the checks ------------------------------------------------------------------------------

def check_clock(p: _Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    """Is anything keeping this clock synchronised, and how far off is it?"""
    ev: dict = {}
    synced_by = []
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
        return Check("clock", Verdict.WARN, "cannot tell whether this clock is synchronised: neither chronyc, "
                     "adjtimex nor timedatectl could be read", "checked", ev,
                     "run as root on the node itself (not in a container without the host's /run and CAP_SYS_TIME "
                     "visibility); check the other checks' details")
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
        return Check("clock", Verdict.FAIL, "nothing shows this clock is synchronised: " + ", ".join(who), "checked",
                     ev, "start or fix the node's time service: chronyd (`systemctl status chronyd`, "
                     "`chronyc sources -v`) or systemd-timesyncd (`timedatectl timesync-status`); on a control node "
                     "also `appliance status`")
    if offset is not None and abs(offset) >= limits.offset_s:
        return Check("clock", Verdict.FAIL, f"synchronised ({', '.join(synced_by)}) but {fmt_s(offset)} off, "
                     f"beyond {fmt_s(limits.offset_s)}", "checked", ev,
                     "chronyd is still slewing or following a wrong source: `chronyc sources -v` and `chronyc "
                     "sourcestats -v`; compare the sources with each other (`appliance query HOST` for each)")
    where = "" if offset is None else f", offset {fmt_s(offset)}"
    return Check("clock", Verdict.OK, f"synchronised per {', '.join(synced_by)}{where}", "checked", ev)


def check_chrony(p: _Parsed, raw: dict[str, Raw], limits: Limits, now_s: float) -> Check:
    name = "chrony"
    r = raw.get("chronyc_tracking", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "chronyd", "start chronyd (`systemctl start chronyd`) and check "
                       "`journalctl -u chronyd`; or point --chronyc-socket at its command socket")
    if p.tracking is None:
        return _unreadable(name, "chronyc -c tracking", p.errors.get("chronyc_tracking", ValueError("empty")), r)
    t = p.tracking
    ev = {**t.as_dict(), "offset_s": t.offset_s, "max_error_s": t.max_error_s}
    if not t.synchronised:
        return Check(name, Verdict.FAIL, f"chronyd is not synchronised (leap status {t.leap_status}, stratum "
                     f"{t.stratum}, reference {t.reference_id})", "checked", ev,
                     "`chronyc sources -v`: are the servers reachable (Reach 377) and is one selected (^*)? "
                     "If none answers, check UDP 123 to them and that they serve (`appliance query HOST`)")
    if abs(t.offset_s) >= limits.offset_s:
        return Check(name, Verdict.FAIL, f"system clock {fmt_s(t.offset_s)} off NTP time, beyond "
                     f"{fmt_s(limits.offset_s)}", "checked", ev,
                     "chronyd slews at most 83 ms/s by default and refuses large steps after start (makestep): "
                     "`chronyc tracking` again in a minute; if it does not shrink, `chronyc makestep` once")
    problems = []
    if t.leap_status in ("Insert second", "Delete second"):
        problems.append(f"leap second pending ({t.leap_status.lower()} at the end of the UTC day)")
    if t.max_error_s >= limits.offset_s:
        problems.append(f"error bound {fmt_s(t.max_error_s)} (|offset| + root dispersion + root delay/2) "
                        f"reaches {fmt_s(limits.offset_s)}")
    age = now_s - t.ref_time
    if t.update_interval > 0 and age > max(limits.stale_updates * t.update_interval, 600.0):
        problems.append(f"last clock update {fmt_duration(age)} ago (update interval {t.update_interval:.0f} s)")
    ev["last_update_age_s"] = age
    if problems:
        step = ("a pending leap second is expected only on 30 June / 31 December after an IERS announcement; "
                "check that every server agrees (`chronyc sources`, `appliance query`) and that clients "
                "handle it the same way (smear or step)" if "leap" in problems[0] else
                "`chronyc sources -v`: a distant or noisy source widens the bound; prefer the control nodes")
        return Check(name, Verdict.WARN, "chronyd synchronised, but " + "; ".join(problems), "checked", ev, step)
    return Check(name, Verdict.OK, f"synchronised to {t.reference_name or t.reference_id} (stratum {t.stratum}), "
                 f"offset {fmt_s(t.offset_s)}, leap {t.leap_status}", "checked", ev)


def check_sources(p: _Parsed, raw: dict[str, Raw]) -> Check:
    name = "chrony_sources"
    r = raw.get("chronyc_sources", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "chronyd", "start chronyd and check `chronyc sources -v`")
    if p.sources is None:
        return _unreadable(name, "chronyc -c sources", p.errors.get("chronyc_sources", ValueError("empty")), r)
    rows = p.sources
    ev = {"sources": [s.as_dict() for s in rows]}
    if not rows:
        return Check(name, Verdict.FAIL, "chronyd has no sources", "checked", ev,
                     "add the control nodes as `server ADDRESS iburst` to chrony.conf (`appliance config render "
                     "clients --format chrony`), or set Harvester's ntp-servers setting; then `chronyc sources -v`")
    selected = [s for s in rows if s.state == "*"]
    unreachable = [s.name for s in rows if not s.reachable]
    falsetickers = [s.name for s in rows if s.state == "x"]
    usable = [s for s in rows if s.reachable and s.state in ("*", "+", "-")]
    if not selected:
        why = "none is reachable" if len(unreachable) == len(rows) else "none is selectable"
        return Check(name, Verdict.FAIL, f"no source selected ({len(rows)} configured, {why})", "checked", ev,
                     "for each source: `appliance query ADDRESS` (does it answer, with stratum < 16 and leap != 3?); "
                     "check UDP 123 in between; `chronyc selectdata -v` says why chronyd rejects a source")
    problems = []
    if falsetickers:
        problems.append(f"falseticker(s): {', '.join(falsetickers)}")
    if unreachable:
        problems.append(f"unreachable: {', '.join(unreachable)}")
    if len(usable) < 2:
        problems.append(f"only {len(usable)} usable source(s): a wrong server cannot be outvoted")
    if problems:
        return Check(name, Verdict.WARN, f"selected {selected[0].name}; " + "; ".join(problems), "checked", ev,
                     "`appliance query ADDRESS` for each listed source; a falseticker disagrees with the majority: "
                     "`appliance status` on that control node says whether it demoted itself")
    return Check(name, Verdict.OK, f"selected {selected[0].name}, {len(usable)} usable of {len(rows)}", "checked", ev)


def chrony_trend(p: _Parsed, limits: Limits) -> drift.Trend | None:
    if not p.sourcestats:
        return None
    stats = {s.name: s for s in p.sourcestats}
    chosen = None
    for s in p.sources or []:
        if s.state == "*" and s.name in stats:
            chosen = stats[s.name]
    if chosen is None:
        chosen = max(p.sourcestats, key=lambda s: s.np)
    if chosen.np < 2:
        return None
    return drift.from_sourcestats(chosen.name, chosen.offset, chosen.frequency, chosen.freq_skew, limits.offset_s,
                                  chosen.np, float(chosen.span))


def appliance_trends(p: _Parsed, limits: Limits) -> list[drift.Trend]:
    h = p.history
    samples = _get(h, "samples", kind=list) or []
    rows = [s for s in samples if isinstance(s, dict) and isinstance(s.get("t"), _NUM)]
    if not rows:
        return []
    t_end = max(s["t"] for s in rows)
    # only the latest stretch of the current state: a bound's slope across a state change means nothing
    state = rows[-1].get("state")
    recent = []
    for s in reversed(rows):
        if s.get("state") != state or s["t"] < t_end - limits.history_window_s:
            break
        recent.append(s)
    recent.reverse()
    out = []
    off = [(s["t"], s["offset_ns"] * 1e-9) for s in recent if isinstance(s.get("offset_ns"), _NUM)]
    if len(off) >= 3:
        tr = drift.from_series("appliance:offset_to_reference", [t for t, _ in off], [v for _, v in off],
                               limits.offset_s)
        if tr:
            out.append(tr)
    max_bound = _get(h, "max_error_bound_s", kind=_NUM)
    bound = [(s["t"], s["error_bound_s"]) for s in recent if isinstance(s.get("error_bound_s"), _NUM)]
    if max_bound and len(bound) >= 3 and state in ("holdover", "freerun"):
        tr = drift.from_series(f"appliance:error_bound ({state})", [t for t, _ in bound], [v for _, v in bound],
                               float(max_bound), symmetric=False)
        if tr:
            out.append(tr)
    return out


def _uncorrected(tracking: Tracking | None, history: dict | None, limits: Limits) -> list[dict]:
    """How fast the clock would drift if nothing corrected it, and when it would reach the threshold:
    chrony's tracking frequency, and the appliance's current frequency correction (evidence only: the
    services do correct these, so they are not verdicts)."""
    out = []
    if tracking is not None:
        rate = tracking.frequency * 1e-6
        out.append({"source": "chronyd tracking frequency (system clock)", "rate_ppm": tracking.frequency,
                    "threshold_reached_in_s": drift.time_to_cross(0.0, rate, limits.offset_s)})
    samples = _get(history, "samples", kind=list) or []
    freq = next((s.get("freq_ppb") for s in reversed(samples) if isinstance(s, dict)
                 and isinstance(s.get("freq_ppb"), _NUM)), None)
    if freq is not None:
        rate = -freq * 1e-9  # the correction speeds the clock up by freq: uncorrected, it runs slow by as much
        out.append({"source": "appliance oscillator (minus its frequency correction)", "rate_ppm": rate * 1e6,
                    "threshold_reached_in_s": drift.time_to_cross(0.0, rate, limits.offset_s)})
    return out


def check_drift(trends: list[drift.Trend], tracking: Tracking | None, limits: Limits,
                history: dict | None = None) -> Check:
    name = "drift"
    ev: dict = {"trends": [t.as_dict() for t in trends], "if_uncorrected": _uncorrected(tracking, history, limits)}
    if not trends:
        return Check(name, Verdict.OK, "no drift trend: not enough samples (chronyc sourcestats or the appliance's "
                     "history)", "not available", ev)
    worst: tuple[float, drift.Trend] | None = None
    for t in trends:
        if t.crossing_in_s is not None and (worst is None or t.crossing_in_s < worst[0]):
            worst = (t.crossing_in_s, t)
    parts = [f"{t.source}: {t.rate_ppm:+.3f} ppm (+/- {t.rate_uncertainty_s_per_s * 1e6:.3f}), "
             f"{fmt_s(t.threshold_s)} reached in {fmt_duration(t.crossing_in_s)}" for t in trends]
    if worst is not None and worst[0] == 0:
        return Check(name, Verdict.FAIL, f"{worst[1].source} is already beyond {fmt_s(worst[1].threshold_s)}: "
                     + "; ".join(parts), "checked", ev, _drift_step(worst[1]))
    if worst is not None and worst[0] < limits.trend_horizon_s:
        return Check(name, Verdict.WARN, f"at the current rate {worst[1].source} reaches "
                     f"{fmt_s(worst[1].threshold_s)} in {fmt_duration(worst[0])}: " + "; ".join(parts), "checked",
                     ev, _drift_step(worst[1]))
    return Check(name, Verdict.OK, "; ".join(parts), "checked", ev)


def _drift_step(t: drift.Trend) -> str:
    if t.source.startswith("appliance:error_bound"):
        return ("the node is holding over without a reference: restore the reference (PTP grandmaster / GNSS; "
                "`appliance status`) before the bound reaches max_error_bound_s and the node stops serving stratum 1")
    if t.source.startswith("appliance"):
        return "the appliance is drifting from its reference: `appliance status`; check the reference and the servo"
    return ("the clock drifts from its source faster than chronyd corrects it: is chronyd steering the clock "
            "(not -x / nosystemclock)? `chronyc tracking` (Frequency, Skew) and `chronyc sourcestats -v`")


def check_kernel(p: _Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    name = "kernel"
    r = raw.get("adjtimex", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "kernel adjtimex state", "run on the node itself (Linux)")
    if p.kernel is None:
        return _unreadable(name, "adjtimex", p.errors.get("adjtimex", ValueError("empty")), r)
    k = p.kernel
    ev = k.as_dict()
    if not k.synchronised:
        extra = ""
        if p.tracking is not None and p.tracking.synchronised:
            extra = ("; chronyd is synchronised but does not steer the kernel clock (started with -x, or "
                     "`nosystemclock`?)")
        return Check(name, Verdict.FAIL, f"the kernel marks the clock unsynchronised (state {k.state}"
                     f"{', STA_UNSYNC' if 'STA_UNSYNC' in k.status_flags else ''}): node_exporter's "
                     f"node_timex_sync_status is 0{extra}", "checked", ev,
                     "the time service has not (yet) steered the clock: chronyd clears STA_UNSYNC after its first "
                     "update, phc2sys likewise; check them (`chronyc tracking`, `systemctl status phc2sys`)")
    problems = []
    if k.leap_pending or k.state in ("TIME_INS", "TIME_DEL"):
        problems.append(f"leap second pending in the kernel ({k.leap_pending or k.state})")
    if k.maxerror_s >= limits.offset_s:
        problems.append(f"kernel maxerror {fmt_s(k.maxerror_s)} reaches {fmt_s(limits.offset_s)}")
    if problems:
        return Check(name, Verdict.WARN, "; ".join(problems), "checked", ev,
                     "a kernel leap flag is set by the time service from its sources; confirm with `chronyc tracking` "
                     "(Leap status) that it is expected; a large maxerror means updates stopped: check the service")
    return Check(name, Verdict.OK, f"synchronised (state {k.state}), maxerror {fmt_s(k.maxerror_s)}, frequency "
                 f"{k.freq_ppm:+.3f} ppm, TAI offset {k.tai_s} s", "checked", ev)


def check_timedatectl(p: _Parsed, raw: dict[str, Raw]) -> Check:
    name = "timedatectl"
    r = raw.get("timedatectl", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "timedatectl", "run on a systemd host: `timedatectl status`")
    if p.timedate is None:
        return _unreadable(name, "timedatectl show", p.errors.get("timedatectl", ValueError("empty")), r)
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
    return Check(name, Verdict.OK, f"NTPSynchronized={td.properties.get('NTPSynchronized', '?')}, "
                 f"NTP={td.properties.get('NTP', '?')}, LocalRTC={td.properties.get('LocalRTC', '?')}, "
                 f"Timezone={td.properties.get('Timezone', '?')}", "checked", ev)


def check_rtc(p: _Parsed, raw: dict[str, Raw], limits: Limits, now_s: float) -> Check:
    name = "rtc"
    r = raw.get("rtc", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "/proc/driver/rtc", "check that the node has an RTC (`ls /dev/rtc*`)")
    if p.rtc is None:
        return _unreadable(name, "/proc/driver/rtc", p.errors.get("rtc", ValueError("empty")), r)
    rtc = p.rtc
    ev: dict = {"fields": rtc.fields}
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
            steps.append("a node boots on the RTC's time and the time service then has to step it: once the system "
                         "clock is right, let chronyd keep the RTC (`rtcsync`) or run `hwclock --systohc`")
    if problems:
        return Check(name, Verdict.WARN, "; ".join(problems), "checked", ev, "; ".join(steps))
    diff = ev.get("rtc_minus_system_s")
    return Check(name, Verdict.OK, "RTC readable" + ("" if diff is None else f", {fmt_s(diff)} from the system clock")
                 + ("" if rtc.battery_ok is None else ", battery okay"), "checked", ev)


def check_ptp(p: _Parsed, raw: dict[str, Raw], limits: Limits) -> Check:
    name = "ptp"
    r = raw.get("pmc", Raw(NOT_RUNNING, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "ptp4l", "start the appliance (it supervises ptp4l) or check `systemctl status ptp4l`")
    if p.ptp is None:
        exc = p.errors.get("pmc", ValueError("empty"))
        return Check(name, Verdict.WARN, f"ptp4l did not answer pmc: {exc}", "unreadable", {"raw": (r.text or "")[:500]},
                     "check the PTP domain (--ptp-domain, ptp.domain) and that ptp4l's uds_address is the socket used")
    s = p.ptp
    ev = s.as_dict()
    state = s.port_state or "unknown"
    offset = s.offset_from_master_ns if s.offset_from_master_ns is not None else s.master_offset_ns
    if state == "FAULTY":
        return Check(name, Verdict.FAIL, "PTP port FAULTY", "checked", ev,
                     "`journalctl -u appliance` / ptp4l's log: a FAULTY port usually means lost timestamps "
                     "(\"timed out while polling for tx timestamp\": raise tx_timestamp_timeout) or a link down")
    if state in ("SLAVE",):
        if offset is not None and abs(offset) >= limits.ptp_offset_ns:
            return Check(name, Verdict.WARN, f"following {s.gm_identity}, offset {fmt_s(offset * 1e-9)} beyond "
                         f"{fmt_s(limits.ptp_offset_ns * 1e-9)}", "checked", ev,
                         "check hardware timestamping (`ethtool -T IFACE`) and the path delay; a large offset after "
                         "a grandmaster change settles within a minute")
        if s.gm_present is False:
            return Check(name, Verdict.WARN, "port SLAVE but no grandmaster present", "checked", ev,
                         "check the grandmaster node (`appliance status` there)")
        return Check(name, Verdict.OK, f"following grandmaster {s.gm_identity}, offset {fmt_s((offset or 0) * 1e-9)}, "
                     f"path delay {fmt_s((s.mean_path_delay_ns or 0) * 1e-9)}", "checked", ev)
    if state in ("MASTER", "GRAND_MASTER", "PASSIVE"):
        role = "grandmaster" if s.is_grandmaster else state.lower()
        return Check(name, Verdict.OK, f"port {state} ({role}, grandmaster {s.gm_identity}, clockClass "
                     f"{s.gm_clock_class})", "checked", ev)
    return Check(name, Verdict.WARN, f"port {state}: not yet following nor serving time"
                 + (f", offset {fmt_s(offset * 1e-9)}" if offset is not None else ""), "checked", ev,
                 "LISTENING: no announce from a grandmaster (check the other control nodes and the domain); "
                 "UNCALIBRATED: the servo has not locked yet (normal for a few seconds; with free_running it stays)")


def check_appliance(p: _Parsed, raw: dict[str, Raw], limits: Limits, trends: list[drift.Trend]) -> Check:
    name = "appliance"
    r = raw.get("appliance_status", Raw(NOT_RUNNING, detail="not gathered"))
    if r.state != AVAILABLE:
        return _absent(name, r, "appliance", "start it (`systemctl start appliance`) or point --control-socket at it")
    if p.status is None:
        return _unreadable(name, "the appliance's status", p.errors.get("appliance_status", ValueError("empty")), r)
    st = p.status
    state = _get(st, "sync", "state", kind=str) or "unknown"
    healthy = _get(st, "sync", "healthy", kind=bool)
    bound = _get(st, "sync", "error_bound_s", kind=_NUM)
    demoted = _get(st, "crosscheck", "demoted", kind=bool)
    stratum = _get(st, "ntp", "stratum", kind=int)
    ev = {"node": _get(st, "node", kind=str), "state": state, "healthy": healthy, "error_bound_s": bound,
          "stratum": stratum, "demoted": demoted, "reference": _get(st, "sync", "reference"),
          "offset_ns": _get(st, "sync", "offset_ns", kind=_NUM)}
    bound_trend = next((t for t in trends if t.source.startswith("appliance:error_bound")), None)
    if demoted:
        return Check(name, Verdict.FAIL, f"demoted itself: it disagrees with the other control nodes (state {state})",
                     "checked", ev, "`appliance status --json` on every control node: which one is off, and why "
                     "(reference lost? stepped?); it returns by itself once it agrees again")
    if state in ("fault", "unsynchronized") or healthy is False:
        return Check(name, Verdict.FAIL, f"not serving stratum 1 (state {state}, error bound {fmt_s(bound)})",
                     "checked", ev, "`appliance status`: fault = the clock cannot be read (PHC/driver); "
                     "unsynchronized = reference lost before lock, or the holdover bound exceeded max_error_bound_s: "
                     "restore the reference")
    if state == "holdover":
        until = "" if bound_trend is None else (f"; the bound reaches max_error_bound_s ({fmt_s(bound_trend.threshold_s)}) "
                                                f"in {fmt_duration(bound_trend.crossing_in_s)} at its current growth")
        return Check(name, Verdict.WARN, f"in holdover, error bound {fmt_s(bound)}{until}", "checked", ev,
                     "the reference is lost: check the PTP grandmaster / GNSS input (`appliance status`, ptp check)")
    if state in ("starting", "acquiring"):
        return Check(name, Verdict.WARN, f"{state}: not locked yet (error bound {fmt_s(bound)})", "checked", ev,
                     "wait a minute; if it stays, check the reference (`appliance status --json`)")
    if bound is not None and bound >= limits.offset_s:
        return Check(name, Verdict.WARN, f"{state}, but error bound {fmt_s(bound)} reaches {fmt_s(limits.offset_s)}",
                     "checked", ev, "a free-running node's bound grows with time: give it a reference")
    return Check(name, Verdict.OK, f"{state}, error bound {fmt_s(bound)}, serving stratum {stratum}", "checked", ev)


def _guard(fn, name: str, *args) -> Check:
    try:
        return fn(*args)
    except _UNREADABLE as exc:  # odd input that slipped past the parsers: say so, do not crash
        return Check(name, Verdict.WARN, f"could not judge {name}: {type(exc).__name__}: {exc}", "unreadable")


def evaluate(raw: dict[str, Raw], now_s: float, limits: Limits = Limits()) -> Report:
    p = _parse_all(raw)
    trends: list[drift.Trend] = []
    try:
        t = chrony_trend(p, limits)
        if t is not None:
            trends.append(t)
        trends.extend(appliance_trends(p, limits))
    except _UNREADABLE:
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
    ]
    return Report(checks, trends, now_s)
