"""linux/ptp_clock.h: the PTP hardware clock character device (/dev/ptpN).

Names are the header's. Fields newer than some kernels:
  * ptp_clock_caps.adjust_phase (5.8), max_phase_adj (6.2; earlier kernels leave 0 there: rsv[0]);
  * ptp_sys_offset_extended.clockid (6.12; earlier kernels require 0 = CLOCK_REALTIME there: rsv[0]);
  * the "2" ioctls (PTP_*2, 5.8) check flags and reserved fields strictly; older kernels answer ENOTTY.
Reading the device returns whole ``struct ptp_extts_event`` records.
"""

from __future__ import annotations

import ctypes

from .ioctl import _IO, _IOR, _IOW, _IOWR

# Bits of ptp_extts_request.flags
PTP_ENABLE_FEATURE = 1 << 0
PTP_RISING_EDGE = 1 << 1
PTP_FALLING_EDGE = 1 << 2
PTP_STRICT_FLAGS = 1 << 3
PTP_EXT_OFFSET = 1 << 4
PTP_EXTTS_EDGES = PTP_RISING_EDGE | PTP_FALLING_EDGE
PTP_EXTTS_VALID_FLAGS = PTP_ENABLE_FEATURE | PTP_RISING_EDGE | PTP_FALLING_EDGE | PTP_STRICT_FLAGS | PTP_EXT_OFFSET
PTP_EXTTS_V1_VALID_FLAGS = PTP_ENABLE_FEATURE | PTP_RISING_EDGE | PTP_FALLING_EDGE
PTP_EXTTS_EVENT_VALID = PTP_ENABLE_FEATURE

# Bits of ptp_perout_request.flags
PTP_PEROUT_ONE_SHOT = 1 << 0
PTP_PEROUT_DUTY_CYCLE = 1 << 1
PTP_PEROUT_PHASE = 1 << 2
PTP_PEROUT_VALID_FLAGS = PTP_PEROUT_ONE_SHOT | PTP_PEROUT_DUTY_CYCLE | PTP_PEROUT_PHASE
PTP_PEROUT_V1_VALID_FLAGS = 0

PTP_MAX_SAMPLES = 25

# enum ptp_pin_function
PTP_PF_NONE = 0
PTP_PF_EXTTS = 1
PTP_PF_PEROUT = 2
PTP_PF_PHYSYNC = 3
PIN_FUNCTION_NAMES = {PTP_PF_NONE: "none", PTP_PF_EXTTS: "extts", PTP_PF_PEROUT: "perout", PTP_PF_PHYSYNC: "physync"}


class ptp_clock_time(ctypes.Structure):
    """The sign of ``sec`` applies to the whole value; ``nsec`` is always non-negative."""

    _fields_ = [("sec", ctypes.c_int64), ("nsec", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]

    def ns(self) -> int:
        return self.sec * 1_000_000_000 + self.nsec

    @classmethod
    def from_ns(cls, ns: int) -> ptp_clock_time:
        sec, nsec = divmod(int(ns), 1_000_000_000)
        return cls(sec=sec, nsec=nsec)


class ptp_clock_caps(ctypes.Structure):
    _fields_ = [
        ("max_adj", ctypes.c_int),  # ppb
        ("n_alarm", ctypes.c_int),
        ("n_ext_ts", ctypes.c_int),
        ("n_per_out", ctypes.c_int),
        ("pps", ctypes.c_int),
        ("n_pins", ctypes.c_int),
        ("cross_timestamping", ctypes.c_int),
        ("adjust_phase", ctypes.c_int),
        ("max_phase_adj", ctypes.c_int),  # ns
        ("rsv", ctypes.c_int * 11),
    ]


class ptp_extts_request(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint), ("flags", ctypes.c_uint), ("rsv", ctypes.c_uint * 2)]


class _perout_start(ctypes.Union):
    _fields_ = [("start", ptp_clock_time), ("phase", ptp_clock_time)]


class _perout_on(ctypes.Union):
    _fields_ = [("on", ptp_clock_time), ("rsv", ctypes.c_uint * 4)]


