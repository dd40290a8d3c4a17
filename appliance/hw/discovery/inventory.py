"""build_inventory(snapshot): pure over a Snapshot. Links interfaces to PHCs (phc_index first, the PCI
parent when there is no timestamping information), finds each NIC's nearest temperature sensor,
matches hardware/nics.yaml, and asks core.ptp.capability for a verdict per interface.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ...core.ptp import capability as vd
from ...core.ptp.capability import InterfaceFacts, NicFamily, PhcFacts, SensorFacts
from ..sensors import preferred_channel
from ..timestamping import TsInfo
from .snapshot import HWMON_ATTR, DeviceRecord, Snapshot

ARPHRD_LOOPBACK = "772"
# USB vendors whose serial devices are GNSS receivers (usb.ids: "1546  U-Blox AG").
GNSS_USB_VENDORS = {"1546": "u-blox"}
GNSS_WORDS = re.compile(r"\b(gps|gnss|u-?blox)\b", re.I)


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
        return PhcFacts(
            name=self.name,
            max_adj_ppb=self.max_adj_ppb or 0,
            n_pins=self.n_pins,
            n_ext_ts=self.n_ext_ts,
            n_per_out=self.n_per_out,
            pps=self.pps,
            cross_timestamping=self.cross_timestamping,
            adjust_phase=self.adjust_phase,
            shared_with=tuple(i for i in self.interfaces if i != exclude),
        )


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
        return SensorFacts(id=self.id, name=self.name, kind=self.kind, pci_address=self.pci_address, temp_c=self.temp_c)


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
    # how the summary names the machine: a replay is never "this machine"
    origin: str = "this machine"

    @property
    def has_ptp_hardware(self) -> bool:
        return bool(self.phcs)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for i in self.interfaces:
            counts[i.verdict] = counts.get(i.verdict, 0) + 1
        gm = [i.name for i in self.interfaces if i.verdict == vd.Capability.GRANDMASTER.value]
        follow = [i.name for i in self.interfaces if i.verdict == vd.Capability.FOLLOW.value]
        if not self.phcs:
            text = f"no PTP hardware clock on {self.origin}: PTP there can only use software timestamping"
        elif gm:
            text = f"can be grandmaster on {', '.join(gm)}"
        elif follow:
            text = f"can follow on {', '.join(follow)}; no interface qualifies as grandmaster"
        else:
            text = "PTP hardware clocks exist but no interface can use them for hardware PTP"
        return {"ptp_hardware": bool(self.phcs), "verdicts": counts, "text": text, "grandmaster": gm, "follow": follow}

    def to_dict(self) -> dict[str, Any]:
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
    def __init__(self, records: list[DeviceRecord]) -> None:
        self.by_path = {r.path: r for r in records}

    def ancestors(self, rec: DeviceRecord) -> Iterator[DeviceRecord]:
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
            chans = sorted(
                {int(m.group(1)) for n in r.attributes if (m := HWMON_ATTR.match(n)) and m.group(2) == "input"}
            )
            if not chans:
                continue
            labels = {c: r.attributes.get(f"temp{c}_label") for c in chans}
            ch = preferred_channel(chans, labels)
            if ch is None:  # never, as chans is not empty
                continue
            value = _int(r.attributes.get(f"temp{ch}_input"))
            pci = tree.pci(r)
            out.append(
                TempSource(
                    id=f"{r.sys_name}/temp{ch}",
                    name=r.attributes.get("name", "?"),
                    kind="hwmon",
                    label=labels.get(ch),
                    temp_c=None if value is None else value / 1000.0,
                    pci_address=pci.sys_name if pci else None,
                    channels=len(chans),
                )
            )
        elif r.subsystem == "thermal" and r.sys_name.startswith("thermal_zone"):
            value = _int(r.attributes.get("temp"))
            pci = tree.pci(r)
            out.append(
                TempSource(
                    id=r.sys_name,
                    name=r.attributes.get("type", "?"),
                    kind="thermal_zone",
                    label=None,
                    temp_c=None if value is None else value / 1000.0,
                    pci_address=pci.sys_name if pci else None,
                )
            )
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
            name=r.sys_name,
            devnode=r.devnode or f"/dev/{r.sys_name}",
            clock_name=a.get("clock_name"),
            driver=tree.driver(r),
            pci_address=pci.sys_name if pci else None,
            max_adj_ppb=caps["max_adj"] if caps else _int(a.get("max_adjustment")),
            n_pins=caps["n_pins"] if caps else (_int(a.get("n_programmable_pins")) or 0),
            n_ext_ts=caps["n_ext_ts"] if caps else (_int(a.get("n_external_timestamps")) or 0),
            n_per_out=caps["n_per_out"] if caps else (_int(a.get("n_periodic_outputs")) or 0),
            pps=bool(caps["pps"]) if caps else a.get("pps_available") == "1",
            cross_timestamping=bool(caps["cross_timestamping"]) if caps else None,
            adjust_phase=bool(caps["adjust_phase"]) if caps else None,
            max_phase_adj_ns=caps.get("max_phase_adj") if caps else _int(a.get("max_phase_adjustment")),
            pins=pins,
            n_vclocks=_int(a.get("n_vclocks")),
            caps_error=probe.get("error"),
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
            ifname=r.sys_name,
            loopback=loopback,
            virtual=virtual,
            operstate=a.get("operstate", "unknown"),
            ts_error=ts_error if ts is None else None,
            sw_tx=ts.sw_tx if ts else False,
            sw_rx=ts.sw_rx if ts else False,
            hw_tx=ts.hw_tx if ts else False,
            hw_rx=ts.hw_rx if ts else False,
            hw_raw=ts.hw_raw if ts else False,
            phc_index=ts.phc_index if ts else (int(phc_name[3:]) if phc_name else -1),
            phc=phc.facts(exclude=r.sys_name) if phc else None,
            phc_error=phc.caps_error if phc else None,
            sensor=sensor,
            sensor_distance=distance,
            family=family,
        )
        if ts is None and not ts_error:
            facts = InterfaceFacts(**{**facts.__dict__, "ts_error": "no timestamping information recorded"})
        result = vd.assess(facts)
        props = r.properties
        pci_props = pci.properties if pci else {}
        interfaces.append(
            Interface(
                name=r.sys_name,
                driver=driver,
                pci_address=pci.sys_name if pci else None,
                pci_id=pci_id,
                vendor=pci_props.get("ID_VENDOR_FROM_DATABASE") or props.get("ID_VENDOR_FROM_DATABASE"),
                model=pci_props.get("ID_MODEL_FROM_DATABASE") or props.get("ID_MODEL_FROM_DATABASE"),
                mac=a.get("address"),
                operstate=a.get("operstate", "unknown"),
                virtual=virtual,
                loopback=loopback,
                fw_version=drv.get("fw_version") or None,
                timestamping=ts.to_dict() if ts else None,
                ts_error=facts.ts_error,
                phc=phc_name,
                phc_link=link,
                family=family.id if family else None,
                sensor=sensor.id if sensor else None,
                sensor_name=sensor.name if sensor else None,
                sensor_distance=distance.value if distance else None,
                temp_c=temp_by_id[sensor.id].temp_c if sensor else None,
                verdict=result.verdict.value,
                reasons=list(result.reasons),
                notes=list(result.notes),
            )
        )

    rtcs = [
        {
            "name": r.sys_name,
            "devnode": r.devnode,
            "driver_name": r.attributes.get("name"),
            "hctosys": r.attributes.get("hctosys") == "1",
        }
        for r in snap.devices
        if r.subsystem == "rtc"
    ]
    pps = [
        {
            "name": r.sys_name,
            "devnode": r.devnode,
            "source": r.attributes.get("name"),
            "path": r.attributes.get("path") or None,
            "origin": _pps_origin(r.attributes.get("name", ""), r.attributes.get("path", "")),
        }
        for r in snap.devices
        if r.subsystem == "pps"
    ]
    gnss = []
    for r in snap.devices:
        if r.subsystem == "gnss":
            pci = tree.pci(r)
            gnss.append(
                {
                    "devnode": r.devnode or f"/dev/{r.sys_name}",
                    "kind": "gnss",
                    "type": r.attributes.get("type"),
                    "driver": tree.driver(r),
                    "pci_address": pci.sys_name if pci else None,
                    "identified": True,
                }
            )
        elif r.subsystem == "tty":
            usb = tree.usb_device(r)
            if usb is None:
                continue
            ua = usb.attributes
            text = " ".join(filter(None, [ua.get("manufacturer"), ua.get("product")]))
            vendor = GNSS_USB_VENDORS.get(ua.get("idVendor", "").lower())
            identified = bool(vendor or GNSS_WORDS.search(text))
            gnss.append(
                {
                    "devnode": r.devnode or f"/dev/{r.sys_name}",
                    "kind": "usb-serial",
                    "usb_id": f"{ua.get('idVendor')}:{ua.get('idProduct')}",
                    "vendor": vendor or ua.get("manufacturer"),
                    "product": ua.get("product"),
                    "driver": tree.driver(r),
                    "identified": identified,
                }
            )
    return Inventory(
        interfaces=sorted(interfaces, key=lambda i: i.name),
        phcs=sorted(phcs.values(), key=lambda p: _int(p.name[3:]) or 0),
        temperature_sources=temps,
        rtcs=rtcs,
        pps=pps,
        gnss=gnss,
        problems=problems,
        source=snap.source,
    )
