"""Can this interface serve the appliance, and how well? (pure)

A verdict for one network interface, from facts that discovery gathered (timestamping capabilities,
its PHC, the nearest temperature sensor, what hardware/nics.yaml says about the NIC family):

  can be grandmaster          hardware TX+RX timestamps, a steerable PHC, and a temperature sensor so
                              that the TCXO model can learn and compensate in holdover
  can follow                  hardware TX+RX timestamps and a steerable PHC, but something a
                              grandmaster needs is missing (the reason says what)
  software timestamping only  PTP works, with software timestamps (tens of microseconds, not ns)
  unusable                    no PTP at all (loopback, no timestamping, interface unreadable)

The reasons are written for a person in a hardware lab: what is missing and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Capability(Enum):
    GRANDMASTER = "can be grandmaster"
    FOLLOW = "can follow"
    SOFTWARE_ONLY = "software timestamping only"
    UNUSABLE = "unusable"


class Distance(Enum):
    """How close a temperature sensor is to the NIC's oscillator, best first."""

    NIC = "nic"  # a sensor of the NIC's own PCI function
    ADAPTER = "adapter"  # another function of the same adapter (same PCI bus:device)
    CPU = "cpu"  # CPU package (coretemp, k10temp, x86_pkg_temp)
    BOARD = "board"  # another thermal zone of the machine


DISTANCE_RANK = {Distance.NIC: 0, Distance.ADAPTER: 1, Distance.CPU: 2, Distance.BOARD: 3}
CPU_SENSOR_NAMES = frozenset({"coretemp", "k10temp", "zenpower", "x86_pkg_temp", "cpu_thermal", "cpu-thermal"})


@dataclass(frozen=True)
class SensorFacts:
    id: str  # hwmon3/temp1, thermal_zone0
    name: str  # hwmon name or thermal zone type
    kind: str  # "hwmon" | "thermal_zone"
    pci_address: str | None = None  # the PCI device the sensor belongs to, if any
    temp_c: float | None = None


@dataclass(frozen=True)
class NicFamily:
    """One entry of hardware/nics.yaml (what the family offers, with sources)."""

    id: str
    name: str
    drivers: tuple[str, ...]
    pci_ids: tuple[str, ...] = ()  # "8086:1533"
    phc: str = "unverified"  # per-port | per-adapter | per-function-or-shared | unverified
    max_adj_ppb: str | int | None = None
    cross_timestamping: str = "unverified"  # yes | no | conditional | unverified
    cross_timestamping_note: str = ""
    pins: str = ""
    temperature_sensor: str | None = None  # hwmon name the driver registers, or None
    temperature_note: str = ""
    known_limits: tuple[str, ...] = ()
    firmware_notes: str | None = None
    unverified: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhcFacts:
    name: str  # ptp0
    max_adj_ppb: int
    n_pins: int = 0
    n_ext_ts: int = 0
    n_per_out: int = 0
    pps: bool = False
    cross_timestamping: bool | None = None  # None: not readable (needs the ioctl)
    adjust_phase: bool | None = None
    shared_with: tuple[str, ...] = ()  # other interfaces on the same PHC


@dataclass(frozen=True)
class InterfaceFacts:
    ifname: str
    loopback: bool = False
    virtual: bool = False
    operstate: str = "unknown"
    ts_error: str | None = None  # ETHTOOL_GET_TS_INFO failed
    sw_tx: bool = False
    sw_rx: bool = False
    hw_tx: bool = False  # SOF_TIMESTAMPING_TX_HARDWARE and a TX type "on"/onestep
    hw_rx: bool = False  # SOF_TIMESTAMPING_RX_HARDWARE and an RX filter that covers PTP events
    hw_raw: bool = False  # SOF_TIMESTAMPING_RAW_HARDWARE: stamps in PHC time
    phc_index: int = -1
    phc: PhcFacts | None = None
    phc_error: str | None = None  # the PHC exists but its caps could not be read
    sensor: SensorFacts | None = None
    sensor_distance: Distance | None = None
    family: NicFamily | None = None


@dataclass(frozen=True)
class Assessment:
    verdict: Capability
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def pci_slot(address: str | None) -> str | None:
    """'0000:17:00.1' -> '0000:17:00' (domain:bus:device, all functions of one adapter)."""
    if not address or "." not in address:
        return None
    return address.rsplit(".", 1)[0]


def nearest_sensor(nic_pci: str | None, sensors: list[SensorFacts]) -> tuple[SensorFacts | None, Distance | None]:
    """The sensor closest to the NIC: its own, the adapter's, the CPU package's, any thermal zone."""
    ranked = []
    for s in sensors:
        if nic_pci and s.pci_address == nic_pci:
            d = Distance.NIC
        elif nic_pci and s.pci_address and pci_slot(s.pci_address) == pci_slot(nic_pci):
            d = Distance.ADAPTER
        elif s.name in CPU_SENSOR_NAMES:
            d = Distance.CPU
        elif s.kind == "thermal_zone" and s.pci_address is None:
            d = Distance.BOARD
        else:
            continue  # a sensor of some other device (a disk, a GPU, another NIC)
        ranked.append((DISTANCE_RANK[d], s.id, s, d))
    if not ranked:
        return None, None
    ranked.sort(key=lambda r: (r[0], r[1]))
    return ranked[0][2], ranked[0][3]


