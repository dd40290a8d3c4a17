"""A PHC's pins and event channels: pin functions (PTP_PIN_GETFUNC / SETFUNC), the PPS event into the
kernel's PPS subsystem, external timestamps (PTP_EXTTS_REQUEST and the events read(2) returns) and
periodic outputs (PTP_PEROUT_REQUEST). Each request is checked against the caps first, so that a
channel that does not exist is named, not an EINVAL.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.clock.interface import ClockError
from . import posix_clock as pc
from .errors import NotSupportedError, OutOfRangeError
from .phc_device import PhcDevice
from .uapi import ptp_clock as ptp


@dataclass(frozen=True)
class Pin:
    index: int
    name: str
    function: str  # none | extts | perout | physync
    channel: int

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "function": self.function, "channel": self.channel}


@dataclass(frozen=True)
class ExttsEvent:
    index: int  # channel
    time_ns: int  # PHC time of the edge
    flags: int


def parse_extts_events(data: bytes) -> list[ExttsEvent]:
    """Whole ``struct ptp_extts_event`` records, as read(2) on the PHC returns them."""
    size = ctypes.sizeof(ptp.ptp_extts_event)
    if len(data) % size:
        raise ClockError(f"read {len(data)} bytes from the PHC, not a whole number of {size}-byte events")
    out = []
    for i in range(0, len(data), size):
        ev = ptp.ptp_extts_event.from_buffer_copy(data, i)
        out.append(ExttsEvent(index=ev.index, time_ns=ev.t.ns(), flags=ev.flags))
    return out


class PhcPins:
    """The pins and event channels of one open PHC; ``gettime_ns`` reads that PHC (a periodic output
    without a start time starts on its second after next)."""

    def __init__(self, device: PhcDevice, gettime_ns: Callable[[], int]) -> None:
        self.device = device
        self._gettime_ns = gettime_ns

    def pins(self) -> list[Pin]:
        dev = self.device
        out = []
        for i in range(dev.raw_caps().n_pins):
            desc = ptp.ptp_pin_desc(index=i)
            dev.ioctl2(ptp.PTP_PIN_GETFUNC2, ptp.PTP_PIN_GETFUNC, desc)
            out.append(
                Pin(
                    i,
                    desc.name.decode(errors="replace"),
                    ptp.PIN_FUNCTION_NAMES.get(desc.func, str(desc.func)),
                    desc.chan,
                )
            )
        return out

    def set_pin_function(self, index: int, function: str | int, channel: int = 0) -> None:
        dev = self.device
        dev.require_writable("PTP_PIN_SETFUNC")
        funcs = {v: k for k, v in ptp.PIN_FUNCTION_NAMES.items()}
        func = funcs.get(function, function) if isinstance(function, str) else function
        if func not in ptp.PIN_FUNCTION_NAMES:
            raise ClockError(f"PTP_PIN_SETFUNC: unknown pin function {function!r} (one of {sorted(funcs)})")
        n_pins = dev.raw_caps().n_pins
        if not 0 <= index < n_pins:
            raise OutOfRangeError(f"PTP_PIN_SETFUNC on {dev.path}: pin {index} does not exist ({n_pins} pins)")
        desc = ptp.ptp_pin_desc(index=index, func=func, chan=channel)
        dev.ioctl2(ptp.PTP_PIN_SETFUNC2, ptp.PTP_PIN_SETFUNC, desc)

    def enable_pps(self, enable: bool = True) -> None:
        """The PHC's PPS event into the kernel's PPS subsystem (/dev/ppsN), not a pin output."""
        dev = self.device
        dev.require_writable("PTP_ENABLE_PPS")
        if not dev.raw_caps().pps:
            raise NotSupportedError(f"PTP_ENABLE_PPS on {dev.path}: this PHC has no PPS (caps.pps 0)")
        dev.ioctl2(ptp.PTP_ENABLE_PPS2, ptp.PTP_ENABLE_PPS, 1 if enable else 0)

    def request_extts(self, index: int, enable: bool = True, rising: bool = True, falling: bool = False) -> None:
        dev = self.device
        dev.require_writable("PTP_EXTTS_REQUEST")
        n = dev.raw_caps().n_ext_ts
        if not 0 <= index < n:
            raise OutOfRangeError(
                f"PTP_EXTTS_REQUEST on {dev.path}: channel {index} does not exist ({n} external timestamp channels)"
            )
        flags = 0
        if enable:
            flags = ptp.PTP_ENABLE_FEATURE | ptp.PTP_STRICT_FLAGS
            flags |= (ptp.PTP_RISING_EDGE if rising else 0) | (ptp.PTP_FALLING_EDGE if falling else 0)
        req = ptp.ptp_extts_request(index=index, flags=flags)
        try:
            dev.ioctl(ptp.PTP_EXTTS_REQUEST2, req)
        except NotSupportedError as exc:
            if getattr(exc, "errno", None) != errno.ENOTTY:  # the driver refused the request itself
                raise
            req.flags &= ptp.PTP_EXTTS_V1_VALID_FLAGS  # kernels before 5.8 know no strict flag
            dev.ioctl(ptp.PTP_EXTTS_REQUEST, req)

    def read_extts(self, timeout_s: float = 1.0, max_events: int = 16) -> list[ExttsEvent]:
        """External timestamp events queued by the driver; waits up to ``timeout_s`` for the first."""
        dev = self.device
        fd = dev.check_open()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        if not poller.poll(max(0, int(timeout_s * 1000))):
            return []
        try:
            data = os.read(fd, ctypes.sizeof(ptp.ptp_extts_event) * max(1, max_events))
        except OSError as exc:
            raise dev.error(exc, "read(extts events)") from None
        return parse_extts_events(data)

    def request_perout(
        self,
        index: int,
        period_ns: int,
        start_ns: int | None = None,
        phase_ns: int | None = None,
        on_ns: int | None = None,
        one_shot: bool = False,
    ) -> None:
        """Periodic output on channel ``index``; ``period_ns`` 0 switches it off. Without ``start_ns`` or
        ``phase_ns`` the output starts on the PHC's second after next."""
        dev = self.device
        dev.require_writable("PTP_PEROUT_REQUEST")
        n = dev.raw_caps().n_per_out
        if not 0 <= index < n:
            raise OutOfRangeError(
                f"PTP_PEROUT_REQUEST on {dev.path}: channel {index} does not exist ({n} periodic outputs)"
            )
        if period_ns < 0 or (on_ns is not None and not 0 < on_ns < period_ns):
            raise OutOfRangeError(
                f"PTP_PEROUT_REQUEST: need period >= 0 and 0 < on < period (period {period_ns} ns, on {on_ns} ns)"
            )
        req = ptp.ptp_perout_request(index=index, period=ptp.ptp_clock_time.from_ns(period_ns))
        flags = 0
        if phase_ns is not None:
            flags |= ptp.PTP_PEROUT_PHASE
            req.phase = ptp.ptp_clock_time.from_ns(phase_ns)
        elif period_ns:
            if start_ns is None:
                start_ns = (self._gettime_ns() // pc.NS_PER_S + 2) * pc.NS_PER_S
            req.start = ptp.ptp_clock_time.from_ns(start_ns)
        if on_ns is not None:
            flags |= ptp.PTP_PEROUT_DUTY_CYCLE
            req.on = ptp.ptp_clock_time.from_ns(on_ns)
        if one_shot:
            flags |= ptp.PTP_PEROUT_ONE_SHOT
        req.flags = flags
        try:
            dev.ioctl(ptp.PTP_PEROUT_REQUEST2, req)
        except NotSupportedError as exc:
            if getattr(exc, "errno", None) != errno.ENOTTY or flags:  # the original ioctl takes no flags
                raise
            dev.ioctl(ptp.PTP_PEROUT_REQUEST, req)
