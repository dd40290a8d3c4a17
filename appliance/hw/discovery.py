"""What timing hardware this machine has: PHCs and their NICs, timestamping, temperature sensors,
RTCs, PPS sources, GNSS receivers; and hot-plug monitoring.

Discovery runs in two steps so that it can run against a recording as well as the live system:

  1. collect: a Snapshot of device records (udev/sysfs: path, subsystem, driver, parent, attributes)
     plus what only ioctls tell (ETHTOOL_GET_TS_INFO / GDRVINFO per interface, PTP_CLOCK_GETCAPS and
     pins per PHC). ``collect_live`` uses pyudev; ``load_snapshot`` reads a recording
     (``appliance discover --record FILE`` writes one; tests/fixtures/discovery holds some).
  2. build_inventory(snapshot): pure over the snapshot: links interfaces to PHCs (phc_index first, the
     PCI parent when there is no timestamping information), finds each NIC's nearest temperature
     sensor, matches hardware/nics.yaml, and asks core.verdict for a verdict.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..core.ptp import capability as vd
from ..core.ptp.capability import InterfaceFacts, NicFamily, PhcFacts, SensorFacts
from .sensors import preferred_channel
from .timestamping import TsInfo

log = logging.getLogger("appliance.hw.discovery")

SUBSYSTEMS = ("net", "ptp", "hwmon", "thermal", "rtc", "pps", "gnss", "tty")
ATTRIBUTES = {
    "net": ("address", "operstate", "type", "ifindex", "carrier"),
    "ptp": ("clock_name", "max_adjustment", "max_phase_adjustment", "n_alarms", "n_external_timestamps",
            "n_periodic_outputs", "n_programmable_pins", "pps_available", "n_vclocks"),
    "hwmon": ("name",),
    "thermal": ("type", "temp"),
    "rtc": ("name", "hctosys"),
    "pps": ("name", "path"),
    "gnss": ("type",),
    "pci": ("vendor", "device", "subsystem_vendor", "subsystem_device", "class"),
    "usb": ("idVendor", "idProduct", "manufacturer", "product"),
}
PROPERTIES = ("DEVTYPE", "ID_VENDOR_FROM_DATABASE", "ID_MODEL_FROM_DATABASE", "ID_VENDOR_ID", "ID_MODEL_ID",
              "ID_VENDOR", "ID_MODEL", "ID_PATH", "ID_NET_NAME_PATH", "PCI_SLOT_NAME", "INTERFACE")
HWMON_ATTR = re.compile(r"^temp(\d+)_(input|label|crit|max)$")
ARPHRD_LOOPBACK = "772"
# USB vendors whose serial devices are GNSS receivers (usb.ids: "1546  U-Blox AG").
GNSS_USB_VENDORS = {"1546": "u-blox"}
GNSS_WORDS = re.compile(r"\b(gps|gnss|u-?blox)\b", re.I)


# -- records ---------------------------------------------------------------------------------------

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

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: v for k, v in d.items() if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, d: dict) -> DeviceRecord:
        known = {"path", "subsystem", "sys_name", "driver", "devnode", "parent", "attributes", "properties", "children"}
        unknown = set(d) - known
        if unknown or "path" not in d or "sys_name" not in d:
            raise ValueError(f"device record {d.get('path', '?')}: unknown keys {sorted(unknown)} or no path/sys_name")
        return cls(**{k: d[k] for k in known if k in d})


@dataclass
class Snapshot:
    devices: list[DeviceRecord]
    ethtool: dict[str, dict] = field(default_factory=dict)  # ifname -> {ts_info, drvinfo, errors}
    ptp: dict[str, dict] = field(default_factory=dict)  # ptpN -> {caps, pins, error}
    source: dict = field(default_factory=dict)  # provenance of a recording

    def to_dict(self) -> dict:
        return {"source": self.source, "devices": [r.to_dict() for r in self.devices],
                "ethtool": self.ethtool, "ptp": self.ptp}

    @classmethod
    def from_dict(cls, d: dict) -> Snapshot:
        unknown = set(d) - {"source", "devices", "ethtool", "ptp"}
        if unknown:
            raise ValueError(f"unknown top-level keys {sorted(unknown)}")
        return cls([DeviceRecord.from_dict(r) for r in d.get("devices", [])], d.get("ethtool") or {},
                   d.get("ptp") or {}, d.get("source") or {})


def load_snapshot(path: Path | str) -> Snapshot:
    path = Path(path)
    try:
        return Snapshot.from_dict(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError, ValueError, TypeError, AttributeError) as exc:
        raise DiscoveryError(f"{path}: not a discovery recording: {exc}") from None


def save_snapshot(snap: Snapshot, path: Path | str) -> None:
    Path(path).write_text(yaml.safe_dump(snap.to_dict(), sort_keys=False, width=120))


class DiscoveryError(Exception):
    pass


# -- live collection (pyudev + ioctls) --------------------------------------------------------------

def _attr(dev, name: str) -> str | None:
    try:
        return dev.attributes.asstring(name).strip()
    except (KeyError, OSError, UnicodeDecodeError):
        return None


def _has_usb_ancestor(dev) -> bool:
    p = dev.parent
    while p is not None:
        if p.subsystem == "usb":
            return True
        p = p.parent
    return False


def collect_live(context=None, probe: bool = True) -> Snapshot:
    """Enumerate with pyudev; with ``probe``, also ask the drivers (ethtool ioctls, PHC caps)."""
    import pyudev

    ctx = context or pyudev.Context()
    records: dict[str, DeviceRecord] = {}

    def add(dev) -> None:
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
        children = {}
        if dev.subsystem == "ptp":
            try:
                children["pins"] = sorted(os.listdir(os.path.join(dev.sys_path, "pins")))
            except OSError:
                pass
        parent = dev.parent
        records[path] = DeviceRecord(path=path, sys_name=dev.sys_name, subsystem=dev.subsystem, driver=dev.driver,
                                     devnode=dev.device_node,
                                     parent=parent.device_path if parent is not None else None,
                                     attributes=attrs, properties=props, children=children)
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
    snap.source = {"kind": "live", "host": os.uname().nodename, "kernel": os.uname().release,
                   "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if probe:
        probe_drivers(snap)
    return snap


def probe_drivers(snap: Snapshot) -> None:
    """Fill in what only the drivers tell: timestamping per interface, caps and pins per PHC."""
    from .phc import PhcClock
    from .timestamping import get_drvinfo, get_ts_info

    for rec in snap.devices:
        if rec.subsystem == "net":
            entry: dict = {"errors": {}}
            try:
                ts = get_ts_info(rec.sys_name)
                entry["ts_info"] = {"phc_index": ts.phc_index, "so_timestamping": ts.so_timestamping,
                                    "tx_types_mask": ts.tx_types, "rx_filters_mask": ts.rx_filters,
                                    "capabilities": ts.capabilities, "tx_types": ts.tx_type_names,
                                    "rx_filters": ts.rx_filter_names}
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
                        "caps": {"max_adj": c.max_adj_ppb, "n_alarm": c.n_alarm, "n_ext_ts": c.n_ext_ts,
                                 "n_per_out": c.n_per_out, "pps": int(c.pps), "n_pins": c.n_pins,
                                 "cross_timestamping": int(c.cross_timestamping),
                                 "adjust_phase": int(c.adjust_phase), "max_phase_adj": c.max_phase_adj_ns},
                        "pins": [p.to_dict() for p in clock.pins()],
                    }
            except Exception as exc:  # noqa: BLE001
                snap.ptp[rec.sys_name] = {"error": str(exc)}


# -- inventory --------------------------------------------------------------------------------------

@dataclass
class Phc:
    name: str
    devnode: str | None
    clock_name: str | None
    driver: str | None
    pci_address: str | None
    max_adj_ppb: int | None
    n_pins: int
    n_ext_ts: int
    n_per_out: int
    pps: bool
    cross_timestamping: bool | None
    adjust_phase: bool | None
    max_phase_adj_ns: int | None
    pins: list[dict]
    interfaces: list[str] = field(default_factory=list)
    n_vclocks: int | None = None
    caps_error: str | None = None

    def facts(self, exclude: str | None = None) -> PhcFacts:
        return PhcFacts(name=self.name, max_adj_ppb=self.max_adj_ppb or 0, n_pins=self.n_pins,
                        n_ext_ts=self.n_ext_ts, n_per_out=self.n_per_out, pps=self.pps,
                        cross_timestamping=self.cross_timestamping, adjust_phase=self.adjust_phase,
                        shared_with=tuple(i for i in self.interfaces if i != exclude))


@dataclass
class TempSource:
    id: str
    name: str
    kind: str  # hwmon | thermal_zone
    label: str | None
    temp_c: float | None
    pci_address: str | None
    channels: int = 1

    def facts(self) -> SensorFacts:
        return SensorFacts(id=self.id, name=self.name, kind=self.kind, pci_address=self.pci_address,
                           temp_c=self.temp_c)


@dataclass
class Interface:
    name: str
    driver: str | None
    pci_address: str | None
    pci_id: str | None
    vendor: str | None
    model: str | None
    mac: str | None
    operstate: str
    virtual: bool
    loopback: bool
    fw_version: str | None
    timestamping: dict | None
    ts_error: str | None
    phc: str | None
    phc_link: str | None  # phc_index | pci-parent
    family: str | None
    sensor: str | None
    sensor_name: str | None
    sensor_distance: str | None
    temp_c: float | None
    verdict: str
    reasons: list[str]
    notes: list[str]


@dataclass
class Inventory:
    interfaces: list[Interface]
    phcs: list[Phc]
    temperature_sources: list[TempSource]
    rtcs: list[dict]
    pps: list[dict]
    gnss: list[dict]
    problems: list[str]
    source: dict

    @property
    def has_ptp_hardware(self) -> bool:
        return bool(self.phcs)

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for i in self.interfaces:
            counts[i.verdict] = counts.get(i.verdict, 0) + 1
        gm = [i.name for i in self.interfaces if i.verdict == vd.Capability.GRANDMASTER.value]
        follow = [i.name for i in self.interfaces if i.verdict == vd.Capability.FOLLOW.value]
        if not self.phcs:
            text = "no PTP hardware clock on this machine: PTP here can only use software timestamping"
        elif gm:
            text = f"can be grandmaster on {', '.join(gm)}"
        elif follow:
            text = f"can follow on {', '.join(follow)}; no interface qualifies as grandmaster"
        else:
            text = "PTP hardware clocks exist but no interface can use them for hardware PTP"
        return {"ptp_hardware": bool(self.phcs), "verdicts": counts, "text": text}

    def to_dict(self) -> dict:
        return {
            "summary": self.summary(),
            "interfaces": [asdict(i) for i in self.interfaces],
            "phcs": [asdict(p) for p in self.phcs],
            "temperature_sources": [asdict(t) for t in self.temperature_sources],
            "rtcs": self.rtcs,
            "pps": self.pps,
            "gnss": self.gnss,
            "problems": self.problems,
            "source": self.source,
        }


def _int(v: str | None) -> int | None:
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


class _Tree:
    def __init__(self, records: list[DeviceRecord]):
        self.by_path = {r.path: r for r in records}

    def ancestors(self, rec: DeviceRecord):
        """Nearest first. sysfs device paths are hierarchical, so the ancestors are the recorded devices
        whose path is a prefix of this one (class directories such as .../net/ are not devices)."""
        parts = rec.path.split("/")
        for n in range(len(parts) - 1, 1, -1):
            anc = self.by_path.get("/".join(parts[:n]))
            if anc is not None:
                yield anc

    def pci(self, rec: DeviceRecord) -> DeviceRecord | None:
        if rec.subsystem == "pci":
            return rec
        return next((a for a in self.ancestors(rec) if a.subsystem == "pci"), None)

    def usb_device(self, rec: DeviceRecord) -> DeviceRecord | None:
        return next((a for a in self.ancestors(rec) if a.subsystem == "usb" and "idVendor" in a.attributes), None)

    def driver(self, rec: DeviceRecord) -> str | None:
        if rec.driver:
            return rec.driver
        return next((a.driver for a in self.ancestors(rec) if a.driver), None)


def _pci_id(pci: DeviceRecord | None) -> str | None:
    if pci is None:
        return None
    v, d = pci.attributes.get("vendor"), pci.attributes.get("device")
    if not v or not d:
        return None
    return f"{v.lower().removeprefix('0x')}:{d.lower().removeprefix('0x')}"


def _temp_sources(tree: _Tree, records: list[DeviceRecord]) -> list[TempSource]:
    out = []
    for r in records:
        if r.subsystem == "hwmon":
            chans = sorted({int(m.group(1)) for n in r.attributes if (m := HWMON_ATTR.match(n)) and m.group(2) == "input"})
            if not chans:
                continue
            labels = {c: r.attributes.get(f"temp{c}_label") for c in chans}
            ch = preferred_channel(chans, labels)
            value = _int(r.attributes.get(f"temp{ch}_input"))
            pci = tree.pci(r)
            out.append(TempSource(id=f"{r.sys_name}/temp{ch}", name=r.attributes.get("name", "?"), kind="hwmon",
                                  label=labels.get(ch), temp_c=None if value is None else value / 1000.0,
                                  pci_address=pci.sys_name if pci else None, channels=len(chans)))
        elif r.subsystem == "thermal" and r.sys_name.startswith("thermal_zone"):
            value = _int(r.attributes.get("temp"))
            pci = tree.pci(r)
            out.append(TempSource(id=r.sys_name, name=r.attributes.get("type", "?"), kind="thermal_zone", label=None,
                                  temp_c=None if value is None else value / 1000.0,
                                  pci_address=pci.sys_name if pci else None))
    return sorted(out, key=lambda t: t.id)


def _pps_origin(name: str, path: str) -> str:
    if re.fullmatch(r"ptp\d+", name or ""):
        return "phc"
    if (path or "").startswith("/dev/tty"):
        return "serial"
    if "gpio" in (name or "") or (name or "").startswith("pps@"):
        return "gpio"
    if name == "ktimer":
        return "test (ktimer)"
    return "other"


def build_inventory(snap: Snapshot, families: list[NicFamily] | None = None) -> Inventory:
    families = families or []
    tree = _Tree(snap.devices)
    problems: list[str] = []

    # PHCs
    phcs: dict[str, Phc] = {}
    for r in snap.devices:
        if r.subsystem != "ptp":
            continue
        a = r.attributes
        probe = snap.ptp.get(r.sys_name, {})
        caps = probe.get("caps")
        pci = tree.pci(r)
        if probe.get("error"):
            problems.append(f"{r.sys_name}: capabilities not read: {probe['error']}")
        pins = probe.get("pins") or [{"index": i, "name": n} for i, n in enumerate(r.children.get("pins", []))]
        phcs[r.sys_name] = Phc(
            name=r.sys_name, devnode=r.devnode or f"/dev/{r.sys_name}", clock_name=a.get("clock_name"),
            driver=tree.driver(r), pci_address=pci.sys_name if pci else None,
            max_adj_ppb=caps["max_adj"] if caps else _int(a.get("max_adjustment")),
            n_pins=caps["n_pins"] if caps else (_int(a.get("n_programmable_pins")) or 0),
            n_ext_ts=caps["n_ext_ts"] if caps else (_int(a.get("n_external_timestamps")) or 0),
            n_per_out=caps["n_per_out"] if caps else (_int(a.get("n_periodic_outputs")) or 0),
            pps=bool(caps["pps"]) if caps else a.get("pps_available") == "1",
            cross_timestamping=bool(caps["cross_timestamping"]) if caps else None,
            adjust_phase=bool(caps["adjust_phase"]) if caps else None,
            max_phase_adj_ns=caps.get("max_phase_adj") if caps else _int(a.get("max_phase_adjustment")),
            pins=pins, n_vclocks=_int(a.get("n_vclocks")), caps_error=probe.get("error"),
        )

    temps = _temp_sources(tree, snap.devices)
    sensor_facts = [t.facts() for t in temps]
    temp_by_id = {t.id: t for t in temps}

    # interfaces, first pass: identity and the PHC link
    ifaces = []
    for r in snap.devices:
        if r.subsystem != "net":
            continue
        eth = snap.ethtool.get(r.sys_name, {})
        errors = eth.get("errors", {})
        ts = TsInfo.from_dict(r.sys_name, eth["ts_info"]) if eth.get("ts_info") else None
        drv = eth.get("drvinfo") or {}
        pci = tree.pci(r)
        phc_name, link = None, None
        if ts is not None and ts.phc_index >= 0:
            phc_name, link = f"ptp{ts.phc_index}", "phc_index"
            if phc_name not in phcs:
                problems.append(f"{r.sys_name}: reports PHC {phc_name}, which discovery did not find")
        elif ts is None and pci is not None:
            same = [p.name for p in phcs.values() if p.pci_address == pci.sys_name]
            if same:
                phc_name, link = same[0], "pci-parent"
        if phc_name in phcs:
            phcs[phc_name].interfaces.append(r.sys_name)
        ifaces.append((r, ts, errors, drv, pci, phc_name, link))

    interfaces = []
    for r, ts, errors, drv, pci, phc_name, link in ifaces:
        a = r.attributes
        driver = drv.get("driver") or tree.driver(r)
        pci_id = _pci_id(pci)
        family = vd.match_family(families, driver, pci_id)
        loopback = a.get("type") == ARPHRD_LOOPBACK or r.sys_name == "lo"
        virtual = r.path.startswith("/devices/virtual/")
        sensor, distance = (None, None)
        if not loopback and not virtual:
            sensor, distance = vd.nearest_sensor(pci.sys_name if pci else None, sensor_facts)
        phc = phcs.get(phc_name) if phc_name else None
        ts_error = errors.get("ts_info") if ts is None else None
        if ts_error and "no such interface" not in ts_error:
            problems.append(f"{r.sys_name}: {ts_error}")
        facts = InterfaceFacts(
            ifname=r.sys_name, loopback=loopback, virtual=virtual, operstate=a.get("operstate", "unknown"),
            ts_error=ts_error if ts is None else None,
            sw_tx=ts.sw_tx if ts else False, sw_rx=ts.sw_rx if ts else False,
            hw_tx=ts.hw_tx if ts else False, hw_rx=ts.hw_rx if ts else False, hw_raw=ts.hw_raw if ts else False,
            phc_index=ts.phc_index if ts else (int(phc_name[3:]) if phc_name else -1),
            phc=phc.facts(exclude=r.sys_name) if phc else None,
            phc_error=phc.caps_error if phc else None,
            sensor=sensor, sensor_distance=distance, family=family,
        )
        if ts is None and not ts_error:
            facts = InterfaceFacts(**{**facts.__dict__, "ts_error": "no timestamping information recorded"})
        result = vd.assess(facts)
        props = r.properties
        pci_props = pci.properties if pci else {}
        interfaces.append(Interface(
            name=r.sys_name, driver=driver, pci_address=pci.sys_name if pci else None, pci_id=pci_id,
            vendor=pci_props.get("ID_VENDOR_FROM_DATABASE") or props.get("ID_VENDOR_FROM_DATABASE"),
            model=pci_props.get("ID_MODEL_FROM_DATABASE") or props.get("ID_MODEL_FROM_DATABASE"),
            mac=a.get("address"), operstate=a.get("operstate", "unknown"), virtual=virtual, loopback=loopback,
            fw_version=drv.get("fw_version") or None, timestamping=ts.to_dict() if ts else None,
            ts_error=facts.ts_error, phc=phc_name, phc_link=link, family=family.id if family else None,
            sensor=sensor.id if sensor else None, sensor_name=sensor.name if sensor else None, sensor_distance=distance.value if distance else None,
            temp_c=temp_by_id[sensor.id].temp_c if sensor else None,
            verdict=result.verdict.value, reasons=list(result.reasons), notes=list(result.notes),
        ))

    rtcs = [{"name": r.sys_name, "devnode": r.devnode, "driver_name": r.attributes.get("name"),
             "hctosys": r.attributes.get("hctosys") == "1"} for r in snap.devices if r.subsystem == "rtc"]
    pps = [{"name": r.sys_name, "devnode": r.devnode, "source": r.attributes.get("name"),
            "path": r.attributes.get("path") or None,
            "origin": _pps_origin(r.attributes.get("name", ""), r.attributes.get("path", ""))}
           for r in snap.devices if r.subsystem == "pps"]
    gnss = []
    for r in snap.devices:
        if r.subsystem == "gnss":
            pci = tree.pci(r)
            gnss.append({"devnode": r.devnode or f"/dev/{r.sys_name}", "kind": "gnss", "type": r.attributes.get("type"),
                         "driver": tree.driver(r), "pci_address": pci.sys_name if pci else None, "identified": True})
        elif r.subsystem == "tty":
            usb = tree.usb_device(r)
            if usb is None:
                continue
            ua = usb.attributes
            text = " ".join(filter(None, [ua.get("manufacturer"), ua.get("product")]))
            vendor = GNSS_USB_VENDORS.get(ua.get("idVendor", "").lower())
            identified = bool(vendor or GNSS_WORDS.search(text))
            gnss.append({"devnode": r.devnode or f"/dev/{r.sys_name}", "kind": "usb-serial",
                         "usb_id": f"{ua.get('idVendor')}:{ua.get('idProduct')}", "vendor": vendor or ua.get("manufacturer"),
                         "product": ua.get("product"), "driver": tree.driver(r), "identified": identified})
    return Inventory(interfaces=sorted(interfaces, key=lambda i: i.name), phcs=sorted(phcs.values(), key=lambda p: _int(p.name[3:]) or 0),
                     temperature_sources=temps, rtcs=rtcs, pps=pps, gnss=gnss, problems=problems, source=snap.source)


# -- hot plug ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HotplugEvent:
    action: str  # add | remove | change | bind | unbind | move
    subsystem: str
    sys_name: str
    devpath: str
    devnode: str | None = None


def describe_event(ev: HotplugEvent, watched_phc: str | None = None, watched_interface: str | None = None) -> tuple[int, str] | None:
    """(logging level, message) for an event that matters to a running appliance, else None."""
    if ev.subsystem == "ptp":
        mine = watched_phc is not None and ev.sys_name == watched_phc
        if ev.action == "remove":
            if mine:
                return logging.ERROR, (f"PHC {ev.sys_name} vanished: the clock this appliance steers is gone "
                                       "(NIC removed, reset or driver unloaded); holding over until it returns")
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

    def __init__(self, callback: Callable[[HotplugEvent], None],
                 subsystems: tuple[str, ...] = ("net", "ptp", "pps", "gnss", "hwmon"), context=None,
                 source: str | None = None):
        self.callback = callback
        self.subsystems = subsystems
        self._context = context
        self.source = source or ("udev" if os.path.exists("/run/udev/control") else "kernel")
        self._observer = None
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

    def _on_device(self, device) -> None:
        ev = HotplugEvent(action=device.action or "?", subsystem=device.subsystem or "?", sys_name=device.sys_name,
                          devpath=device.device_path, devnode=device.device_node)
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