def match_family(families: list[NicFamily], driver: str | None, pci_id: str | None) -> NicFamily | None:
    """A family listing this PCI id wins over one that only names the driver."""
    if pci_id:
        for f in families:
            if pci_id.lower() in f.pci_ids:
                return f
    if driver:
        for f in families:
            if driver in f.drivers and not f.pci_ids:
                return f
    return None


def assess(f: InterfaceFacts) -> Assessment:
    notes = []
    fam = f.family
    if fam is not None:
        notes.append(f"NIC family: {fam.name} (hardware/nics.yaml: {fam.id})")
        notes.extend(f"known limit: {lim}" for lim in fam.known_limits)
    if f.operstate not in ("up", "unknown"):
        notes.append(f"link is {f.operstate}")

    if f.loopback:
        return Assessment(Capability.UNUSABLE, ("loopback: it carries no PTP to other nodes",), tuple(notes))
    if f.ts_error:
        return Assessment(Capability.UNUSABLE, (f"timestamping capabilities unreadable: {f.ts_error}",), tuple(notes))
    if not (f.hw_tx or f.hw_rx or f.sw_tx or f.sw_rx):
        return Assessment(Capability.UNUSABLE, ("the driver offers no packet timestamping at all",), tuple(notes))

    hw = [
        (f.hw_tx, "hardware transmit"),
        (f.hw_rx, "hardware receive of PTP event messages"),
        (f.hw_raw, "stamps in PHC time (hardware-raw-clock)"),
    ]
    missing_hw = [name for ok, name in hw if not ok]
    if missing_hw:
        if f.hw_tx or f.hw_rx:
            why = "incomplete hardware timestamping: no " + ", no ".join(missing_hw)
        else:
            why = "no hardware timestamping"
        if f.virtual:
            why += " (a virtual interface: use the physical NIC under it)"
        missing_sw = [name for ok, name in ((f.sw_tx, "software-transmit"), (f.sw_rx, "software-receive")) if not ok]
        if missing_sw:
            return Assessment(Capability.UNUSABLE, (why, "no " + " and no ".join(missing_sw) + " either"), tuple(notes))
        return Assessment(
            Capability.SOFTWARE_ONLY,
            (why + "; ptp4l could only run with time_stamping software, far less precise",),
            tuple(notes),
        )

    if f.phc_index < 0:
        return Assessment(
            Capability.SOFTWARE_ONLY,
            ("hardware timestamps but no PTP hardware clock exposed (phc_index -1)",),
            tuple(notes),
        )
    if f.phc is None:
        why = f"PHC ptp{f.phc_index} not found" + (f": {f.phc_error}" if f.phc_error else "")
        return Assessment(Capability.SOFTWARE_ONLY, (why,), tuple(notes))
    if f.phc.max_adj_ppb <= 0:
        return Assessment(
            Capability.SOFTWARE_ONLY,
            (f"{f.phc.name} cannot be steered (max_adj {f.phc.max_adj_ppb} ppb)",),
            tuple(notes),
        )

    if f.phc.shared_with:
        notes.append(f"{f.phc.name} is shared with {', '.join(f.phc.shared_with)}: steering it moves them all")
    if f.phc.cross_timestamping:
        notes.append(f"{f.phc.name} has cross-timestamping (PTP_SYS_OFFSET_PRECISE)")
    elif f.phc.cross_timestamping is None:
        notes.append(f"cross-timestamping of {f.phc.name} unknown" + (f" ({f.phc_error})" if f.phc_error else ""))
    if f.phc.n_pins:
        notes.append(f"{f.phc.n_pins} programmable pins ({f.phc.n_ext_ts} inputs, {f.phc.n_per_out} outputs)")

    if f.sensor is None:
        why = "no temperature sensor found: the TCXO model cannot learn, holdover would be uncompensated"
        if fam is not None and fam.temperature_sensor:
            why += (
                f" (this family's driver registers hwmon '{fam.temperature_sensor}'"
                + (f": {fam.temperature_note}" if fam.temperature_note else "")
                + ")"
            )
        return Assessment(Capability.FOLLOW, (why,), tuple(notes))
    if f.sensor_distance in (Distance.CPU, Distance.BOARD):
        notes.append(
            f"temperature from {f.sensor.name} ({f.sensor_distance.value}), not from the NIC: "
            "compensation follows the oscillator less closely"
        )
    reason = (
        f"hardware TX/RX timestamps, {f.phc.name} steerable to ±{f.phc.max_adj_ppb} ppb, "
        f"temperature from {f.sensor.name} ({f.sensor_distance.value if f.sensor_distance else '?'})"
    )
    return Assessment(Capability.GRANDMASTER, (reason,), tuple(notes))
