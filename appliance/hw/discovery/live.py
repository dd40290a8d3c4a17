"""Collect a Snapshot from the running system: enumerate with pyudev, then ask the drivers
(ETHTOOL_GET_TS_INFO / GDRVINFO per interface, PTP_CLOCK_GETCAPS and pins per PHC)."""

from __future__ import annotations

import datetime
import os
from typing import Any

from .snapshot import ATTRIBUTES, HWMON_ATTR, PROPERTIES, SUBSYSTEMS, DeviceRecord, Snapshot


def _attr(dev: Any, name: str) -> str | None:
    try:
        return dev.attributes.asstring(name).strip()
    except (KeyError, OSError, UnicodeDecodeError):
        return None


def _has_usb_ancestor(dev: Any) -> bool:
    p = dev.parent
    while p is not None:
        if p.subsystem == "usb":
            return True
        p = p.parent
    return False


def collect_live(context: Any = None, probe: bool = True) -> Snapshot:
    """Enumerate with pyudev; with ``probe``, also ask the drivers (ethtool ioctls, PHC caps)."""
    import pyudev

    ctx = context or pyudev.Context()
    records: dict[str, DeviceRecord] = {}

    def add(dev: Any) -> None:
        path = dev.device_path
        if path in records:
            return
        names = ATTRIBUTES.get(dev.subsystem, ())
        if dev.subsystem == "hwmon":
            try:
                names = names + tuple(sorted(n for n in os.listdir(dev.sys_path) if HWMON_ATTR.match(n)))
            except OSError:
                pass
        attrs = {n: v for n in names if (v := _attr(dev, n)) is not None}
        props = {k: dev.properties[k] for k in PROPERTIES if k in dev.properties}
        children: dict[str, list[str]] = {}
        if dev.subsystem == "ptp":
            try:
                children["pins"] = sorted(os.listdir(os.path.join(dev.sys_path, "pins")))
            except OSError:
                pass
        parent = dev.parent
        records[path] = DeviceRecord(
            path=path,
            sys_name=dev.sys_name,
            subsystem=dev.subsystem,
            driver=dev.driver,
            devnode=dev.device_node,
            parent=parent.device_path if parent is not None else None,
            attributes=attrs,
            properties=props,
            children=children,
        )
        if parent is not None:
            add(parent)

    for sub in SUBSYSTEMS:
        for dev in ctx.list_devices(subsystem=sub):
            if sub == "thermal" and not dev.sys_name.startswith("thermal_zone"):
                continue
            if sub == "tty" and not _has_usb_ancestor(dev):
                continue
            add(dev)
    snap = Snapshot(sorted(records.values(), key=lambda r: r.path))
    snap.source = {
        "kind": "live",
        "host": os.uname().nodename,
        "kernel": os.uname().release,
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if probe:
        probe_drivers(snap)
    return snap


def probe_drivers(snap: Snapshot) -> None:
    """Fill in what only the drivers tell: timestamping per interface, caps and pins per PHC."""
    from ..phc import PhcClock
    from ..timestamping import get_drvinfo, get_ts_info

    for rec in snap.devices:
        if rec.subsystem == "net":
            entry: dict[str, Any] = {"errors": {}}
            try:
                ts = get_ts_info(rec.sys_name)
                entry["ts_info"] = {
                    "phc_index": ts.phc_index,
                    "so_timestamping": ts.so_timestamping,
                    "tx_types_mask": ts.tx_types,
                    "rx_filters_mask": ts.rx_filters,
                    "capabilities": ts.capabilities,
                    "tx_types": ts.tx_type_names,
                    "rx_filters": ts.rx_filter_names,
                }
            except Exception as exc:  # noqa: BLE001 - recorded, reported as a problem
                entry["errors"]["ts_info"] = str(exc)
            try:
                entry["drvinfo"] = get_drvinfo(rec.sys_name).to_dict()
            except Exception as exc:  # noqa: BLE001
                entry["errors"]["drvinfo"] = str(exc)
            if not entry["errors"]:
                del entry["errors"]
            snap.ethtool[rec.sys_name] = entry
        elif rec.subsystem == "ptp" and rec.devnode:
            try:
                with PhcClock(rec.devnode, readonly=True, find_sensor=False) as clock:
                    c = clock.caps()
                    snap.ptp[rec.sys_name] = {
                        "caps": {
                            "max_adj": c.max_adj_ppb,
                            "n_alarm": c.n_alarm,
                            "n_ext_ts": c.n_ext_ts,
                            "n_per_out": c.n_per_out,
                            "pps": int(c.pps),
                            "n_pins": c.n_pins,
                            "cross_timestamping": int(c.cross_timestamping),
                            "adjust_phase": int(c.adjust_phase),
                            "max_phase_adj": c.max_phase_adj_ns,
                        },
                        "pins": [p.to_dict() for p in clock.pins()],
                    }
            except Exception as exc:  # noqa: BLE001
                snap.ptp[rec.sys_name] = {"error": str(exc)}
