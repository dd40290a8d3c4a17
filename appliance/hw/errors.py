"""OSError from a PHC, an ioctl or a sysfs read -> a ClockError whose message says what to do.

The subclasses let callers react (fall back to another measurement method, rediscover a device)
without parsing messages.
"""

from __future__ import annotations

import errno
import os

from ..core.clock.interface import ClockError


class KernelClockError(ClockError):
    """A ClockError from a failed system call; ``errno`` is the call's."""

    errno: int | None = None


class PermissionClockError(KernelClockError):
    pass


class DeviceGoneError(KernelClockError):
    pass


class NotSupportedError(KernelClockError):
    pass


class OutOfRangeError(KernelClockError):
    pass


class BusyError(KernelClockError):
    pass


NOT_SUPPORTED = (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.ENOSYS)
GONE = (errno.ENODEV, errno.ENXIO, errno.ENOENT, errno.EIO, errno.ESHUTDOWN)


def _kernel() -> str:
    return os.uname().release


def explain(exc: OSError, what: str, device: str, driver: str | None = None) -> KernelClockError:
    """``what`` names the operation ("PTP_SYS_OFFSET_PRECISE", "clock_adjtime(ADJ_FREQUENCY)").
    The returned error keeps the errno (``.errno``)."""
    err = _explain(exc, what, device, driver)
    err.errno = exc.errno
    return err


def _explain(exc: OSError, what: str, device: str, driver: str | None) -> KernelClockError:
    code = exc.errno
    reason = os.strerror(code) if code else str(exc)
    who = f"driver {driver}" if driver else "this driver"
    if code in (errno.EACCES, errno.EPERM):
        return PermissionClockError(
            f"{what} on {device}: permission denied ({reason}): run as root or with CAP_SYS_TIME, "
            f"with read-write access to {device}"
        )
    if code in GONE:
        return DeviceGoneError(
            f"{what} on {device}: device gone ({reason}): the NIC was removed, reset or its driver unloaded; "
            f"run `appliance discover` to find its PHC again"
        )
    if code == errno.ERANGE:
        return OutOfRangeError(f"{what} on {device}: value out of the range {who} accepts ({reason})")
    if code == errno.EBUSY:
        return BusyError(
            f"{what} on {device}: device busy ({reason}): virtual clocks in use (n_vclocks) make the physical "
            f"clock free running, or the driver is not ready (PCIe PTM); try again or set n_vclocks to 0"
        )
    if code in NOT_SUPPORTED:
        return NotSupportedError(
            f"{what} on {device}: not supported by {who} or by this kernel ({_kernel()}): {reason}"
        )
    return KernelClockError(f"{what} on {device}: {reason}")
