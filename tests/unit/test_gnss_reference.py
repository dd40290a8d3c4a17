"""reference.gnss: ts2phc rendered and supervised without PTP (appliance.linuxptp.gnss), its
offsets handed to the tick as the primary reference; and a connected site's client configuration."""

import time

import pytest

from appliance import config
from appliance.core.clock.interface import ClockCaps, ClockInfo
from appliance.linuxptp.gnss import GnssError, GnssReference
from appliance.linuxptp.render import render_all, ts2phc_argv
from appliance.render.clients import render_clients
from appliance.runtime.node_config import node_config
from helpers.wait import wait_for


def _cfg(tmp_path, **over):
    data = {
        "node": {"name": "cp-0", "state_dir": str(tmp_path / "state")},
        "cluster": {"control_nodes": [{"name": "cp-0", "address": "198.18.0.1"}]},
        "clock": {"source": "phc", "interface": "eth0"},
        "reference": {"gnss": {"source": "nmea", "nmea_serialport": "/dev/ttyACM0", "pin_index": 1}},
    }
    data.update(over)
    return config.parse(data)


def test_gnss_without_ptp_renders_ts2phc_alone(tmp_path):
    cfg = _cfg(tmp_path)
    files = render_all(cfg)
    assert set(files) == {"ts2phc.conf"}
    text = files["ts2phc.conf"]
    assert "ts2phc.nmea_serialport /dev/ttyACM0" in text and "[eth0]" in text and "ts2phc.pin_index 1" in text
    assert "free_running 1" in text  # ts2phc measures; the appliance disciplines
    assert ts2phc_argv(cfg, "/x/ts2phc.conf")[-4:] == ["-s", "nmea", "-c", "eth0"]
    ncfg = node_config(cfg, ClockCaps(500_000), ClockInfo("/dev/ptp0", "phc", "TAI"), -20, True)
    assert ncfg.refids.primary == b"GPS\x00" and ncfg.discipline.has_reference


@pytest.mark.parametrize(
    "over, why",
    [
        ({"clock": {"source": "sim"}}, "reference.gnss needs clock.source phc"),
        ({"ptp": {"ts2phc": {"source": "generic"}, "interface": "eth0"}}, "name the same receiver"),
    ],
)
def test_gnss_config_errors(tmp_path, over, why):
    with pytest.raises(config.ConfigError, match=why):
        _cfg(tmp_path, **over)


def test_ts2phc_is_supervised_and_its_offsets_are_the_primary_reference(tmp_path):
    fake = tmp_path / "ts2phc"
    fake.write_text(
        "#!/bin/sh\n# prints what ts2phc prints while it follows the pulse\n"
        "while true; do echo 'ts2phc[100.000]: eth0 master offset        -12 s2 freq    +105'; "
        "sleep 0.2; done\n"
    )
    fake.chmod(0o755)
    ref = GnssReference(_cfg(tmp_path), binary=str(fake))
    ref.start()
    try:
        assert wait_for(ref.measure, 10, 0.1, "a ts2phc offset", until=lambda v: v is not None) == -12.0
        assert (tmp_path / "state" / "linuxptp" / "ts2phc.conf").exists()
        wait_for(
            lambda: ref.status()["ts2phc"]["state"],
            10,
            0.1,
            "ts2phc running (past its settle time)",
            until=lambda st: st == "running",
        )
    finally:
        ref.stop()
    time.sleep(2.2)
    assert ref.measure() is None  # stale: no longer a reference


def test_a_missing_ts2phc_is_a_clear_error(tmp_path):
    with pytest.raises(GnssError, match="not found: install linuxptp"):
        GnssReference(_cfg(tmp_path), binary="/nonexistent/ts2phc").start()


def test_connected_site_clients_timestamp_in_hardware(tmp_path):
    air_gapped = render_clients(
        config.parse({"node": {"name": "a"}, "cluster": {"control_nodes": [{"name": "a", "address": "198.18.0.1"}]}}),
        "chrony",
    )
    assert "hwtimestamp" not in air_gapped and "makestep 1.0 3" in air_gapped
    connected = render_clients(
        config.parse(
            {
                "node": {"name": "a"},
                "cluster": {"control_nodes": [{"name": "a", "address": "198.18.0.1"}]},
                "reference": {"ntp": {"servers": ["198.18.1.1", "198.18.1.2", "198.18.1.3"]}},
            }
        ),
        "chrony",
    )
    assert "hwtimestamp *" in connected and "makestep 1.0 3" in connected
