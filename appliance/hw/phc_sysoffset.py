"""PHC - CLOCK_REALTIME, measured with the best method the driver offers: PTP_SYS_OFFSET_PRECISE
(hardware cross-timestamp) when caps say cross_timestamping, else PTP_SYS_OFFSET_EXTENDED (the driver
brackets the PHC read with system stamps), else PTP_SYS_OFFSET (the kernel brackets the whole driver
call). The first method that works is remembered; if it stops working the probe starts again.
"""

from __future__ import annotations

import logging

from ..core.clock.interface import ClockError, SysOffset
from ..core.clock.sysoffset import NoValidSample, best_of, brackets_from_interleaved, from_cross_timestamp
from . import posix_clock as pc
from .errors import BusyError, NotSupportedError
from .phc_device import PhcDevice
from .uapi import ptp_clock as ptp

# The PHC's logger, as before the measurement had a module of its own: log filters may match it.
log = logging.getLogger("appliance.hw.phc")

METHODS = ("precise", "extended", "basic")
BUSY_RETRIES = 3  # EBUSY (PTM not ready, mlx5) is retried, as linuxptp's sysoff_probe does


class SysOffsetProbe:
    """Measures one PHC against CLOCK_REALTIME; ``method`` is the one that worked last (or None)."""

    def __init__(self, device: PhcDevice) -> None:
        self.device = device
        self.method: str | None = None

    def _measure(self, method: str, samples: int) -> SysOffset:
        dev = self.device
        if method == "precise":
            precise = ptp.ptp_sys_offset_precise()
            dev.ioctl2(ptp.PTP_SYS_OFFSET_PRECISE2, ptp.PTP_SYS_OFFSET_PRECISE, precise)
            return from_cross_timestamp(precise.device.ns(), precise.sys_realtime.ns())
        if method == "extended":
            ext = ptp.ptp_sys_offset_extended(n_samples=samples, clockid=pc.tx.CLOCK_REALTIME)
            dev.ioctl2(ptp.PTP_SYS_OFFSET_EXTENDED2, ptp.PTP_SYS_OFFSET_EXTENDED, ext)
            brackets = [(ext.ts[i][0].ns(), ext.ts[i][1].ns(), ext.ts[i][2].ns()) for i in range(samples)]
            return best_of(brackets, "extended")
        buf = ptp.ptp_sys_offset(n_samples=samples)
        dev.ioctl2(ptp.PTP_SYS_OFFSET2, ptp.PTP_SYS_OFFSET, buf)
        stamps = [buf.ts[i].ns() for i in range(2 * samples + 1)]
        return best_of(brackets_from_interleaved(stamps), "basic")

    def measure(self, samples: int = 5) -> SysOffset:
        """PHC - CLOCK_REALTIME: best of ``samples`` readings (1..25) by shortest window."""
        path = self.device.path
        samples = max(1, min(int(samples), ptp.PTP_MAX_SAMPLES))
        problems: list[str] = []
        if self.method is not None:  # the method that worked last time, first
            result = self._try_method(self.method, samples, problems)
            if result is not None:
                return result
            log.warning("%s: %s stopped working, probing again: %s", path, self.method, problems[-1:])
            self.method = None
        for method in METHODS:
            if method == "precise" and not self.device.raw_caps().cross_timestamping:
                continue
            result = self._try_method(method, samples, problems)
            if result is not None:
                log.info("%s: measuring PHC - system clock with %s", path, method)
                self.method = method
                return result
        raise ClockError(f"{path}: no way to compare this PHC with the system clock: " + "; ".join(problems))

    def measure_with(self, method: str, samples: int = 1) -> SysOffset:
        """PHC - CLOCK_REALTIME with the named method (precise | extended | basic), not the remembered
        best one: the hardware lab compares them. NotSupportedError when the driver has no such method,
        BusyError when it is not ready (PTM)."""
        if method not in METHODS:
            raise ClockError(f"unknown sys-offset method {method!r} (one of {', '.join(METHODS)})")
        if method == "precise" and not self.device.raw_caps().cross_timestamping:
            raise NotSupportedError(f"PTP_SYS_OFFSET_PRECISE on {self.device.path}: caps.cross_timestamping is 0")
        try:
            return self._measure(method, max(1, min(int(samples), ptp.PTP_MAX_SAMPLES)))
        except NoValidSample as exc:
            raise ClockError(f"{self.device.path}: {exc}") from None

    def _try_method(self, method: str, samples: int, problems: list[str]) -> SysOffset | None:
        for _ in range(BUSY_RETRIES):
            try:
                return self._measure(method, samples)
            except BusyError as exc:
                problems.append(str(exc))
            except NotSupportedError as exc:
                problems.append(str(exc))
                return None
            except NoValidSample as exc:
                raise ClockError(f"{self.device.path}: {exc}") from None
        return None
