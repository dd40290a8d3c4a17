"""SIOCETHTOOL (ETHTOOL_GET_TS_INFO, ETHTOOL_GDRVINFO) on loopback and on a veth pair inside test
namespaces, `appliance discover` inside a namespace, and hot-plug events seen by HotplugMonitor."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.hw.timestamping import InterfaceError, get_ts_info

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

PROBE = """
import json, sys
from appliance.hw.timestamping import get_ts_info, get_drvinfo
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = {"ts": get_ts_info(name).to_dict()}
    except Exception as e:
        out[name] = {"error": str(e)}
        continue
    try:
        out[name]["drv"] = get_drvinfo(name).to_dict()
    except Exception as e:
        out[name]["drv_error"] = str(e)
print(json.dumps(out))
"""


def test_loopback_in_this_namespace():
    ts = get_ts_info("lo")
    assert ts.phc_index == -1
    assert not ts.hw_tx and not ts.hw_rx and not ts.hw_raw
    assert "software-receive" in ts.capabilities  # every kernel the appliance supports stamps lo in software
    with pytest.raises(InterfaceError, match="not a valid interface name"):
        get_ts_info("x" * 16)
    with pytest.raises(InterfaceError, match="no such interface"):
        get_ts_info("aplnosuch0")


def test_veth_pair_in_test_namespaces(make_net):
    host = make_net(["a", "b"])["a"]
    r = host.run([sys.executable, "-c", PROBE, "eth0", "lo", "nosuch0"], cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    eth0 = out["eth0"]
    assert eth0["drv"]["driver"] == "veth"
    assert eth0["ts"]["phc_index"] == -1
    assert not eth0["ts"]["hardware_transmit"] and not eth0["ts"]["hardware_receive"]
    assert "software-receive" in eth0["ts"]["capabilities"]
    assert out["lo"]["ts"]["phc_index"] == -1
    assert "not supported" in out["lo"]["drv_error"]  # loopback has no ETHTOOL_GDRVINFO
    assert "no such interface" in out["nosuch0"]["error"]


def test_discover_inside_a_namespace_says_no_ptp_hardware(make_net):
    host = make_net(["a"])["a"]
    r = host.run([sys.executable, "-m", "appliance", "discover", "--json"], cwd=REPO, timeout=60)
    assert r.returncode == 0, r.stderr
    inv = json.loads(r.stdout)
    ifs = {i["name"]: i for i in inv["interfaces"]}
    assert set(ifs) == {"lo", "eth0"}  # the namespace's own interfaces, not the host's
    assert ifs["eth0"]["driver"] == "veth"
    assert ifs["eth0"]["verdict"] == "software timestamping only"
    assert ifs["lo"]["verdict"] == "unusable"
    text = host.run([sys.executable, "-m", "appliance", "discover"], cwd=REPO, timeout=60)
    assert text.returncode == 0 and "Summary:" in text.stdout and "eth0" in text.stdout


MONITOR = """
import json, sys, time
from appliance.hw.discovery import HotplugMonitor
events = []
m = HotplugMonitor(lambda ev: events.append(ev), subsystems=("net",)).start()
print("ready", flush=True)
deadline = time.monotonic() + 10
while time.monotonic() < deadline and len([e for e in events if e.action == "remove"]) < 2:
    time.sleep(0.05)
m.stop()
print(json.dumps([[e.action, e.subsystem, e.sys_name] for e in events]), flush=True)
"""


def test_hotplug_monitor_sees_interfaces_come_and_go(make_net):
    host = make_net(["a"])["a"]
    p = host.popen([sys.executable, "-c", MONITOR], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline().decode().strip() == "ready"
    time.sleep(0.2)
    host.veth("aplhp0", host, "aplhp1")
    time.sleep(0.2)
    host.ip("link", "del", "aplhp0")
    out, err = p.communicate(timeout=20)
    events = json.loads(out.decode().strip().splitlines()[-1])
    seen = {(a, n) for a, s, n in events if s == "net"}
    assert {("add", "aplhp0"), ("add", "aplhp1"), ("remove", "aplhp0"), ("remove", "aplhp1")} <= seen, (events, err)
