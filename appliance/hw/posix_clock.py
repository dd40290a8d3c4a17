"""clock_gettime / clock_settime / clock_adjtime through libc, for PHCs (dynamic clock ids) and for
reading CLOCK_REALTIME's adjtimex state.

Writes are refused for every clock id that is not a dynamic (character device) clock: the appliance
never adjusts the host's clock. Reading CLOCK_REALTIME (time and adjtimex state, modes = 0) is allowed.

Units: ``timex.freq`` = ppm * 2^16 ("scaled ppm"), so ppb * 65.536 (linuxptp clockadj.c does the same).
Sign: a positive frequency makes the clock run faster; a positive offset or step moves it forward.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import asdict, dataclass

from ..core.clock.interface import ClockError
from .uapi import timex as tx
from .uapi.posix_timers import is_dynamic_clockid

NS_PER_S = 1_000_000_000
SCALED_PPM_PER_PPB = tx.SCALED_PPM_PER_PPM / 1000.0  # 65.536

_libc = ctypes.CDLL(None, use_errno=True)
_clock_gettime = _libc.clock_gettime
_clock_gettime.argtypes = [ctypes.c_int, ctypes.POINTER(tx.timespec)]
_clock_gettime.restype = ctypes.c_int
_clock_settime = _libc.clock_settime
_clock_settime.argtypes = [ctypes.c_int, ctypes.POINTER(tx.timespec)]
_clock_settime.restype = ctypes.c_int
_clock_adjtime = _libc.clock_adjtime
_clock_adjtime.argtypes = [ctypes.c_int, ctypes.POINTER(tx.timex)]
_clock_adjtime.restype = ctypes.c_int


class SystemClockWriteRefused(ClockError):
    pass


def _oserror(name: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{name}: {os.strerror(code)}")


def _refuse_system_clock(clockid: int, what: str) -> None:
    if not is_dynamic_clockid(clockid):
        raise SystemClockWriteRefused(
            f"refusing {what} on clock id {clockid}: only PTP hardware clocks are adjusted, never the host clock"
        )


# -- pure conversions ---------------------------------------------------------------------------


def ppb_to_scaled_ppm(freq_ppb: float) -> int:
    return int(round(freq_ppb * SCALED_PPM_PER_PPB))


def scaled_ppm_to_ppb(scaled_ppm: int) -> float:
    return scaled_ppm / SCALED_PPM_PER_PPB


def split_offset_ns(delta_ns: int) -> tuple[int, int]:
    """(tv_sec, tv_nsec) with tv_nsec in [0, 1e9) and tv_sec + tv_nsec/1e9 == delta: -1.5 s -> (-2, 5e8)."""
    return divmod(int(delta_ns), NS_PER_S)


def frequency_timex(freq_ppb: float) -> tx.timex:
    t = tx.timex()
    t.modes = tx.ADJ_FREQUENCY
    t.freq = ppb_to_scaled_ppm(freq_ppb)
    return t


def setoffset_timex(delta_ns: int) -> tx.timex:
    t = tx.timex()
    t.modes = tx.ADJ_SETOFFSET | tx.ADJ_NANO
    t.time.tv_sec, t.time.tv_usec = split_offset_ns(delta_ns)
    return t


def offset_timex(offset_ns: int) -> tx.timex:
    """ADJ_OFFSET in ns. ADJ_NANO says so to kernels that test ``modes``; STA_NANO to those (5.8-era)
    that tested ``status``; neither bit changes anything else on a PHC."""
    t = tx.timex()
    t.modes = tx.ADJ_OFFSET | tx.ADJ_NANO
    t.status = tx.STA_NANO
    t.offset = int(offset_ns)
    return t


# -- system calls -------------------------------------------------------------------------------


def clock_gettime_ns(clockid: int) -> int:
    """CPython's time.clock_gettime_ns is the same libc call and accepts dynamic clock ids; it costs a
    seventh of the ctypes call (bench/hw_reads.py), which matters when reads bracket a measurement."""
    return time.clock_gettime_ns(clockid)


def clock_gettime_ns_ctypes(clockid: int) -> int:
    """The same read through the ctypes binding (kept to check the struct timespec layout against it)."""
    ts = tx.timespec()
    if _clock_gettime(clockid, ctypes.byref(ts)) != 0:
        raise _oserror("clock_gettime")
    return ts.ns()


def clock_settime_ns(clockid: int, time_ns: int) -> None:
    _refuse_system_clock(clockid, "clock_settime")
    ts = tx.timespec.from_ns(time_ns)
    if _clock_settime(clockid, ctypes.byref(ts)) != 0:
        raise _oserror("clock_settime")


def clock_adjtime(clockid: int, t: tx.timex) -> int:
    """Returns the clock state (TIME_OK...); ``t`` is filled in by the kernel."""
    if t.modes != 0:
        _refuse_system_clock(clockid, "clock_adjtime")
    state = _clock_adjtime(clockid, ctypes.byref(t))
    if state < 0:
        raise _oserror("clock_adjtime")
    return state


@dataclass(frozen=True)
class TimexState:
    """What clock_adjtime(modes=0) reports, in named units."""

    state: str
    status: tuple[str, ...]
    synchronized: bool
    offset_ns: int
    freq_ppb: float
    maxerror_us: int
    esterror_us: int
    constant: int
    precision_us: int
    tolerance_ppm: float
    tick_us: int
    tai_s: int

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = list(self.status)
        return d


def read_adjtimex(clockid: int = tx.CLOCK_REALTIME) -> TimexState:
    """The kernel's NTP state of ``clockid`` (CLOCK_REALTIME by default), read only (modes = 0)."""
    t = tx.timex()
    state = clock_adjtime(clockid, t)
    nano = bool(t.status & tx.STA_NANO)
    return TimexState(
        state=tx.STATE_NAMES.get(state, str(state)),
        status=tuple(tx.decode_status(t.status)),
        synchronized=not (t.status & tx.STA_UNSYNC) and state != tx.TIME_ERROR,
        offset_ns=t.offset if nano else t.offset * 1000,
        freq_ppb=scaled_ppm_to_ppb(t.freq),
        maxerror_us=t.maxerror,
        esterror_us=t.esterror,
        constant=t.constant,
        precision_us=t.precision,
        tolerance_ppm=t.tolerance / tx.SCALED_PPM_PER_PPM,
        tick_us=t.tick,
        tai_s=t.tai,
    )
