"""The bootstrap decision, pure: evidence in (appliance.core.bootstrap.evidence), a time with its
uncertainty out, or a refusal that names the evidence in conflict. Never a confident wrong time: a
wrong start is permanent damage (certificates not yet valid, etcd members far apart).

In order:

1. The hard floor is the latest lower bound (last-known-good of any boot, the build date, the
   latest certificate notBefore): time never goes back before something that already happened.
   An operator time wholly before it is refused, naming that bound; nothing overrides a floor.
2. The witnesses vote: an explicit operator time, the other control nodes, a last-known-good of
   this boot and a synchronised system clock; without an operator time also this machine's own
   clocks, as *one* witness (their hull: the system clock was set from the RTC, the PHC from the
   system clock). A witness wholly before the floor is an outlier and does not vote.
3. The vote is the control nodes' interval intersection (appliance.core.cluster.vote.select:
   Marzullo's algorithm): the smallest interval that more than half of the witnesses reach. No
   majority is a refusal listing what each witness says.
4. The majority's interval is clipped to the floor and to the upper hint (the earliest
   certificate notAfter). An interval wholly beyond the hint is refused unless the operator gave
   the time explicitly (then it is a warning: the certificates have expired).
5. The time is the middle of what is left; the uncertainty its half-width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cluster.vote import Interval, select
from .evidence import LOCAL, NS, OPERATOR, Evidence, Kind, fmt_s, iso

USED, OUTLIER, BOUND, NOT_AVAILABLE = "used", "outlier", "bound", "not available"


@dataclass(frozen=True)
class Judged:
    evidence: Evidence
    verdict: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        e = self.evidence
        return {
            "source": e.source,
            "kind": e.kind.value,
            "time_utc": iso(e.time_ns),
            "uncertainty_s": e.uncertainty_s if e.available else None,
            "verdict": self.verdict,
            "detail": e.detail,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    ok: bool
    time_ns: int | None
    uncertainty_s: float | None
    reason: str
    evidence: tuple[Judged, ...]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": "ok" if self.ok else "refused",
            "time_utc": iso(self.time_ns),
            "time_ns": self.time_ns,
            "uncertainty_s": self.uncertainty_s,
            "reason": self.reason,
            "warnings": list(self.warnings),
            "evidence": [j.as_dict() for j in self.evidence],
        }


class _Judge:
    """Collects a verdict per item in the order the items came."""

    def __init__(self, items: list[Evidence]):
        self.items = items
        self.verdicts: dict[int, tuple[str, str]] = {}
        for i, e in enumerate(items):
            if not e.available:
                self.verdicts[i] = (NOT_AVAILABLE, "")
            elif e.kind is not Kind.ESTIMATE:
                self.verdicts[i] = (BOUND, "")

    def mark(self, i: int, verdict: str, note: str = "") -> None:
        self.verdicts.setdefault(i, (verdict, note))

    def judged(self) -> tuple[Judged, ...]:
        return tuple(
            Judged(e, *self.verdicts.get(i, (OUTLIER, "not consistent with the result")))
            for i, e in enumerate(self.items)
        )


def decide(items: list[Evidence]) -> Decision:
    judge = _Judge(items)
    idx = {id(e): i for i, e in enumerate(items)}
    avail = [e for e in items if e.available]
    lowers = [e for e in avail if e.kind is Kind.LOWER]
    uppers = [e for e in avail if e.kind is Kind.UPPER]
    floor = max(lowers, key=lambda e: e.time_ns or 0, default=None)
    hint = min(uppers, key=lambda e: e.time_ns or 0, default=None)
    floor_ns = floor.time_ns if floor is not None else None
    estimates = [e for e in avail if e.kind is Kind.ESTIMATE]
    op = next((e for e in estimates if e.role == OPERATOR), None)

    def refuse(reason: str, voted: bool = False) -> Decision:
        if not voted:
            for e in estimates:
                judge.mark(idx[id(e)], OUTLIER, "not judged: refused before the vote")
        return Decision(False, None, None, reason, judge.judged())

    # 1. an operator time wholly before a floor
    if op is not None and floor is not None and floor_ns is not None and op.high_ns < floor_ns:
        judge.mark(idx[id(op)], OUTLIER, f"before {floor.says()}")
        return refuse(f"{op.says()} is before {floor.says()}")

    # 2. the witnesses; this machine's clocks are one, and only without an operator time
    local = [e for e in estimates if e.role == LOCAL]
    others = [e for e in estimates if e.role != LOCAL]
    witnesses: list[tuple[str, int, int, list[Evidence]]] = []  # (what it says, low, high, members)
    outliers: list[str] = []
    for e in others:
        witnesses.append((e.says(), e.low_ns, e.high_ns, [e]))
    if local and op is None:
        low, high = min(e.low_ns for e in local), max(e.high_ns for e in local)
        says = " / ".join(e.says() for e in local)
        witnesses.append((f"this machine's clocks ({says})", low, high, local))
    voting = []
    for w in witnesses:
        says, low, high, members = w
        if floor is not None and floor_ns is not None and high < floor_ns:
            for m in members:
                judge.mark(idx[id(m)], OUTLIER, f"before {floor.says()}")
            outliers.append(f"{says} is before {floor.says()}")
            continue
        voting.append(w)
    if not voting:
        if outliers:
            return refuse(
                "no estimate of the time is consistent with the bounds: "
                + "; ".join(outliers)
                + "; give the time with --operator-time"
            )
        return refuse("no estimate of the time is available: give it with --operator-time")

    # 3. the intersection
    pivot = voting[0][1]
    intervals = [
        Interval(str(i), (low - pivot) / NS, (high - pivot) / NS) for i, (_, low, high, _) in enumerate(voting)
    ]
    sel = select(intervals)
    if sel is None:
        for _, _, _, members in voting:
            for m in members:
                judge.mark(idx[id(m)], OUTLIER, "no majority")
        return refuse("no majority: the estimates disagree: " + "; ".join(w[0] for w in voting), True)
    for i, (_, _, _, members) in enumerate(voting):
        agrees = str(i) in sel.truechimers
        for m in members:
            judge.mark(idx[id(m)], USED if agrees else OUTLIER, "" if agrees else "outside the majority")
    low_ns = pivot + int(round(sel.low_s * NS))
    high_ns = pivot + int(round(sel.high_s * NS))
    warnings: list[str] = []
    if local and op is not None:  # shown against the result, not voting
        for e in local:
            inside = e.low_ns <= high_ns and e.high_ns >= low_ns
            judge.mark(
                idx[id(e)],
                USED if inside else OUTLIER,
                "agrees with the operator" if inside else "overridden by the operator time",
            )
            if not inside and e.time_ns is not None and op.time_ns is not None:
                warnings.append(
                    f"{e.source} differs from the operator time by {fmt_s((e.time_ns - op.time_ns) / NS)}"
                    " and is overridden: check that the operator time is right"
                )

    # 4. the floor and the upper hint
    if floor_ns is not None and low_ns < floor_ns:
        low_ns = floor_ns
    if hint is not None and hint.time_ns is not None:
        if low_ns > hint.time_ns:
            if op is None:
                return refuse(
                    f"the estimates put the time at or after {iso(low_ns)}, after {hint.says()}: the "
                    "certificates would have expired; if that is really the time, say so with --operator-time"
                )
            warnings.append(f"the chosen time is after {hint.says()}: those certificates have expired")
        elif high_ns > hint.time_ns:
            high_ns = hint.time_ns

    # 5. the middle and the half-width
    time_ns = (low_ns + high_ns) // 2
    half_s = (high_ns - low_ns) / 2 / NS
    used = [w[0] for i, w in enumerate(voting) if str(i) in sel.truechimers]
    reason = f"{len(used)} of {len(voting)} estimate(s) agree: " + "; ".join(used)
    if floor is not None:
        reason += f"; not before {floor.says()}"
    return Decision(True, time_ns, half_s, reason, judge.judged(), tuple(warnings))


def describe_uncertainty(decision: Decision) -> str:
    return "-" if decision.uncertainty_s is None else fmt_s(decision.uncertainty_s)
