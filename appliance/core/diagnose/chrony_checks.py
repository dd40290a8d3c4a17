"""The chronyd checks of `appliance diagnose`: is chronyd synchronised, close enough and recently
updated (chronyc tracking), and does it have enough reachable, agreeing sources (chronyc sources)?
"""

from __future__ import annotations

from ..text import plural
from ..verdict import Verdict
from .inputs import AVAILABLE, NOT_AVAILABLE, Parsed, Raw
from .report import Check, Limits, absent, fmt_duration, fmt_s, unreadable


def check_chrony(p: Parsed, raw: dict[str, Raw], limits: Limits, now_s: float) -> Check:
    name = "chrony"
    r = raw.get("chronyc_tracking", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(
            name,
            r,
            "chronyd",
            "start chronyd (`systemctl start chronyd`) and check "
            "`journalctl -u chronyd`; or point --chronyc-socket at its command socket",
        )
    if p.tracking is None:
        return unreadable(name, "chronyc -c tracking", p.errors.get("chronyc_tracking", ValueError("empty")), r)
    t = p.tracking
    ev = {**t.as_dict(), "offset_s": t.offset_s, "max_error_s": t.max_error_s}
    if not t.synchronised:
        return Check(
            name,
            Verdict.FAIL,
            f"chronyd is not synchronised (leap status {t.leap_status}, stratum "
            f"{t.stratum}, reference {t.reference_id})",
            "checked",
            ev,
            "`chronyc sources -v`: are the servers reachable (Reach 377) and is one selected (^*)? "
            "If none answers, check UDP 123 to them and that they serve (`appliance query HOST`)",
        )
    if abs(t.offset_s) >= limits.offset_s:
        return Check(
            name,
            Verdict.FAIL,
            f"system clock {fmt_s(t.offset_s)} off NTP time, beyond {fmt_s(limits.offset_s)}",
            "checked",
            ev,
            "chronyd slews at most 83 ms/s by default and refuses large steps after start (makestep): "
            "`chronyc tracking` again in a minute; if it does not shrink, `chronyc makestep` once",
        )
    problems = []
    if t.leap_status in ("Insert second", "Delete second"):
        problems.append(f"leap second pending ({t.leap_status.lower()} at the end of the UTC day)")
    if t.max_error_s >= limits.offset_s:
        problems.append(
            f"error bound {fmt_s(t.max_error_s)} (|offset| + root dispersion + root delay/2) "
            f"reaches {fmt_s(limits.offset_s)}"
        )
    age = now_s - t.ref_time
    if t.update_interval > 0 and age > max(limits.stale_updates * t.update_interval, 600.0):
        problems.append(f"last clock update {fmt_duration(age)} ago (update interval {t.update_interval:.0f} s)")
    ev["last_update_age_s"] = age
    if problems:
        step = (
            "a pending leap second is expected only on 30 June / 31 December after an IERS announcement; "
            "check that every server agrees (`chronyc sources`, `appliance query`) and that clients "
            "handle it the same way (smear or step)"
            if "leap" in problems[0]
            else "`chronyc sources -v`: a distant or noisy source widens the bound; prefer the control nodes"
        )
        return Check(name, Verdict.WARN, "chronyd synchronised, but " + "; ".join(problems), "checked", ev, step)
    return Check(
        name,
        Verdict.OK,
        f"synchronised to {t.reference_name or t.reference_id} (stratum {t.stratum}), "
        f"offset {fmt_s(t.offset_s)}, leap {t.leap_status}",
        "checked",
        ev,
    )


def check_sources(p: Parsed, raw: dict[str, Raw]) -> Check:
    name = "chrony_sources"
    r = raw.get("chronyc_sources", Raw(NOT_AVAILABLE, detail="not gathered"))
    if r.state != AVAILABLE:
        return absent(name, r, "chronyd", "start chronyd and check `chronyc sources -v`")
    if p.sources is None:
        return unreadable(name, "chronyc -c sources", p.errors.get("chronyc_sources", ValueError("empty")), r)
    rows = p.sources
    ev = {"sources": [s.as_dict() for s in rows]}
    if not rows:
        return Check(
            name,
            Verdict.FAIL,
            "chronyd has no sources",
            "checked",
            ev,
            "add the control nodes as `server ADDRESS iburst` to chrony.conf (`appliance config render "
            "clients --format chrony`), or set Harvester's ntp-servers setting; then `chronyc sources -v`",
        )
    selected = [s for s in rows if s.state == "*"]
    unreachable = [s.name for s in rows if not s.reachable]
    falsetickers = [s.name for s in rows if s.state == "x"]
    usable = [s for s in rows if s.reachable and s.state in ("*", "+", "-")]
    if not selected:
        why = "none is reachable" if len(unreachable) == len(rows) else "none is selectable"
        return Check(
            name,
            Verdict.FAIL,
            f"no source selected ({len(rows)} configured, {why})",
            "checked",
            ev,
            "for each source: `appliance query ADDRESS` (does it answer, with stratum < 16 and leap != 3?); "
            "check UDP 123 in between; `chronyc selectdata -v` says why chronyd rejects a source",
        )
    problems = []
    if falsetickers:
        problems.append(f"{'falsetickers' if len(falsetickers) > 1 else 'falseticker'}: {', '.join(falsetickers)}")
    if unreachable:
        problems.append(f"unreachable: {', '.join(unreachable)}")
    if len(usable) < 2:
        problems.append(f"only {plural(len(usable), 'usable source')}: a wrong server cannot be outvoted")
    if problems:
        return Check(
            name,
            Verdict.WARN,
            f"selected {selected[0].name}; " + "; ".join(problems),
            "checked",
            ev,
            "`appliance query ADDRESS` for each listed source; a falseticker disagrees with the majority: "
            "`appliance status` on that control node says whether it demoted itself",
        )
    return Check(name, Verdict.OK, f"selected {selected[0].name}, {len(usable)} usable of {len(rows)}", "checked", ev)
