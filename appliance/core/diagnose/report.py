"""What `appliance diagnose` hands back: one Check per question (verdict, evidence, next step), the
Report over them, the limits they are judged against, and the helpers every check shares (the two
ways an input can be missing, and how seconds and durations are written for a person).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..verdict import EXIT_CODES, Verdict
from . import drift
from .inputs import ERROR, NOT_AVAILABLE, NOT_RUNNING, Raw


@dataclass(frozen=True)
class Limits:
    offset_s: float = 0.05  # the seed's control-plane alert threshold (workers: 0.2)
    rtc_offset_s: float = 2.0  # RTC vs system clock; the RTC has 1 s resolution
    ptp_offset_ns: float = 100_000.0  # far above hardware-timestamped PTP, far below what NTP clients see
    stale_updates: float = 8.0  # chrony's last update older than this many update intervals
    trend_horizon_s: float = 24 * 3600.0  # warn when a threshold is reached within this at the current rate
    history_window_s: float = 600.0  # the appliance's own history used for its trend
    leap_warn_days: float = 30.0  # leap-seconds.list expiring within this is a warning


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    summary: str
    state: str = "checked"  # checked | not available | not running | unreadable
    evidence: dict[str, Any] = field(default_factory=dict)
    next_step: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "state": self.state,
            "summary": self.summary,
            "evidence": self.evidence,
            "next_step": self.next_step,
        }


@dataclass(frozen=True)
class Report:
    checks: list[Check]
    trends: list[drift.Trend]
    collected_at_s: float

    @property
    def worst(self) -> Verdict:
        return Verdict.worst(c.verdict for c in self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.worst]

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.worst.value,
            "exit_code": self.exit_code,
            "collected_at_s": self.collected_at_s,
            "checks": [c.as_dict() for c in self.checks],
            "drift": [t.as_dict() for t in self.trends],
        }


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
    if s < 365 * 86400:
        return f"{s / 86400:.1f} days"
    return "more than a year"


def absent(name: str, raw: Raw, what: str, next_step: str) -> Check:
    """An input that could not be gathered. Absent (not available / not running) is SKIP (nothing to
    judge: a worker has no ptp4l) unless expected, then FAIL; present but failing (state error: a
    tool that crashed, permission denied, a missing client for a running daemon) is a WARN."""
    state = raw.state if raw.state in (NOT_AVAILABLE, NOT_RUNNING) else "unreadable"
    detail = f" ({raw.detail})" if raw.detail else ""
    if raw.state == ERROR and not raw.expected:
        return Check(
            name, Verdict.WARN, f"{what}: {raw.detail or 'could not be read'}", state, {"detail": raw.detail}, next_step
        )
    if raw.expected:
        return Check(name, Verdict.FAIL, f"{what} {state}{detail}", state, {"detail": raw.detail}, next_step)
    return Check(name, Verdict.SKIP, f"{what} {state}{detail}", state, {"detail": raw.detail}, None)


def unreadable(name: str, what: str, exc: Exception, raw: Raw) -> Check:
    """An input that was read but could not be parsed: a WARN that carries the start of the raw text."""
    text = (raw.text or "")[:500]
    return Check(
        name,
        Verdict.WARN,
        f"could not read {what}: {exc}",
        "unreadable",
        {"raw": text},
        "look at the raw output yourself; if the tool's version changed its format, report it with the raw text",
    )
