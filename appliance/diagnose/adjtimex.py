"""Read the kernel's NTP state with adjtimex(2), modes = 0: a read that changes nothing and needs no
privilege. (appliance.hw will carry the full clock_adjtime bindings; this is the minimal read-only
call `diagnose` needs.) The decoding is pure: appliance.core.sysclock_report.decode_timex.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Timex(ctypes.Structure):
    """struct timex, include/uapi/linux/timex.h (the glibc layout: natural alignment of each field)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


class AdjtimexError(OSError):
    pass


def read_timex() -> dict:
    """The kernel's timex fields and adjtimex's return value (the clock state), as plain ints."""
    name = ctypes.util.find_library("c")
    if name is None:
        raise AdjtimexError("libc not found")
    libc = ctypes.CDLL(name, use_errno=True)
    if not hasattr(libc, "adjtimex"):
        raise AdjtimexError("this libc has no adjtimex")
    tx = Timex()
    tx.modes = 0  # read only
    ret = libc.adjtimex(ctypes.byref(tx))
    if ret < 0:
        err = ctypes.get_errno()
        raise AdjtimexError(err, f"adjtimex: {os.strerror(err)}")
    out = {name: int(getattr(tx, name)) for name, _ in Timex._fields_ if name not in ("time", "_reserved")}
    out["time_sec"], out["time_usec"] = int(tx.time.tv_sec), int(tx.time.tv_usec)
    out["return"] = int(ret)
    return out
