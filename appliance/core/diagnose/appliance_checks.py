"""The appliance's own check in `appliance diagnose`: its sync state, error bound and whether the
other control nodes outvoted it, from its status on the control socket.
"""

from __future__ import annotations

from ..verdict import Verdict
from . import drift
from .inputs import AVAILABLE, NOT_RUNNING, NUMBER, Parsed, Raw, get_in
from .report import Check, Limits, absent, fmt_duration, fmt_s, unreadable


def check_appliance(p: Parsed, raw: dict[str, Raw], limits: Limits, trends: list[drift.Trend]) -> Check:
    name = "appliance"
    r = raw.get("appliance_status", Raw(NOT_RUNNING, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(name, r, "appliance", "start it (`systemctl start appliance`) or point --control-socket at it")
    if p.status is None:
        return unreadable(name, "the appliance's status", p.errors.get("appliance_status", ValueError("empty")), r)
    st = p.status
    state = get_in(st, "sync", "state", kind=str) or "unknown"
    healthy = get_in(st, "sync", "healthy", kind=bool)
    bound = get_in(st, "sync", "error_bound_s", kind=NUMBER)
    demoted = get_in(st, "crosscheck", "demoted", kind=bool)
    stratum = get_in(st, "ntp", "stratum", kind=int)
    ev = {
        "node": get_in(st, "node", kind=str),
        "state": state,
        "healthy": healthy,
        "error_bound_s": bound,
        "stratum": stratum,
        "demoted": demoted,
        "reference": get_in(st, "sync", "reference"),
        "offset_ns": get_in(st, "sync", "offset_ns", kind=NUMBER),
    }
    reason = get_in(st, "served", "unsynchronized_reason", kind=str) or ""
    ev["unsynchronized_reason"] = reason or None
    if reason.startswith("not bootstrapped") or "before the last-known-good" in reason:
        command = reason.split("`")[1] if reason.count("`") >= 2 else "appliance bootstrap --config FILE --apply"
        return Check(
            name,
            Verdict.FAIL,
            f"not bootstrapped: answering with leap 3 ({reason})",
            "checked",
            ev,
            f"establish the initial time: `{command}` (README: Bootstrapping a new site)",
        )
    bound_trend = next((t for t in trends if t.source.startswith("appliance:error_bound")), None)
    if demoted:
        return Check(
            name,
            Verdict.FAIL,
            f"demoted itself: it disagrees with the other control nodes (state {state})",
            "checked",
            ev,
            "`appliance status --json` on every control node: which one is off, and why "
            "(reference lost? stepped?); it returns by itself once it agrees again",
        )
    if state in ("fault", "unsynchronized") or healthy is False:
        return Check(
            name,
            Verdict.FAIL,
            f"not serving stratum 1 (state {state}, error bound {fmt_s(bound)})",
            "checked",
            ev,
            "`appliance status`: fault = the clock cannot be read (PHC/driver); "
            "unsynchronized = reference lost before lock, or the holdover bound exceeded max_error_bound_s: "
            "restore the reference",
        )
    if state == "holdover":
        until = (
            ""
            if bound_trend is None
            else (
                f"; the bound reaches max_error_bound_s ({fmt_s(bound_trend.threshold_s)}) "
                f"in {fmt_duration(bound_trend.crossing_in_s)} at its current growth"
            )
        )
        return Check(
            name,
            Verdict.WARN,
            f"in holdover, error bound {fmt_s(bound)}{until}",
            "checked",
            ev,
            "the reference is lost: check the PTP grandmaster / GNSS input (`appliance status`, ptp check)",
        )
    if state in ("starting", "acquiring"):
        return Check(
            name,
            Verdict.WARN,
            f"{state}: not locked yet (error bound {fmt_s(bound)})",
            "checked",
            ev,
            "wait a minute; if it stays, check the reference (`appliance status --json`)",
        )
    if bound is not None and bound >= limits.offset_s:
        return Check(
            name,
            Verdict.WARN,
            f"{state}, but error bound {fmt_s(bound)} reaches {fmt_s(limits.offset_s)}",
            "checked",
            ev,
            "a free-running node's bound grows with time: give it a reference",
        )
    return Check(name, Verdict.OK, f"{state}, error bound {fmt_s(bound)}, serving stratum {stratum}", "checked", ev)
