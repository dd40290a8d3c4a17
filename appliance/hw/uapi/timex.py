"""linux/timex.h (struct timex, ADJ_*, STA_*, TIME_*) and the parts of linux/time.h it includes
(struct timeval, struct timespec, CLOCK_*).

On 64-bit Linux glibc's ``struct timex`` (sys/timex.h), which clock_adjtime(3) takes, has exactly this
layout; the ABI test checks both headers.

Units in struct timex: ``freq`` and ``ppsfreq``/``stabil`` are "scaled ppm" (ppm * 2^16);
``offset`` is us, or ns when ADJ_NANO is set in ``modes`` (status STA_NANO on the read side);
with ADJ_SETOFFSET, ``time`` is added to the clock and ``time.tv_usec`` must lie in [0, 1e9) with
ADJ_NANO (the value is tv_sec + tv_usec, so negative steps carry the sign in tv_sec).
"""

from __future__ import annotations

import ctypes

# linux/time.h clock ids
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_TAI = 11

NTP_API = 4


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    def ns(self) -> int:
        return self.tv_sec * 1_000_000_000 + self.tv_nsec

    @classmethod
    def from_ns(cls, ns: int) -> timespec:
        sec, nsec = divmod(int(ns), 1_000_000_000)
        return cls(tv_sec=sec, tv_nsec=nsec)


class timex(ctypes.Structure):
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
        ("time", timeval),
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
        ("_padding", ctypes.c_int * 11),  # int :32 x 11
    ]


# Mode codes (timex.modes)
ADJ_OFFSET = 0x0001
ADJ_FREQUENCY = 0x0002
ADJ_MAXERROR = 0x0004
ADJ_ESTERROR = 0x0008
ADJ_STATUS = 0x0010
ADJ_TIMECONST = 0x0020
ADJ_TAI = 0x0080
ADJ_SETOFFSET = 0x0100
ADJ_MICRO = 0x1000
ADJ_NANO = 0x2000
ADJ_TICK = 0x4000
ADJ_OFFSET_SINGLESHOT = 0x8001
ADJ_OFFSET_SS_READ = 0xA001

# Status codes (timex.status)
STA_PLL = 0x0001
STA_PPSFREQ = 0x0002
STA_PPSTIME = 0x0004
STA_FLL = 0x0008
STA_INS = 0x0010
STA_DEL = 0x0020
STA_UNSYNC = 0x0040
STA_FREQHOLD = 0x0080
STA_PPSSIGNAL = 0x0100
STA_PPSJITTER = 0x0200
STA_PPSWANDER = 0x0400
STA_PPSERROR = 0x0800
STA_CLOCKERR = 0x1000
STA_NANO = 0x2000
STA_MODE = 0x4000
STA_CLK = 0x8000
STA_RONLY = STA_PPSSIGNAL | STA_PPSJITTER | STA_PPSWANDER | STA_PPSERROR | STA_CLOCKERR | STA_NANO | STA_MODE | STA_CLK

STATUS_NAMES = {
    STA_PLL: "PLL",
    STA_PPSFREQ: "PPSFREQ",
    STA_PPSTIME: "PPSTIME",
    STA_FLL: "FLL",
    STA_INS: "INS",
    STA_DEL: "DEL",
    STA_UNSYNC: "UNSYNC",
    STA_FREQHOLD: "FREQHOLD",
    STA_PPSSIGNAL: "PPSSIGNAL",
    STA_PPSJITTER: "PPSJITTER",
    STA_PPSWANDER: "PPSWANDER",
    STA_PPSERROR: "PPSERROR",
    STA_CLOCKERR: "CLOCKERR",
    STA_NANO: "NANO",
    STA_MODE: "MODE",
    STA_CLK: "CLK",
}

# Clock states (return value of adjtimex/clock_adjtime)
TIME_OK = 0
TIME_INS = 1
TIME_DEL = 2
TIME_OOP = 3
TIME_WAIT = 4
TIME_ERROR = 5
TIME_BAD = TIME_ERROR
STATE_NAMES = {
    TIME_OK: "TIME_OK",
    TIME_INS: "TIME_INS",
    TIME_DEL: "TIME_DEL",
    TIME_OOP: "TIME_OOP",
    TIME_WAIT: "TIME_WAIT",
    TIME_ERROR: "TIME_ERROR",
}

SCALED_PPM_PER_PPM = 1 << 16  # timex.freq = ppm * 2^16


def decode_status(status: int) -> list[str]:
    return [name for bit, name in STATUS_NAMES.items() if status & bit]
