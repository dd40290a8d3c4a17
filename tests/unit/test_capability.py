"""core.verdict: one test per branch of the decision, and the nearest-sensor ranking."""

from appliance.core.ptp.capability import (
    Capability,
    Distance,
    InterfaceFacts,
    NicFamily,
    PhcFacts,
    SensorFacts,
    assess,
    match_family,
    nearest_sensor,
    pci_slot,
)

PHC = PhcFacts(
    name="ptp0", max_adj_ppb=62_499_999, n_pins=4, n_ext_ts=2, n_per_out=2, pps=True, cross_timestamping=False
)
NIC_SENSOR = SensorFacts(id="hwmon2/temp1", name="i350bb", kind="hwmon", pci_address="0000:03:00.0", temp_c=50.0)
HW = dict(sw_tx=True, sw_rx=True, hw_tx=True, hw_rx=True, hw_raw=True, phc_index=0, phc=PHC)


def facts(**kw):
    return InterfaceFacts(**{"ifname": "eth0", **kw})


def test_grandmaster():
    a = assess(facts(**HW, sensor=NIC_SENSOR, sensor_distance=Distance.NIC))
    assert a.verdict is Capability.GRANDMASTER and "i350bb (nic)" in a.reason
    assert any("4 programmable pins" in n for n in a.notes)


def test_follow_without_temperature_names_the_missing_hwmon():
    fam = NicFamily(id="x", name="X", drivers=("igb",), temperature_sensor="i350bb", temperature_note="function 0 only")
    a = assess(facts(**HW, family=fam))
    assert a.verdict is Capability.FOLLOW and "no temperature sensor" in a.reason and "i350bb" in a.reason
    assert "function 0 only" in a.reason


def test_cpu_sensor_is_accepted_with_a_note():
    cpu = SensorFacts(id="hwmon1/temp1", name="coretemp", kind="hwmon")
    a = assess(facts(**HW, sensor=cpu, sensor_distance=Distance.CPU))
    assert a.verdict is Capability.GRANDMASTER and any("not from the NIC" in n for n in a.notes)


def test_software_only_and_unusable():
    assert assess(facts(sw_tx=True, sw_rx=True)).verdict is Capability.SOFTWARE_ONLY
    a = assess(facts(sw_rx=True, virtual=True))
    assert a.verdict is Capability.UNUSABLE and "virtual" in a.reason and "software-transmit" in a.reason
    assert assess(facts()).verdict is Capability.UNUSABLE
    assert assess(facts(loopback=True, **HW)).verdict is Capability.UNUSABLE
    assert "cannot" in assess(facts(ts_error="ETHTOOL_GET_TS_INFO: cannot")).reason


def test_incomplete_hardware():
    a = assess(facts(sw_tx=True, sw_rx=True, hw_tx=True, hw_rx=False, hw_raw=True, phc_index=0, phc=PHC))
    assert a.verdict is Capability.SOFTWARE_ONLY and "incomplete hardware timestamping: no hardware receive" in a.reason
    a = assess(facts(**{**HW, "hw_raw": False}))
    assert a.verdict is Capability.SOFTWARE_ONLY and "hardware-raw-clock" in a.reason


def test_phc_problems():
    assert "phc_index -1" in assess(facts(**{**HW, "phc_index": -1, "phc": None})).reason
    a = assess(facts(**{**HW, "phc": None}, phc_error="gone"))
    assert a.verdict is Capability.SOFTWARE_ONLY and "ptp0 not found: gone" in a.reason
    a = assess(facts(**{**HW, "phc": PhcFacts(name="ptp0", max_adj_ppb=0)}))
    assert a.verdict is Capability.SOFTWARE_ONLY and "cannot be steered" in a.reason


def test_nearest_sensor_ranking():
    sensors = [
        SensorFacts(id="thermal_zone0", name="acpitz", kind="thermal_zone"),
        SensorFacts(id="hwmon1/temp1", name="coretemp", kind="hwmon"),
        SensorFacts(id="hwmon9/temp1", name="nvme", kind="hwmon", pci_address="0000:05:00.0"),
        SensorFacts(id="hwmon2/temp0", name="i350bb", kind="hwmon", pci_address="0000:03:00.0"),
    ]
    assert nearest_sensor("0000:03:00.0", sensors)[1] is Distance.NIC
    s, d = nearest_sensor("0000:03:00.2", sensors)
    assert (s.name, d) == ("i350bb", Distance.ADAPTER)
    s, d = nearest_sensor("0000:04:00.0", sensors)
    assert (s.name, d) == ("coretemp", Distance.CPU)
    s, d = nearest_sensor("0000:04:00.0", sensors[:1] + sensors[2:3])
    assert (s.name, d) == ("acpitz", Distance.BOARD)  # never the disk's sensor
    assert nearest_sensor(None, []) == (None, None)
    assert pci_slot("0000:17:00.3") == "0000:17:00" and pci_slot(None) is None


def test_family_matching_prefers_pci_ids():
    i210 = NicFamily(id="i210", name="I210", drivers=("igb",), pci_ids=("8086:1533",))
    igb = NicFamily(id="igb", name="igb", drivers=("igb",))
    assert match_family([igb, i210], "igb", "8086:1533") is i210
    assert match_family([igb, i210], "igb", "8086:10c9") is igb
    assert match_family([i210], "igb", "8086:10c9") is None
    assert match_family([igb], None, None) is None
