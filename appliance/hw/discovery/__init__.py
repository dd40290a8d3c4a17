"""What timing hardware this machine has: PHCs and their NICs, timestamping, temperature sensors,
RTCs, PPS sources, GNSS receivers; and hot-plug monitoring.

Discovery runs in two steps so that it can run against a recording as well as the live system:

  1. collect: a Snapshot of device records (udev/sysfs: path, subsystem, driver, parent, attributes)
     plus what only ioctls tell (ETHTOOL_GET_TS_INFO / GDRVINFO per interface, PTP_CLOCK_GETCAPS and
     pins per PHC). ``collect_live`` uses pyudev; ``load_snapshot`` reads a recording
     (``appliance discover --record FILE`` writes one; tests/fixtures/discovery holds some).
  2. build_inventory(snapshot): pure over the snapshot: links interfaces to PHCs (phc_index first, the
     PCI parent when there is no timestamping information), finds each NIC's nearest temperature
     sensor, matches hardware/nics.yaml, and asks core.ptp.capability for a verdict.

The package's public surface is what this module imports: the steps (collect_live, load_snapshot,
save_snapshot, build_inventory), their records, and the hot-plug monitor a running appliance uses.
One module per concern behind it: snapshot (the recording), live (pyudev and the driver probes),
inventory (the pure build), hotplug (udev/kernel uevents).
"""

from .hotplug import HotplugEvent, HotplugMonitor, describe_event
from .inventory import Interface, Inventory, Phc, TempSource, build_inventory
from .live import collect_live, probe_drivers
from .snapshot import DeviceRecord, DiscoveryError, Snapshot, load_snapshot, save_snapshot

__all__ = [
    "DeviceRecord",
    "DiscoveryError",
    "HotplugEvent",
    "HotplugMonitor",
    "Interface",
    "Inventory",
    "Phc",
    "Snapshot",
    "TempSource",
    "build_inventory",
    "collect_live",
    "describe_event",
    "load_snapshot",
    "probe_drivers",
    "save_snapshot",
]
