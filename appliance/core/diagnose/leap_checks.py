"""The `leap-seconds` check of `appliance diagnose`: the leap-seconds.list the appliance takes
TAI - UTC from (ptp4l's utcOffset, a TAI PHC's offset): verified, and how long it is still valid.

An air-gapped site keeps the copy its image shipped with; past its expiry the file no longer says
whether a leap second was announced since. The appliance keeps serving with the last offset it
knows (nothing about the past changes) and this check warns until a fresh copy is brought.
"""

from __future__ import annotations

import time

from ..leapseconds import LeapFileError
from ..verdict import Verdict
from .inputs import AVAILABLE, NOT_AVAILABLE, Parsed, Raw
from .report import Check, Limits, absent

NAME = "leap-seconds"
FRESH_COPY = (
    "bring a current leap-seconds.list (IERS/NIST, or a newer tzdata package) and set "
    "leap_seconds.file to it; the appliance meanwhile serves with the last TAI-UTC it knows"
)


def _date(unix_s: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(unix_s))


def check_leap_seconds(p: Parsed, raw: dict[str, Raw], limits: Limits, now_s: float) -> Check:
    r = raw.get("leap_seconds", Raw(NOT_AVAILABLE, detail="not gathered"))
    where = r.detail or "leap-seconds.list"
    if r.state != AVAILABLE:
        return absent(NAME, r, "leap-seconds.list", "install tzdata or set leap_seconds.file")
    err = p.errors.get("leap_seconds")
    if err is not None or p.leap is None:
        why = str(err) if err is not None else "empty"
        kind = "rejected" if isinstance(err, LeapFileError) else "unreadable"
        return Check(NAME, Verdict.FAIL, f"{where} {kind}: {why}", "checked", {"file": where, "error": why}, FRESH_COPY)
    t = p.leap
    ev = {
        "file": where,
        "tai_utc_s": t.tai_utc_s(now_s),
        "expires": _date(t.expires_unix_s),
        "expires_s": t.expires_unix_s,
        "updated": _date(t.updated_unix_s),
        "sha1": t.sha1,
    }
    left = t.days_left(now_s)
    if t.expired(now_s):
        return Check(
            NAME,
            Verdict.WARN,
            f"{where} expired on {_date(t.expires_unix_s)} ({-left:.0f} days ago): "
            f"TAI-UTC {ev['tai_utc_s']} s is the last known, a leap second announced since would be missed",
            "checked",
            ev,
            FRESH_COPY,
        )
    if left <= limits.leap_warn_days:
        return Check(
            NAME,
            Verdict.WARN,
            f"{where} expires on {_date(t.expires_unix_s)}, in {left:.0f} days",
            "checked",
            ev,
            FRESH_COPY,
        )
    return Check(
        NAME, Verdict.OK, f"verified, TAI-UTC {ev['tai_utc_s']} s, valid until {_date(t.expires_unix_s)}", "checked", ev
    )
