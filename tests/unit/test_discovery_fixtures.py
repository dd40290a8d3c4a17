"""Discovery against recorded / reconstructed sysfs+udev fixtures of NIC families
(tests/fixtures/discovery; each says where it came from)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appliance.hw import discovery, nicdb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "discovery"
ALL = sorted(FIXTURES.glob("*.yaml"))
FAMILIES = nicdb.load()


def inventory(name: str) -> discovery.Inventory:
    return discovery.build_inventory(discovery.load_snapshot(FIXTURES / f"{name}.yaml"), FAMILIES)


def by_name(inv) -> dict:
    return {i.name: i for i in inv.interfaces}


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_every_fixture_says_where_it_came_from(path):
    src = yaml.safe_load(path.read_text())["source"]
    assert src["kind"] in ("live", "reconstructed")
    assert src.get("description") and src.get("how")
    if src["kind"] == "reconstructed":
        assert src["references"] and "illustrative" in src
        assert "not captured" in src["how"]
    else:
        assert src.get("kernel") and src.get("time")


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_snapshot_round_trip(path, tmp_path):
    snap = discovery.load_snapshot(path)
    discovery.save_snapshot(snap, tmp_path / "again.yaml")
    again = discovery.load_snapshot(tmp_path / "again.yaml")
    assert again.to_dict() == snap.to_dict()
    assert discovery.build_inventory(again, FAMILIES).to_dict() == discovery.build_inventory(snap, FAMILIES).to_dict()


def test_i210_single_port_with_cpu_temperature_and_gnss():
    inv = inventory("intel-i210")
    nic = by_name(inv)["enp2s0"]
    assert (nic.phc, nic.phc_link, nic.family, nic.pci_address) == ("ptp0", "phc_index", "intel-i210", "0000:02:00.0")
    assert nic.verdict == "can be grandmaster"
    assert (nic.sensor_name, nic.sensor_distance) == ("coretemp", "cpu")  # I210 has no sensor of its own
    assert any("not from the NIC" in n for n in nic.notes)
    (phc,) = inv.phcs
    assert (phc.driver, phc.max_adj_ppb, phc.n_pins, phc.pps, phc.cross_timestamping) == (
        "igb",
        62499999,
        4,
        True,
        False,
    )
    assert [p["name"] for p in phc.pins] == ["SDP0", "SDP1", "SDP2", "SDP3"]
    assert inv.gnss == [
        {
            "devnode": "/dev/ttyACM0",
            "kind": "usb-serial",
            "usb_id": "1546:01a8",
            "vendor": "u-blox",
            "product": "u-blox GNSS receiver",
            "driver": "cdc_acm",
            "identified": True,
        }
    ]
    assert inv.pps[0]["origin"] == "serial" and inv.rtcs[0]["hctosys"] is True
    assert by_name(inv)["lo"].verdict == "unusable"


def test_i350_sensor_on_function_0_serves_the_whole_adapter():
    inv = inventory("intel-i350")
    ifs = by_name(inv)
    assert [ifs[f"enp3s0f{i}"].phc for i in range(4)] == ["ptp0", "ptp1", "ptp2", "ptp3"]  # PHC per port
    assert ifs["enp3s0f0"].sensor_distance == "nic"
    assert {ifs[f"enp3s0f{i}"].sensor_distance for i in (1, 2, 3)} == {"adapter"}
    assert {ifs[f"enp3s0f{i}"].sensor for i in range(4)} == {"hwmon2/temp0"}  # igb numbers channels from 0
    assert ifs["enp3s0f0"].temp_c == 51.0
    assert all(ifs[f"enp3s0f{i}"].family == "intel-i350" for i in range(4))
    assert "link is down" in ifs["enp3s0f2"].notes


def test_e810_one_phc_for_the_adapter():
    inv = inventory("intel-e810")
    (phc,) = inv.phcs
    assert phc.name == "ptp1" and phc.pci_address == "0000:17:00.0" and phc.clock_name == "ice-0000:17:00.0-clk"
    assert phc.interfaces == ["ens2f0", "ens2f1", "ens2f2", "ens2f3"]
    ifs = by_name(inv)
    assert all(ifs[f"ens2f{i}"].phc == "ptp1" for i in range(4))
    assert any("shared with ens2f1, ens2f2, ens2f3" in n for n in ifs["ens2f0"].notes)
    assert ifs["ens2f3"].sensor_name == "ice" and ifs["ens2f3"].sensor_distance == "adapter"
    assert ifs["ens2f0"].fw_version.startswith("4.40")


def test_connectx6dx_cross_timestamping_per_function():
    inv = inventory("nvidia-connectx6dx")
    assert [p.cross_timestamping for p in inv.phcs] == [True, True]
    ifs = by_name(inv)
    assert ifs["enp65s0f1np1"].phc == "ptp1" and ifs["enp65s0f1np1"].sensor == "hwmon5/temp1"
    assert ifs["enp65s0f1np1"].sensor_distance == "nic"
    assert any("cross-timestamping (PTP_SYS_OFFSET_PRECISE)" in n for n in ifs["enp65s0f0np0"].notes)


def test_connectx7_shared_clock_without_parent_is_linked_through_phc_index():
    inv = inventory("nvidia-connectx7-shared-clock")
    (phc,) = inv.phcs
    assert phc.pci_address is None and phc.driver is None  # registered without a parent device
    assert phc.interfaces == ["enp129s0f0np0", "enp129s0f1np1"]
    assert phc.cross_timestamping is None and "permission denied" in phc.caps_error
    assert any("ptp0: capabilities not read" in p for p in inv.problems)
    ifs = by_name(inv)
    assert ifs["enp129s0f0np0"].verdict == "can be grandmaster"
    assert any("cross-timestamping of ptp0 unknown" in n for n in ifs["enp129s0f0np0"].notes)


def test_vm_without_ptp_hardware():
    inv = inventory("virtio-vm-no-ptp")
    assert not inv.phcs and inv.summary()["ptp_hardware"] is False
    assert "no PTP hardware clock" in inv.summary()["text"]
    ifs = by_name(inv)
    assert ifs["eth0"].verdict == "software timestamping only" and ifs["eth0"].driver == "virtio_net"
    assert ifs["lo"].verdict == "unusable"


def test_interface_without_ts_info_falls_back_to_the_pci_parent():
    snap = discovery.load_snapshot(FIXTURES / "intel-i210.yaml")
    snap.ethtool["enp2s0"] = {"errors": {"ts_info": "ETHTOOL_GET_TS_INFO on enp2s0: permission denied"}}
    inv = discovery.build_inventory(snap, FAMILIES)
    nic = by_name(inv)["enp2s0"]
    assert (nic.phc, nic.phc_link) == ("ptp0", "pci-parent")
    assert nic.verdict == "unusable" and "permission denied" in nic.reasons[0]
    assert any("permission denied" in p for p in inv.problems)


def test_phc_reported_but_missing():
    snap = discovery.load_snapshot(FIXTURES / "intel-i210.yaml")
    snap.devices = [d for d in snap.devices if d.subsystem != "ptp"]
    snap.ptp = {}
    inv = discovery.build_inventory(snap, FAMILIES)
    nic = by_name(inv)["enp2s0"]
    assert nic.verdict == "software timestamping only" and "ptp0 not found" in nic.reasons[0]
    assert any("did not find" in p for p in inv.problems)


def test_bad_recordings_are_refused(tmp_path):
    for text in ("[1, 2]", "devices: [{path: /x}]", "bogus: 1", "devices: [{path: /x, sys_name: x, colour: red}]"):
        (tmp_path / "r.yaml").write_text(text)
        with pytest.raises(discovery.DiscoveryError, match="not a discovery recording"):
            discovery.load_snapshot(tmp_path / "r.yaml")


def test_live_collection_on_this_machine():
    snap = discovery.collect_live()
    names = {r.sys_name for r in snap.devices if r.subsystem == "net"}
    assert "lo" in names
    assert snap.ethtool["lo"]["ts_info"]["phc_index"] == -1
    inv = discovery.build_inventory(snap, FAMILIES)
    assert by_name(inv)["lo"].verdict == "unusable"
    assert inv.source["kind"] == "live"