class ptp_perout_request(ctypes.Structure):
    _anonymous_ = ("_u0", "_u1")
    _fields_ = [
        ("_u0", _perout_start),
        ("period", ptp_clock_time),
        ("index", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("_u1", _perout_on),
    ]


class ptp_sys_offset(ctypes.Structure):
    """ts holds 2*n_samples+1 stamps: system, phc, system, phc, ..., system."""

    _fields_ = [
        ("n_samples", ctypes.c_uint),
        ("rsv", ctypes.c_uint * 3),
        ("ts", ptp_clock_time * (2 * PTP_MAX_SAMPLES + 1)),
    ]


class ptp_sys_offset_extended(ctypes.Structure):
    """ts[i] = [system before, phc, system after] for i < n_samples."""

    _fields_ = [
        ("n_samples", ctypes.c_uint),
        ("clockid", ctypes.c_int),  # __kernel_clockid_t; 0 = CLOCK_REALTIME
        ("rsv", ctypes.c_uint * 2),
        ("ts", (ptp_clock_time * 3) * PTP_MAX_SAMPLES),
    ]


class ptp_sys_offset_precise(ctypes.Structure):
    _fields_ = [
        ("device", ptp_clock_time),
        ("sys_realtime", ptp_clock_time),
        ("sys_monoraw", ptp_clock_time),
        ("rsv", ctypes.c_uint * 4),
    ]


class ptp_pin_desc(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 64),
        ("index", ctypes.c_uint),
        ("func", ctypes.c_uint),
        ("chan", ctypes.c_uint),
        ("rsv", ctypes.c_uint * 5),
    ]


class ptp_extts_event(ctypes.Structure):
    _fields_ = [
        ("t", ptp_clock_time),
        ("index", ctypes.c_uint),
        ("flags", ctypes.c_uint),
        ("rsv", ctypes.c_uint * 2),
    ]


PTP_CLK_MAGIC = "="

PTP_CLOCK_GETCAPS = _IOR(PTP_CLK_MAGIC, 1, ptp_clock_caps)
PTP_EXTTS_REQUEST = _IOW(PTP_CLK_MAGIC, 2, ptp_extts_request)
PTP_PEROUT_REQUEST = _IOW(PTP_CLK_MAGIC, 3, ptp_perout_request)
PTP_ENABLE_PPS = _IOW(PTP_CLK_MAGIC, 4, ctypes.c_int)
PTP_SYS_OFFSET = _IOW(PTP_CLK_MAGIC, 5, ptp_sys_offset)
PTP_PIN_GETFUNC = _IOWR(PTP_CLK_MAGIC, 6, ptp_pin_desc)
PTP_PIN_SETFUNC = _IOW(PTP_CLK_MAGIC, 7, ptp_pin_desc)
PTP_SYS_OFFSET_PRECISE = _IOWR(PTP_CLK_MAGIC, 8, ptp_sys_offset_precise)
PTP_SYS_OFFSET_EXTENDED = _IOWR(PTP_CLK_MAGIC, 9, ptp_sys_offset_extended)

PTP_CLOCK_GETCAPS2 = _IOR(PTP_CLK_MAGIC, 10, ptp_clock_caps)
PTP_EXTTS_REQUEST2 = _IOW(PTP_CLK_MAGIC, 11, ptp_extts_request)
PTP_PEROUT_REQUEST2 = _IOW(PTP_CLK_MAGIC, 12, ptp_perout_request)
PTP_ENABLE_PPS2 = _IOW(PTP_CLK_MAGIC, 13, ctypes.c_int)
PTP_SYS_OFFSET2 = _IOW(PTP_CLK_MAGIC, 14, ptp_sys_offset)
PTP_PIN_GETFUNC2 = _IOWR(PTP_CLK_MAGIC, 15, ptp_pin_desc)
PTP_PIN_SETFUNC2 = _IOW(PTP_CLK_MAGIC, 16, ptp_pin_desc)
PTP_SYS_OFFSET_PRECISE2 = _IOWR(PTP_CLK_MAGIC, 17, ptp_sys_offset_precise)
PTP_SYS_OFFSET_EXTENDED2 = _IOWR(PTP_CLK_MAGIC, 18, ptp_sys_offset_extended)
PTP_MASK_CLEAR_ALL = _IO(PTP_CLK_MAGIC, 19)
PTP_MASK_EN_SINGLE = _IOW(PTP_CLK_MAGIC, 20, ctypes.c_uint)

IOCTLS = (
    "PTP_CLOCK_GETCAPS",
    "PTP_EXTTS_REQUEST",
    "PTP_PEROUT_REQUEST",
    "PTP_ENABLE_PPS",
    "PTP_SYS_OFFSET",
    "PTP_PIN_GETFUNC",
    "PTP_PIN_SETFUNC",
    "PTP_SYS_OFFSET_PRECISE",
    "PTP_SYS_OFFSET_EXTENDED",
    "PTP_CLOCK_GETCAPS2",
    "PTP_EXTTS_REQUEST2",
    "PTP_PEROUT_REQUEST2",
    "PTP_ENABLE_PPS2",
    "PTP_SYS_OFFSET2",
    "PTP_PIN_GETFUNC2",
    "PTP_PIN_SETFUNC2",
    "PTP_SYS_OFFSET_PRECISE2",
    "PTP_SYS_OFFSET_EXTENDED2",
    "PTP_MASK_CLEAR_ALL",
    "PTP_MASK_EN_SINGLE",
)
IOCTL_NAMES = {globals()[name]: name for name in IOCTLS}  # request number -> name, for messages
