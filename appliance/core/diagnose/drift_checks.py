"""The drift check of `appliance diagnose`: the trends (chronyd's selected source from sourcestats, the
appliance's offset and holdover bound from its history) and when each reaches its threshold at the
current rate. The arithmetic is in drift.py; this module picks the samples and judges.
"""

from __future__ import annotations

from typing import Any

from ..verdict import Verdict
from . import drift
from .chrony_report import Tracking
from .inputs import NUMBER, Parsed, get_in
from .report import Check, Limits, fmt_duration, fmt_s


def chrony_trend(p: Parsed, limits: Limits) -> drift.Trend | None:
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
    return drift.from_sourcestats(
        chosen.name, chosen.offset, chosen.frequency, chosen.freq_skew, limits.offset_s, chosen.np, float(chosen.span)
    )


def appliance_trends(p: Parsed, limits: Limits) -> list[drift.Trend]:
    h = p.history
    samples = get_in(h, "samples", kind=list) or []
    rows = [s for s in samples if isinstance(s, dict) and isinstance(s.get("t"), NUMBER)]
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
    off = [(s["t"], s["offset_ns"] * 1e-9) for s in recent if isinstance(s.get("offset_ns"), NUMBER)]
    if len(off) >= 3:
        tr = drift.from_series(
            "appliance:offset_to_reference", [t for t, _ in off], [v for _, v in off], limits.offset_s
        )
        if tr:
            out.append(tr)
    max_bound = get_in(h, "max_error_bound_s", kind=NUMBER)
    bound = [(s["t"], s["error_bound_s"]) for s in recent if isinstance(s.get("error_bound_s"), NUMBER)]
    if max_bound and len(bound) >= 3 and state in ("holdover", "freerun"):
        tr = drift.from_series(
            f"appliance:error_bound ({state})",
            [t for t, _ in bound],
            [v for _, v in bound],
            float(max_bound),
            symmetric=False,
        )
        if tr:
            out.append(tr)
    return out


def _uncorrected(tracking: Tracking | None, history: dict[str, Any] | None, limits: Limits) -> list[dict[str, Any]]:
    """How fast the clock would drift if nothing corrected it, and when it would reach the threshold:
    chrony's tracking frequency, and the appliance's current frequency correction (evidence only: the
    services do correct these, so they are not verdicts)."""
    out = []
    if tracking is not None:
        rate = tracking.frequency * 1e-6
        out.append(
            {
                "source": "chronyd tracking frequency (system clock)",
                "rate_ppm": tracking.frequency,
                "threshold_reached_in_s": drift.time_to_cross(0.0, rate, limits.offset_s),
            }
        )
    samples = get_in(history, "samples", kind=list) or []
    freq = next(
        (s.get("freq_ppb") for s in reversed(samples) if isinstance(s, dict) and isinstance(s.get("freq_ppb"), NUMBER)),
        None,
    )
    if freq is not None:
        rate = -freq * 1e-9  # the correction speeds the clock up by freq: uncorrected, it runs slow by as much
        out.append(
            {
                "source": "appliance oscillator (minus its frequency correction)",
                "rate_ppm": rate * 1e6,
                "threshold_reached_in_s": drift.time_to_cross(0.0, rate, limits.offset_s),
            }
        )
    return out


def check_drift(
    trends: list[drift.Trend], tracking: Tracking | None, limits: Limits, history: dict[str, Any] | None = None
) -> Check:
    name = "drift"
    ev: dict[str, Any] = {
        "trends": [t.as_dict() for t in trends],
        "if_uncorrected": _uncorrected(tracking, history, limits),
    }
    if not trends:
        return Check(
            name,
            Verdict.SKIP,
            "no drift trend: not enough samples (chronyc sourcestats or the appliance's history)",
            "not available",
            ev,
        )
    worst: tuple[float, drift.Trend] | None = None
    for t in trends:
        if t.crossing_in_s is not None and (worst is None or t.crossing_in_s < worst[0]):
            worst = (t.crossing_in_s, t)
    parts = [f"{t.source}: {describe_rate(t)}" for t in trends]
    if worst is not None and worst[0] == 0:
        return Check(
            name,
            Verdict.FAIL,
            f"{worst[1].source} is already beyond {fmt_s(worst[1].threshold_s)}: " + "; ".join(parts),
            "checked",
            ev,
            _drift_step(worst[1]),
        )
    if worst is not None and worst[0] < limits.trend_horizon_s:
        return Check(
            name,
            Verdict.WARN,
            f"at the current rate {worst[1].source} reaches "
            f"{fmt_s(worst[1].threshold_s)} in {fmt_duration(worst[0])}: " + "; ".join(parts),
            "checked",
            ev,
            _drift_step(worst[1]),
        )
    return Check(name, Verdict.OK, "; ".join(parts), "checked", ev)


def describe_rate(t: drift.Trend) -> str:
    """The rate, and when the threshold is reached at it, in words that do not overstate it."""
    rate = f"{t.rate_ppm:+.3f} ppm (+/- {t.rate_uncertainty_s_per_s * 1e6:.3f})"
    if t.crossing_in_s == 0:
        return f"{rate}, already beyond {fmt_s(t.threshold_s)}"
    if not t.measurable:
        worst = (
            ""
            if t.worst_case_crossing_in_s is None
            else f"; at the edge of its error {fmt_s(t.threshold_s)} in {fmt_duration(t.worst_case_crossing_in_s)}"
        )
        return f"{rate}: no measurable drift (zero within its error){worst}"
    if t.crossing_in_s is None:
        return f"{rate}, moving away from {fmt_s(t.threshold_s)}"
    return f"{rate}, {fmt_s(t.threshold_s)} reached in {fmt_duration(t.crossing_in_s)}"


def _drift_step(t: drift.Trend) -> str:
    if t.source.startswith("appliance:error_bound"):
        return (
            "the node is holding over without a reference: restore the reference (PTP grandmaster / GNSS; "
            "`appliance status`) before the bound reaches max_error_bound_s and the node stops serving stratum 1"
        )
    if t.source.startswith("appliance"):
        return "the appliance is drifting from its reference: `appliance status`; check the reference and the servo"
    return (
        "the clock drifts from its source faster than chronyd corrects it: is chronyd steering the clock "
        "(not -x / nosystemclock)? `chronyc tracking` (Frequency, Skew) and `chronyc sourcestats -v`"
    )
