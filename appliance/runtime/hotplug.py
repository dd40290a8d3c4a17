"""Hot-plug: a PHC or NIC that vanishes or appears is logged at once and handed to the next tick
as a notice (the node lists it in its status events)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..core.clock.interface import ClockInfo
from ..core.node_types import Notice

log = logging.getLogger("appliance.hotplug")


def start_hotplug(info: ClockInfo, notify: Callable[[Notice], None]) -> Any:
    """The running monitor (``.stop()``), or None: only a PHC is watched; monitoring is an aid,
    so a monitor that cannot start is a warning, not a reason to stop serving."""
    if info.kind != "phc":
        return None
    from ..hw.discovery.hotplug import HotplugMonitor, describe_event

    index = info.details.get("phc_index")
    phc = f"ptp{index}" if index is not None else None

    def on_event(ev: Any) -> None:
        said = describe_event(ev, watched_phc=phc, watched_interface=info.details.get("interface"))
        if said is not None:
            level, text = said
            log.log(level, "%s", text)
            notify(Notice(time.time(), "hotplug", text, logging.getLevelName(level).lower()))

    try:
        return HotplugMonitor(on_event, subsystems=("ptp", "net")).start()
    except Exception as exc:  # noqa: BLE001
        log.warning("hot-plug monitoring unavailable: %s", exc)
        return None
