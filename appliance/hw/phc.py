"""PhcClock: a Linux PTP hardware clock (/dev/ptpN) behind the appliance's Clock interface.

Time is read and set through the PHC's dynamic clock id (FD_TO_CLOCKID of the open device) with
clock_gettime / clock_settime / clock_adjtime; everything else goes through the PTP ioctls. A PHC that
ptp4l disciplines keeps TAI, so ``info().timescale`` is "TAI".

PHC - CLOCK_REALTIME is measured with the best method the driver offers: PTP_SYS_OFFSET_PRECISE
(hardware cross-timestamp) when caps say cross_timestamping, else PTP_SYS_OFFSET_EXTENDED (the driver
brackets the PHC read with system stamps), else PTP_SYS_OFFSET (the kernel brackets the whole driver
call). The first method that works is remembered; if it stops working the probe starts again.

The "2" ioctls (strict checking of flags and reserved fields, kernel 5.8) are tried first and the
original ones used when the kernel answers ENOTTY.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import math
import os
import re
import select
import stat
from dataclasses import dataclass
from pathlib import Path

from ..core.clock.interface import ClockCaps, ClockError, ClockInfo, SysOffset
from ..core.clock.sysoffset import NoValidSample, best_of, brackets_from_interleaved, from_cross_timestamp
from . import posix_clock as pc
from .errors import BusyError, NotSupportedError, OutOfRangeError, explain
from .sensors import SensorError, nic_sensor
from .uapi import ptp_clock as ptp
from .uapi.ioctl import check_platform
from .uapi.posix_timers import FD_TO_CLOCKID

log = logging.getLogger("appliance.hw.phc")

SYSFS_PTP = Path("/sys/class/ptp")
METHODS = ("precise", "extended", "basic")
BUSY_RETRIES = 3  # EBUSY (PTM not ready, mlx5) is retried, as linuxptp's sysoff_probe does
S32_MAX = 2**31 - 1
_PTP_NAME = re.compile(r"^ptp(\d+)$")


@dataclass(frozen=True)
class Pin:
    index: int
    name: str
    function: str  # none | extts | perout | physync
    channel: int

    def to_dict(self) -> dict:
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


class PhcClock:
    """One open PHC. Not thread-safe: one owner thread (the discipline loop) uses it."""

    def __init__(self, device: str, *, interface: str | None = None, readonly: bool = False,
                 sensor=None, find_sensor: bool = True):
        check_platform()
        self.path, self.phc_index = resolve_device(device)
        self.interface = interface
        self.readonly = readonly
        self.driver = _driver_of(self.phc_index)
        flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_CLOEXEC
        try:
            self._fd = os.open(self.path, flags)
        except OSError as exc:
            raise explain(exc, "open", self.path, self.driver) from None
        self._clockid = FD_TO_CLOCKID(self._fd)
        self._caps: ptp.ptp_clock_caps | None = None
        self._method: str | None = None
        self._sensor_warned = False
        try:
            self._raw_caps()  # ENOTTY here: not a PTP clock at all
        except NotSupportedError:
            os.close(self._fd)
            self._fd = -1
            raise ClockError(f"{self.path} is not a PTP hardware clock (PTP_CLOCK_GETCAPS refused)") from None
        except ClockError:
            os.close(self._fd)
            self._fd = -1
            raise
        self.clock_name = self._sysfs_attr("clock_name")
        if sensor is None and find_sensor and self.phc_index is not None:
            dev = SYSFS_PTP / f"ptp{self.phc_index}" / "device"
            sensor = nic_sensor(dev) if dev.exists() else None
        self.sensor = sensor

    # -- plumbing --------------------------------------------------------------------------------
    def _check_open(self) -> int:
        if self._fd < 0:
            raise ClockError(f"{self.path}: clock is closed")
        return self._fd

    def _err(self, exc: OSError, what: str) -> ClockError:
        return explain(exc, what, self.path, self.driver)

    def _ioctl(self, request: int, arg, what: str | None = None):
        fd = self._check_open()
        try:
            return fcntl.ioctl(fd, request, arg)
        except OSError as exc:
            raise self._err(exc, what or ptp.IOCTL_NAMES.get(request, hex(request))) from None

    def _ioctl2(self, request2: int, request1: int, arg):
        """The strict "2" variant, or the original on kernels without it (ENOTTY)."""
        fd = self._check_open()
        try:
            return fcntl.ioctl(fd, request2, arg)
        except OSError as exc:
            if exc.errno != errno.ENOTTY:
                raise self._err(exc, ptp.IOCTL_NAMES[request2]) from None
        return self._ioctl(request1, arg)

    def _sysfs_attr(self, name: str) -> str | None:
        if self.phc_index is None:
            return None
        try:
            return (SYSFS_PTP / f"ptp{self.phc_index}" / name).read_text().strip()
        except OSError:
            return None

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise ClockError(f"{what} on {self.path}: the clock was opened read-only")

    # -- Clock interface ---------------------------------------------------------------------------
    def info(self) -> ClockInfo:
        return ClockInfo(
            name=self.path,
            kind="phc",
            timescale="TAI",
            details={
                "phc_index": self.phc_index,
                "interface": self.interface,
                "clock_name": self.clock_name,
                "driver": self.driver,
                "offset_method": self._method,
                "temperature_sensor": self.sensor.id if self.sensor is not None else None,
            },
        )

    def _raw_caps(self) -> ptp.ptp_clock_caps:
        if self._caps is None:
            caps = ptp.ptp_clock_caps()
            self._ioctl2(ptp.PTP_CLOCK_GETCAPS2, ptp.PTP_CLOCK_GETCAPS, caps)
            self._caps = caps
        return self._caps

    def caps(self) -> ClockCaps:
        c = self._raw_caps()
        return ClockCaps(
            max_adj_ppb=c.max_adj,
            n_alarm=c.n_alarm,
            n_ext_ts=c.n_ext_ts,
            n_per_out=c.n_per_out,
            pps=bool(c.pps),
            n_pins=c.n_pins,
            cross_timestamping=bool(c.cross_timestamping),
            adjust_phase=bool(c.adjust_phase),
            max_phase_adj_ns=c.max_phase_adj,
        )

    def gettime_ns(self) -> int:
        self._check_open()
        try:
            return pc.clock_gettime_ns(self._clockid)
        except OSError as exc:
            raise self._err(exc, "clock_gettime") from None

    def settime_ns(self, time_ns: int) -> None:
        self._writable("clock_settime")
        if time_ns < 0:
            raise OutOfRangeError(f"clock_settime on {self.path}: time {time_ns} ns is before the epoch")
        self._check_open()
        try:
            pc.clock_settime_ns(self._clockid, time_ns)
        except OSError as exc:
            raise self._err(exc, "clock_settime") from None

    def _adjtime(self, t, what: str) -> int:
        self._check_open()
        try:
            return pc.clock_adjtime(self._clockid, t)
        except OSError as exc:
            raise self._err(exc, what) from None

    def step(self, delta_ns: int) -> None:
        self._writable("clock_adjtime(ADJ_SETOFFSET)")
        self._adjtime(pc.setoffset_timex(int(delta_ns)), "clock_adjtime(ADJ_SETOFFSET)")

    def adjust_frequency(self, freq_ppb: float) -> None:
        what = "clock_adjtime(ADJ_FREQUENCY)"
        self._writable(what)
        max_adj = self._raw_caps().max_adj
        if not math.isfinite(freq_ppb) or abs(freq_ppb) > max_adj:
            raise OutOfRangeError(
                f"{what} on {self.path}: frequency adjustment {freq_ppb:.1f} ppb is beyond max_adj "
                f"{max_adj} ppb of this PHC ({self.driver or 'unknown driver'})")
        self._adjtime(pc.frequency_timex(freq_ppb), what)

    def adjust_frequency_unguarded(self, freq_ppb: float) -> None:
        """ADJ_FREQUENCY without this class's max_adj guard: the kernel's own range check (ERANGE) is
        what the hardware lab tests. Anything else should call ``adjust_frequency``."""
        what = "clock_adjtime(ADJ_FREQUENCY)"
        self._writable(what)
        self._adjtime(pc.frequency_timex(freq_ppb), what)

    def get_frequency_ppb(self) -> float:
        t = pc.tx.timex()
        self._adjtime(t, "clock_adjtime(read)")
        return pc.scaled_ppm_to_ppb(t.freq)

    def adjust_phase(self, offset_ns: int) -> None:
        what = "clock_adjtime(ADJ_OFFSET)"
        self._writable(what)
        c = self._raw_caps()
        if not c.adjust_phase:
            raise NotSupportedError(f"{what} on {self.path}: driver {self.driver or '?'} cannot adjust phase "
                                    f"(caps.adjust_phase 0); step or slew the frequency instead")
        limit = c.max_phase_adj if c.max_phase_adj > 0 else S32_MAX  # 0: kernel older than 6.2
        if abs(offset_ns) > limit:
            raise OutOfRangeError(f"{what} on {self.path}: phase adjustment {offset_ns} ns is beyond "
                                  f"max_phase_adj {limit} ns")
        self._adjtime(pc.offset_timex(int(offset_ns)), what)

    # -- PHC - CLOCK_REALTIME ------------------------------------------------------------------------
    def _measure(self, method: str, samples: int) -> SysOffset:
        if method == "precise":
            buf = ptp.ptp_sys_offset_precise()
            self._ioctl2(ptp.PTP_SYS_OFFSET_PRECISE2, ptp.PTP_SYS_OFFSET_PRECISE, buf)
            return from_cross_timestamp(buf.device.ns(), buf.sys_realtime.ns())
        if method == "extended":
            buf = ptp.ptp_sys_offset_extended(n_samples=samples, clockid=pc.tx.CLOCK_REALTIME)
            self._ioctl2(ptp.PTP_SYS_OFFSET_EXTENDED2, ptp.PTP_SYS_OFFSET_EXTENDED, buf)
            brackets = [(buf.ts[i][0].ns(), buf.ts[i][1].ns(), buf.ts[i][2].ns()) for i in range(samples)]
            return best_of(brackets, "extended")
        buf = ptp.ptp_sys_offset(n_samples=samples)
        self._ioctl2(ptp.PTP_SYS_OFFSET2, ptp.PTP_SYS_OFFSET, buf)
        stamps = [buf.ts[i].ns() for i in range(2 * samples + 1)]
        return best_of(brackets_from_interleaved(stamps), "basic")

    def measure_with(self, method: str, samples: int = 1) -> SysOffset:
        """PHC - CLOCK_REALTIME with the named method (precise | extended | basic), not the remembered
        best one: the hardware lab compares them. NotSupportedError when the driver has no such method,
        BusyError when it is not ready (PTM)."""
        if method not in METHODS:
            raise ClockError(f"unknown sys-offset method {method!r} (one of {', '.join(METHODS)})")
        if method == "precise" and not self._raw_caps().cross_timestamping:
            raise NotSupportedError(f"PTP_SYS_OFFSET_PRECISE on {self.path}: caps.cross_timestamping is 0")
        try:
            return self._measure(method, max(1, min(int(samples), ptp.PTP_MAX_SAMPLES)))
        except NoValidSample as exc:
            raise ClockError(f"{self.path}: {exc}") from None

    def measure_offset_to_system(self, samples: int = 5) -> SysOffset:
        """PHC - CLOCK_REALTIME: best of ``samples`` readings (1..25) by shortest window."""
        samples = max(1, min(int(samples), ptp.PTP_MAX_SAMPLES))
        problems: list[str] = []
        if self._method is not None:  # the method that worked last time, first
            result = self._try_method(self._method, samples, problems)
            if result is not None:
                return result
            log.warning("%s: %s stopped working, probing again: %s", self.path, self._method, problems[-1:])
            self._method = None
        for method in METHODS:
            if method == "precise" and not self._raw_caps().cross_timestamping:
                continue
            result = self._try_method(method, samples, problems)
            if result is not None:
                log.info("%s: measuring PHC - system clock with %s", self.path, method)
                self._method = method
                return result
        raise ClockError(f"{self.path}: no way to compare this PHC with the system clock: " + "; ".join(problems))

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
                raise ClockError(f"{self.path}: {exc}") from None
        return None

    # -- pins, PPS, external timestamps, periodic outputs --------------------------------------------
    def pins(self) -> list[Pin]:
        out = []
        for i in range(self._raw_caps().n_pins):
            desc = ptp.ptp_pin_desc(index=i)
            self._ioctl2(ptp.PTP_PIN_GETFUNC2, ptp.PTP_PIN_GETFUNC, desc)
            out.append(Pin(i, desc.name.decode(errors="replace"),
                           ptp.PIN_FUNCTION_NAMES.get(desc.func, str(desc.func)), desc.chan))
        return out

    def set_pin_function(self, index: int, function: str | int, channel: int = 0) -> None:
        self._writable("PTP_PIN_SETFUNC")
        funcs = {v: k for k, v in ptp.PIN_FUNCTION_NAMES.items()}
        func = funcs.get(function, function) if isinstance(function, str) else function
        if func not in ptp.PIN_FUNCTION_NAMES:
            raise ClockError(f"PTP_PIN_SETFUNC: unknown pin function {function!r} (one of {sorted(funcs)})")
        n_pins = self._raw_caps().n_pins
        if not 0 <= index < n_pins:
            raise OutOfRangeError(f"PTP_PIN_SETFUNC on {self.path}: pin {index} does not exist ({n_pins} pins)")
        desc = ptp.ptp_pin_desc(index=index, func=func, chan=channel)
        self._ioctl2(ptp.PTP_PIN_SETFUNC2, ptp.PTP_PIN_SETFUNC, desc)

    def enable_pps(self, enable: bool = True) -> None:
        """The PHC's PPS event into the kernel's PPS subsystem (/dev/ppsN), not a pin output."""
        self._writable("PTP_ENABLE_PPS")
        if not self._raw_caps().pps:
            raise NotSupportedError(f"PTP_ENABLE_PPS on {self.path}: this PHC has no PPS (caps.pps 0)")
        self._ioctl2(ptp.PTP_ENABLE_PPS2, ptp.PTP_ENABLE_PPS, 1 if enable else 0)

    def request_extts(self, index: int, enable: bool = True, rising: bool = True, falling: bool = False) -> None:
        self._writable("PTP_EXTTS_REQUEST")
        n = self._raw_caps().n_ext_ts
        if not 0 <= index < n:
            raise OutOfRangeError(f"PTP_EXTTS_REQUEST on {self.path}: channel {index} does not exist "
                                  f"({n} external timestamp channels)")
        flags = 0
        if enable:
            flags = ptp.PTP_ENABLE_FEATURE | ptp.PTP_STRICT_FLAGS
            flags |= (ptp.PTP_RISING_EDGE if rising else 0) | (ptp.PTP_FALLING_EDGE if falling else 0)
        req = ptp.ptp_extts_request(index=index, flags=flags)
        try:
            self._ioctl(ptp.PTP_EXTTS_REQUEST2, req)
        except NotSupportedError as exc:
            if getattr(exc, "errno", None) != errno.ENOTTY:  # the driver refused the request itself
                raise
            req.flags &= ptp.PTP_EXTTS_V1_VALID_FLAGS  # kernels before 5.8 know no strict flag
            self._ioctl(ptp.PTP_EXTTS_REQUEST, req)

    def read_extts(self, timeout_s: float = 1.0, max_events: int = 16) -> list[ExttsEvent]:
        """External timestamp events queued by the driver; waits up to ``timeout_s`` for the first."""
        fd = self._check_open()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        if not poller.poll(max(0, int(timeout_s * 1000))):
            return []
        try:
            data = os.read(fd, ctypes.sizeof(ptp.ptp_extts_event) * max(1, max_events))
        except OSError as exc:
            raise self._err(exc, "read(extts events)") from None
        return parse_extts_events(data)

    def request_perout(self, index: int, period_ns: int, start_ns: int | None = None, phase_ns: int | None = None,
                       on_ns: int | None = None, one_shot: bool = False) -> None:
        """Periodic output on channel ``index``; ``period_ns`` 0 switches it off. Without ``start_ns`` or
        ``phase_ns`` the output starts on the PHC's second after next."""
        self._writable("PTP_PEROUT_REQUEST")
        n = self._raw_caps().n_per_out
        if not 0 <= index < n:
            raise OutOfRangeError(f"PTP_PEROUT_REQUEST on {self.path}: channel {index} does not exist "
                                  f"({n} periodic outputs)")
        if period_ns < 0 or (on_ns is not None and not 0 < on_ns < period_ns):
            raise OutOfRangeError(f"PTP_PEROUT_REQUEST: need period >= 0 and 0 < on < period "
                                  f"(period {period_ns} ns, on {on_ns} ns)")
        req = ptp.ptp_perout_request(index=index, period=ptp.ptp_clock_time.from_ns(period_ns))
        flags = 0
        if phase_ns is not None:
            flags |= ptp.PTP_PEROUT_PHASE
            req.phase = ptp.ptp_clock_time.from_ns(phase_ns)
        elif period_ns:
            if start_ns is None:
                start_ns = (self.gettime_ns() // pc.NS_PER_S + 2) * pc.NS_PER_S
            req.start = ptp.ptp_clock_time.from_ns(start_ns)
        if on_ns is not None:
            flags |= ptp.PTP_PEROUT_DUTY_CYCLE
            req.on = ptp.ptp_clock_time.from_ns(on_ns)
        if one_shot:
            flags |= ptp.PTP_PEROUT_ONE_SHOT
        req.flags = flags
        try:
            self._ioctl(ptp.PTP_PEROUT_REQUEST2, req)
        except NotSupportedError as exc:
            if getattr(exc, "errno", None) != errno.ENOTTY or flags:  # the original ioctl takes no flags
                raise
            self._ioctl(ptp.PTP_PEROUT_REQUEST, req)

    # -- temperature, lifecycle ----------------------------------------------------------------------
    def temperature_c(self) -> float | None:
        """The NIC's own temperature sensor, when it has one (None otherwise or when unreadable)."""
        if self.sensor is None:
            return None
        try:
            return self.sensor.temperature_c()
        except SensorError as exc:
            if not self._sensor_warned:
                log.warning("%s: temperature sensor unreadable: %s", self.path, exc)
                self._sensor_warned = True
            return None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PhcClock:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


def open_phc(interface: str | None = None, device: str | None = None, readonly: bool = False) -> PhcClock:
    """The PHC of ``interface`` (its ETHTOOL_GET_TS_INFO phc_index), or ``device`` (/dev/ptpN).
    With both, the device must be the interface's PHC."""
    from .timestamping import get_ts_info

    if not interface and not device:
        raise ClockError("a PHC needs an interface (clock.interface) or a device (clock.device)")
    if interface:
        ts = get_ts_info(interface)
        if ts.phc_index < 0:
            caps = ", ".join(ts.capabilities) or "no timestamping"
            raise ClockError(
                f"interface {interface} has no PTP hardware clock (ETHTOOL_GET_TS_INFO phc_index -1; it offers: "
                f"{caps}); use a NIC with hardware timestamping, see `appliance discover`")
        if device:
            _, index = resolve_device(device)
            if index != ts.phc_index:
                raise ClockError(f"clock.device {device} is not the PHC of interface {interface} "
                                 f"(that is /dev/ptp{ts.phc_index})")
        else:
            device = f"/dev/ptp{ts.phc_index}"
    return PhcClock(device, interface=interface, readonly=readonly)
