"""The ptp section of `status`: a running PtpManager's, or the one of a node without PTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import PtpManager


def of(m: PtpManager) -> dict[str, Any]:
    """`status`'s ptp section of a running manager: ptp4l as observed, what this node advertises,
    its children and counters."""
    p = m.cfg.ptp
    rec = m.record.status()
    with m._lock:
        return {
            "enabled": True,
            **m.watch.observed_status(m.own_identity),
            "interface": p.interface,
            "domain": p.domain,
            "transport": p.transport,
            "timestamping": p.timestamping,
            "free_running": p.free_running,
            "uds_address": m.uds,
            **m.watch.settings_status(),
            "servo": rec["servo"],
            "children": {name: c.status() for name, c in m.children.items()},
            "counters": rec["counters"],
            "warnings": rec["warnings"],
            "events": rec["events"],
        }


def starting_status(interface: str | None, timestamping: str) -> dict[str, Any]:
    """`status`'s ptp section while the appliance starts and its PtpManager is not up yet: PTP is
    configured (enabled) and in state init, nothing runs yet; the keys a client reads first."""
    return {
        "enabled": True,
        "role": None,
        "state": "init",
        "port_state": None,
        "gm_identity": None,
        "clock_identity": None,
        "offset_ns": None,
        "path_delay_ns": None,
        "priority1": None,
        "priority2": None,
        "interface": interface,
        "timestamping": timestamping,
        "children": {},
        "warnings": [],
        "events": [],
    }


def disabled_status() -> dict[str, Any]:
    return {
        "enabled": False,
        "role": None,
        "port_state": None,
        "gm_identity": None,
        "offset_ns": None,
        "path_delay_ns": None,
        "warnings": [],
    }
