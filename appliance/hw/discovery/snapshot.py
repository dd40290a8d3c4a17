"""A discovery snapshot: the device records (udev/sysfs: path, subsystem, driver, parent, attributes)
and what only ioctls tell (ethtool per interface, caps and pins per PHC), as collected live or read
back from a recording (``appliance discover --record FILE``; tests/fixtures/discovery holds some).
The constants say what a record holds, so that a recording and a live run carry the same fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUBSYSTEMS = ("net", "ptp", "hwmon", "thermal", "rtc", "pps", "gnss", "tty")
ATTRIBUTES = {
    "net": ("address", "operstate", "type", "ifindex", "carrier"),
    "ptp": (
        "clock_name",
        "max_adjustment",
        "max_phase_adjustment",
        "n_alarms",
        "n_external_timestamps",
        "n_periodic_outputs",
        "n_programmable_pins",
        "pps_available",
        "n_vclocks",
    ),
    "hwmon": ("name",),
    "thermal": ("type", "temp"),
    "rtc": ("name", "hctosys"),
    "pps": ("name", "path"),
    "gnss": ("type",),
    "pci": ("vendor", "device", "subsystem_vendor", "subsystem_device", "class"),
    "usb": ("idVendor", "idProduct", "manufacturer", "product"),
}
PROPERTIES = (
    "DEVTYPE",
    "ID_VENDOR_FROM_DATABASE",
    "ID_MODEL_FROM_DATABASE",
    "ID_VENDOR_ID",
    "ID_MODEL_ID",
    "ID_VENDOR",
    "ID_MODEL",
    "ID_PATH",
    "ID_NET_NAME_PATH",
    "PCI_SLOT_NAME",
    "INTERFACE",
)
HWMON_ATTR = re.compile(r"^temp(\d+)_(input|label|crit|max)$")


@dataclass
class DeviceRecord:
    path: str  # sysfs devpath, /devices/...
    sys_name: str
    subsystem: str | None = None
    driver: str | None = None
    devnode: str | None = None
    parent: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: v for k, v in d.items() if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceRecord:
        known = {"path", "subsystem", "sys_name", "driver", "devnode", "parent", "attributes", "properties", "children"}
        unknown = set(d) - known
        if unknown or "path" not in d or "sys_name" not in d:
            raise ValueError(f"device record {d.get('path', '?')}: unknown keys {sorted(unknown)} or no path/sys_name")
        return cls(**{k: d[k] for k in known if k in d})


@dataclass
class Snapshot:
    devices: list[DeviceRecord]
    ethtool: dict[str, dict[str, Any]] = field(default_factory=dict)  # ifname -> {ts_info, drvinfo, errors}
    ptp: dict[str, dict[str, Any]] = field(default_factory=dict)  # ptpN -> {caps, pins, error}
    source: dict[str, Any] = field(default_factory=dict)  # provenance of a recording

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "devices": [r.to_dict() for r in self.devices],
            "ethtool": self.ethtool,
            "ptp": self.ptp,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        unknown = set(d) - {"source", "devices", "ethtool", "ptp"}
        if unknown:
            raise ValueError(f"unknown top-level keys {sorted(unknown)}")
        return cls(
            [DeviceRecord.from_dict(r) for r in d.get("devices", [])],
            d.get("ethtool") or {},
            d.get("ptp") or {},
            d.get("source") or {},
        )


def load_snapshot(path: Path | str) -> Snapshot:
    """A recording written by ``save_snapshot``; DiscoveryError names the file and what is wrong."""
    path = Path(path)

    def bad(problem: str) -> DiscoveryError:
        return DiscoveryError(
            f"{path}: not a discovery recording: {problem} (`appliance discover --record FILE` writes one)"
        )

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DiscoveryError(f"{path}: does not exist") from None
    except IsADirectoryError:
        raise DiscoveryError(f"{path}: is a directory, not a recording") from None
    except UnicodeDecodeError:
        raise bad("not a text file") from None
    except OSError as exc:
        raise DiscoveryError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise bad("not YAML or JSON" + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark else "")) from None
    if data is None:
        raise bad("the file is empty")
    if not isinstance(data, dict):
        raise bad(f"expected a mapping with 'source' and 'devices', got {type(data).__name__}")
    if not isinstance(data.get("devices"), list) or not data["devices"]:
        raise bad("no 'devices': a recording lists at least the network interfaces it saw")
    for key in ("ethtool", "ptp", "source"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise bad(f"'{key}' is a {type(data[key]).__name__}, expected a mapping")
    if not all(isinstance(r, dict) for r in data["devices"]):
        raise bad("'devices' must be a list of device records (mappings)")
    try:
        return Snapshot.from_dict(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise bad(str(exc)) from None


def save_snapshot(snap: Snapshot, path: Path | str) -> None:
    Path(path).write_text(yaml.safe_dump(snap.to_dict(), sort_keys=False, width=120))


class DiscoveryError(Exception):
    pass
