"""The raw inputs of `appliance diagnose`, by name, and their parsed form.

A Raw is one input as the adapters (appliance.diagnose.collect) gathered it or a saved bundle kept
it; parse_all turns the set into one Parsed, recording what could not be parsed instead of raising
(a check turns that into a WARN naming the input). Pure: nothing here runs a tool or reads a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..leapseconds import LeapTable
from ..leapseconds import parse as parse_leap
from .chrony_report import (
    ChronyParseError,
    Source,
    SourceStats,
    Tracking,
    parse_sources,
    parse_sourcestats,
    parse_tracking,
)
from .pmc_report import PtpSummary, parse_pmc, ptp_summary
from .sysclock_report import (
    KernelTime,
    ReportParseError,
    RtcInfo,
    TimedateInfo,
    decode_timex,
    parse_rtc,
    parse_timedatectl,
)

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
    "leap_seconds",
)


@dataclass(frozen=True)
class Raw:
    """One gathered input: state is ok / not available / not running / error; text what was read."""

    state: str
    text: str | None = None
    detail: str = ""
    expected: bool = False  # the person said this should be there (an explicit path or --expect)
    origin: str = ""  # where it was read from (the path or command given), for messages


# What odd input raises in a parser or a check: caught and reported as unreadable, never a traceback.
UNREADABLE = (
    ChronyParseError,
    ReportParseError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    OverflowError,
)

_T = TypeVar("_T")


@dataclass
class Parsed:
    """Every input that could be parsed; errors names the ones that could not, with the exception."""

    tracking: Tracking | None = None
    sources: list[Source] | None = None
    sourcestats: list[SourceStats] | None = None
    timedate: TimedateInfo | None = None
    rtc: RtcInfo | None = None
    kernel: KernelTime | None = None
    ptp: PtpSummary | None = None
    status: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    leap: LeapTable | None = None
    errors: dict[str, Exception] = field(default_factory=dict)


def parse_all(raw: dict[str, Raw]) -> Parsed:
    p = Parsed()

    def attempt(key: str, fn: Callable[[str], _T]) -> _T | None:
        r = raw.get(key)
        if r is None or r.state != AVAILABLE or r.text is None:
            return None
        try:
            return fn(r.text)
        except UNREADABLE as exc:
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
    p.leap = attempt("leap_seconds", parse_leap)
    return p


def _json_obj(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def get_in(d: Any, *path: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """d[path...] if every step exists and the leaf has the wanted type, else None."""
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    if kind is not None and (not isinstance(d, kind) or isinstance(d, bool) and kind is not bool):
        return None
    return d


NUMBER = (int, float)
