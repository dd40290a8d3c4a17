"""A misconfigured PHC stops `appliance serve` with one line that says what to do, and hot-plug
events are described for the log."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from appliance.hw.discovery import HotplugEvent, describe_event

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "clock,expected",
    [
        ({"source": "phc", "interface": "lo"}, "interface lo has no PTP hardware clock"),
        ({"source": "phc", "device": "/dev/null"}, "/dev/null is not a PTP hardware clock"),
        ({"source": "phc", "device": "/dev/ptp_nonexistent"}, "no such device"),
        ({"source": "phc", "interface": "aplnosuch0"}, "no such interface"),
    ],
)
def test_serve_refuses_a_bad_phc(tmp_path, clock, expected):
    cfg = {
        "node": {"name": "t", "state_dir": str(tmp_path / "state")},
        "clock": clock,
        "ntp": {"listen": ["127.0.0.1:12399"], "allow": ["all"]},  # never bound: the clock fails first
        "monitoring": {"metrics_listen": None, "control_socket": str(tmp_path / "c.sock")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run(
        [sys.executable, "-m", "appliance", "serve", "--config", str(tmp_path / "c.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 2  # FAIL: it could not start (the configuration itself is valid)
    assert expected in r.stderr and "Traceback" not in r.stderr


def test_hotplug_descriptions():
    gone = HotplugEvent("remove", "ptp", "ptp0", "/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/ptp/ptp0")
    level, text = describe_event(gone, watched_phc="ptp0")
    assert level == logging.ERROR and "vanished" in text and "holding over" in text
    assert describe_event(gone, watched_phc="ptp1")[0] == logging.WARNING
    back = HotplugEvent("add", "ptp", "ptp0", "/x/ptp/ptp0", "/dev/ptp0")
    assert "restart" in describe_event(back, watched_phc="ptp0")[1]
    assert describe_event(back)[0] == logging.INFO
    nic = HotplugEvent("remove", "net", "enp2s0", "/x/net/enp2s0")
    level, text = describe_event(nic, watched_interface="enp2s0")
    assert level == logging.ERROR and "the one this appliance uses" in text
    assert describe_event(HotplugEvent("change", "net", "enp2s0", "/x")) is None
    assert "hwmon device hwmon3 appeared" in describe_event(HotplugEvent("add", "hwmon", "hwmon3", "/x"))[1]
