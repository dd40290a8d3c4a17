"""Read the kernel's NTP state of CLOCK_REALTIME with clock_adjtime(2), modes = 0: a read that changes
nothing and needs no privilege. The bindings are appliance.hw's; the decoding is pure:
appliance.core.diagnose.sysclock_report.decode_timex.
"""

from __future__ import annotations

from ..hw import posix_clock
from ..hw.uapi import timex as tx


class AdjtimexError(OSError):
    pass


def read_timex() -> dict:
    """The kernel's timex fields and the call's return value (the clock state), as plain ints."""
    t = tx.timex()  # modes = 0: read only
    try:
        ret = posix_clock.clock_adjtime(tx.CLOCK_REALTIME, t)
    except OSError as exc:
        raise AdjtimexError(exc.errno, f"adjtimex: {exc.strerror}") from None
    names = [field[0] for field in t._fields_]
    out = {name: int(getattr(t, name)) for name in names if name not in ("time", "_padding")}
    out["time_sec"], out["time_usec"] = int(t.time.tv_sec), int(t.time.tv_usec)
    out["return"] = int(ret)
    return out
