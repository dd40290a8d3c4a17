"""Temperature sensors read from sysfs: hwmon channels (NIC drivers ice, mlx5, ixgbe, igb's i350bb;
coretemp, k10temp...) and thermal zones. Read-only.

hwmon reports millidegrees Celsius in temp<N>_input (N starts at 1, except ixgbe and igb, which
number their channels from 0); thermal zones report millidegrees in ``temp``.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

_TEMP_INPUT = re.compile(r"^temp(\d+)_input$")


class SensorError(Exception):
    pass


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENODEV):
            raise SensorError(f"{path}: sensor gone") from None
        raise SensorError(f"{path}: {os.strerror(exc.errno) if exc.errno else exc}") from None


def _millideg(path: Path) -> float:
    text = _read(path)
    try:
        return int(text) / 1000.0
    except ValueError:
        raise SensorError(f"{path}: not a temperature: {text!r}") from None


@dataclass(frozen=True)
class HwmonSensor:
    """One temperature channel of a hwmon device."""

    hwmon_dir: Path
    channel: int

    @property
    def name(self) -> str:
        try:
            return _read(self.hwmon_dir / "name")
        except SensorError:
            return "?"

    @property
    def label(self) -> str | None:
        try:
            return _read(self.hwmon_dir / f"temp{self.channel}_label")
        except SensorError:
            return None

    @property
    def id(self) -> str:
        return f"{self.hwmon_dir.name}/temp{self.channel}"

    def temperature_c(self) -> float:
        return _millideg(self.hwmon_dir / f"temp{self.channel}_input")


@dataclass(frozen=True)
class ThermalZoneSensor:
    zone_dir: Path

    @property
    def name(self) -> str:
        try:
            return _read(self.zone_dir / "type")
        except SensorError:
            return "?"

    @property
    def id(self) -> str:
        return self.zone_dir.name

    def temperature_c(self) -> float:
        return _millideg(self.zone_dir / "temp")


def hwmon_channels(hwmon_dir: Path) -> list[int]:
    try:
        names = os.listdir(hwmon_dir)
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(_TEMP_INPUT.match, names) if m)


def preferred_channel(channels: list[int], labels: dict[int, str | None]) -> int | None:
    """The channel that best stands for the chip: one labelled as the ASIC, else the first that is not
    a plugged module (transceiver), else the first."""
    if not channels:
        return None
    for c in channels:
        if (labels.get(c) or "").lower() in ("asic", "chip", "die"):
            return c
    for c in channels:
        if "module" not in (labels.get(c) or "").lower():
            return c
    return channels[0]


def hwmon_dirs_of_device(device_dir: Path) -> list[Path]:
    """hwmon devices registered with ``device_dir`` as parent (device_dir/hwmon/hwmonN)."""
    base = Path(device_dir) / "hwmon"
    try:
        return sorted(base / n for n in os.listdir(base) if n.startswith("hwmon"))
    except OSError:
        return []


def nic_sensor(pci_device_dir: Path) -> HwmonSensor | None:
    """The hwmon temperature sensor of a NIC: on its own PCI function, else on another function of
    the same adapter (ice registers it on PF0 only)."""
    pci_device_dir = Path(os.path.realpath(pci_device_dir))
    candidates = [pci_device_dir]
    slot = pci_device_dir.name.rsplit(".", 1)[0]
    try:
        siblings = sorted(
            p for p in pci_device_dir.parent.iterdir() if p.name.startswith(slot + ".") and p != pci_device_dir
        )
    except OSError:
        siblings = []
    for dev in candidates + siblings:
        for hw in hwmon_dirs_of_device(dev):
            channels = hwmon_channels(hw)
            if not channels:
                continue
            labels = {c: HwmonSensor(hw, c).label for c in channels}
            channel = preferred_channel(channels, labels)
            if channel is not None:  # always, as channels is not empty
                return HwmonSensor(hw, channel)
    return None
