"""The dynamic POSIX clock id of an open character device (a PHC), as the kernel defines it in
include/linux/posix-timers.h (not exported to user space; linuxptp's missing.h and the kernel's
tools/testing/selftests/ptp/testptp.c carry the same definition):

    CLOCKFD            = 3
    FD_TO_CLOCKID(fd)  = (~fd << 3) | CLOCKFD      as a 32-bit clockid_t (negative)
    CLOCKID_TO_FD(clk) = ~(clk >> 3)

clock_gettime/clock_settime/clock_adjtime on that id act on the PHC behind ``fd``.
"""

from __future__ import annotations

CLOCKFD = 3
CLOCKFD_MASK = 7  # the low 3 bits select the kind of CPU/dynamic clock


def _to_s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def FD_TO_CLOCKID(fd: int) -> int:
    if fd < 0:
        raise ValueError(f"not a file descriptor: {fd}")
    return _to_s32(((~fd & 0xFFFFFFFF) << 3) | CLOCKFD)


def CLOCKID_TO_FD(clockid: int) -> int:
    return (~(clockid >> 3)) & 0xFFFFFFFF


def is_dynamic_clockid(clockid: int) -> bool:
    return clockid < 0 and (clockid & CLOCKFD_MASK) == CLOCKFD
