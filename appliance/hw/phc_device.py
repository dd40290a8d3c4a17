"""PhcDevice: one open /dev/ptpN and the plumbing every PHC operation goes through: the file
descriptor and its dynamic clock id (FD_TO_CLOCKID), the PTP ioctls with errors explained, the
cached PTP_CLOCK_GETCAPS, the device's sysfs attributes, open and close.

The "2" ioctls (strict checking of flags and reserved fields, kernel 5.8) are tried first and the
original ones used when the kernel answers ENOTTY.

PhcClock (phc.py) is this device behind the appliance's Clock interface; the measurement against
the system clock (phc_sysoffset.py) and the pins and event channels (phc_pins.py) use it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from pathlib import Path
from typing import Any, Self

from ..core.clock.interface import ClockError
from . import posix_clock as pc
from .errors import NotSupportedError, explain
from .uapi import ptp_clock as ptp
from .uapi.ioctl import check_platform
from .uapi.posix_timers import FD_TO_CLOCKID

SYSFS_PTP = Path("/sys/class/ptp")
_PTP_NAME = re.compile(r"^ptp(\d+)$")


def resolve_device(device: str) -> tuple[str, int | None]:
    """'/dev/ptp0', 'ptp0' or a symlink (/dev/ptp_ice) -> (path, phc index or None)."""
    path = device if "/" in device else f"/dev/{device}"
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise ClockError(f"{device}: no such device; `appliance discover` lists the PHCs of this machine") from None
    except OSError as exc:
        raise explain(exc, "stat", device) from None
    if not stat.S_ISCHR(st.st_mode):
        raise ClockError(f"{device}: not a character device, so not a PTP hardware clock")
    m = _PTP_NAME.match(os.path.basename(real))
    return path, (int(m.group(1)) if m else None)


def _driver_of(phc_index: int | None) -> str | None:
    if phc_index is None:
        return None
    link = SYSFS_PTP / f"ptp{phc_index}" / "device" / "driver"
    try:
        return os.path.basename(os.readlink(link))
    except OSError:
        return None


class PhcDevice:
    """One open PHC device. Not thread-safe: one owner thread uses it."""

    def __init__(self, device: str, *, readonly: bool = False) -> None:
        check_platform()
        self.path, self.phc_index = resolve_device(device)
        self.readonly = readonly
        self.driver = _driver_of(self.phc_index)
        flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_CLOEXEC
        try:
            self._fd = os.open(self.path, flags)
        except OSError as exc:
            raise explain(exc, "open", self.path, self.driver) from None
        self._clockid = FD_TO_CLOCKID(self._fd)
        self._caps: ptp.ptp_clock_caps | None = None
        try:
            self.raw_caps()  # ENOTTY here: not a PTP clock at all
        except NotSupportedError:
            os.close(self._fd)
            self._fd = -1
            raise ClockError(f"{self.path} is not a PTP hardware clock (PTP_CLOCK_GETCAPS refused)") from None
        except ClockError:
            os.close(self._fd)
            self._fd = -1
            raise
        self.clock_name = self.sysfs_attr("clock_name")

    def check_open(self) -> int:
        """The file descriptor; ClockError once the device is closed."""
        if self._fd < 0:
            raise ClockError(f"{self.path}: clock is closed")
        return self._fd

    def error(self, exc: OSError, what: str) -> ClockError:
        return explain(exc, what, self.path, self.driver)

    def ioctl(self, request: int, arg: Any, what: str | None = None) -> Any:
        fd = self.check_open()
        try:
            return fcntl.ioctl(fd, request, arg)
        except OSError as exc:
            raise self.error(exc, what or ptp.IOCTL_NAMES.get(request, hex(request))) from None

    def ioctl2(self, request2: int, request1: int, arg: Any) -> Any:
        """The strict "2" variant, or the original on kernels without it (ENOTTY)."""
        fd = self.check_open()
        try:
            return fcntl.ioctl(fd, request2, arg)
        except OSError as exc:
            if exc.errno != errno.ENOTTY:
                raise self.error(exc, ptp.IOCTL_NAMES[request2]) from None
        return self.ioctl(request1, arg)

    def adjtime(self, t: Any, what: str) -> int:
        """clock_adjtime on the device's clock id with a prepared struct timex."""
        self.check_open()
        try:
            return pc.clock_adjtime(self._clockid, t)
        except OSError as exc:
            raise self.error(exc, what) from None

    def sysfs_attr(self, name: str) -> str | None:
        if self.phc_index is None:
            return None
        try:
            return (SYSFS_PTP / f"ptp{self.phc_index}" / name).read_text().strip()
        except OSError:
            return None

    def require_writable(self, what: str) -> None:
        if self.readonly:
            raise ClockError(f"{what} on {self.path}: the clock was opened read-only")

    def raw_caps(self) -> ptp.ptp_clock_caps:
        """PTP_CLOCK_GETCAPS, read once: the capabilities of a device do not change while it is open."""
        if self._caps is None:
            caps = ptp.ptp_clock_caps()
            self.ioctl2(ptp.PTP_CLOCK_GETCAPS2, ptp.PTP_CLOCK_GETCAPS, caps)
            self._caps = caps
        return self._caps

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
