"""Hot-plug: udev (or kernel) uevents of timing devices, and which of them a running appliance
should log, and how loudly."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The name the monitor has always logged under: log filters and alerts may match it.
log = logging.getLogger("appliance.hw.discovery")


@dataclass(frozen=True)
class HotplugEvent:
    action: str  # add | remove | change | bind | unbind | move
    subsystem: str
    sys_name: str
    devpath: str
    devnode: str | None = None


def describe_event(
    ev: HotplugEvent, watched_phc: str | None = None, watched_interface: str | None = None
) -> tuple[int, str] | None:
    """(logging level, message) for an event that matters to a running appliance, else None."""
    if ev.subsystem == "ptp":
        mine = watched_phc is not None and ev.sys_name == watched_phc
        if ev.action == "remove":
            if mine:
                return logging.ERROR, (
                    f"PHC {ev.sys_name} vanished: the clock this appliance steers is gone "
                    "(NIC removed, reset or driver unloaded); holding over until it returns"
                )
            return logging.WARNING, f"PHC {ev.sys_name} vanished"
        if ev.action == "add":
            if mine:
                return logging.WARNING, f"PHC {ev.sys_name} appeared again: restart the appliance to reopen it"
            return logging.INFO, f"PHC {ev.sys_name} appeared ({ev.devnode or '/dev/' + ev.sys_name})"
    if ev.subsystem == "net" and ev.action in ("add", "remove"):
        mine = watched_interface is not None and ev.sys_name == watched_interface
        verb = "appeared" if ev.action == "add" else "vanished"
        level = logging.ERROR if (mine and ev.action == "remove") else logging.INFO
        return level, f"network interface {ev.sys_name} {verb}" + (" (the one this appliance uses)" if mine else "")
    if ev.subsystem in ("pps", "gnss", "hwmon", "rtc") and ev.action in ("add", "remove"):
        verb = "appeared" if ev.action == "add" else "vanished"
        return logging.INFO, f"{ev.subsystem} device {ev.sys_name} {verb}"
    return None


class HotplugMonitor:
    """Calls ``callback(HotplugEvent)`` from a background thread for every uevent of ``subsystems``.

    Listens to udevd's events when udevd runs (/run/udev/control), else to the kernel's own uevents
    (enough for add/remove; no udev properties). Kernel uevents of network devices reach only the
    network namespace the device lives in.
    """

    def __init__(
        self,
        callback: Callable[[HotplugEvent], None],
        subsystems: tuple[str, ...] = ("net", "ptp", "pps", "gnss", "hwmon"),
        context: Any = None,
        source: str | None = None,
    ) -> None:
        self.callback = callback
        self.subsystems = subsystems
        self._context = context
        self.source = source or ("udev" if os.path.exists("/run/udev/control") else "kernel")
        self._observer: Any = None
        self._lock = threading.Lock()

    def start(self) -> HotplugMonitor:
        import pyudev

        ctx = self._context or pyudev.Context()
        monitor = pyudev.Monitor.from_netlink(ctx, source=self.source)
        for sub in self.subsystems:
            monitor.filter_by(sub)
        self._observer = pyudev.MonitorObserver(monitor, callback=self._on_device, name="hotplug")
        self._observer.daemon = True
        self._observer.start()
        return self

    def _on_device(self, device: Any) -> None:
        ev = HotplugEvent(
            action=device.action or "?",
            subsystem=device.subsystem or "?",
            sys_name=device.sys_name,
            devpath=device.device_path,
            devnode=device.device_node,
        )
        try:
            with self._lock:
                self.callback(ev)
        except Exception:  # a broken callback must not kill the observer thread
            log.exception("hotplug callback failed for %s", ev)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.send_stop()
            self._observer.join(timeout=5)
            self._observer = None
