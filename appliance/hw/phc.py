"""PhcClock: a Linux PTP hardware clock (/dev/ptpN) behind the appliance's Clock interface.

Time is read and set through the PHC's dynamic clock id (FD_TO_CLOCKID of the open device) with
clock_gettime / clock_settime / clock_adjtime; everything else goes through the PTP ioctls. A PHC that
ptp4l disciplines keeps TAI, so ``info().timescale`` is "TAI".

The parts, one concern each: phc_device.py opens the device and carries every ioctl (PhcClock is a
PhcDevice); phc_sysoffset.py measures PHC - CLOCK_REALTIME with the best method the driver offers;
phc_pins.py drives the pins, PPS, external timestamps and periodic outputs. open_phc finds the PHC
of an interface.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..core.clock.interface import ClockCaps, ClockError, ClockInfo, SysOffset
from . import posix_clock as pc
from .errors import NotSupportedError, OutOfRangeError
from .phc_device import SYSFS_PTP, PhcDevice, resolve_device
from .phc_pins import ExttsEvent, PhcPins, Pin
from .phc_sysoffset import SysOffsetProbe
from .sensors import SensorError, nic_sensor

log = logging.getLogger("appliance.hw.phc")

S32_MAX = 2**31 - 1


class PhcClock(PhcDevice):
    """One open PHC. Not thread-safe: one owner thread (the discipline loop) uses it."""

    def __init__(
        self,
        device: str,
        *,
        interface: str | None = None,
        readonly: bool = False,
        sensor: Any = None,
        find_sensor: bool = True,
    ) -> None:
        self.interface = interface
        self._sensor_warned = False
        super().__init__(device, readonly=readonly)
        self._sysoffset = SysOffsetProbe(self)
        self._pins = PhcPins(self, self.gettime_ns)
        if sensor is None and find_sensor and self.phc_index is not None:
            dev = SYSFS_PTP / f"ptp{self.phc_index}" / "device"
            sensor = nic_sensor(dev) if dev.exists() else None
        self.sensor = sensor

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
                "offset_method": self._sysoffset.method,
                "temperature_sensor": self.sensor.id if self.sensor is not None else None,
            },
        )

    def caps(self) -> ClockCaps:
        c = self.raw_caps()
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
        self.check_open()
        try:
            return pc.clock_gettime_ns(self._clockid)
        except OSError as exc:
            raise self.error(exc, "clock_gettime") from None

    def settime_ns(self, time_ns: int) -> None:
        self.require_writable("clock_settime")
        if time_ns < 0:
            raise OutOfRangeError(f"clock_settime on {self.path}: time {time_ns} ns is before the epoch")
        self.check_open()
        try:
            pc.clock_settime_ns(self._clockid, time_ns)
        except OSError as exc:
            raise self.error(exc, "clock_settime") from None

    def step(self, delta_ns: int) -> None:
        self.require_writable("clock_adjtime(ADJ_SETOFFSET)")
        self.adjtime(pc.setoffset_timex(int(delta_ns)), "clock_adjtime(ADJ_SETOFFSET)")

    def adjust_frequency(self, freq_ppb: float) -> None:
        what = "clock_adjtime(ADJ_FREQUENCY)"
        self.require_writable(what)
        max_adj = self.raw_caps().max_adj
        if not math.isfinite(freq_ppb) or abs(freq_ppb) > max_adj:
            raise OutOfRangeError(
                f"{what} on {self.path}: frequency adjustment {freq_ppb:.1f} ppb is beyond max_adj "
                f"{max_adj} ppb of this PHC ({self.driver or 'unknown driver'})"
            )
        self.adjtime(pc.frequency_timex(freq_ppb), what)

    def adjust_frequency_unguarded(self, freq_ppb: float) -> None:
        """ADJ_FREQUENCY without this class's max_adj guard: the kernel's own range check (ERANGE) is
        what the hardware lab tests. Anything else should call ``adjust_frequency``."""
        what = "clock_adjtime(ADJ_FREQUENCY)"
        self.require_writable(what)
        self.adjtime(pc.frequency_timex(freq_ppb), what)

    def get_frequency_ppb(self) -> float:
        t = pc.tx.timex()
        self.adjtime(t, "clock_adjtime(read)")
        return pc.scaled_ppm_to_ppb(t.freq)

    def adjust_phase(self, offset_ns: int) -> None:
        what = "clock_adjtime(ADJ_OFFSET)"
        self.require_writable(what)
        c = self.raw_caps()
        if not c.adjust_phase:
            raise NotSupportedError(
                f"{what} on {self.path}: driver {self.driver or '?'} cannot adjust phase "
                f"(caps.adjust_phase 0); step or slew the frequency instead"
            )
        limit = c.max_phase_adj if c.max_phase_adj > 0 else S32_MAX  # 0: kernel older than 6.2
        if abs(offset_ns) > limit:
            raise OutOfRangeError(
                f"{what} on {self.path}: phase adjustment {offset_ns} ns is beyond max_phase_adj {limit} ns"
            )
        self.adjtime(pc.offset_timex(int(offset_ns)), what)

    def measure_with(self, method: str, samples: int = 1) -> SysOffset:
        """PHC - CLOCK_REALTIME with the named method, not the remembered best one (the lab)."""
        return self._sysoffset.measure_with(method, samples)

    def measure_offset_to_system(self, samples: int = 5) -> SysOffset:
        """PHC - CLOCK_REALTIME: best of ``samples`` readings (1..25) by shortest window."""
        return self._sysoffset.measure(samples)

    # -- pins, PPS, external timestamps, periodic outputs (phc_pins.py) -------------------------------
    def pins(self) -> list[Pin]:
        return self._pins.pins()

    def set_pin_function(self, index: int, function: str | int, channel: int = 0) -> None:
        self._pins.set_pin_function(index, function, channel)

    def enable_pps(self, enable: bool = True) -> None:
        """The PHC's PPS event into the kernel's PPS subsystem (/dev/ppsN), not a pin output."""
        self._pins.enable_pps(enable)

    def request_extts(self, index: int, enable: bool = True, rising: bool = True, falling: bool = False) -> None:
        self._pins.request_extts(index, enable, rising, falling)

    def read_extts(self, timeout_s: float = 1.0, max_events: int = 16) -> list[ExttsEvent]:
        """External timestamp events queued by the driver; waits up to ``timeout_s`` for the first."""
        return self._pins.read_extts(timeout_s, max_events)

    def request_perout(
        self,
        index: int,
        period_ns: int,
        start_ns: int | None = None,
        phase_ns: int | None = None,
        on_ns: int | None = None,
        one_shot: bool = False,
    ) -> None:
        """Periodic output on channel ``index``; ``period_ns`` 0 switches it off."""
        self._pins.request_perout(index, period_ns, start_ns, phase_ns, on_ns, one_shot)

    # -- temperature -----------------------------------------------------------------------------------
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


def open_phc(interface: str | None = None, device: str | None = None, readonly: bool = False) -> PhcClock:
    """The PHC of ``interface`` (its ETHTOOL_GET_TS_INFO phc_index), or ``device`` (/dev/ptpN).
    With both, the device must be the interface's PHC."""
    from .timestamping import get_ts_info

    if interface:
        ts = get_ts_info(interface)
        if ts.phc_index < 0:
            caps = ", ".join(ts.capabilities) or "no timestamping"
            raise ClockError(
                f"interface {interface} has no PTP hardware clock (ETHTOOL_GET_TS_INFO phc_index -1; it offers: "
                f"{caps}); use a NIC with hardware timestamping, see `appliance discover`"
            )
        if device:
            _, index = resolve_device(device)
            if index != ts.phc_index:
                raise ClockError(
                    f"clock.device {device} is not the PHC of interface {interface} (that is /dev/ptp{ts.phc_index})"
                )
        else:
            device = f"/dev/ptp{ts.phc_index}"
    elif not device:
        raise ClockError("a PHC needs an interface (clock.interface) or a device (clock.device)")
    return PhcClock(device, interface=interface, readonly=readonly)
