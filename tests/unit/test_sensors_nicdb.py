from pathlib import Path

import pytest

from appliance.hw import nicdb
from appliance.hw.sensors import HwmonSensor, SensorError, ThermalZoneSensor, nic_sensor, preferred_channel


def make_hwmon(devdir: Path, n: int, name: str, channels: dict[int, tuple[int, str | None]]) -> Path:
    hw = devdir / "hwmon" / f"hwmon{n}"
    hw.mkdir(parents=True)
    (hw / "name").write_text(name + "\n")
    for ch, (milli, label) in channels.items():
        (hw / f"temp{ch}_input").write_text(f"{milli}\n")
        if label:
            (hw / f"temp{ch}_label").write_text(label + "\n")
    return hw


def test_hwmon_reader_and_thermal_zone(tmp_path):
    hw = make_hwmon(tmp_path / "0000:03:00.0", 2, "i350bb", {0: (51000, "loc1")})
    s = HwmonSensor(hw, 0)
    assert (s.name, s.label, s.id, s.temperature_c()) == ("i350bb", "loc1", "hwmon2/temp0", 51.0)
    (hw / "temp0_input").write_text("garbage")
    with pytest.raises(SensorError, match="not a temperature"):
        s.temperature_c()
    (hw / "temp0_input").unlink()
    with pytest.raises(SensorError, match="sensor gone"):
        s.temperature_c()
    tz = tmp_path / "thermal_zone0"
    tz.mkdir()
    (tz / "type").write_text("x86_pkg_temp\n")
    (tz / "temp").write_text("-1500\n")
    assert ThermalZoneSensor(tz).temperature_c() == -1.5 and ThermalZoneSensor(tz).name == "x86_pkg_temp"


def test_nic_sensor_own_function_then_sibling(tmp_path):
    bus = tmp_path / "pci0000:16" / "0000:16:02.0"
    for f in range(4):
        (bus / f"0000:17:00.{f}").mkdir(parents=True)
    (bus / "0000:18:00.0").mkdir()
    make_hwmon(bus / "0000:17:00.0", 3, "ice", {1: (58000, None)})
    assert nic_sensor(bus / "0000:17:00.2").hwmon_dir.name == "hwmon3"
    assert nic_sensor(bus / "0000:17:00.0").temperature_c() == 58.0
    assert nic_sensor(bus / "0000:18:00.0") is None
    make_hwmon(bus / "0000:17:00.2", 4, "other", {1: (40000, None)})
    assert nic_sensor(bus / "0000:17:00.2").hwmon_dir.name == "hwmon4"


def test_preferred_channel():
    assert preferred_channel([1, 2, 3], {1: "module", 2: "asic", 3: None}) == 2
    assert preferred_channel([1, 2], {1: "module0", 2: "sensor1"}) == 2
    assert preferred_channel([4], {4: "module"}) == 4
    assert preferred_channel([], {}) is None


def test_nicdb_errors_name_the_key(tmp_path):
    bad = tmp_path / "nics.yaml"
    bad.write_text(
        "schema: 1\nfamilies:\n  - id: x\n    name: X\n    match: {drivers: [igb], pci_ids: ['8086:XYZ']}\n"
        "    phc: per-port\n    cross_timestamping: maybe\n    sources: [a]\n    colour: red\n"
    )
    with pytest.raises(nicdb.NicDbError) as e:
        nicdb.load(bad)
    msg = str(e.value)
    assert "families.0.match.pci_ids" in msg and "families.0.cross_timestamping" in msg and "families.0.colour" in msg


def test_shipped_nicdb_is_sourced():
    fams = nicdb.load()
    assert {"intel-i210", "intel-i350", "intel-i225-i226", "intel-e810", "nvidia-connectx", "broadcom-bnxt"} <= {
        f.id for f in fams
    }
    root = Path(nicdb.DEFAULT_PATH).parents[1]
    for f in fams:
        assert f.sources
        assert f.firmware_notes and (root / f.firmware_notes).is_file(), f.firmware_notes
        for field in f.unverified:
            assert hasattr(f, field), f"{f.id}: unverified names unknown field {field}"
